"""The linear autoencoder: one affine encoder and decoder, no nonlinearity.

Trained with MSE on centred data it spans the same subspace as PCA (Baldi & Hornik, 1989),
which is what the tests check it against.
"""

from __future__ import annotations

from aectl.models import mlp
from aectl.models.autoencoder import Autoencoder


def build(
    input_shape: tuple[int, ...],
    code_dim: int = 16,
    bias: bool = True,
    tied: bool = False,
    arch: str = "linear",
    cls: type[Autoencoder] = Autoencoder,
) -> Autoencoder:
    """One affine layer each way (`arch` names the result: `pca` builds on this too)."""
    return mlp.build(
        input_shape,
        code_dim=code_dim,
        hidden=[],
        activation="identity",
        code_activation="identity",
        output_activation="identity",
        tied=tied,
        bias=bias,
        arch=arch,
        cls=cls,
    )
