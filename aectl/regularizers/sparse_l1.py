"""Sparse autoencoder with an L1 penalty on the code: λ · mean over the batch of Σ_j |h_j|."""

from __future__ import annotations

import torch

from aectl.regularizers.base import Regularizer


class SparseL1(Regularizer):
    name = "sparse_l1"
    bench_variants = (("sparse_l1", {}, frozenset()),)
    term_name = "code_l1"

    def term(self, model, x, h) -> torch.Tensor:
        return h.flatten(1).abs().sum(1).mean()
