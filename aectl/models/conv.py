"""Convolutional autoencoder for images: strided convolutions down, transposed ones back up.

Each stride-2 stage halves the image (rounding up); the decoder picks each transposed
convolution's output_padding so it lands exactly on the encoder's recorded size, so any
image size at least 2**len(channels) pixels on a side reconstructs at its own size.
"""

from __future__ import annotations

from torch import nn

from aectl.errors import UserError, require
from aectl.models import activations
from aectl.models.autoencoder import Autoencoder
from aectl.models.gaussian import GaussianAutoencoder


def build(
    input_shape: tuple[int, ...],
    code_dim: int = 16,
    channels: list[int] | tuple[int, ...] = (16, 32),
    kernel_size: int = 3,
    activation: str = "relu",
    code_activation: str = "identity",
    output_activation: str = "sigmoid",
    stochastic: bool = False,
    sigma: float | None = 1.0,
) -> Autoencoder:
    """`stochastic`: a Gaussian encoder (aectl.models.gaussian), its decoder's σ `sigma`."""
    if len(input_shape) != 3:
        raise UserError(
            "arch",
            f"arch=conv needs image data (C, H, W); this dataset's samples have shape "
            f"{tuple(input_shape)}; use arch=mlp or an image dataset",
        )
    c, h, w = input_shape
    min_side = 2 ** len(channels)
    require(
        h >= min_side and w >= min_side,
        "arch.channels",
        list(channels),
        f"{len(channels)} stride-2 stages need images of at least {min_side}x{min_side}; "
        f"these are {h}x{w}: use fewer channels",
    )
    pad = kernel_size // 2
    sizes = [(h, w)]
    enc: list[nn.Module] = []
    prev = c
    for ch in channels:
        enc += [
            nn.Conv2d(prev, ch, kernel_size, stride=2, padding=pad),
            activations.make(activation),
        ]
        hh, ww = sizes[-1]
        sizes.append(((hh + 2 * pad - kernel_size) // 2 + 1, (ww + 2 * pad - kernel_size) // 2 + 1))
        prev = ch
    fh, fw = sizes[-1]
    flat = prev * fh * fw
    n_out = 2 * code_dim if stochastic else code_dim  # stochastic: μ and log σ²
    enc += [nn.Flatten(), nn.Linear(flat, n_out), activations.make(code_activation)]

    dec: list[nn.Module] = [
        nn.Linear(code_dim, flat),
        activations.make(activation),
        nn.Unflatten(1, (prev, fh, fw)),
    ]
    outs = list(reversed([c, *channels[:-1]]))
    for i, ch_out in enumerate(outs):
        (ih, iw), (th, tw) = sizes[-1 - i], sizes[-2 - i]
        base_h = (ih - 1) * 2 - 2 * pad + kernel_size
        base_w = (iw - 1) * 2 - 2 * pad + kernel_size
        dec.append(
            nn.ConvTranspose2d(
                prev,
                ch_out,
                kernel_size,
                stride=2,
                padding=pad,
                output_padding=(th - base_h, tw - base_w),
            )
        )
        last = i == len(outs) - 1
        dec.append(activations.make(output_activation if last else activation))
        prev = ch_out
    extra = {"sigma": sigma} if stochastic else {}
    return (GaussianAutoencoder if stochastic else Autoencoder)(
        nn.Sequential(*enc),
        nn.Sequential(*dec),
        code_act=enc[-1],
        output_act=dec[-1],
        input_shape=tuple(input_shape),
        code_dim=code_dim,
        code_activation=code_activation,
        output_activation=output_activation,
        arch="conv",
        **extra,
    )
