"""Dropout on the code: each hidden unit is zeroed with probability p while training."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from aectl.regularizers.base import Regularizer


class Dropout(Regularizer):
    name = "dropout"
    bench_variants = (("dropout", {}, frozenset()),)

    def __init__(self, weight: float = 0.0, p: float = 0.2):
        super().__init__(weight)
        self.p = float(p)

    def code(self, h: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(self.p):
            return F.dropout(h, self.p, training=True)
        # p as a tensor (a member of a vmap group, each with its own p): the same inverted
        # dropout as F.dropout, whose range check a batched tensor cannot answer
        keep = torch.rand_like(h) >= self.p
        return torch.where(keep, h / (1 - self.p), torch.zeros_like(h))

    def describe(self) -> str:
        return f"dropout(p={self.p:g})"
