"""No regularizer: plain reconstruction (the undercomplete autoencoders)."""

from __future__ import annotations

from aectl.regularizers.base import Regularizer


class NoRegularizer(Regularizer):
    name = "none"
    bench_variants = (("none", {}, frozenset()),)
