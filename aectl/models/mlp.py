"""Fully connected autoencoders: shallow (no hidden layer), deep, and tied-weight variants.

With `tied=true` the decoder owns no weight matrices: each decoder layer applies the
transpose of its mirror encoder layer's weight (one parameter, two uses), keeping only its
own bias.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from aectl.models import activations
from aectl.models.autoencoder import Autoencoder
from aectl.models.gaussian import GaussianAutoencoder


class TiedLinear(nn.Module):
    """A decoder layer that applies its mirror encoder layer's weight transposed."""

    def __init__(self, source: nn.Linear, bias: bool):
        super().__init__()
        object.__setattr__(self, "source", source)  # a reference, not a second registration
        out_features = source.in_features
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.source.weight.t(), self.bias)


def build(
    input_shape: tuple[int, ...],
    code_dim: int = 16,
    hidden: list[int] | tuple[int, ...] = (128, 64),
    activation: str = "relu",
    code_activation: str = "identity",
    output_activation: str = "sigmoid",
    tied: bool = False,
    bias: bool = True,
    arch: str = "mlp",
    cls: type[Autoencoder] = Autoencoder,
    stochastic: bool = False,
    sigma: float | None = 1.0,
) -> Autoencoder:
    """`stochastic`: a Gaussian encoder (its last layer outputs μ and log σ², the decoder
    reads code_dim numbers); `sigma`: its decoder's Gaussian σ (None: learned)."""
    input_shape = tuple(input_shape)
    n_in = 1
    for s in input_shape:
        n_in *= s
    widths = [n_in, *hidden, 2 * code_dim if stochastic else code_dim]
    enc_linears = [nn.Linear(a, b, bias=bias) for a, b in zip(widths[:-1], widths[1:])]
    enc_layers: list[nn.Module] = [nn.Flatten()]
    for i, lin in enumerate(enc_linears):
        last = i == len(enc_linears) - 1
        enc_layers += [lin, activations.make(code_activation if last else activation)]
    encoder = nn.Sequential(*enc_layers)

    dec_layers: list[nn.Module] = []
    rev = list(reversed(enc_linears))
    for i, lin in enumerate(rev):
        last = i == len(rev) - 1
        if tied:
            dec_layers.append(TiedLinear(lin, bias))
        else:
            n_code = code_dim if i == 0 else lin.out_features  # (stochastic: μ, not 2·code_dim)
            dec_layers.append(nn.Linear(n_code, lin.in_features, bias=bias))
        dec_layers.append(activations.make(output_activation if last else activation))
    dec_layers.append(nn.Unflatten(1, input_shape))
    decoder = nn.Sequential(*dec_layers)

    single = (enc_linears[0], encoder[2]) if len(enc_linears) == 1 and not stochastic else None
    extra = {"sigma": sigma} if stochastic else {}
    if stochastic:
        cls = GaussianAutoencoder
    return cls(
        encoder,
        decoder,
        input_shape=input_shape,
        code_dim=code_dim,
        code_activation=code_activation,
        output_activation=output_activation,
        arch=arch,
        single_layer=single,
        code_act=encoder[-1],
        output_act=decoder[-2],  # before the Unflatten
        **extra,
    )
