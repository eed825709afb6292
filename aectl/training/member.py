"""One job being trained: its config, folder, model, where it is, and what it writes.

A single run is a group of one member; a vmap sweep trains several members as one stacked
model. Either way each member writes its own folder through the functions here and in
`aectl.record`, so a member's folder is exactly what a run alone writes.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aectl.analysis.codes import code_stats
from aectl.config.run import RunConfig
from aectl.data.base import Data
from aectl.errors import UserError
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures
from aectl.record.runlog import RunLog
from aectl.regularizers.base import Regularizer
from aectl.training import checkpoint
from aectl.training.measure import validation_pass
from aectl.training.state import Position, TrainState, to_checkpoint
from aectl.training.window import Diverged, diverged, first_bad_step

LAST, BEST = Path("checkpoints") / "last.pt", Path("checkpoints") / "best.pt"
DEAD_SHARE = 0.999  # of the validation codes' values exactly 0: a code switched off
DEAD_CODE = (
    "over 99.9% of the code's values are 0 on the validation split: the code carries "
    "almost nothing (a penalty too strong, or a learning rate too high, switches units off "
    "for good)"
)


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
    fingerprint: dict[str, Any] = field(default_factory=dict)  # of its data (resume checks)
    clock: dict[str, float] = field(default_factory=dict)  # seconds spent, by kind of work
    writing: Future | None = None  # its latest checkpoint, on the writer thread
    group_jobs: int = 1  # jobs trained as one stacked model with it (a vmap group)
    in_group: str = ""  # its folder below the group's shared folder, naming it in lines
    start_step: int = 0  # its step when this process took it up (a resume's checkpoint's)
    epoch_warnings: list[str] = field(default_factory=list)  # about its latest epoch
    warned: list[str] = field(default_factory=list)  # those printed for the epoch before
    warned_at: int = 0  # the epoch a warning was last printed for

    @contextlib.contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        """Count the block's time as `kind` (validate, log, pictures, checkpoints, analyses):
        metrics.json's `timing`, which `aectl bench --sections run,sweep` reads."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.clock[kind] = self.clock.get(kind, 0.0) + time.perf_counter() - t0

    def kept(self) -> str:
        self.log.landing.settle()  # (a write's error stays for whoever waits next)
        if (self.run_dir / LAST).is_file():
            return "last.pt keeps the last finite state"
        return "it happened before the first checkpoint"

    def save(
        self,
        window_rows: torch.Tensor,
        position: Position | None = None,
        best: bool = False,
        wait: bool = False,
    ) -> dict:
        """last.pt (and best.pt when `best`), from the member's state now: serialised here,
        written by the writer thread (`aectl.record.landing`) once the epoch's pictures are
        down and while training goes on. The previous checkpoint is on disk before this one
        is queued (one in flight at most); `wait`: this one too before returning."""
        state = to_checkpoint(
            self.model,
            self.optimizer_state(),
            self.state,
            self.config,
            window_rows,
            position,
            rng=self.rng() if self.rng is not None else None,
            extra={"fingerprint": self.fingerprint},
        )
        paths = [self.run_dir / LAST] + ([self.run_dir / BEST] if best else [])
        landing = self.log.landing
        if self.writing is not None:
            landing.wait(until=self.writing)
        data = checkpoint.serialise(state)
        # after the epoch's pictures; not at all if one of them failed (the old one stays)
        self.writing = landing.submit(checkpoint.write, data, *paths, after_earlier=True)
        if wait:
            self.log.landed()
        return state


