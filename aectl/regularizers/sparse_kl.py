"""Sparse autoencoder with a KL target rate: β · Σ_j KL(ρ ‖ ρ̂_j).

ρ̂_j is unit j's mean activation over the batch, so the code must lie in (0, 1): the
regularizer refuses codes that are not sigmoid outputs.
"""

from __future__ import annotations

import torch

from aectl.errors import UserError
from aectl.models.activations import UNIT_INTERVAL
from aectl.regularizers.base import Regularizer

EPS = 1e-6


def kl_divergence(rho: float, rho_hat: torch.Tensor) -> torch.Tensor:
    """Σ_j KL(Bernoulli(ρ) ‖ Bernoulli(ρ̂_j))."""
    rho_hat = rho_hat.clamp(EPS, 1 - EPS)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


class SparseKL(Regularizer):
    name = "sparse_kl"
    bench_variants = (("sparse_kl", {}, frozenset({"sigmoid_code"})),)
    term_name = "code_kl"

    def __init__(self, weight: float = 0.1, target: float = 0.05):
        super().__init__(weight)
        self.target = float(target)

    def check(self, model, data) -> None:
        if model.code_activation in UNIT_INTERVAL:
            return
        if model.arch in ("linear", "pca"):  # no activation to set
            raise UserError(
                "regularizer",
                f"sparse_kl needs a code in (0, 1) and arch={model.arch} has a linear code; "
                "allowed: arch=mlp (or conv) with arch.code_activation=sigmoid",
            )
        raise UserError(
            model.code_activation_field,
            f"regularizer=sparse_kl needs a code in (0, 1); got {model.code_activation!r}, "
            f"allowed: {', '.join(sorted(UNIT_INTERVAL))}",
        )

    def term(self, model, x, h) -> torch.Tensor:
        return kl_divergence(self.target, h.flatten(1).mean(0))

    def describe(self) -> str:
        return f"sparse_kl(β={self.weight:g}, ρ={self.target:g})"
