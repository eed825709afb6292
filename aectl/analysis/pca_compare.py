"""Linear autoencoder vs PCA: does the trained decoder span the top-k principal subspace?

A linear autoencoder trained with MSE reaches PCA's optimum (Baldi & Hornik, 1989) but not
its basis: any invertible mixing of the k components is as good. So the comparison is
basis-free: the principal angles between the decoder's column space and the top-k principal
subspace (scipy.linalg.subspace_angles), and the ratio of the model's reconstruction MSE to
PCA's on the same samples. PCA is fitted on the training split, the MSE measured on `x`.
"""

from __future__ import annotations

import math

import torch
from matplotlib.ticker import MaxNLocator
from torch.func import jacrev

from aectl.data.base import Data
from aectl.errors import UserError
from aectl.models import pca
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures

plt = pictures.pyplot()  # Agg; this module is imported only when an analysis runs

LINEAR_ARCHS = ("linear", "pca")
SHOW = 16  # principal components drawn as tiles


def applies(model: Autoencoder, data: Data) -> bool:
    """A linear autoencoder whose code is smaller than the data's rank can have: with
    k >= min(samples, input size) PCA reconstructs the training split exactly, and there
    is no subspace left to compare (a linear run may be that wide; arch=pca may not)."""
    n, d = len(data.train_x), data.train_x[0].numel()
    return model.arch in LINEAR_ARCHS and model.code_dim < min(n, d)


def decoder_matrix(model: Autoencoder) -> torch.Tensor:
    """(D, k): the linear decoder's Jacobian, whatever its layers (tied or not)."""
    if model.arch not in LINEAR_ARCHS:
        raise UserError(
            "arch",
            f"the PCA comparison needs a linear autoencoder "
            f"(arch={' or '.join(LINEAR_ARCHS)}); this run has arch={model.arch}",
        )
    h = torch.zeros(model.code_dim, device=next(model.parameters()).device)
    return jacrev(lambda c: model.decode(c.unsqueeze(0)).flatten())(h).detach()


@torch.no_grad()
def mse(model: Autoencoder, x: torch.Tensor, batch: int = 4096) -> float:
    total = sum(((model(xb) - xb) ** 2).sum().item() for xb in x.split(batch))
    return total / x.numel()


def compare(
    model: Autoencoder, data: Data, x: torch.Tensor
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    model.eval()
    sub = pca.principal_subspace(data.train_x, model.code_dim)
    w = decoder_matrix(model).double().cpu()
    u = sub.components.cpu()
    from scipy.linalg import subspace_angles  # (here: every run imports this module)

    # scipy returns the angles largest first; the picture shows them smallest first
    angles = torch.from_numpy(subspace_angles(w.numpy(), u.numpy())).flip(0).rad2deg()
    mse_model = mse(model, x)
    mse_pca = ((pca.reconstruct(sub, x) - x) ** 2).mean().item()
    numbers = {
        "pca/max_angle_deg": angles.max().item(),
        "pca/mean_angle_deg": angles.mean().item(),
        "pca/mse": mse_pca,
        "pca/mse_model": mse_model,
        "pca/mse_ratio": mse_model / mse_pca if mse_pca > 0 else math.inf,
    }
    return numbers, {"pca_compare": _picture(data, w, u, angles, numbers)}


def _picture(
    data: Data, w: torch.Tensor, u: torch.Tensor, angles: torch.Tensor, n: dict
) -> torch.Tensor:
    tiles = data.is_image
    fig, axes = plt.subplots(
        2 if tiles else 1,
        1,
        figsize=(9, 5 if tiles else 3.5),
        squeeze=False,
        gridspec_kw={"height_ratios": [1, 1.5]} if tiles else None,
    )
    if tiles:
        # Row 1: PCA's components; row 2: each one projected onto the decoder's column space.
        q, _ = torch.linalg.qr(w)
        k = min(SHOW, u.shape[1])
        rows = torch.cat([u[:, :k].T, (q @ (q.T @ u[:, :k])).T]).float()
        img = pictures.grid(
            rows.reshape(-1, *data.shape),
            nrow=k,
            normalize=True,
            scale_each=True,
            padding=1,
            pad_value=1.0,
        )
        axes[0, 0].imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[0, 0].set_title(
            "top: PCA's principal components; bottom: each projected onto the "
            "decoder's column space",
            fontsize=9,
        )
        axes[0, 0].axis("off")
    ax = axes[-1, 0]
    ax.bar(range(1, len(angles) + 1), angles.numpy(), color="tab:blue")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("principal angle (smallest first)")
    ax.set_ylabel("degrees")
    ax.set_ylim(0, max(10.0, float(angles.max()) * 1.1))
    ax.set_title(
        f"largest angle {n['pca/max_angle_deg']:.2f}°; reconstruction MSE / PCA's = "
        f"{n['pca/mse_ratio']:.4f}",
        fontsize=9,
    )
    fig.tight_layout()
    return pictures.figure_to_tensor(fig)
