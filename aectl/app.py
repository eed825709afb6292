"""The Hydra application behind `aectl train`: one job = one trained autoencoder.

Hydra composes configs/train.yaml with the user's overrides, makes the run folder, and
(with -m) fans jobs out through its launcher and sweeper plugins. The task function returns
the final validation reconstruction loss so sweepers (Optuna) can minimise it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from aectl.config.register import register_all
from aectl.config.validate import validate
from aectl.errors import UserError
from aectl.paths import configs_dir

register_all()


SAFE_VALUE = re.compile(r"[\w./~+@:-]*")  # what Hydra's override grammar takes unquoted


def hydra_value(path: str) -> str:
    """`path` as the value of an override: quoted when it holds `=`, `,`, spaces and the
    like (a sweep job's folder always does), with `'` escaped."""
    if SAFE_VALUE.fullmatch(path):
        return path
    return "'" + path.replace("'", "\\'") + "'"


def resume_command(run_dir: str, overrides: list[str], sweep_dir: str | None = None) -> str:
    """The command that continues: the run, or for a sweep job the whole sweep (its jobs
    resume their own last.pt, and the jobs that never started run)."""
    if sweep_dir is not None:
        multirun = Path(sweep_dir) / "multirun.yaml"
        if multirun.is_file():
            overrides = list(OmegaConf.load(multirun).hydra.overrides.task)
        keep = [o for o in overrides if not o.startswith("hydra.sweep.dir=")]
        return shlex.join(
            ["aectl", "train", "-m", *keep, f"hydra.sweep.dir={hydra_value(sweep_dir)}"]
        )
    keep = [o for o in overrides if not o.startswith(("hydra.run.dir=", "trainer.resume="))]
    return shlex.join(
        ["aectl", "train", *keep, f"hydra.run.dir={hydra_value(run_dir)}", "trainer.resume=auto"]
    )


@hydra.main(version_base="1.3", config_path=str(configs_dir()), config_name="train")
def train_main(cfg: DictConfig) -> float:
    hc = HydraConfig.get()
    run_dir = hc.runtime.output_dir
    if hc.mode == RunMode.MULTIRUN and cfg.trainer.resume is None:
        cfg.trainer.resume = (
            "auto"  # sweep jobs (a requeued SLURM job too) continue their own last.pt
        )
    try:
        validate(cfg)  # range checks first: a bad value is refused before torch loads
    except UserError as e:
        user_error(e, hc.mode)

    from aectl.stopping import Interrupted
    from aectl.train import train

    try:
        return train(cfg, run_dir)
    except Interrupted as e:
        print(f"aectl: interrupted by {e}; checkpoints/last.pt saved in {run_dir}", file=sys.stderr)
        sweep_dir = hc.sweep.dir if hc.mode == RunMode.MULTIRUN else None
        command = resume_command(run_dir, list(hc.overrides.task), sweep_dir)
        print(f"resume with: {command}", file=sys.stderr)
        sys.exit(e.exit_code)
    except UserError as e:
        user_error(e, hc.mode)


def user_error(e: UserError, mode: RunMode) -> NoReturn:
    if mode == RunMode.MULTIRUN:
        raise e  # the launcher records the failed job; the sweep goes on
    discard_refused_run(HydraConfig.get())
    print(f"aectl: error: {e}", file=sys.stderr)
    sys.exit(e.exit_code)


def discard_refused_run(hc) -> None:
    """A run refused before it wrote anything leaves nothing behind: Hydra made its folder,
    `.hydra/` and an empty log before aectl could check the config. When the folder holds
    nothing else, those go, and so does the folder unless it existed before the command
    (aectl.cli marks that); any other file (an earlier run's, or this run's first output)
    keeps everything."""
    run_dir = Path(hc.runtime.output_dir)
    if not hc.output_subdir or not run_dir.is_dir():
        return
    top = run_dir / Path(hc.output_subdir).parts[0]
    log = run_dir / f"{hc.job.name}.log"
    for p in run_dir.iterdir():
        if p != top and not (p == log and p.stat().st_size == 0):
            return
    if os.environ.get("AECTL_RUN_DIR_EXISTED") == "1":
        shutil.rmtree(top, ignore_errors=True)
        log.unlink(missing_ok=True)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
