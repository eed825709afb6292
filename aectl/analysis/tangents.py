"""Contractive tangents: the encoder is sensitive only along the manifold.

A contractive autoencoder's Jacobian J = ∂h/∂x is pushed towards zero everywhere except
where reconstruction needs it: along the data manifold (Rifai et al., 2011). So at a point
on the curve, J's leading right-singular vector (the input direction the code reacts to
most) should be the curve's tangent. The picture draws it as a segment at points along the
curve, next to the tangent estimated by local PCA of each point's nearest training samples
(the classic comparison), and J's sensitivity ellipse (axes along its right-singular
vectors, in the ratio of its singular values). The numbers are the mean |cos| of each
direction with the true tangent (`Curve.tangent`), the mean ratio s₂/s₁ of J's second to
first singular value (0: flat off the manifold) and the mean ‖J‖_F on the curve.

The |cos| alone is no evidence of contraction: an unregularized network with the same
layers already finds the tangent, since reconstruction needs the code to follow the curve.
What the penalty changes is how much the code ignores the other directions (s₂/s₁) and how
small J is (‖J‖_F): compare with the same run at regularizer.weight=0.
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
    ratio = s[:, 1] / s[:, 0].clamp_min(1e-12) if s.shape[1] > 1 else torch.zeros(len(s))
    numbers = {
        "tangents/jacobian_abs_cos": cos_jac.mean().item(),
        "tangents/local_pca_abs_cos": cos_pca.mean().item(),
        "tangents/singular_value_ratio": ratio.mean().item(),
        "tangents/jacobian_fro_on_curve": s.pow(2).sum(1).sqrt().mean().item(),
    }
    v_other = vh[:, 1] if vh.shape[1] > 1 else torch.zeros_like(v_jac)
    picture = _picture(data, curve, p.cpu(), (v_jac, v_other, ratio), v_pca, numbers)
    return numbers, {"tangents": picture}


def _picture(data, curve, p, jac, v_pca, numbers) -> torch.Tensor:
    from matplotlib.patches import Ellipse

    v_jac, _, ratio = jac
    x = data.train_x.cpu().numpy()
    c = curve.points(torch.linspace(*curve.t_range, 600)).numpy()
    half = 0.06 * float((data.train_x.max(0).values - data.train_x.min(0).values).max())
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(x[:, 0], x[:, 1], s=3, alpha=0.2, color="tab:gray", label="data")
    ax.plot(c[:, 0], c[:, 1], color="0.4", ls="--", lw=0.8, label="true curve")
    for i in range(len(p)):  # J's sensitivity: 1 along v₁, s₂/s₁ along v₂
        angle = float(torch.rad2deg(torch.atan2(v_jac[i, 1], v_jac[i, 0])))
        ax.add_patch(
            Ellipse(
                (float(p[i, 0]), float(p[i, 1])),
                2 * half,
                2 * half * float(ratio[i]),
                angle=angle,
                facecolor="tab:orange",
                alpha=0.35,
                label="J's sensitivity (s₂/s₁ across)" if i == 0 else None,
            )
        )
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
        f"local PCA {numbers['tangents/local_pca_abs_cos']:.3f}\n"
        f"on the curve: s₂/s₁ {numbers['tangents/singular_value_ratio']:.3f}, "
        f"‖J‖_F {numbers['tangents/jacobian_fro_on_curve']:.3g}",
        fontsize=9,
    )
    ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    return pictures.figure_to_tensor(fig)
