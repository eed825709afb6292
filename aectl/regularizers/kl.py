"""The variational autoencoder's KL term: β · KL(q(h|x) ‖ N(0, I)) (Kingma & Welling, 2014).

q(h|x) = N(μ(x), diag σ²(x)) is the stochastic encoder's (`arch.stochastic=true`). The
code the decoder sees is sampled with the reparameterization trick, h = μ + σ·ε with
ε ~ N(0, I) from the global RNG (a checkpoint's saved RNG state replays it, so a resumed
run is bitwise the same on the CPU; under vmap each member draws its own), and the term is
the KL in closed form, in nats per example:

    KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²),

summed over the code's units, averaged over the batch. The weight is β
(`regularizer.weight`), optionally ramped up linearly over the first `warmup_epochs`
epochs; with `capacity` C > 0 the penalty is β·|KL − C| (Burgess et al., 2018).
"""

from __future__ import annotations

import torch

from aectl.errors import UserError
from aectl.regularizers.base import Regularizer

ACTIVE_COV = 0.01  # a unit is active when Cov_x(E_q[h_j]) exceeds this (Burda et al., 2016)
COLLAPSED_NATS = 0.01  # a unit whose mean KL is below this carries no information


def kl_per_unit(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) of each unit of each sample, in nats: (batch, code_dim)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)


def sample(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """h = μ + σ·ε, ε ~ N(0, I): differentiable in μ and log σ²."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class KL(Regularizer):
    name = "kl"
    term_name = "kl"
    bench_variants = (("kl", {}, frozenset({"stochastic"})),)

    def __init__(self, weight: float = 1.0, warmup_epochs: int = 0, capacity: float = 0.0):
        super().__init__(weight)
        self.warmup_epochs = int(warmup_epochs)
        self.capacity = float(capacity)
        self.ramp: torch.Tensor | None = None  # the warm-up factor, on the model's device

    def check(self, model, data) -> None:
        if not model.stochastic:
            raise UserError(
                "regularizer",
                f"kl needs a stochastic code and arch={model.arch} is deterministic; "
                "allowed: arch.stochastic=true (or model=vae)",
            )
        if self.warmup_epochs:
            device = next(model.parameters()).device
            self.ramp = torch.zeros((), device=device)

    def start_epoch(self, epoch: int) -> None:
        """Epoch `epoch` (0-based) begins: the warm-up factor is min(1, (epoch+1)/warmup).
        Updated in place, so a compiled step and a captured CUDA graph see it."""
        if self.ramp is not None:
            self.ramp.fill_(min(1.0, (epoch + 1) / self.warmup_epochs))

    def encode_and_term(self, model, x):
        mu, logvar = model.encode_gaussian(x)
        return sample(mu, logvar), kl_per_unit(mu, logvar).sum(-1).mean()

    def penalty(self, term):
        capped = torch.is_tensor(self.capacity) or self.capacity  # (a tensor under vmap)
        excess = abs(term - self.capacity) if capped else term
        if self.ramp is None:
            return self.weight * excess
        ramp = self.ramp if torch.is_tensor(term) else self.ramp.item()
        return self.weight * ramp * excess

    @torch.no_grad()
    def epoch_numbers(self, model, x, batch, recon, term) -> dict[str, float]:
        """The ELBO (nats per example: −(reconstruction + KL), one sample of the code), the
        KL per unit (mean over `x`, nats) and the number of active units, whose mean code
        E_q[h_j] = μ_j varies over the samples by more than ACTIVE_COV."""
        kls, mus = [], []
        for xb in x.split(batch):
            mu, logvar = model.encode_gaussian(xb)
            kls.append(kl_per_unit(mu, logvar).sum(0))
            mus.append(mu)
        kl = (torch.stack(kls).sum(0) / len(x)).tolist()
        mu = torch.cat(mus)
        active = int((mu.var(0) > ACTIVE_COV).sum()) if len(mu) > 1 else 0
        numbers = {f"latent/kl_unit_{j:02d}": v for j, v in enumerate(kl)}
        numbers["latent/active_units"] = active
        return {"val/elbo": -(recon + term), **numbers}

    epoch_line = ("val/elbo",)  # a VAE is read by its ELBO

    def warnings(self, numbers: dict[str, float]) -> list[str]:
        kls = [v for k, v in numbers.items() if k.startswith("latent/kl_unit_")]
        if kls and max(kls) < COLLAPSED_NATS:
            return [
                f"posterior collapse: every code unit's KL is below {COLLAPSED_NATS} nats "
                "(the code carries almost nothing about x). Early in training it may "
                "recover; if it does not, lower regularizer.weight, or set "
                "regularizer.warmup_epochs or regularizer.capacity"
            ]
        return []

    def describe(self) -> str:
        extra = f", warm-up {self.warmup_epochs} epochs" if self.warmup_epochs else ""
        extra += f", C={self.capacity:g}" if self.capacity else ""
        return f"kl(β={self.weight:g}{extra})"
