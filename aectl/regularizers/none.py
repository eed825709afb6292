"""No regularizer: plain reconstruction (the undercomplete autoencoders)."""

from __future__ import annotations

from aectl.regularizers.base import Regularizer


class NoRegularizer(Regularizer):
    name = "none"
    shapes_training = False
    bench_variants = (("none", {}, frozenset()),)

    def describe(self) -> str:
        return "none"  # (its weight weighs nothing: a weight set anyway gets a note)
