"""What a regularizer can do to a training step, with do-nothing defaults.

A step is: corrupt the input, encode, transform the code, decode, compare with the CLEAN
input, add `weight * term`. Each regularizer overrides only the hooks it needs, so the
training loop has one code path for the whole taxonomy.
"""

from __future__ import annotations

import torch

from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder


class Regularizer:
    """What every part of the engine may ask a regularizer, with do-nothing defaults."""

    name = "none"
    term_name = "penalty_term"  # TensorBoard tag for the unweighted penalty
    corrupts_input = False  # pictures show the corrupted input as a row of its own
    shapes_training = True  # False: it leaves training as it is (a closed-form model takes it)
    epoch_line: tuple[str, ...] = ()  # keys of `epoch_numbers` the epoch's line shows
    # (label, constructor overrides, what the model must have: "one_layer", "sigmoid_code")
    # for each row `aectl bench` times this regularizer in
    bench_variants: tuple[tuple[str, dict, frozenset[str]], ...] = ()

    def __init__(self, weight: float = 0.0):
        self.weight = float(weight)

    def check(self, model: Autoencoder, data: Data) -> None:
        """Refuse model/data combinations this regularizer cannot handle (UserError)."""

    def encode_and_term(
        self, model: Autoencoder, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The code of x and the unweighted penalty. A penalty that can share the encoder's
        forward pass (Hutchinson's J v, by forward-mode autodiff) overrides this."""
        h = model.encode(x)
        return h, self.term(model, x, h)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The input the encoder sees during training (denoising corrupts it)."""
        return x

    def code(self, h: torch.Tensor) -> torch.Tensor:
        """The code the decoder sees during training (dropout masks it)."""
        return h

    def term(self, model: Autoencoder, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor | None:
        """Unweighted penalty, averaged over the batch; None if there is none."""
        return None

    def penalty(self, term: torch.Tensor | float) -> torch.Tensor | float:
        """The weighted penalty λ · term: the one place a term is weighted."""
        return self.weight * term

    def start_epoch(self, epoch: int) -> None:
        """Epoch `epoch` (0-based, as many as are done) begins (a KL warm-up ramps here)."""

    def epoch_numbers(
        self, model: Autoencoder, x: torch.Tensor, batch: int, recon: float, term: float
    ) -> dict[str, float]:
        """Extra numbers measured on the validation samples `x` each epoch, given their
        reconstruction loss and term (logged as scalars under their keys, kept in
        metrics.json)."""
        return {}

    def warnings(self, numbers: dict[str, float]) -> list[str]:
        """Lines to print about this epoch's `epoch_numbers` (a collapsed code)."""
        return []

    def describe(self) -> str:
        return f"{self.name}(weight={self.weight:g})"
