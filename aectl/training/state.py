"""Where a run is, and its checkpoint: written and read in this one place.

`TrainState` is what advances (epoch, step, best so far, time spent, last metrics, the
layer-wise stages' numbers); `Position` is where a mid-epoch checkpoint stopped (the
epoch's permutation, the next batch, the epoch's running sums, the filled rows of the
logging window). `to_checkpoint` and `from_checkpoint` are the only code that knows the
checkpoint's keys, so old checkpoints keep loading as long as these two agree with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from aectl.training.seeding import rng_state


@dataclass
class TrainState:
    epoch: int = 0
    step: int = 0
    best: float = math.inf  # lowest val/recon so far
    best_epoch: int = 0
    train_time_s: float = 0.0  # time in training steps only
    shared_s: float = 0.0  # the part of it trained in a vmap group, shared with its jobs
    shared_by: int = 1  # that group's size (0: groups of different sizes)
    metrics: dict[str, Any] = field(default_factory=dict)  # the last epoch's numbers
    stages: dict[str, Any] = field(default_factory=dict)  # layer-wise pretraining's numbers
    resumes: list[dict[str, Any]] = field(default_factory=list)  # each resume: step, changes


@dataclass
class Position:
    """Where a mid-epoch checkpoint stopped."""

    perm: torch.Tensor  # this epoch's order of the training samples
    batch: int  # the next batch to train on
    sums: torch.Tensor  # (3,) the epoch's running sums of loss, recon, term over its samples
    log_filled: int  # rows of the logging window in use


def to_checkpoint(
    model: torch.nn.Module,
    optimizer_state: dict[str, Any],
    state: TrainState,
    config: dict[str, Any],
    window: torch.Tensor,
    position: Position | None = None,
    rng: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict: tensors and plain values only (loads with weights_only=True)."""
    pos = None
    if position is not None:
        pos = {
            "perm": position.perm.cpu(),
            "batch": position.batch,
            "sums": position.sums.cpu(),
            "sums_per_sample": True,  # aectl 0.1 summed batch means
            "log_filled": position.log_filled,
        }
    return {
        "model": {k: own(v) for k, v in model.state_dict().items()},
        "optimizer": optimizer_state,
        "epoch": state.epoch,
        "step": state.step,
        "rng": rng if rng is not None else rng_state(),
        "config": config,
        "metrics": state.metrics,
        "best": state.best,
        "best_epoch": state.best_epoch,
        "train_time_s": state.train_time_s,
        "shared_train_time_s": state.shared_s,
        "shared_by": state.shared_by,
        "position": pos,
        "log_window": window.cpu(),
        "layerwise": state.stages,  # so a resumed run still reports its pretraining stages
        "resumes": state.resumes,
        **(extra or {}),
    }


def own(t: torch.Tensor) -> torch.Tensor:
    """`t` with storage of its own: a member of a stacked group holds views of the whole
    stack, which torch.save would write out whole."""
    return t.clone() if t.untyped_storage().nbytes() > t.nbytes else t


def from_checkpoint(
    start: dict[str, Any], device: torch.device, log_every: int
) -> tuple[TrainState, Position | None, torch.Tensor | None]:
    """(state, mid-epoch position or None, the logging window's rows or None)."""
    state = TrainState(
        epoch=start["epoch"],
        step=start["step"],
        best=start["best"],
        best_epoch=start["best_epoch"],
        train_time_s=start["train_time_s"],
        metrics=start["metrics"],
        stages=start.get("layerwise", {}),
        resumes=list(start.get("resumes", [])),
    )
    group = start["metrics"].get("group_jobs", 1)  # (a checkpoint from before these keys)
    group = group if isinstance(group, int) else 1
    state.shared_s = start.get("shared_train_time_s", state.train_time_s if group > 1 else 0.0)
    state.shared_by = start.get("shared_by", group)
    p = start.get("position")
    position = None
    if p is not None:
        sums = p["sums"]
        if not p.get("sums_per_sample"):  # aectl 0.1: sums of batch means, all batches full
            sums = sums * start["config"]["trainer"]["batch_size"]
        position = Position(
            perm=p["perm"].to(device),
            batch=p["batch"],
            sums=sums.to(device),
            log_filled=p.get("log_filled", start["step"] % log_every),
        )
    window = start.get("log_window")
    if window is not None and tuple(window.shape) != (log_every, 3):
        window = None  # logged with another trainer.log_every_n_steps: start a new window
    if window is None and position is not None:
        position.log_filled = 0
    return state, position, window
