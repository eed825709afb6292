"""The Hydra application behind `aectl train`: one job = one trained autoencoder.

Hydra composes configs/train.yaml with the user's overrides, makes the run folder, and
(with -m) fans jobs out through its launcher and sweeper plugins. The task function returns
the final validation reconstruction loss so sweepers (Optuna) can minimise it.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from aectl.config.register import register_all
from aectl.errors import UserError
from aectl.paths import configs_dir

register_all()


@hydra.main(version_base="1.3", config_path=str(configs_dir()), config_name="train")
def train_main(cfg: DictConfig) -> float:
    from aectl.train import train

    hc = HydraConfig.get()
    try:
        return train(cfg, hc.runtime.output_dir)
    except UserError as e:
        if hc.mode == RunMode.MULTIRUN:
            raise  # the launcher records the failed job; the sweep goes on
        print(f"aectl: error: {e}", file=sys.stderr)
        sys.exit(UserError.exit_code)
