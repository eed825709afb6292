"""Sparse autoencoder with an L1 penalty on the code: λ · mean over the batch of Σ_j |h_j|."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aectl.config.schema import schema
from aectl.regularizers.base import Regularizer
from aectl.regularizers.common import RegularizerConfig


@schema("regularizer", "sparse_l1")
@dataclass
class SparseL1Config(RegularizerConfig):
    _target_: str = "aectl.regularizers.sparse_l1.SparseL1"
    weight: float = 1e-3


class SparseL1(Regularizer):
    name = "sparse_l1"
    term_name = "code_l1"

    def term(self, model, x, h) -> torch.Tensor:
        return h.flatten(1).abs().sum(1).mean()
