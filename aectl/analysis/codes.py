"""The codes of a split and the statistics of them (torch only, imported cheaply).

The trainer logs `code/mean_activation` and `code/frac_near_zero` every epoch from the
validation codes; the sparsity analysis reports those and more at the end.

"Near zero" is relative to the code's own scale: |h| < NEAR_ZERO · RMS(h), the root mean
square of every code value of the split. A fixed threshold (|h| < 0.01) measures the
code's scale, not its sparsity: the same code divided by 100 would count as all zeros. A
value of exactly 0 is off whatever the threshold: an all-zero code (every unit switched
off, RMS 0) is all near zero, not all active.
"""

from __future__ import annotations

import math

import torch

from aectl.models.autoencoder import Autoencoder

NEAR_ZERO = 1e-2  # a code value counts as inactive below this share of the code's RMS


def near_zero_threshold(h: torch.Tensor) -> torch.Tensor:
    """NEAR_ZERO · RMS of all the values of h: the magnitude below which a value is "off"."""
    return NEAR_ZERO * h.double().pow(2).mean().sqrt().to(h.dtype)


def near_zero(h: torch.Tensor, below: torch.Tensor) -> torch.Tensor:
    """Which values of h are off: below the threshold, or exactly 0."""
    return (h.abs() < below) | (h == 0)


def code_stats(h: torch.Tensor) -> dict[str, torch.Tensor]:
    h = h.flatten(1)
    return {
        "code/mean_activation": h.mean(),
        "code/frac_near_zero": near_zero(h, near_zero_threshold(h)).float().mean(),
    }


def hoyer(h: torch.Tensor) -> torch.Tensor | None:
    """Hoyer's sparsity (2004), mean over samples: (√n − ‖h‖₁/‖h‖₂) / (√n − 1) for a code of n
    units; 1 when one unit is on, 0 when all are equally on, whatever the scale. An all-zero
    code counts as 1; None for a one-unit code (the measure needs n ≥ 2)."""
    h = h.flatten(1).double()
    n = h.shape[1]
    if n < 2:
        return None
    l1, l2 = h.abs().sum(1), h.norm(dim=1)
    ratio = torch.where(l2 > 0, l1 / l2.clamp_min(torch.finfo(h.dtype).tiny), 1.0)
    return ((math.sqrt(n) - ratio) / (math.sqrt(n) - 1)).mean()


@torch.no_grad()
def codes(model: Autoencoder, x: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    model.eval()
    return torch.cat([model.encode(xb).flatten(1) for xb in x.split(batch)])
