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


SAFE_VALUE = re.compile(r"[A-Za-z0-9_./+@:%-]*")  # what Hydra's grammar takes unquoted
DROP_HYDRA = ("hydra.run.dir=", "hydra.sweep.dir=", "hydra.mode=", "hydra.output_subdir=")


def hydra_value(path: str) -> str:
    """`path` as the value of an override: quoted when it holds `=`, `,`, spaces, non-ASCII
    letters and the like (a sweep job's folder always does). Inside Hydra's quotes, `'` is
    written `\\'`, and backslashes before a quote or at the end are doubled."""
    if SAFE_VALUE.fullmatch(path):
        return path
    body = re.sub(r"(\\+)(?='|$)", r"\1\1", path).replace("'", "\\'")
    return f"'{body}'"


def resume_command(
    run_dir: str, task: list[str], hydra: list[str], sweep_dir: str | None = None
) -> str:
    """The command that continues: the run, or for a sweep job the whole sweep (its jobs
    resume their own last.pt, and the jobs that never started run). `task` and `hydra` are
    the command's overrides as Hydra filed them (launcher and sweeper settings are in
    `hydra`); a sweep's come from its multirun.yaml."""
    if sweep_dir is not None:
        multirun = Path(sweep_dir) / "multirun.yaml"
        if multirun.is_file():
            filed = OmegaConf.load(multirun).hydra.overrides
            task, hydra = list(filed.task), list(filed.hydra)
        keep = [o for o in hydra if not o.startswith(DROP_HYDRA)]
        return shlex.join(
            ["aectl", "train", "-m", *task, *keep, f"hydra.sweep.dir={hydra_value(sweep_dir)}"]
        )
    task = [o for o in task if not o.lstrip("+~").startswith("trainer.resume=")]
    keep = [o for o in hydra if not o.startswith(DROP_HYDRA)]
    return shlex.join(
        ["aectl", "train", *task, *keep]
        + [f"hydra.run.dir={hydra_value(run_dir)}", "trainer.resume=auto"]
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
        command = resume_command(
            run_dir, list(hc.overrides.task), list(hc.overrides.hydra), sweep_dir
        )
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
    the config record (`.hydra/`, or a resume's `.hydra/resume_<time>/`) and an empty log
    before aectl could check the config. Only those go: an earlier record in `.hydra/` stays,
    any other file keeps everything, and a folder that existed before the command stays
    (aectl.cli marks that)."""
    run_dir = Path(hc.runtime.output_dir)
    if not hc.output_subdir or not run_dir.is_dir():
        return
    written = run_dir / hc.output_subdir
    top = run_dir / Path(hc.output_subdir).parts[0]
    log = run_dir / f"{hc.job.name}.log"
    for p in run_dir.iterdir():
        if p != top and not (p == log and p.stat().st_size == 0):
            return
    shutil.rmtree(written, ignore_errors=True)
    log.unlink(missing_ok=True)
    keep_root = os.environ.get("AECTL_RUN_DIR_EXISTED") == "1"
    for rel in written.relative_to(run_dir).parents:  # e.g. .hydra, then the run folder
        here = run_dir / rel
        if here == run_dir and keep_root:
            break
        if here.is_dir() and not any(here.iterdir()):
            here.rmdir()
