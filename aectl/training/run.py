"""`aectl train`'s one job, top to bottom: set up, fit, finish; returns the monitored metric.

`setup` builds everything from the typed config (or continues a checkpoint), `loop.fit`
trains, `finish` measures the test split and runs the analyses (`final`), then writes
metrics.json. The same `setup` and `finish` serve each member of a vmap group
(`aectl.sweeps.vmap`), so a member's folder is a run's.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from aectl import atomic, faults, lock
from aectl.config.metrics import objective
from aectl.config.run import RunConfig
from aectl.config.schema import option_of
from aectl.config.stored import keep_old_behaviour, stored_config
from aectl.config.validate import validate
from aectl.data.base import ONEHOT
from aectl.errors import refusing, require
from aectl.record import hparams, landing
from aectl.record.progress import TrainProgress, console
from aectl.record.runlog import RunLog
from aectl.training import checkpoint, checks, fingerprint, layerwise, untrained
from aectl.training import device as devices
from aectl.training.build import build, optimizer
from aectl.training.fast_step import make_step
from aectl.training.final import Final, begin
from aectl.training.loop import Group, fit
from aectl.training.member import Member, end_failed
from aectl.training.resume import starting_state
from aectl.training.seeding import seed_everything, set_rng_state
from aectl.training.state import TrainState, from_checkpoint
from aectl.training.stopping import GracefulStop, Interrupted
from aectl.training.window import Diverged, LossWindow


def train(cfg: RunConfig | DictConfig, run_dir: str | Path) -> float:
    """Train one autoencoder into `run_dir`; returns `trainer.monitor`'s value."""
    cfg = cfg if isinstance(cfg, RunConfig) else validate(cfg)
    run_dir = Path(run_dir)
    with lock.holding(run_dir), written_as_one_line(run_dir), landing.drained():
        try:
            member, step, window = setup(cfg, run_dir)
        except untrained.LeftAsItIs as e:
            return e.report()
        faults.hit("setup")
        t = cfg.trainer
        group = Group([member], lambda x: step(x[0]).unsqueeze(0), member.data.train_x, window, t)
        total = group.steps_per_epoch * t.max_epochs
        with GracefulStop() as stop, TrainProgress(total, t.max_epochs, member.state.step) as bar:
            try:
                fit(group, stop, bar)
            except Diverged:
                end_failed(member)
                raise
            return finish(member, stop)


@contextlib.contextmanager
def written_as_one_line(run_dir: Path) -> Iterator[None]:
    """A write that fails outside `aectl.atomic` (TensorBoard's event writer, which reports a
    full disk at its next call) becomes one line naming the run folder; checkpoints are
    written atomically, so the last good ones stay."""
    previous = threading.excepthook
    threading.excepthook = quiet_writer_threads(previous)
    try:
        yield
    except OSError as e:
        where = e.filename or run_dir
        raise atomic.WriteError(where, atomic.reason(e), "run's files") from None
    finally:
        threading.excepthook = previous


def quiet_writer_threads(previous):
    """TensorBoard's writer thread dies on a write error and re-raises it at the writer's
    next call in this thread: that is where it is reported, so the thread's own traceback
    is not printed."""

    def hook(args) -> None:
        if not issubclass(args.exc_type, OSError):
            previous(args)

    return hook


def setup(cfg: RunConfig, run_dir: Path) -> tuple[Member, Any, LossWindow]:
    """(the member, its step function, its logging window), ready for the first step."""
    t = cfg.trainer
    with refusing():  # nothing written yet
        start = starting_state(run_dir, t.resume)
        if start is not None:  # a run saved by an earlier aectl continues as it was trained
            keep_old_behaviour(cfg, start.get("config"))
        device = devices.pick(t.device)
        seed_everything(t.seed)
        data, model, reg = build(cfg, device)
        changed = check_same_run(start, cfg, data) if start is not None else None
        ready(model, reg, data, t)
        opt = optimizer(cfg, model.parameters())
        state, position, rows = restore(start, model, device, t, changed)
        untrained.check(run_dir, state, position, t, changed)
    if start is not None:
        opt.load_state_dict(start["optimizer"])
        set_rng_state(start["rng"])
    trainable = not model.solved_in_closed_form
    step = make_step(
        model,
        reg,
        opt if trainable else None,
        t.step_loss,
        compile=t.compile,
        precision=t.precision,
    )
    member = open_member(cfg, run_dir, data, model, reg, opt.state_dict, state, position)
    header(member, device, changed)
    window = LossWindow(t.log_every_n_steps, 1, device)
    if rows is not None:
        window.restore(0, rows, position.log_filled if position is not None else 0)
    if start is None and t.layerwise:
        state.stages = layerwise.pretrain(cfg, model, data, reg, member.log.writer)
    return member, step, window


