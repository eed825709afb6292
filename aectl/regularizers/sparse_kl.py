"""Sparse autoencoder with a KL target rate: β · Σ_j KL(ρ ‖ ρ̂_j).

ρ̂_j is unit j's mean activation over the batch, so the code must lie in (0, 1): the
regularizer refuses codes that are not sigmoid outputs.

The KL is computed from the code's logits a (ρ̂_j = mean_i σ(a_ij)): log ρ̂_j is a
logsumexp of logsigmoid(a_ij) and log(1 − ρ̂_j) one of logsigmoid(−a_ij), so its value and
gradient are the definition's even for a saturated unit (σ(a) rounds to exactly 1 in
float32 from a ≈ 17 on, where a KL of the probabilities has no gradient left). Runs saved
before this existed (`from_logits=false`) keep the clamped formula they were trained with.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from aectl.errors import UserError
from aectl.models.activations import UNIT_INTERVAL
from aectl.regularizers.base import Regularizer

EPS = 1e-6


def kl_divergence(rho: float, rho_hat: torch.Tensor) -> torch.Tensor:
    """Σ_j KL(Bernoulli(ρ) ‖ Bernoulli(ρ̂_j)), with ρ̂ clamped to [EPS, 1 − EPS] (aectl 0.1's
    formula: outside that range the value is capped and the gradient is 0)."""
    rho_hat = rho_hat.clamp(EPS, 1 - EPS)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_from_logits(rho: float | torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Σ_j KL(Bernoulli(ρ) ‖ Bernoulli(ρ̂_j)) with ρ̂_j = mean_i σ(a_ij), for logits a of shape
    (batch, units), exact in value and gradient at any logit."""
    log_n = math.log(a.shape[0])
    log_rate = torch.logsumexp(F.logsigmoid(a), dim=0) - log_n  # log ρ̂_j
    log_rest = torch.logsumexp(F.logsigmoid(-a), dim=0) - log_n  # log(1 − ρ̂_j)
    # ρ is a 0-d tensor per member under vmap (a sweep over regularizer.target)
    log = torch.log if torch.is_tensor(rho) else math.log
    return (rho * (log(rho) - log_rate) + (1 - rho) * (log(1 - rho) - log_rest)).sum()


class SparseKL(Regularizer):
    name = "sparse_kl"
    bench_variants = (("sparse_kl", {}, frozenset({"sigmoid_code"})),)
    term_name = "code_kl"

    def __init__(self, weight: float = 0.1, target: float = 0.05, from_logits: bool = True):
        super().__init__(weight)
        self.target = float(target)
        self.from_logits = bool(from_logits)

    def check(self, model, data) -> None:
        if model.stochastic:
            raise UserError(
                "regularizer",
                "sparse_kl needs a code of rates in (0, 1) and this code is a Gaussian sample "
                "(arch.stochastic=true); allowed: regularizer=kl, or arch.stochastic=false",
            )
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

    def encode_and_term(self, model, x):
        if not (self.from_logits and model.has_code_logits):
            return super().encode_and_term(model, x)
        a = model.encode_logits(x)  # one encoder pass: the code is σ(a)
        return torch.sigmoid(a), kl_from_logits(self.target, a.flatten(1))

    def term(self, model, x, h) -> torch.Tensor:
        return kl_divergence(self.target, h.flatten(1).mean(0))

    def describe(self) -> str:
        return f"sparse_kl(β={self.weight:g}, ρ={self.target:g})"
