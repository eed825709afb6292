"""Fields every regularizer config shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

from aectl.errors import require


@dataclass
class RegularizerConfig:
    _target_: str = "???"
    weight: float = 0.0  # λ in the literature (β for sparse_kl)

    def __post_init__(self) -> None:
        require(
            math.isfinite(self.weight) and self.weight >= 0,
            "regularizer.weight",
            self.weight,
            "allowed: a finite number >= 0",
        )
