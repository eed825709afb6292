"""Contractive tangents: the encoder is sensitive only along the manifold.

A contractive autoencoder's Jacobian J = ∂h/∂x is pushed towards zero everywhere except
where reconstruction needs it: along the data manifold (Rifai et al., 2011). So at a point
on the curve, J's leading right-singular vector (the input direction the code reacts to
most) should be the curve's tangent. The picture draws it as a segment at points along the
curve, next to the tangent estimated by local PCA of each point's nearest training samples
(the classic comparison); the numbers are the mean |cos| of each with the true tangent
(`Curve.tangent`) and the mean ratio of J's second to first singular value (0 = flat off
the manifold).
"""

from __future__ import annotations

import torch
from sklearn.neighbors import NearestNeighbors
from torch.func import jacrev, vmap

from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures

plt = pictures.pyplot()  # Agg; this module is imported only when an analysis runs

POINTS = 24  # points along the curve
NEIGHBOURS = 40  # training samples in each local PCA


def points_on(curve, n: int = POINTS) -> torch.Tensor:
    """n curve parameters spread evenly over t_range (the end is left out of closed curves)."""
    lo, hi = curve.t_range
    t = torch.linspace(lo, hi, n + 1 if curve.closed else n)
    return t[:-1] if curve.closed else t


def encoder_jacobians(model: Autoencoder, p: torch.Tensor) -> torch.Tensor:
    """(n, code, D): ∂h/∂x at each row of p."""
    return vmap(jacrev(lambda xi: model.encode(xi.unsqueeze(0)).flatten()))(p).detach()


def local_pca_directions(
    train_x: torch.Tensor, p: torch.Tensor, k: int = NEIGHBOURS
) -> torch.Tensor:
    """(n, D): leading principal direction of the k training samples nearest each row of p."""
    x = train_x.cpu().flatten(1)
    idx = NearestNeighbors(n_neighbors=min(k, len(x))).fit(x.numpy()).kneighbors(p.cpu().numpy())[1]
    nb = x[torch.from_numpy(idx)]  # (n, k, D)
    _, _, vh = torch.linalg.svd(nb - nb.mean(1, keepdim=True), full_matrices=False)
    return vh[:, 0]


def tangents(
    model: Autoencoder, data: Data, curve
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    model.eval()
    t = points_on(curve)
    device = data.train_x.device
    p = curve.points(t).to(device=device, dtype=data.train_x.dtype)
    j = encoder_jacobians(model, p).cpu()
    _, s, vh = torch.linalg.svd(j, full_matrices=False)
    v_jac = vh[:, 0]
    v_pca = local_pca_directions(data.train_x, p)
    true = curve.tangent(t).to(v_jac.dtype)
    cos_jac = (v_jac * true).sum(1).abs()
    cos_pca = (v_pca * true).sum(1).abs()
    numbers = {
        "tangents/jacobian_abs_cos": cos_jac.mean().item(),
        "tangents/local_pca_abs_cos": cos_pca.mean().item(),
        "tangents/singular_value_ratio": (s[:, 1] / s[:, 0].clamp_min(1e-12)).mean().item()
        if s.shape[1] > 1
        else 0.0,
    }
    return numbers, {"tangents": _picture(data, curve, p.cpu(), v_jac, v_pca, numbers)}


def _picture(data, curve, p, v_jac, v_pca, numbers) -> torch.Tensor:
    x = data.train_x.cpu().numpy()
    c = curve.points(torch.linspace(*curve.t_range, 600)).numpy()
    half = 0.06 * float((data.train_x.max(0).values - data.train_x.min(0).values).max())
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(x[:, 0], x[:, 1], s=3, alpha=0.2, color="tab:gray", label="data")
    ax.plot(c[:, 0], c[:, 1], color="0.4", ls="--", lw=0.8, label="true curve")
    for v, style, label in (
        (v_pca, dict(color="tab:blue", lw=4, alpha=0.45), "local PCA tangent"),
        (v_jac, dict(color="tab:red", lw=1.6), "leading right-singular vector of J"),
    ):
        a, b = p - half * v, p + half * v
        for i in range(len(p)):
            ax.plot(
                [a[i, 0], b[i, 0]], [a[i, 1], b[i, 1]], label=label if i == 0 else None, **style
            )
    ax.scatter(p[:, 0], p[:, 1], s=10, color="k", zorder=3)
    ax.set_aspect("equal")
    ax.set_title(
        f"mean |cos| with the true tangent: Jacobian {numbers['tangents/jacobian_abs_cos']:.3f}, "
        f"local PCA {numbers['tangents/local_pca_abs_cos']:.3f}",
        fontsize=9,
    )
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return pictures.figure_to_tensor(fig)
