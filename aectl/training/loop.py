"""The epoch/step loop: the only place that advances time.

It reads top to bottom, airbench-style. The training samples live on the device as one
tensor; each epoch every member draws its own permutation, a batch is one indexing of it,
and one call of the group's step trains every member on its own batch. Losses stay on the
device in the window, read back only when it is full and at the epoch's end. Each epoch
ends with every member validating, logging and checkpointing its own folder (`member`).
A single run is a group of one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from aectl import analysis, faults
from aectl.config.trainer import TrainerConfig
from aectl.record import landing, pictures, preload
from aectl.record.progress import TrainProgress, console
from aectl.training.member import Member, close_epoch, log_window, save_epoch
from aectl.training.state import Position
from aectl.training.stopping import GracefulStop, Interrupted
from aectl.training.window import Diverged, LossWindow

Step = Callable[[torch.Tensor], torch.Tensor]  # (members, batch, ...) -> (members, 3)


@dataclass
class Group:
    """Members trained together on the same training samples by one step function."""

    members: list[Member]
    step: Step
    train_x: torch.Tensor
    window: LossWindow
    trainer: TrainerConfig  # the fields every member shares: epochs, batch size, logging

    @property
    def lead(self) -> Member:
        """The member whose counters are the group's: the first still training (one that
        diverged stopped counting epochs; the group goes on to the others' last)."""
        return next((m for m in self.members if m.failed is None), self.members[0])

    @property
    def epoch(self) -> int:
        return self.lead.state.epoch

    @property
    def step_count(self) -> int:
        return self.lead.state.step

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.train_x) // self.trainer.batch_size)

    def alive(self) -> list[tuple[int, Member]]:
        return [(i, m) for i, m in enumerate(self.members) if m.failed is None]


def fit(g: Group, stop: GracefulStop, bar: TrainProgress) -> None:
    t, n_batches = g.trainer, g.steps_per_epoch
    for m in g.members if g.epoch < t.max_epochs else []:  # when this process reached its
        m.clock["first_step_unix"] = time.time()  # first step (startup, for the bench)
    warm = False
    while g.epoch < t.max_epochs and g.alive():
        t_epoch = t_window = time.perf_counter()
        perms, first, sums = start_epoch(g)
        first_step = g.step_count
        for b in range(first, n_batches):
            idx = perms[:, b * t.batch_size : (b + 1) * t.batch_size]
            x = g.train_x[idx]
            if t.binarize:  # dynamic binarization: fresh bits every time a sample is seen
                x = torch.bernoulli(x)
            parts = g.step(x)
            if not warm:  # what pictures and analyses import, loaded while training goes on
                if preload.spare_core(x.device.type, torch.get_num_threads()):
                    preload.start(pictures.warm, analysis.warm)
                warm = True
            for m in g.members:
                m.state.step += 1
            sums += parts * idx.shape[1]  # per-sample sums: the short last batch weighs less
            full = g.window.add(parts)
            faults.hit("step", before=landing.idle)
            if full:
                t_window = log_windows(g, bar, t_window)
            if stop.requested and b + 1 < n_batches:
                save_mid_epoch(g, perms, b + 1, sums, time.perf_counter() - t_epoch)
                raise Interrupted(stop.signum)
        if g.window.filled:  # the epoch's last, partial window
            log_windows(g, bar, t_window)
        means = (sums / len(g.train_x)).tolist()  # as validation: per-sample means
        epoch_s = time.perf_counter() - t_epoch  # training steps only, after the sync above
        end_epoch(g, bar, means, epoch_s, g.step_count - first_step)
        if stop.requested:
            for _, m in g.alive():  # the epoch's checkpoints on disk before saying so
                m.log.landed()
            raise Interrupted(stop.signum)


def start_epoch(g: Group) -> tuple[torch.Tensor, int, torch.Tensor]:
    """(each member's permutation, the first batch, the running per-sample sums of loss,
    recon and term): a new epoch, or the one a mid-epoch checkpoint stopped in."""
    device = g.train_x.device
    for m in g.members:  # (a KL warm-up's factor follows the epoch)
        m.reg.start_epoch(g.epoch)
    if g.members[0].position is not None:
        positions = [m.position for m in g.members]
        for m in g.members:
            m.position = None
        perms = torch.stack([p.perm for p in positions])
        return perms, positions[0].batch, torch.stack([p.sums for p in positions])
    n = len(g.train_x)
    perms = torch.stack(
        [torch.randperm(n, generator=m.generator, device=device) for m in g.members]
    )
    return perms, 0, torch.zeros(len(g.members), 3, device=device)


def each_alive(g: Group, action: Callable[[int, Member], None]) -> None:
    """`action(i, member)` for every member still training. A member of a group that
    diverges stops alone (its job fails, the others go on); a run alone stops."""
    for i, m in g.alive():
        try:
            action(i, m)
        except Diverged as e:
            if len(g.members) == 1:
                raise
            m.failed = e


def log_windows(g: Group, bar: TrainProgress, since: float) -> float:
    """Read the window back (the loop's only sync), log each member's means; returns now."""
    rows = g.window.take()
    now = time.perf_counter()
    losses: list[float] = []

    def log(i: int, m: Member) -> None:
        member_rows = [r[i] for r in rows]
        losses.append(log_window(m, member_rows, m.state.step, g.trainer.batch_size, now - since))

    each_alive(g, log)
    sps = len(rows) * g.trainer.batch_size / max(now - since, 1e-9)
    if losses:
        bar.show(step=g.step_count, epoch=g.epoch + 1, loss=min(losses), samples_per_s=sps)
    return now


def end_epoch(g: Group, bar: TrainProgress, means: list, epoch_s: float, steps: int) -> None:
    vals: dict[int, float] = {}

    def close(i: int, m: Member) -> None:
        vals[i] = close_epoch(m, means[i], epoch_s, steps)

    each_alive(g, close)
    # then every checkpoint: a checkpoint's fsync leaves the kernel writing back for a
    # while, which slowed the next member's validation ~10x when they alternated
    each_alive(g, lambda i, m: save_epoch(m, g.window.member(i)))
    if vals:
        first = min(vals)
        m = g.members[first]
        bar.epoch_done(
            g.epoch,
            g.step_count,
            means[first],
            vals[first],
            m.state.metrics["epoch_samples_per_s"],
            members=len(vals),
            shown=m.in_group,
            extra={k: m.state.metrics[k] for k in m.reg.epoch_line if k in m.state.metrics},
        )
    for i in sorted(vals):  # after the line they are about; in a group, naming the job
        m = g.members[i]
        job = f" ({m.in_group})" if m.in_group else ""
        for line in m.epoch_warnings:
            if line not in m.warned:  # said when it starts, not every epoch it lasts
                console.print(f"[yellow]epoch {g.epoch}{job}: {line}[/]")
                m.warned_at = g.epoch
        m.warned = m.epoch_warnings


def save_mid_epoch(
    g: Group, perms: torch.Tensor, batch: int, sums: torch.Tensor, seconds: float
) -> None:
    """Every member's last.pt, holding the epoch's order and sums so far."""
    for i, m in g.alive():
        m.state.train_time_s += seconds
        m.save(g.window.member(i), Position(perms[i], batch, sums[i], g.window.filled), wait=True)
