"""One autoencoder step's losses, shared by training, evaluation and the benchmark.

corrupt → encode → (code transform) → decode → loss against the CLEAN input, plus the
regularizer's weighted term. Returns tensors only: nothing here waits for the device.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from aectl.models.autoencoder import Autoencoder
from aectl.regularizers.base import Regularizer

BCE_EPS = 1e-6  # aectl 0.1's clamp of the outputs (`bce_clamped`)


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean over every element of the batch, from the outputs. BCE from outputs can only
    clamp them (its gradient is 0 once an output saturates); `decoded_loss` uses the
    logits when the model has them."""
    if loss == "mse":
        return F.mse_loss(x_hat, x)
    return F.binary_cross_entropy(x_hat.clamp(BCE_EPS, 1 - BCE_EPS), x)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per sample, −log p(x | logits) of independent Bernoulli pixels with p = σ(logits),
    summed over the pixels: (batch,). Exact at any logit (torch's stable form)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_nll(x_hat: torch.Tensor, x: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """Per sample, −log N(x; x̂, σ² I) summed over the pixels: (batch,)."""
    z2 = ((x - x_hat) * torch.exp(-log_sigma)).pow(2).flatten(1)
    return 0.5 * z2.sum(1) + z2.shape[1] * (log_sigma + 0.5 * math.log(2 * math.pi))


def nll(model: Autoencoder, h: torch.Tensor, x: torch.Tensor, loss: str) -> torch.Tensor:
    """Per sample, −log p(x | h) in nats (summed over the pixels): Bernoulli pixels from
    the decoder's logits for "bce", Gaussian ones with the model's σ for "gaussian"."""
    if loss == "gaussian":
        return gaussian_nll(model.decode(h), x, model.log_sigma)
    return bernoulli_nll(model.decode_logits(h), x)


def decoded_loss(model: Autoencoder, h: torch.Tensor, x: torch.Tensor, loss: str) -> torch.Tensor:
    """The reconstruction loss of the code h against x, mean over every element: "bce" is
    computed from the decoder's logits when its output is a sigmoid (exact value and
    gradient however saturated), "bce_clamped" and any other output from the outputs.
    A stochastic model's is a negative log-likelihood in nats per example (`nll`, summed
    over the pixels, mean over the batch)."""
    if model.stochastic:
        return nll(model, h, x, loss).mean()
    if loss == "bce" and model.has_logits:
        return F.binary_cross_entropy_with_logits(model.decode_logits(h), x)
    return reconstruction_loss(model.decode(h), x, loss)


def losses(
    model: Autoencoder, reg: Regularizer, x: torch.Tensor, loss: str, *, train: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, reconstruction, unweighted penalty term) for one batch.

    With train=False the input is not corrupted and the code not dropped: the validation
    numbers measure the autoencoder itself.
    """
    x_in = reg.corrupt(x) if train else x
    h, term = reg.encode_and_term(model, x_in)
    recon = decoded_loss(model, reg.code(h) if train else h, x, loss)
    if term is None:
        return recon, recon, torch.zeros((), device=x.device)
    return recon + reg.penalty(term), recon, term