def check_same_run(start: dict, cfg: RunConfig, data) -> dict[str, Any]:
    """The config fields this resume changes (allowed ones); refuses another run's
    checkpoint. The checkpoint's config is read as untrusted (aectl.config.stored)."""
    before = stored_config(start.get("config"), "", "trainer.resume").as_dict()
    allowed = fingerprint.check_same_run({**start, "config": before}, cfg.as_dict(), data)
    return {k: v for k, v in allowed.items() if k != "trainer.resume"}


def ready(model, reg, data, t) -> None:
    """What must hold before the first step: data and output fit, a model solved in closed
    form is solved (and has no penalty it would ignore), a batch fits in the training split."""
    # Not in build(): `aectl eval` builds runs trained before this check existed.
    checks.check(data, model.output_activation, t.loss)
    checks.check_likelihood(model.stochastic, t.loss)
    if t.layerwise:  # refused before anything is written when it does not apply
        layerwise.layers(model)
    if model.solved_in_closed_form:  # e.g. PCA: solved, then one evaluation-only epoch
        require(
            not reg.shapes_training,
            "regularizer",
            reg.name,
            f"arch={model.arch} is solved in closed form, not trained, so no penalty shapes "
            "it; allowed: regularizer=none, or arch=linear to train a linear autoencoder "
            "with the penalty",
        )
        model.fit(data.train_x)
        if t.max_epochs != 1:
            console.print(
                f"arch={model.arch} is solved in closed form: "
                f"trainer.max_epochs={t.max_epochs} ignored"
            )
        t.max_epochs = 1
    n = len(data.train_x)
    require(
        t.batch_size <= n,
        "trainer.batch_size",
        t.batch_size,
        f"allowed: 1..{n} (the training split holds {n} sample{'s' if n != 1 else ''})",
    )


def restore(start, model, device, t, changed) -> tuple[TrainState, Any, Any]:
    """(state, mid-epoch position, logging-window rows) from the checkpoint a run continues
    (the model's weights loaded), or a fresh state."""
    if start is None:
        return TrainState(), None, None
    checkpoint.load_model_state(model, start, "trainer.resume")
    state, position, rows = from_checkpoint(start, device, t.log_every_n_steps)
    state.resumes.append({"step": state.step, "changed": {k: list(v) for k, v in changed.items()}})
    return state, position, rows


def open_member(cfg, run_dir, data, model, reg, optimizer_state, state, position) -> Member:
    """The member, with its config.yaml, TensorBoard log and HParams written."""
    config = cfg.as_dict()
    atomic.write_text(run_dir / "config.yaml", text := OmegaConf.to_yaml(config))
    resumed = bool(state.resumes)
    log = RunLog(run_dir, reg.term_name, purge_step=state.step + 1 if resumed else None)
    hparams.declare(log.writer, OmegaConf.create(config), term=log.term, run_dir=run_dir)
    heading = (
        f"**{model.completeness}**: a code of {model.code_dim} units for an input of "
        f"{model.input_size} values"
    )
    log.begin(text, state.step, fresh=not resumed, heading=heading)
    member = Member(cfg, run_dir, data, model, reg, optimizer_state, log, config, state, position)
    member.fingerprint = {"data": fingerprint.of_data(data)}
    member.start_step = state.step
    return member


