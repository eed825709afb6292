"""Refuse an output activation or a loss that cannot fit the data's range of values.

A sigmoid output can never reach a coordinate of -1.3, and BCE is not defined for targets
outside [0, 1] (torch stops with a RuntimeError mid-epoch) nor for outputs outside (0, 1).
The first used to train anyway, into a model that pushes every point into the unit square,
the second ended in a traceback. Checked here once before the first step (by `aectl train`,
not by `aectl eval`, which must read runs saved before these checks), each gets one line
naming the field to change.
"""

from __future__ import annotations

import math

import torch

from aectl.data.base import Data
from aectl.errors import UserError

# The closed hull of each bounded or one-sided output activation's values.
OUTPUT_RANGES = {
    "sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "relu": (0.0, math.inf),
    "softplus": (0.0, math.inf),
    "elu": (-1.0, math.inf),
    "gelu": (-0.17, math.inf),  # its minimum is -0.16997 (at x = -0.7518)
}


def value_range(data: Data) -> tuple[float, float]:
    lo, hi = math.inf, -math.inf
    for x in (data.train_x, data.val_x, data.test_x):
        if x is not None and x.numel():
            a, b = torch.aminmax(x)
            lo, hi = min(lo, a.item()), max(hi, b.item())
    return lo, hi


def check(data: Data, output_activation: str, loss: str) -> None:
    """Raise a UserError when the data lies outside what the output or the loss allows."""
    lo, hi = value_range(data)
    span = f"this data's values span [{lo:.4g}, {hi:.4g}]"
    rescale = "rescale the data (npz: dataset.scale=div255 for 0..255 values, or minmax)"
    if loss == "bce" and (lo < 0.0 or hi > 1.0):
        raise UserError(
            "trainer.loss",
            f"bce needs targets in [0, 1] and {span}; use trainer.loss=mse, or {rescale}",
        )
    if loss == "bce" and output_activation != "sigmoid":
        raise UserError(
            "trainer.loss",
            "got 'bce'; BCE needs outputs in (0, 1): set arch.output_activation=sigmoid "
            "or trainer.loss=mse",
        )
    low, high = OUTPUT_RANGES.get(output_activation, (-math.inf, math.inf))
    if lo < low or hi > high:
        raise UserError(
            "arch.output_activation",
            f"{output_activation} outputs lie in [{low:g}, {high:g}] and {span}; "
            f"set arch.output_activation=identity, or {rescale}",
        )


def check_likelihood(stochastic: bool, loss: str) -> None:
    """A stochastic code's reconstruction term is a log-likelihood (bce: Bernoulli pixels,
    gaussian: Gaussian ones); a deterministic one's is not a likelihood."""
    if stochastic and loss not in ("bce", "gaussian"):
        raise UserError(
            "trainer.loss",
            f"got {loss!r}; a stochastic code (arch.stochastic=true) is trained on a "
            "negative log-likelihood; allowed: bce (Bernoulli pixels), gaussian",
        )
    if not stochastic and loss == "gaussian":
        raise UserError(
            "trainer.loss",
            "got 'gaussian', a likelihood for a stochastic code; allowed with a deterministic "
            "one: mse, bce (or set arch.stochastic=true)",
        )
