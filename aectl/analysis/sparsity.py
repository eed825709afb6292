"""Sparse codes: how many units are active per sample, and what the first layer learned.

A sparse autoencoder (L1 or KL penalty) leaves most code units near zero for any one input,
and its first-layer weights become localised stroke-like filters on images. The numbers,
each independent of the code's scale (a code times 0.001 scores the same):

- `frac_exact_zero`: the share of code values that are exactly 0 (ReLU codes switch off);
- `frac_near_zero`: the share below NEAR_ZERO (1%) of the code's RMS over the split
  (`near_zero_below` is that threshold), counting sigmoid or tanh units that are nearly off;
- `hoyer`: Hoyer's sparsity per sample, (√n − ‖h‖₁/‖h‖₂)/(√n − 1), averaged: 1 when one
  of the n units carries the code, 0 when all carry it equally; no threshold at all;
- `active_units_per_sample` and `frac_dead_units` (never active), by the relative threshold;
  `mean_activation`.

The pictures are a histogram of code values and, for image data, the first layer's weights
as image tiles (one per unit, most active first, each scaled to its own range).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aectl.analysis.codes import NEAR_ZERO, codes, hoyer, near_zero, near_zero_threshold
from aectl.analysis.later import Later
from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures

plt = pictures.pyplot()  # Agg; this module is imported only when an analysis runs

MAX_FILTERS = 256


def first_layer_filters(model: Autoencoder, data: Data) -> torch.Tensor | None:
    """(units, C, H, W) weights of the encoder's first layer when it sees whole images (a
    Linear on the flattened pixels) or image patches (a Conv2d); None otherwise."""
    if not data.is_image:
        return None
    for m in model.encoder.modules():
        if isinstance(m, nn.Linear):
            ok = m.in_features == data.input_size
            return m.weight.detach().reshape(-1, *data.shape) if ok else None
        if isinstance(m, nn.Conv2d):
            return m.weight.detach()
    return None


def sparsity(model: Autoencoder, data: Data, x: torch.Tensor) -> Later:
    """The numbers and the filters now; the histogram, matplotlib's time, `Later`."""
    h = codes(model, x).cpu()
    below = near_zero_threshold(h)
    active = ~near_zero(h, below)
    numbers = {
        "sparsity/frac_exact_zero": (h == 0).float().mean().item(),
        "sparsity/frac_near_zero": (~active).float().mean().item(),
        "sparsity/near_zero_below": below.item(),
        "sparsity/mean_activation": h.mean().item(),
        "sparsity/active_units_per_sample": active.sum(1).float().mean().item(),
        "sparsity/frac_dead_units": (~active.any(0)).float().mean().item(),
    }
    score = hoyer(h)
    if score is not None:
        numbers["sparsity/hoyer"] = score.item()
    out = {}
    w = first_layer_filters(model, data)
    if w is not None:
        order = (
            h.abs().mean(0).argsort(descending=True)
            if w.shape[0] == h.shape[1]
            else torch.arange(len(w))
        )
        out["filters"] = _tiles(w.cpu()[order[:MAX_FILTERS]])
    return Later(histogram, (h, numbers, model.stochastic), ready=(numbers, out))


def histogram(
    h: torch.Tensor, numbers: dict[str, float], stochastic: bool
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """The code values' histogram, titled with the sparsity numbers."""
    return {}, {"code_histogram": _histogram(h, numbers, stochastic)}


def _histogram(h: torch.Tensor, numbers: dict[str, float], stochastic: bool) -> torch.Tensor:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    # one filled outline, not 100 bars: the same picture, drawn in a fraction of the time
    ax.hist(h.flatten().numpy(), bins=100, color="tab:blue", log=True, histtype="stepfilled")
    # decades only: a log axis's minor ticks were half of this figure's drawing time
    ax.minorticks_off()
    below = numbers["sparsity/near_zero_below"]
    for edge in (-below, below):
        ax.axvline(edge, color="tab:red", lw=0.8, ls="--")
    # a stochastic code's: of its mean μ (latent/active_units counts the informative units)
    ax.set_xlabel(
        "code mean μ (latent/active_units: units that carry information)"
        if stochastic
        else "code activation"
    )
    ax.set_ylabel("count (log)")
    hoyer_text = (
        f"; Hoyer sparsity {numbers['sparsity/hoyer']:.2f}" if "sparsity/hoyer" in numbers else ""
    )
    ax.set_title(
        f"{numbers['sparsity/frac_exact_zero']:.1%} exactly 0, "
        f"{numbers['sparsity/frac_near_zero']:.1%} near 0 (|h| < {below:.2g}, {NEAR_ZERO:g}·RMS)\n"
        f"{numbers['sparsity/active_units_per_sample']:.1f} of {h.shape[1]} units active per "
        f"sample{hoyer_text}",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.14, top=0.85)  # (not tight_layout:
    return pictures.figure_to_tensor(fig)  # it draws the figure once more to measure it)


def _tiles(w: torch.Tensor) -> torch.Tensor:
    """Filters as a grid of tiles, each min-max scaled on its own (torchvision's scale_each)."""
    if w.shape[1] not in (1, 3):
        w = w[:, :1]  # a conv layer on many channels: show the first input channel
    k = pictures.enlarge_factor(*w.shape[-2:])
    if k > 1:
        w = torch.nn.functional.interpolate(w, scale_factor=k, mode="nearest")
    return pictures.grid(
        w,
        nrow=math.ceil(math.sqrt(len(w))),
        normalize=True,
        scale_each=True,
        padding=2,
        pad_value=1.0,
    )
