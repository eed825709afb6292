"""The closed-form linear autoencoder: PCA from the SVD of the centred training data.

With Ξ = V S Uᵀ the SVD of the centred data matrix (one sample per row), the best rank-k
affine reconstruction (Eckart–Young) has codes V_k S_k = Ξ U_k and decoder U_kᵀ: the
encoder subtracts the training mean and projects, the decoder maps back and adds the mean.
`build` makes a linear autoencoder with frozen weights, `fit` writes the solution into it,
and the training loop runs one epoch of steps that only measure the losses: nothing is
trained. It is the reference a trained `model=linear` run is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aectl.errors import require
from aectl.models import linear
from aectl.models.autoencoder import Autoencoder


@dataclass
class Subspace:
    mean: torch.Tensor  # (D,) the training mean μ
    components: torch.Tensor  # (D, k) U_k: orthonormal principal directions, columns
    singular_values: torch.Tensor  # (k,) S_k, largest first


def principal_subspace(x: torch.Tensor, k: int) -> Subspace:
    """Top-k principal directions of the rows of `x` (any sample shape), in float64."""
    xi = x.detach().flatten(1).double()
    n, d = xi.shape
    require(
        k <= min(n, d),
        "arch.code_dim",
        k,
        f"allowed: at most min(samples, input size) = {min(n, d)} components",
    )
    mean = xi.mean(0)
    _, s, uT = torch.linalg.svd(
        xi - mean, full_matrices=False
    )  # torch's (U, S, Vh) = our (V, S, Uᵀ)
    return Subspace(mean, uT[:k].T.contiguous(), s[:k])


def reconstruct(sub: Subspace, x: torch.Tensor) -> torch.Tensor:
    """PCA's rank-k reconstruction of `x`, in `x`'s shape and dtype."""
    xi = x.flatten(1).double() - sub.mean
    u = sub.components
    return (xi @ u @ u.T + sub.mean).to(x.dtype).reshape(x.shape)


class PCAAutoencoder(Autoencoder):
    """A linear autoencoder whose weights are solved, not trained."""

    solved_in_closed_form = True

    def fit(self, x: torch.Tensor) -> Subspace:
        return fit(self, x)


def build(input_shape: tuple[int, ...], code_dim: int = 16) -> Autoencoder:
    """An affine encoder/decoder pair with frozen (untrainable) weights; `fit` sets them."""
    model = linear.build(input_shape, code_dim=code_dim, arch="pca", cls=PCAAutoencoder)
    return model.requires_grad_(False)


@torch.no_grad()
def fit(model: Autoencoder, x: torch.Tensor) -> Subspace:
    """Write the closed-form solution for the training samples `x` into `model`."""
    sub = principal_subspace(x, model.code_dim)
    (enc, _), dec = model.single_layer(), model.decoder[0]
    u, mean = sub.components.to(enc.weight), sub.mean.to(enc.weight)
    enc.weight.copy_(u.T)  # h = U_kᵀ (x - μ)
    enc.bias.copy_(-(u.T @ mean))
    dec.weight.copy_(u)  # x̂ = U_k h + μ
    dec.bias.copy_(mean)
    return sub
