"""Contractive autoencoder: λ · mean over the batch of ‖∂h/∂x‖²_F (Rifai et al., 2011).

Three ways to get the Frobenius norm of the encoder Jacobian:
- analytic: for a one-layer encoder h = s(Wx + b), ‖J‖²_F = Σ_j s'(a_j)² ‖W_j‖² (cheap);
- exact: the full per-sample Jacobian with torch.func (any encoder);
- hutchinson: E_v ‖J v‖² with v ~ N(0, I), k forward-mode products (unbiased, any encoder).
All three stay differentiable, so the penalty's gradient reaches the encoder weights.
"""

from __future__ import annotations

import torch
from torch.func import jacfwd, jacrev, jvp, vmap

from aectl.errors import UserError
from aectl.models import forward_mode
from aectl.models.activations import derivative, derivative_from_output
from aectl.regularizers.base import Regularizer


def analytic(model, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample ‖J‖²_F for a one-layer encoder, in closed form.

    `h`, the code the step already computed for `x`, saves a second forward pass for the
    activations whose derivative is a function of their output.
    """
    linear, act = model.single_layer()
    d = None if h is None else derivative_from_output(act, h.flatten(1))
    if d is None:
        d = derivative(act, linear(x.flatten(1)))
    w_row_sq = linear.weight.pow(2).sum(1)  # ‖W_j‖² for each code unit j
    return (d.pow(2) * w_row_sq).sum(1)


def exact(model, x: torch.Tensor) -> torch.Tensor:
    """Per-sample ‖J‖²_F from the full Jacobian (forward mode when the code is wider)."""

    def f(xi: torch.Tensor) -> torch.Tensor:
        return model.encode(xi.unsqueeze(0)).squeeze(0).flatten()

    forward_mode.ready()
    jac = jacfwd(f) if model.code_dim >= model.input_size else jacrev(f)
    return vmap(jac)(x).flatten(1).pow(2).sum(1)


def hutchinson(model, x: torch.Tensor, k: int) -> torch.Tensor:
    """Per-sample unbiased estimate of ‖J‖²_F: mean over k draws of ‖J v‖², v ~ N(0, I)."""
    return encode_hutchinson(model, x, k)[1]


def encode_hutchinson(model, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(h, per-sample Hutchinson estimate): the first draw's J v comes out of the same
    forward-mode pass that computes the code h, so k=1 costs one dual-number encoder pass
    (torch.func.jvp, which also runs under vmap)."""
    forward_mode.ready()
    h, jv = jvp(model.encode, (x,), (torch.randn_like(x),))
    total = jv.flatten(1).pow(2).sum(1)
    for _ in range(k - 1):
        _, jv = jvp(model.encode, (x,), (torch.randn_like(x),))
        total = total + jv.flatten(1).pow(2).sum(1)
    return h, total / k


class Contractive(Regularizer):
    name = "contractive"
    term_name = "jacobian_fro2"
    bench_variants = (
        ("contractive exact", {"method": "exact"}, frozenset()),
        ("contractive hutchinson k=1", {"method": "hutchinson"}, frozenset()),
        ("contractive analytic", {"method": "analytic"}, frozenset({"one_layer"})),
    )

    def __init__(self, weight: float = 0.1, method: str = "analytic", num_projections: int = 1):
        super().__init__(weight)
        self.method, self.k = method, int(num_projections)

    def check(self, model, data) -> None:
        if self.method == "analytic" and model.stochastic:
            raise UserError(
                "regularizer.method",
                "method=analytic is the closed form of a deterministic one-layer code; this "
                "code is stochastic (arch.stochastic=true); allowed: exact, hutchinson (the "
                "Jacobian of the mean μ(x)), or regularizer=kl",
            )
        if self.method == "analytic" and model.single_layer() is None:
            raise UserError(
                "regularizer.method",
                "method=analytic needs a one-layer encoder (arch=mlp arch.hidden=[] or arch=linear); "
                "allowed for this encoder: exact, hutchinson",
            )

    def per_sample(self, model, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        if self.method == "analytic":
            return analytic(model, x, h)
        if self.method == "exact":
            return exact(model, x)
        return hutchinson(model, x, self.k)

    def term(self, model, x, h) -> torch.Tensor:
        return self.per_sample(model, x, h).mean()

    def encode_and_term(self, model, x):
        if self.method != "hutchinson":
            return super().encode_and_term(model, x)
        h, per_sample = encode_hutchinson(model, x, self.k)
        return h, per_sample.mean()

    def describe(self) -> str:
        extra = f", k={self.k}" if self.method == "hutchinson" else ""
        return f"contractive(λ={self.weight:g}, {self.method}{extra})"