def header(m: Member, device: torch.device, changed: dict[str, Any] | None) -> None:
    """The run's first lines: what trains where; on resume, where it continues and what
    changed."""
    d, model, s, t = m.data, m.model, m.state, m.cfg.trainer
    fast = "".join(  # the step's fast paths, when asked for: they change its numbers a little
        [f" precision={t.precision}" if t.precision != "32" else "", " compile" * t.compile]
    )
    console.print(
        f"[bold]aectl train[/]  device={device}{fast}  data={d.name} {tuple(d.shape)} "
        f"train={len(d.train_x)} val={len(d.val_x)} test={d.sizes()['test']}  arch={model.arch} "
        f"code_dim={model.code_dim} ([bold]{model.completeness}[/]: input size "
        f"{model.input_size})  regularizer={m.reg.describe()}"
    )
    reg_cfg = m.cfg.regularizer
    name = (option_of("regularizer", reg_cfg._target_) or ("?",))[0]
    for note in [*d.notes, reg_cfg.unused_weight(name)]:
        if note:
            console.print(f"[yellow]note: {note}[/]")
    if model.stochastic:
        console.print(
            "stochastic code q(h|x): recon, kl and loss are in nats per example (summed over "
            "each sample's values, averaged over samples); val/elbo = -(recon + kl)"
        )
    resumed = ""
    if changed is not None:
        if m.position is not None:  # mid-epoch: epoch s.epoch + 1 had begun
            b = m.position.batch
            where = f"in epoch {s.epoch + 1} after {b} batch{'es' if b != 1 else ''}"
        else:
            where = f"after epoch {s.epoch}"
        resumed = f"  (resumed {where}, step {s.step}"
        resumed += f"; changed: {fingerprint.describe(changed)})" if changed else ")"
    console.print(f"run folder: {m.run_dir}{resumed}")
    if changed is not None and s.epoch >= m.cfg.trainer.max_epochs:
        analyses = m.cfg.trainer.analyze != "none"
        again = "the test split and analyses are" if analyses else "the test split is"
        console.print(
            f"[yellow]note: the checkpoint is at epoch {s.epoch}, at or past "
            f"trainer.max_epochs={m.cfg.trainer.max_epochs}: nothing to train; {again} "
            "measured again[/]"
        )


def finish(m: Member, stop: GracefulStop | None = None, begun: Final | None = None) -> float:
    """Analyses, metrics.json, the closing line; returns `trainer.monitor`'s value.
    `begun`: the final numbers `final.begin` started already (a vmap group's members). A
    SIGINT/SIGTERM during the analyses stops before metrics.json: resuming the finished
    run redoes them."""
    s = m.state
    metrics = dict(s.metrics)
    metrics.update(s.stages)
    faults.hit("finish")
    with m.timed("analyses"):
        # test/{last,best}/*, the analyses of trainer.analyze's checkpoint
        metrics.update((begun or begin(m)).numbers())
    if stop is not None and stop.requested:
        raise Interrupted(
            stop.signum, "during the final analyses (training had finished; no metrics.json)"
        )
    metrics.update(
        {
            "completeness": m.model.completeness,
            "code_dim": m.model.code_dim,
            "input_size": m.model.input_size,
            "scaling": m.data.scaling,
            "timing": {k if k.endswith("_unix") else f"{k}_s": v for k, v in m.clock.items()},
        }
    )
    hparams.finish(m.log.writer, metrics)
    m.log.close()
    atomic.write_json(m.run_dir / "metrics.json", metrics)
    if m.data.kind == ONEHOT:
        from aectl.record.onehot_table import show

        show(m.model, m.data, m.run_dir)
    console.print(done_line(m, metrics))
    for line in m.epoch_warnings if m.warned_at != m.state.epoch else []:  # (said earlier)
        job = f", {m.in_group}" if m.in_group else ""  # a vmap member: which job
        console.print(f"[yellow]still at the end (epoch {m.state.epoch}{job}): {line}[/]")
    return objective(metrics, m.cfg.trainer.monitor)


def done_line(m: Member, metrics: dict[str, Any]) -> str:
    s = m.state
    line = f"done: val/recon {metrics['val/recon']:.5g} (best {s.best:.5g} at epoch {s.best_epoch})"
    if s.step == m.start_step:  # measured again: its speed was an earlier process's
        return line + f"; measured again, nothing trained; run folder {m.run_dir}"
    line += f"; {metrics['samples_per_s']:,.0f} samples/s overall"
    if "epoch_samples_per_s" in metrics:  # (not in a checkpoint from before it existed)
        line += f", {metrics['epoch_samples_per_s']:,.0f} in the last epoch"
    if "group_jobs" in metrics:
        line += (
            f" ({metrics['group_jobs']} jobs stacked: "
            f"{metrics['group_samples_per_s']:,.0f} samples/s overall, together)"
        )
    return line + f"; run folder {m.run_dir}"
