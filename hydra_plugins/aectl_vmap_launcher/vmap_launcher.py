"""The `vmap` Hydra launcher: a sweep's jobs trained as stacked models in one process.

Hydra finds launchers in the `hydra_plugins` namespace and imports every module there at
startup, so this one holds only the plugin class and its config schema (no torch); the
work is in `aectl.sweeps.vmap`. With `executor` set (`local` or `slurm`), each stacked
group is one submitit job instead (`submitit`: the executor's parameters, as in
hydra-submitit-launcher's presets); a requeued group resumes from its members' last.pt.
(No `from __future__ import annotations` here: Hydra's plugin scanner runs this module
before registering it, and dataclasses then cannot resolve string annotations.)
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.launcher import Launcher


@dataclass
class VmapLauncherConf:
    _target_: str = "hydra_plugins.aectl_vmap_launcher.vmap_launcher.VmapLauncher"
    max_group: int = 16  # jobs per stacked group at most (memory: about max_group models)
    executor: str | None = None  # null: this process; local | slurm: one submitit job a group
    submitit: dict[str, Any] = field(default_factory=dict)  # the executor's parameters


ConfigStore.instance().store(
    group="hydra/launcher", name="aectl_vmap", node=VmapLauncherConf, provider="aectl"
)


class VmapLauncher(Launcher):
    def __init__(self, max_group: int = 16, executor: str | None = None, submitit: Any = None):
        self.max_group, self.executor = max_group, executor
        self.submitit = dict(submitit or {})
        self.config = self.task_function = self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        from aectl.sweeps.compose_once import keep_checked

        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context
        keep_checked(hydra_context.config_loader)  # the sweeper's check composes each job

    def launch(self, job_overrides, initial_job_idx):
        from aectl.sweeps import vmap

        return vmap.launch(self, job_overrides, initial_job_idx)

    def __call__(self, *args: Any) -> Any:  # a group, inside its submitit job
        from aectl.sweeps import vmap

        return vmap.run_submitted(self, *args)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's requeue: the same group again; its members resume their last.pt."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)
