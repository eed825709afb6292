"""Dropout on the code: each hidden unit is zeroed with probability p while training."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from aectl.config.schema import schema
from aectl.errors import require
from aectl.regularizers.base import Regularizer
from aectl.regularizers.common import RegularizerConfig


@schema("regularizer", "dropout")
@dataclass
class DropoutConfig(RegularizerConfig):
    _target_: str = "aectl.regularizers.dropout.Dropout"
    p: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.p < 1, "regularizer.p", self.p, "allowed: a probability 0 <= p < 1")


class Dropout(Regularizer):
    name = "dropout"

    def __init__(self, weight: float = 0.0, p: float = 0.2):
        super().__init__(weight)
        self.p = float(p)

    def code(self, h: torch.Tensor) -> torch.Tensor:
        return F.dropout(h, self.p, training=True)

    def describe(self) -> str:
        return f"dropout(p={self.p:g})"
