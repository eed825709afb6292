"""The codes of a split and the per-epoch statistics of them (torch only, imported cheaply).

The trainer logs `code/mean_activation` and `code/frac_near_zero` every epoch from the
validation codes; the sparsity analysis reports the same numbers at the end.
"""

from __future__ import annotations

import torch

from aectl.models.autoencoder import Autoencoder

NEAR_ZERO = 1e-2  # a code unit counts as inactive below this magnitude


def code_stats(h: torch.Tensor) -> dict[str, torch.Tensor]:
    h = h.flatten(1)
    return {
        "code/mean_activation": h.mean(),
        "code/frac_near_zero": (h.abs() < NEAR_ZERO).float().mean(),
    }


@torch.no_grad()
def codes(model: Autoencoder, x: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    model.eval()
    return torch.cat([model.encode(xb).flatten(1) for xb in x.split(batch)])
