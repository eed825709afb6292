"""Jobs of a sweep that differ only in stackable settings, trained as one stacked model.

Each member is set up, checkpointed, validated, pictured and finished by the same code as
a run alone (`run`, `member`, `loop`); only the step is shared (`stacked`). A member gets
the initial weights a run alone gets (seeded as that run seeds, built one after another)
and its own data order (a generator holding the global RNG's state right after its model
was built, which is what the run alone draws its permutations from). A member that
diverges stops alone; SIGINT/SIGTERM saves every member mid-epoch.

`train_group(jobs)` returns, per job, the monitored metric or the exception that ended it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aectl import faults, lock
from aectl.analysis.later import Workers
from aectl.config.run import RunConfig
from aectl.data.base import Data
from aectl.errors import UserError, refusing
from aectl.record import landing
from aectl.record.progress import TrainProgress, console
from aectl.training import device as devices
from aectl.training import untrained
from aectl.training.build import build_data, build_model
from aectl.training.final import Final, begin
from aectl.training.loop import Group, fit
from aectl.training.member import Member, end_failed
from aectl.training.optim import StackedAdam, StackedSGD
from aectl.training.resume import starting_state
from aectl.training.run import (
    check_same_run,
    finish,
    header,
    open_member,
    ready,
    restore,
    written_as_one_line,
)
from aectl.training.seeding import rng_state, seed_everything, set_rng_state
from aectl.training.stacked import (
    hyperparameters,
    make_stacked_step,
    member_generator,
    member_rng,
    restore_member_generator,
    stack,
)
from aectl.training.stopping import GracefulStop, Interrupted
from aectl.training.window import LossWindow

Result = float | BaseException


@dataclass
class Job:
    cfg: RunConfig
    run_dir: Path
    enter: Callable[[], None] = lambda: None  # makes the job's Hydra config current


def reg_stackables(cfg: RunConfig) -> list[str]:
    """The regularizer's settings that members of one group may differ in (its schema's
    `knob(stackable=True)` fields, which are also its attributes)."""
    cls = type(cfg.regularizer)
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("stackable")]


def train_group(jobs: Sequence[Job]) -> list[Result]:
    """Train the jobs as one stacked model; each job's result or the error that ended it.
    Members that start from different steps (a job added to a sweep that had trained, one
    extended alone, a sweep stopped while its members were saved) cannot share a step: each
    set of members at one step trains as a stacked group of its own, one after another."""
    results: list[Result | None] = [None] * len(jobs)
    with contextlib.ExitStack() as stack_:
        for i, job in enumerate(jobs):
            try:
                stack_.enter_context(lock.holding(job.run_dir))
                stack_.enter_context(written_as_one_line(job.run_dir))
            except UserError as e:
                results[i] = e
        stack_.enter_context(landing.drained())  # (left before the locks are released)
        live = [i for i, r in enumerate(results) if r is None]
        device, members, starts = setup_members([jobs[i] for i in live], results, live)
        faults.hit("setup")
        sets = by_step(members)
        if len(members) < len(jobs):
            console.print(training_line(results, len(members)))
        if len(sets) > 1:
            console.print(parts_line([[members[i] for i in k] for k in sets]))
        after_setup = rng_state()
        try:
            for k in sets:
                ms, ss = [members[i] for i in k], [starts[i] for i in k]
                set_rng_state(after_setup)  # (each set draws as it would first)
                step, window = stacked_parts(ms, ss, device)
                fit_and_finish(ms, step, window, [jobs[live[i]] for i in k], results,
                               [live[i] for i in k])  # fmt: skip
        except (Interrupted, KeyboardInterrupt) as e:  # the jobs that ended: results stand
            e.ended = {j: r for j, r in enumerate(results) if r is not None}
            raise
    return [r if r is not None else UserError("training", "did not run") for r in results]


def training_line(results: list, training: int) -> str:
    """How many of the group's jobs train, when some do not (after the launcher's plan line,
    which counted them all)."""
    left = sum(isinstance(r, float) for r in results)
    refused = sum(isinstance(r, BaseException) for r in results)
    why = [f"{left} left as it was"] if left else []
    why += [f"{refused} refused: said at the end"] if refused else []
    return f"vmap: jobs in this group to train: {training} of {len(results)} ({'; '.join(why)})"


def parts_line(sets: list[list[Member]]) -> str:
    """What a group whose members start from different steps does (after the launcher's
    plan line, which counted it one group)."""

    def part(ms: list[Member]) -> str:
        s, t = ms[0].state, ms[0].cfg.trainer
        done = " (nothing left to train: measured again)" if s.epoch >= t.max_epochs else ""
        return f"{len(ms)} from step {s.step}{done}"

    return (
        f"vmap: this group's jobs start from {len(sets)} different steps, so it trains as "
        f"{len(sets)} stacked sets, one after another: " + "; ".join(part(ms) for ms in sets)
    )


def by_step(members: list[Member]) -> list[list[int]]:
    """The members' indices, in sets that start from the same step (in job order)."""
    sets: dict[int, list[int]] = {}
    for i, m in enumerate(members):
        sets.setdefault(m.state.step, []).append(i)
    return list(sets.values())


