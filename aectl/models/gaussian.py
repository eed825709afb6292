"""The stochastic encoder of a variational autoencoder: q(h|x) = N(μ(x), diag σ²(x)).

The encoder network's last layer outputs 2·code_dim numbers, μ and a raw log-variance;
the log-variance is bounded smoothly, log σ² = B·tanh(raw/B) with B = LOGVAR_BOUND, so
σ² = exp(log σ²) can neither overflow nor underflow in float32 or bf16 (identity near 0,
where a trained posterior lives). `encode` returns μ (what probes, pictures and analyses
use); `encode_gaussian` returns (μ, log σ²) for the KL regularizer, which samples the code
with the reparameterization trick. The decoder is the deterministic network's decoder; its
Gaussian likelihood's σ (`trainer.loss=gaussian`) is `log_sigma`: a buffer when fixed
(`arch.sigma`), a learned scalar parameter when `arch.sigma=null`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aectl.models.autoencoder import Autoencoder

LOGVAR_BOUND = 20.0  # |log σ²| < 20: σ² in (2e-9, 5e8)


class GaussianAutoencoder(Autoencoder):
    stochastic = True

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, sigma: float | None, **kw):
        super().__init__(encoder, decoder, **kw)
        if sigma is None:
            self.log_sigma = nn.Parameter(torch.zeros(()))
        else:
            self.register_buffer("log_sigma", torch.tensor(math.log(sigma)))

    def encode_gaussian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²), each (batch, code_dim)."""
        mu, raw = self.encoder(x).chunk(2, dim=-1)
        return mu, LOGVAR_BOUND * torch.tanh(raw / LOGVAR_BOUND)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode_gaussian(x)[0]

    def encode_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)

    @property
    def has_code_logits(self) -> bool:
        return False
