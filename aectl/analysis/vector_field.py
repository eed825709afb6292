"""Denoising learns the manifold: r(x) − x points from x back towards the data's curve.

A denoising autoencoder trained on noisy samples of a curve learns a reconstruction r whose
displacement r(x) − x is a vector field pointing to the manifold (Alain & Bengio, 2014).
The picture is that field as arrows over a grid covering the data, with the data and the
true curve; the number is how well it points to the curve: the mean cosine between
r(x) − x and the direction to the nearest curve point (`Curve.nearest`, the independent
reference), over the grid points within a band around the curve.
"""

from __future__ import annotations

import torch

from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures

plt = pictures.pyplot()  # Agg; this module is imported only when an analysis runs

GRID = 25  # arrows per side
MARGIN = 0.15  # grid extends this fraction of the data's extent beyond it
# "Near the curve": grid points between BAND[0] and BAND[1] times the data's noise scale
# from the curve (closer, the true direction is lost in the noise; farther, the model
# has seen no data).
BAND = (1.0, 4.0)


def grid(x: torch.Tensor, n: int = GRID) -> torch.Tensor:
    """(n*n, 2) points on a square grid covering `x` with a margin."""
    lo, hi = x.min(0).values, x.max(0).values
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + MARGIN)
    axis = torch.linspace(-1, 1, n, dtype=x.dtype, device=x.device) * half
    gy, gx = torch.meshgrid(axis + centre[1], axis + centre[0], indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


def noise_scale(data: Data, curve) -> float:
    """RMS distance of the training points to the curve (the data's noise level), at least
    1% of the data's extent so that noise-free data still gets a band."""
    x = data.train_x.cpu()
    extent = (x.max(0).values - x.min(0).values).max().item()
    return max(curve.distance(x).pow(2).mean().sqrt().item(), 0.01 * extent)


@torch.no_grad()
def vector_field(
    model: Autoencoder, data: Data, curve
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    model.eval()
    g = grid(data.train_x)
    v = (model(g) - g).cpu()
    g = g.cpu()
    nearest, _ = curve.nearest(g)
    to_curve = nearest - g
    dist = to_curve.norm(dim=1)
    s = noise_scale(data, curve)
    near = (dist >= BAND[0] * s) & (dist <= BAND[1] * s)
    cos = torch.nn.functional.cosine_similarity(v[near], to_curve[near], dim=1)
    numbers = {
        "vector_field/mean_cos": cos.mean().item() if near.any() else float("nan"),
        "vector_field/n_points": float(near.sum()),
        "vector_field/band_lo": BAND[0] * s,
        "vector_field/band_hi": BAND[1] * s,
    }
    return numbers, {"vector_field": _picture(data, curve, g, v, near, numbers)}


def _picture(data, curve, g, v, near, numbers) -> torch.Tensor:
    x = data.train_x.cpu().numpy()
    c = curve.points(torch.linspace(*curve.t_range, 600)).numpy()
    # Arrows keep their directions and relative lengths; the longest ones (far from the
    # data) are scaled down to about one grid step so they do not cross.
    step = float((g[:, 0].max() - g[:, 0].min()) / (GRID - 1))
    scale = step / max(float(v.norm(dim=1).quantile(0.9)), 1e-12)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(x[:, 0], x[:, 1], s=3, alpha=0.25, color="tab:gray", label="data")
    ax.plot(c[:, 0], c[:, 1], "k-", lw=1.2, label="true curve")
    for mask, style, label in (
        (~near, dict(color="tab:blue", alpha=0.6), "r(x) − x"),
        (near, dict(color="tab:red"), "r(x) − x near the curve (scored)"),
    ):
        ax.quiver(
            g[mask, 0],
            g[mask, 1],
            scale * v[mask, 0],
            scale * v[mask, 1],
            angles="xy",
            scale_units="xy",
            scale=1,
            width=0.003,
            label=label,
            **style,
        )
    ax.set_aspect("equal")
    ax.set_title(
        f"mean cos(r(x) − x, direction to the curve) = {numbers['vector_field/mean_cos']:.3f}"
        f" over {int(numbers['vector_field/n_points'])} points; arrows ×{scale:.2g}",
        fontsize=9,
    )
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return pictures.figure_to_tensor(fig)