def setup_members(jobs, results, live) -> tuple[torch.device | None, list[Member], list]:
    t = jobs[0].cfg.trainer
    jobs[0].enter()
    try:
        with refusing():  # nothing written yet
            device = devices.pick(t.device)
            data = build_data(jobs[0].cfg, device)
    except UserError as e:  # the group's data: every member fails with it, as each would alone
        for j in live:
            results[j] = e
        live.clear()
        return None, [], []
    members, starts = [], []
    for j, job in zip(list(live), jobs):
        try:
            m, start = setup_member(job, data, device)
        except UserError as e:
            results[j] = e
            live.remove(j)
            continue
        except untrained.LeftAsItIs as e:
            results[j] = e.report()
            live.remove(j)
            continue
        members.append(m)
        starts.append(start)
    if len(members) > 1:
        common = os.path.commonpath([str(m.run_dir) for m in members])
        for m in members:  # `regularizer.weight=0.001/seed=0`, below the sweep folder
            m.in_group = os.path.relpath(m.run_dir, common)
    return device, members, starts


def stacked_parts(members: list[Member], starts: list, device) -> tuple[Any, LossWindow]:
    """The stacked step and loss window of members that start from the same step."""
    t = members[0].cfg.trainer
    for m in members:
        m.group_jobs = len(members)
    step = stacked_step(members, starts, device)
    window = LossWindow(t.log_every_n_steps, len(members), device)
    for i, (m, start) in enumerate(zip(members, starts)):
        if start is not None and start.get("log_window") is not None:
            rows = start["log_window"]
            if tuple(rows.shape) == (t.log_every_n_steps, 3):
                filled = m.position.log_filled if m.position is not None else 0
                window.restore(i, rows, filled)
    if starts[0] is not None and "group" in starts[0]["rng"]:
        set_rng_state(starts[0]["rng"]["group"])  # the noise drawn under vmap continues too
    return step, window


def setup_member(job: Job, data: Data, device: torch.device) -> tuple[Member, dict | None]:
    """One member, built exactly as the job alone would be."""
    cfg, t = job.cfg, job.cfg.trainer
    job.enter()
    with refusing():  # nothing written yet
        start = starting_state(job.run_dir, t.resume)
        seed_everything(t.seed)
        model, reg = build_model(cfg, data, device)
        generator = member_generator(device)  # what the job alone draws its data order from
        changed = check_same_run(start, cfg, data) if start is not None else None
        ready(model, reg, data, t)
        state, position, _ = restore(start, model, device, t, changed)
        untrained.check(job.run_dir, state, position, t, changed)
    if start is not None:
        restore_member_generator(generator, start["rng"])
    m = open_member(cfg, job.run_dir, data, model, reg, None, state, position)
    m.generator, m.rng = generator, lambda: member_rng(generator)
    header(m, device, changed)
    return m, start


def stacked_step(members: list[Member], starts: list, device: torch.device):
    """Stack the members' models, make the optimizer (each member's lr and weight decay,
    each member's state when resuming) and the vmapped step."""
    params, buffers, base = stack([m.model for m in members])
    cfg, t = members[0].cfg, members[0].cfg.trainer
    opt = stacked_optimizer(members, params)
    for i, (m, start) in enumerate(zip(members, starts)):
        if start is not None:
            opt.load_member(i, start["optimizer"])
        m.optimizer_state = lambda i=i, m=m: opt.member_state_dict(i, m.model)
    names = reg_stackables(cfg)
    hp = hyperparameters([m.reg for m in members], names, device)
    return make_stacked_step(
        base, members[0].reg, t.step_loss, params, buffers, hp, opt,
        compile=t.compile, precision=t.precision,
    )  # fmt: skip


def stacked_optimizer(members: list[Member], params: dict[str, torch.Tensor]):
    o = [m.cfg.optim for m in members]
    lr, wd = [x.lr for x in o], [x.weight_decay for x in o]
    if o[0]._target_.rsplit(".", 1)[-1] == "SGD":
        return StackedSGD(params.values(), lr, momentum=o[0].momentum, weight_decay=wd)
    return StackedAdam(params.values(), lr, weight_decay=wd, fused=o[0].fused)


def fit_and_finish(members, step, window, jobs, results, live) -> None:
    t = members[0].cfg.trainer
    group = Group(members, step, members[0].data.train_x, window, t)
    total = group.steps_per_epoch * t.max_epochs
    with GracefulStop() as stop, TrainProgress(total, t.max_epochs, members[0].state.step) as bar:
        try:
            fit(group, stop, bar)
        except Interrupted as e:  # which members had diverged before: they end failed
            e.failed = {j: m.failed for j, m in zip(live, members) if m.failed is not None}
            raise
        finishing = []
        for j, m, job in zip(live, members, jobs):
            if m.failed is None:
                finishing.append((j, m, job))
            else:
                results[j] = m.failed
                end_failed(m)
        finish_members(finishing, stop, results)


def finish_members(finishing: list[tuple[int, Member, Job]], stop, results) -> None:
    """Each member's final numbers measured and its analyses started, one after another on
    the device, their CPU halves running in worker processes meanwhile
    (`aectl.analysis.later`); then each member finished in job order, as a run alone."""
    begun: dict[int, Final] = {}
    with Workers(len(finishing)) as workers:
        for j, m, job in finishing:
            if stop.requested:  # (at once, not after every member's start)
                raise Interrupted(stop.signum, "during the final analyses (no metrics.json yet)")
            job.enter()
            try:
                with m.timed("analyses"):
                    begun[j] = begin(m, workers)
            except UserError as e:
                results[j] = e
        for j, m, job in finishing:
            if j not in begun:
                continue
            job.enter()
            try:
                results[j] = finish(m, stop, begun[j])
            except UserError as e:
                results[j] = e
