"""One autoencoder step's losses, shared by training, evaluation and the benchmark.

corrupt → encode → (code transform) → decode → loss against the CLEAN input, plus the
regularizer's weighted term. Returns tensors only: nothing here waits for the device.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from aectl.models.autoencoder import Autoencoder
from aectl.regularizers.base import Regularizer

BCE_EPS = 1e-6


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean over every element of the batch."""
    if loss == "mse":
        return F.mse_loss(x_hat, x)
    return F.binary_cross_entropy(x_hat.clamp(BCE_EPS, 1 - BCE_EPS), x)


def losses(
    model: Autoencoder, reg: Regularizer, x: torch.Tensor, loss: str, *, train: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, reconstruction, unweighted penalty term) for one batch.

    With train=False the input is not corrupted and the code not dropped: the validation
    numbers measure the autoencoder itself.
    """
    x_in = reg.corrupt(x) if train else x
    h, term = reg.encode_and_term(model, x_in)
    x_hat = model.decode(reg.code(h) if train else h)
    recon = reconstruction_loss(x_hat, x, loss)
    if term is None:
        return recon, recon, torch.zeros((), device=x.device)
    return recon + reg.penalty(term), recon, term
