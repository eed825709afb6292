"""The metric vocabulary, defined once: what a run reports and what a sweep may minimise.

The trainer writes these numbers to metrics.json, the HParams plugin declares them (by
their TensorBoard tag), and `trainer.monitor` names one of them (by either name). Kept in
the torch-free config layer so that checking `trainer.monitor` never imports the
TensorBoard writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aectl.errors import UserError

# HParams metric tag -> (metrics.json key, dataset type, description). Tags the trainer logs
# every epoch (val/*, code/*, epoch/*) end on the same value; the rest are written by finish().
METRICS: dict[str, tuple[str, str, str]] = {
    "val/recon": ("val/recon", "validation", "final validation reconstruction loss"),
    "val/penalty": ("val/penalty", "validation", "final validation penalty (weight x term)"),
    "best/val_recon": ("best_val_recon", "validation", "lowest validation reconstruction loss"),
    "best/epoch": (
        "best_epoch",
        "validation",
        "epoch of the lowest validation reconstruction loss",
    ),
    "epoch/train_loss": ("train/loss", "training", "last epoch's mean training loss"),
    "epoch/train_recon": ("train/recon", "training", "last epoch's mean reconstruction loss"),
    "epoch/train_penalty": (
        "train/penalty",
        "training",
        "last epoch's mean penalty (weight x term)",
    ),
    "code/mean_activation": ("code/mean_activation", "validation", "mean code activation"),
    "code/frac_near_zero": ("code/frac_near_zero", "validation", "fraction of code values near 0"),
    "run/samples_per_s": ("samples_per_s", "training", "training throughput, whole run"),
    "run/epoch_samples_per_s": (
        "epoch_samples_per_s",
        "training",
        "last epoch's throughput (from epoch 2 on, free of compiling and capturing)",
    ),
    "run/train_time_s": ("train_time_s", "training", "time spent in training steps"),
}
# Names `trainer.monitor` accepts: a metrics.json key or its HParams tag.
MONITORS = tuple(dict.fromkeys([*(key for key, _, _ in METRICS.values()), *METRICS]))


def objective(metrics: Mapping[str, Any], name: str) -> float:
    """The value a sweeper minimises: `metrics[name]`, for a metrics.json key or a METRICS tag."""
    key = METRICS[name][0] if name in METRICS else name
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        allowed = sorted(
            k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        raise UserError("trainer.monitor", f"got {name!r}; allowed: {', '.join(allowed)}")
    return float(value)
