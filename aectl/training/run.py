"""`aectl train`'s one job, top to bottom: set up, fit, finish; returns the monitored metric.

`setup` builds everything from the typed config (or continues a checkpoint), `loop.fit`
trains, `finish` measures the test split and runs the analyses (`final`), then writes
metrics.json. The same `setup` and `finish` serve each member of a vmap group
(`aectl.sweeps.vmap`), so a member's folder is a run's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from aectl import atomic
from aectl.config.metrics import objective
from aectl.config.run import RunConfig
from aectl.config.stored import keep_old_behaviour
from aectl.config.validate import validate
from aectl.data.base import ONEHOT
from aectl.errors import require
from aectl.record import hparams
from aectl.record.progress import TrainProgress, console
from aectl.record.runlog import RunLog
from aectl.training import checkpoint, checks, layerwise
from aectl.training import device as devices
from aectl.training.build import build, optimizer
from aectl.training.fast_step import make_step
from aectl.training.final import final_numbers
from aectl.training.loop import Group, fit
from aectl.training.member import Member
from aectl.training.resume import starting_state
from aectl.training.seeding import seed_everything, set_rng_state
from aectl.training.state import TrainState, from_checkpoint
from aectl.training.stopping import GracefulStop
from aectl.training.window import LossWindow


def train(cfg: RunConfig | DictConfig, run_dir: str | Path) -> float:
    """Train one autoencoder into `run_dir`; returns `trainer.monitor`'s value."""
    cfg = cfg if isinstance(cfg, RunConfig) else validate(cfg)
    member, step, window = setup(cfg, Path(run_dir))
    t = cfg.trainer
    group = Group([member], lambda x: step(x[0]).unsqueeze(0), member.data.train_x, window, t)
    steps_per_epoch = group.steps_per_epoch
    with (
        GracefulStop() as stop,
        TrainProgress(steps_per_epoch * t.max_epochs, t.max_epochs, member.state.step) as bar,
    ):
        fit(group, stop, bar)
    return finish(member)


def setup(cfg: RunConfig, run_dir: Path) -> tuple[Member, Any, LossWindow]:
    """(the member, its step function, its logging window), ready for the first step."""
    t = cfg.trainer
    start = starting_state(run_dir, t.resume)
    if start is not None:  # a run saved by an earlier aectl continues as it was trained
        keep_old_behaviour(cfg, start.get("config"))
    device = devices.pick(t.device)
    seed_everything(t.seed)
    data, model, reg = build(cfg, device)
    # Not in build(): `aectl eval` builds runs trained before this check existed.
    checks.check(data, model.output_activation, t.loss)
    if model.solved_in_closed_form:  # e.g. PCA: solved, then one evaluation-only epoch
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
        f"allowed: 1..{n} (the training split holds {n} samples)",
    )
    opt = optimizer(cfg, model.parameters())
    state, position, rows = TrainState(), None, None
    if start is not None:
        checkpoint.load_model_state(model, start, "trainer.resume")
        opt.load_state_dict(start["optimizer"])
        state, position, rows = from_checkpoint(start, device, t.log_every_n_steps)
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
    config = cfg.as_dict()
    atomic.write_text(run_dir / "config.yaml", OmegaConf.to_yaml(config))
    log = RunLog(run_dir, reg.term_name, purge_step=state.step + 1 if start else None)
    hparams.declare(log.writer, OmegaConf.create(config))
    member = Member(cfg, run_dir, data, model, reg, opt.state_dict, log, config, state, position)
    header(member, device, resumed=start is not None)
    window = LossWindow(t.log_every_n_steps, 1, device)
    if rows is not None:
        window.restore(0, rows, position.log_filled if position is not None else 0)
    if start is None and t.layerwise:
        state.stages = layerwise.pretrain(cfg, model, data, reg, log.writer)
    return member, step, window


def header(m: Member, device: torch.device, resumed: bool) -> None:
    d, model, s = m.data, m.model, m.state
    console.print(
        f"[bold]aectl train[/]  device={device}  data={d.name} {tuple(d.shape)} "
        f"train={len(d.train_x)} val={len(d.val_x)} test={d.sizes()['test']}  arch={model.arch} "
        f"code_dim={model.code_dim} ([bold]{model.completeness}[/]: input size "
        f"{model.input_size})  regularizer={m.reg.describe()}"
    )
    console.print(
        f"run folder: {m.run_dir}"
        + (f"  (resumed at epoch {s.epoch}, step {s.step})" if resumed else "")
    )


def finish(m: Member) -> float:
    """Analyses, metrics.json, the closing line; returns `trainer.monitor`'s value."""
    s = m.state
    metrics = dict(s.metrics)
    metrics.update(s.stages)
    metrics.update(final_numbers(m))  # test/{last,best}/*, the analyses of trainer.analyze's
    metrics.update(
        {
            "completeness": m.model.completeness,
            "code_dim": m.model.code_dim,
            "input_size": m.model.input_size,
            "scaling": m.data.scaling,
        }
    )
    hparams.finish(m.log.writer, metrics)
    m.log.close()
    atomic.write_json(m.run_dir / "metrics.json", metrics)
    if m.data.kind == ONEHOT:
        from aectl.record.onehot_table import show

        show(m.model, m.data, m.run_dir)
    console.print(done_line(m, metrics))
    return objective(metrics, m.cfg.trainer.monitor)


def done_line(m: Member, metrics: dict[str, Any]) -> str:
    s = m.state
    line = (
        f"done: val/recon {metrics['val/recon']:.5g} (best {s.best:.5g} at epoch "
        f"{s.best_epoch}); {metrics['samples_per_s']:,.0f} samples/s overall"
    )
    if "epoch_samples_per_s" in metrics:  # (not in a checkpoint from before it existed)
        line += f", {metrics['epoch_samples_per_s']:,.0f} in the last epoch"
    return line + f"; run folder {m.run_dir}"
