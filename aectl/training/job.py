"""One Hydra job of `aectl train`, whatever launches it: typed config in, trained run out.

Shared by the Hydra task function (`aectl.commands.train`) and the vmap launcher, so a job
is the same whether it runs alone, in a basic sweep or stacked in a group: a sweep's jobs
continue their own last.pt (`trainer.resume=auto`: a re-run or requeued sweep picks up
where it stopped), and the config is validated once, before torch is imported.
"""

from __future__ import annotations

from omegaconf import DictConfig

from aectl.config.run import RunConfig
from aectl.config.validate import validate


def job_config(cfg: DictConfig, in_sweep: bool) -> RunConfig:
    """The job's typed config (range checks run here; a bad value is refused before torch
    loads)."""
    if in_sweep and cfg.trainer.resume is None:
        cfg.trainer.resume = "auto"  # sweep jobs (a requeued SLURM job too) continue last.pt
    return validate(cfg)
