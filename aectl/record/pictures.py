"""Reconstruction pictures: image grids for images, fitting plots for other data.

Image grids go through torchvision.utils.make_grid/save_image with NO min-max
renormalisation: values outside [0, 1] clip, so an output-range bug stays visible. Small
images are enlarged by an integer nearest-neighbour factor so a person can see them:
reconstruction grids to at least RECON_MIN_SIDE pixels per tile (8x8 digits: 8x, 28x28
MNIST: 3x; TensorBoard shows a grid scaled to its card), other tiles (filters) to
MIN_SIDE. Non-image data gets a matplotlib figure: onehot8 → the input / hidden / output table;
manifold → data and reconstructions as a scatter; other vectors → a heat map of rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from aectl import atomic
from aectl.data.base import IMAGE, MANIFOLD, ONEHOT, Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import preload, vision
from aectl.regularizers.base import Regularizer

MIN_SIDE = 32  # enlarge images smaller than this, by an integer factor
RECON_MIN_SIDE = 64  # reconstruction grids: at least this many pixels per tile


def warm() -> None:
    """Import what drawing needs (torchvision, matplotlib on Agg): `aectl.record.preload`
    runs it on a background thread while the first epochs train."""
    vision.utils()
    pyplot()


def pyplot():
    """matplotlib's pyplot on the Agg backend (files, no window), imported on first use:
    a run imports it only when it draws its first figure, not before its first step."""
    preload.wait(warm)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grid(*args, **kwargs) -> torch.Tensor:
    """torchvision.utils.make_grid, loaded on first use (`aectl.record.vision`: without
    the rest of torchvision, whose import costs seconds)."""
    preload.wait(warm)
    return vision.utils().make_grid(*args, **kwargs)


def enlarge_factor(h: int, w: int) -> int:
    return max(1, MIN_SIDE // max(h, w))


def recon_factor(h: int, w: int) -> int:
    """The smallest integer factor that makes a tile at least RECON_MIN_SIDE pixels."""
    return max(1, -(-RECON_MIN_SIDE // max(h, w)))  # 8 -> 8 (64 px), 28 -> 3 (84 px)


def image_rows(rows: list[torch.Tensor]) -> torch.Tensor:
    """Rows of (B, C, H, W) images → one (3, H', W') grid in [0, 1], one row per tensor.

    Grayscale and RGB images are tiles as they are; any other channel count (2, 4, ...)
    is shown one grayscale tile per channel, each sample's channels side by side (as
    colours, a 2nd or 4th channel would be saved as transparency)."""
    b, c, h, w = rows[0].shape
    k = recon_factor(h, w)
    batch = torch.cat([r.detach().float().cpu() for r in rows])
    if c not in (1, 3):
        batch, b = batch.reshape(-1, 1, h, w), b * c
    if k > 1:
        batch = F.interpolate(batch, scale_factor=k, mode="nearest")
    return grid(batch.clamp(0, 1), nrow=b, padding=2, pad_value=0.5)


def tiles(images: torch.Tensor, nrow: int) -> torch.Tensor:
    """(N, C, H, W) images in [0, 1] → one grid, `nrow` per row, enlarged as
    reconstruction grids are (channel counts other than 1 and 3: the first channel)."""
    images = images.detach().float().cpu()
    if images.shape[1] not in (1, 3):
        images = images[:, :1]
    k = recon_factor(*images.shape[-2:])
    if k > 1:
        images = F.interpolate(images, scale_factor=k, mode="nearest")
    return grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=0.5)


def codes_scatter(h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """2-D codes as points, coloured by label when there are labels."""
    h = h.detach().float().cpu().numpy()
    fig, ax = pyplot().subplots(figsize=(5.5, 5))
    if y is None:
        ax.scatter(h[:, 0], h[:, 1], s=4, alpha=0.6)
    else:
        points = ax.scatter(h[:, 0], h[:, 1], c=y.cpu().numpy(), cmap="tab10", s=4, alpha=0.7)
        fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel("code unit 0 (mean)")
    ax.set_ylabel("code unit 1 (mean)")
    ax.set_aspect("equal")
    fig.tight_layout()
    return figure_to_tensor(fig)


def figure_to_tensor(fig) -> torch.Tensor:
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    pyplot().close(fig)
    return torch.from_numpy(rgba[..., :3].copy()).permute(2, 0, 1).float() / 255.0


def onehot_table(x: torch.Tensor, h: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    fig, axes = pyplot().subplots(
        1, 3, figsize=(7, 3), gridspec_kw={"width_ratios": [x.shape[1], h.shape[1], x.shape[1]]}
    )
    for ax, m, title in zip(axes, (x, h, x_hat), ("input", "hidden", "output")):
        m = m.detach().float().cpu().numpy()
        ax.imshow(m, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks(range(m.shape[0]))
        for (i, j), v in np.ndenumerate(m):
            ax.text(
                j,
                i,
                f"{v:.1f}" if title == "hidden" else ("1" if v > 0.5 else "0"),
                ha="center",
                va="center",
                color="w" if v < 0.5 else "k",
                fontsize=7,
            )
    fig.tight_layout()
    return figure_to_tensor(fig)


def manifold_scatter(x: torch.Tensor, x_hat: torch.Tensor, curve=None) -> torch.Tensor:
    x, x_hat = x.detach().float().cpu().numpy(), x_hat.detach().float().cpu().numpy()
    fig, ax = pyplot().subplots(figsize=(5, 5))
    if curve is not None:
        t = torch.linspace(*curve.t_range, 400)
        c = curve.points(t).numpy()
        ax.plot(c[:, 0], c[:, 1], "k-", lw=1, label="true curve")
    ax.scatter(x[:, 0], x[:, 1], s=4, alpha=0.4, label="data")
    ax.scatter(x_hat[:, 0], x_hat[:, 1], s=4, alpha=0.6, label="reconstruction")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return figure_to_tensor(fig)


def vector_rows(rows: list[torch.Tensor], names: list[str]) -> torch.Tensor:
    fig, axes = pyplot().subplots(len(rows), 1, figsize=(8, 1.2 * len(rows)))
    for ax, r, name in zip(np.atleast_1d(axes), rows, names):
        ax.imshow(
            r.detach().float().cpu().flatten(1).numpy(),
            aspect="auto",
            cmap="viridis",
            vmin=0,
            vmax=1,
        )
        ax.set_ylabel(name)
        ax.set_xticks([])
    fig.tight_layout()
    return figure_to_tensor(fig)


def reconstruction_picture(
    kind: str,
    x: torch.Tensor,
    x_in: torch.Tensor | None,
    x_hat: torch.Tensor,
    h: torch.Tensor,
    curve=None,
) -> torch.Tensor:
    """The picture for one epoch, as a (3, H, W) float tensor in [0, 1].

    `x_in` is the corrupted input of a denoising run (None otherwise): its row sits between
    the clean inputs and the reconstructions.
    """
    if kind == IMAGE:
        rows = [x] + ([x_in] if x_in is not None else []) + [x_hat]
        return image_rows(rows)
    if kind == ONEHOT:
        return onehot_table(x, h.flatten(1), x_hat)
    if kind == MANIFOLD:
        return manifold_scatter(x, x_hat, curve)
    rows = [x] + ([x_in] if x_in is not None else []) + [x_hat]
    names = ["input"] + (["corrupted"] if x_in is not None else []) + ["output"]
    return vector_rows(rows, names)


def model_picture(data: Data, model: Autoencoder, reg: Regularizer, n: int) -> torch.Tensor:
    """What `model` does to the first validation samples (the manifold's: 512 points;
    onehot8: each pattern once), as a picture."""
    if data.kind == MANIFOLD:
        x = data.val_x[:512]
    elif data.kind == ONEHOT:
        x = torch.unique(data.val_x, dim=0).flip(0)  # each pattern once, in order
    else:
        x = data.val_x[:n]
    # The picture's own noise, the same every epoch: drawing it from the run's generator
    # would make training depend on how often it takes pictures.
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        x_in = reg.corrupt(x) if reg.corrupts_input else None
        h = model.encode(x if x_in is None else x_in)
        x_hat = model.decode(h)
    return reconstruction_picture(data.kind, x, x_in, x_hat, h, data.extras.get("curve"))


def pixels(img: torch.Tensor) -> np.ndarray:
    """A (3, H, W) picture in [0, 1] as the (H, W, 3) 8-bit pixels torchvision's save_image
    encodes (its rounding, its line). A run computes them on its training thread and leaves
    only the PNG encoding to the writer thread: torch's elementwise kernels, run on another
    thread, start a second OpenMP team, and with more OpenMP threads than cores libgomp stops
    spinning between kernels, so every parallel kernel of the training step then waits for
    its worker to wake (the MNIST job's steps measured 1.5x slower after its first picture)."""
    if img.shape[0] == 1:  # (save_image's make_grid repeats a single channel)
        img = img.expand(3, *img.shape[1:])
    return (
        img.detach()
        .mul(255)
        .add_(0.5)
        .clamp_(0, 255)
        .permute(1, 2, 0)
        .to("cpu", torch.uint8)
        .numpy()
    )


@dataclass(frozen=True)
class Png:
    """A picture encoded already: what a worker process hands back (`aectl.analysis.later`),
    a fraction of the picture's size, its encoding done on the worker's core."""

    data: bytes
    height: int
    width: int

    @classmethod
    def of(cls, img: torch.Tensor) -> Png:
        return cls(png_bytes(img), *img.shape[1:])


def png_bytes(img: torch.Tensor | np.ndarray | Png) -> bytes:
    """A (3, H, W) picture in [0, 1], or its `pixels`, as PNG bytes (what torchvision's
    save_image writes: PIL's PNG of the 8-bit pixels); a `Png`'s own."""
    if isinstance(img, Png):
        return img.data
    preload.wait(warm)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels(img) if isinstance(img, torch.Tensor) else img).save(buf, format="png")
    return buf.getvalue()


def save_png(img: torch.Tensor | Png, path: str | Path, png: bytes | None = None) -> Path:
    """Encode to PNG in memory (unless `png` holds its bytes already), then write
    atomically."""
    return atomic.write_bytes(path, png_bytes(img) if png is None else png)
