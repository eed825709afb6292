"""The Hydra application behind `aectl train`: one job = one trained autoencoder.

Hydra composes configs/train.yaml with the user's overrides, makes the run folder, and
(with -m) fans jobs out through its launcher and sweeper plugins. The task function returns
the final validation reconstruction loss so sweepers (Optuna) can minimise it.
"""

from __future__ import annotations

import shlex
import sys
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from aectl.config.register import register_all
from aectl.config.validate import validate
from aectl.errors import UserError
from aectl.paths import configs_dir

register_all()


def resume_command(run_dir: str, overrides: list[str]) -> str:
    keep = [o for o in overrides if not o.startswith(("hydra.run.dir=", "trainer.resume="))]
    return shlex.join(["aectl", "train", *keep, f"hydra.run.dir={run_dir}", "trainer.resume=auto"])


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
        print(f"resume with: {resume_command(run_dir, list(hc.overrides.task))}", file=sys.stderr)
        sys.exit(e.exit_code)
    except UserError as e:
        user_error(e, hc.mode)


def user_error(e: UserError, mode: RunMode) -> NoReturn:
    if mode == RunMode.MULTIRUN:
        raise e  # the launcher records the failed job; the sweep goes on
    print(f"aectl: error: {e}", file=sys.stderr)
    sys.exit(e.exit_code)
