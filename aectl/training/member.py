"""One job being trained: its config, folder, model, where it is, and what it writes.

A single run is a group of one member; a vmap sweep trains several members as one stacked
model. Either way each member writes its own folder through the functions here and in
`aectl.record`, so a member's folder is exactly what a run alone writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aectl.analysis.codes import code_stats
from aectl.config.run import RunConfig
from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures
from aectl.record.runlog import RunLog
from aectl.regularizers.base import Regularizer
from aectl.training import checkpoint
from aectl.training.measure import validation_pass
from aectl.training.state import Position, TrainState, to_checkpoint
from aectl.training.window import Diverged, diverged, first_bad_step

LAST, BEST = Path("checkpoints") / "last.pt", Path("checkpoints") / "best.pt"


@dataclass
class Member:
    cfg: RunConfig
    run_dir: Path
    data: Data
    model: Autoencoder
    reg: Regularizer
    optimizer_state: Any  # () -> the optimizer's state_dict, in torch's own format
    log: RunLog
    config: dict[str, Any]  # the resolved config, as checkpoints and config.yaml hold it
    state: TrainState = field(default_factory=TrainState)
    position: Position | None = None  # where a mid-epoch checkpoint stopped
    generator: torch.Generator | None = None  # data order; None: the global RNG (a run alone)
    rng: Any = None  # () -> the RNG snapshot its checkpoint holds; None: the global RNGs
    failed: Diverged | None = None  # a member of a group that diverged stops alone

    def kept(self) -> str:
        if (self.run_dir / LAST).is_file():
            return "last.pt keeps the last finite state"
        return "it happened before the first checkpoint"

    def save(self, window_rows: torch.Tensor, position: Position | None = None) -> dict:
        state = to_checkpoint(
            self.model,
            self.optimizer_state(),
            self.state,
            self.config,
            window_rows,
            position,
            rng=self.rng() if self.rng is not None else None,
        )
        checkpoint.save(state, self.run_dir / LAST)
        return state


def log_window(m: Member, rows: list[list[float]], step: int, batch: int, seconds: float) -> float:
    """Log the means of one member's window rows; raise Diverged on a NaN/Inf loss.
    Returns the window's mean loss."""
    if (bad := first_bad_step(rows, step)) is not None:
        raise diverged(rows[bad - step - 1][0], f"at step {bad}", m.kept())
    means = [sum(c) / len(rows) for c in zip(*rows)]
    sps = len(rows) * batch / max(seconds, 1e-9)
    lr = m.cfg.optim.lr
    m.log.step(step, means[0], means[1], means[2], m.reg.penalty(means[2]), lr, sps)
    return means[0]


def close_epoch(m: Member, means: list[float], epoch_s: float, epoch_steps: int) -> float:
    """The end of an epoch for one member: validate, log, picture, best, metrics.
    `means` are the epoch's training (loss, recon, term). Returns val/recon."""
    t, s = m.cfg.trainer, m.state
    train_loss, train_recon, train_term = means
    if not math.isfinite(train_loss):
        raise diverged(train_loss, f"in epoch {s.epoch + 1} (by step {s.step})", m.kept())
    s.train_time_s += epoch_s
    s.epoch += 1
    # This epoch's own rate: the overall one also holds compiling and capturing, which
    # the first steps of each batch shape pay (trainer.compile=true).
    epoch_sps = epoch_steps * t.batch_size / max(epoch_s, 1e-9)
    val = validation_pass(m.model, m.reg, m.data.val_x, t.step_loss, t.batch_size)
    stats = {k: v.item() for k, v in code_stats(val.codes).items()}
    val_penalty = m.reg.penalty(val.term)
    m.log.epoch(
        s.step,
        {
            "val/recon": val.recon,
            "val/penalty": val_penalty,
            "epoch/train_loss": train_loss,
            "epoch/train_recon": train_recon,
            **stats,
        },
        val.codes,
    )
    if s.epoch % t.picture_every_n_epochs == 0 or s.epoch == t.max_epochs:
        picture = pictures.model_picture(m.data, m.model, m.reg, t.num_images)
        m.log.picture(s.epoch, s.step, picture)
    if val.recon < s.best:
        s.best, s.best_epoch = val.recon, s.epoch
    s.metrics = {
        "train/loss": train_loss,
        "train/recon": train_recon,
        "train/penalty": m.reg.penalty(train_term),
        "val/recon": val.recon,
        "val/penalty": val_penalty,
        **stats,
        "epoch": s.epoch,
        "step": s.step,
        "train_time_s": s.train_time_s,
        "samples_per_s": s.step * t.batch_size / max(s.train_time_s, 1e-9),
        "epoch_samples_per_s": epoch_sps,
        "best_epoch": s.best_epoch,
        "best_val_recon": s.best,
    }
    return val.recon


def save_epoch(m: Member, window_rows: torch.Tensor) -> None:
    """last.pt, and best.pt when this epoch is the best so far."""
    state = m.save(window_rows)
    if m.state.best_epoch == m.state.epoch:
        checkpoint.save(state, m.run_dir / BEST)