def end_failed(m: Member) -> None:
    """A member that diverged: its HParams session ends as failed (TensorBoard lists it so,
    not as a session that never ended), and its log is closed."""
    from aectl.record import hparams

    with contextlib.suppress(UserError):  # (its own failure is what it reports)
        hparams.finish(m.log.writer, m.state.metrics, status="failure")
        m.log.close()


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
    if not math.isfinite(means[0]):
        raise diverged(means[0], f"in epoch {s.epoch + 1} (by step {s.step})", m.kept())
    s.train_time_s += epoch_s
    if m.group_jobs > 1:  # time shared with the group's other jobs
        s.shared_by = m.group_jobs if s.shared_s == 0 or s.shared_by == m.group_jobs else 0
        s.shared_s += epoch_s
    s.epoch += 1
    with m.timed("validate"):
        val = validation_pass(m.model, m.reg, m.data.val_x, t.step_loss, t.batch_size)
        stats = {k: v.item() for k, v in code_stats(val.codes).items()}
        own = m.reg.epoch_numbers(m.model, m.data.val_x, t.batch_size, val.recon, val.term)
    m.epoch_warnings = m.reg.warnings(own)  # (printed under the epoch's line)
    if (val.codes == 0).float().mean().item() > DEAD_SHARE:
        m.epoch_warnings.append(DEAD_CODE)
    pictured = t.pictures_now(s.epoch)
    numbers = {**epoch_numbers(m, means, val.recon, val.term, stats), **own}
    with m.timed("log"):
        logged = {k: v for k, v in numbers.items() if not k.startswith("train/")}
        m.log.epoch(s.step, logged, val.codes if pictured else None)
    if pictured:
        with m.timed("pictures"):
            picture = pictures.model_picture(m.data, m.model, m.reg, t.num_images)
            m.log.picture(s.epoch, s.step, picture)
    if val.recon < s.best:
        s.best, s.best_epoch = val.recon, s.epoch
    s.metrics = {
        **{k: v for k, v in numbers.items() if not k.startswith("epoch/")},
        **stats,
        "epoch": s.epoch,
        "step": s.step,
        "train_time_s": s.train_time_s,
        "samples_per_s": s.step * t.batch_size / max(s.train_time_s, 1e-9),
        # this epoch's own rate: the overall one also holds compiling and capturing
        "epoch_samples_per_s": epoch_steps * t.batch_size / max(epoch_s, 1e-9),
        "best_epoch": s.best_epoch,
        "best_val_recon": s.best,
    }
    if m.group_jobs > 1:  # the time above is the group's, shared: say so, and its rate
        s.metrics["group_jobs"] = m.group_jobs
        s.metrics["group_samples_per_s"] = m.group_jobs * s.metrics["samples_per_s"]
    if s.shared_s > 0:  # how much of train_time_s was a group's, and by how many jobs
        s.metrics["shared_train_time_s"] = s.shared_s
        s.metrics["shared_by"] = s.shared_by
    return val.recon


def epoch_numbers(m: Member, means, val_recon: float, val_term: float, stats) -> dict:
    """The epoch's numbers: TensorBoard's per-epoch tags (`epoch/*`, `val/*`, `code/*`) and
    metrics.json's keys (`train/*`, `val/*`) for the same values."""
    loss, recon, term_value = means
    val_penalty, train_penalty = m.reg.penalty(val_term), m.reg.penalty(term_value)
    term = m.log.term  # the unweighted term on both splits, under the regularizer's own name
    terms = {} if term is None else {f"train/{term}": term_value, f"val/{term}": val_term}
    return {
        "train/loss": loss,
        "train/recon": recon,
        "train/penalty": train_penalty,
        "val/recon": val_recon,
        "val/penalty": val_penalty,
        **terms,
        "epoch/train_loss": loss,
        "epoch/train_recon": recon,
        "epoch/train_penalty": train_penalty,
        **{k.replace("train/", "epoch/train_"): v for k, v in terms.items() if k[0] == "t"},
        **stats,
    }


def save_epoch(m: Member, window_rows: torch.Tensor) -> None:
    """last.pt, and best.pt (the same bytes, serialised once) when this epoch is the best."""
    with m.timed("checkpoints"):
        m.save(window_rows, best=m.state.best_epoch == m.state.epoch)
