"""`hydra/launcher=vmap`: a sweep's jobs trained together, as stacked models, in one process.

The launcher plugin (`hydra_plugins/aectl_vmap_launcher`) hands the sweep's jobs here.
`plan` groups jobs whose configs differ only in stackable settings (schema fields marked
`knob(stackable=True)`: the regularizer's strength, the learning rate, weight decay, the
seed); a job that cannot be stacked (a model solved in closed form, layer-wise training, a
config that is refused) runs alone, and one line says so. `max_group` bounds a group's size.

Every job still goes through Hydra's own `run_job` (its folder, `.hydra/`, logging and the
sweep callbacks, so `status.json` and `multirun.yaml` are what any launcher writes): a
stacked group runs each member's `run_job` in a thread of its own, whose task function
registers the member and waits; the main thread then trains the group
(`aectl.training.group.train_group`) and hands each member its result. SIGINT/SIGTERM saves
every member and prints the command that resumes the sweep.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, run_job
from omegaconf import DictConfig, OmegaConf, open_dict

from aectl.config.run import RunConfig
from aectl.config.schema import knobs, option_of
from aectl.errors import UserError
from aectl.sweeps.status import mark_interrupted
from aectl.training.job import job_config
from aectl.training.stopping import load_torch, stopping_now


@dataclass
class Batch:
    jobs: list[int]  # indices into the sweep's job list
    why_alone: str | None = None  # a job that cannot be stacked: why
    differs: list[str] = field(default_factory=list)
    capped: bool = False  # one of several batches of a group larger than max_group


def task_config(config: DictConfig) -> DictConfig:
    cfg = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    return cfg


def why_alone(cfg: RunConfig) -> str | None:
    """Why a job cannot be stacked with others (None: it can)."""
    arch = type(cfg.arch)
    if getattr(arch, "solved_in_closed_form", False):
        name = (option_of("arch", arch._target_) or ("?",))[0]
        return f"arch={name} is solved in closed form, not trained"
    if cfg.trainer.layerwise:
        return "trainer.layerwise trains its layers one stage at a time"
    return None


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def plan(configs: Sequence[DictConfig], max_group: int) -> list[Batch]:
    """The sweep's jobs as stacked groups (in job order) and jobs alone."""
    stackable = {k for k, v in knobs().items() if v.stackable}
    groups: dict[str, list[int]] = {}
    batches: list[Batch] = []
    flats: dict[int, dict[str, Any]] = {}
    for i, config in enumerate(configs):
        try:
            cfg = job_config(task_config(config), in_sweep=True)
        except UserError:
            batches.append(Batch([i], "its config is refused"))
            continue
        if (reason := why_alone(cfg)) is not None:
            batches.append(Batch([i], reason))
            continue
        flats[i] = _flat(cfg.as_dict())
        key = json.dumps(
            {k: v for k, v in flats[i].items() if k not in stackable}, sort_keys=True, default=str
        )
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        capped = len(members) > max_group
        for start in range(0, len(members), max_group):
            chunk = members[start : start + max_group]
            differs = sorted(
                k for k in flats[chunk[0]] if len({str(flats[i][k]) for i in chunk}) > 1
            )
            why = f"the rest of a group over hydra.launcher.max_group={max_group}"
            batches.append(
                Batch(chunk, why if capped and len(chunk) == 1 else None, differs, capped)
            )
    return sorted(batches, key=lambda b: b.jobs[0])


def split_keys(configs: Sequence[DictConfig]) -> list[str]:
    """The command line's swept keys that cannot be stacked (`model`, `arch.code_dim`): what
    puts the sweep's jobs into groups of their own."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    stackable = {k for k, v in knobs().items() if v.stackable}
    parser = OverridesParser.create()
    values: dict[str, set[str]] = {}
    for c in configs:
        task = OmegaConf.select(c, "hydra.overrides.task", default=None) or []
        for o in parser.parse_overrides([str(x) for x in task]):
            values.setdefault(o.key_or_group, set()).add(o.get_value_element_as_str())
    return sorted(k for k, vs in values.items() if len(vs) > 1 and k not in stackable)


def describe(
    batches: list[Batch], first: int, apart: Sequence[str] = (), max_group: int = 0
) -> str:
    """The one line that says how the sweep runs: the stacked groups (what their members
    differ in), what keeps groups apart (`apart`: `split_keys`), a group size reached, and
    each job alone with why."""
    stacked = [b for b in batches if len(b.jobs) > 1]
    parts = []
    if stacked:
        sizes = ", ".join(str(len(b.jobs)) for b in stacked)
        keys = sorted({k for b in stacked for k in b.differs})
        n, total = sum(len(b.jobs) for b in stacked), sum(len(b.jobs) for b in batches)
        count = f"{n} jobs" if n == total else f"{total} jobs: {n}"  # (the rest: alone, below)
        parts.append(
            f"{count} in {len(stacked)} stacked group"
            f"{'s' if len(stacked) > 1 else ''} ({sizes}; differing in {', '.join(keys) or 'nothing'})"
        )
    if len(batches) > 1 and apart:
        parts.append(f"groups apart by {', '.join(apart)} (not stackable)")
    if any(b.capped for b in stacked):
        parts.append(f"at most hydra.launcher.max_group={max_group} jobs a group")
    for b in batches:
        if len(b.jobs) == 1:
            why = b.why_alone or "no other job differs from it only in stackable settings"
            parts.append(f"job {b.jobs[0] + first} alone ({why})")
    return "vmap launcher: " + "; ".join(parts)


# ---- a stacked group through Hydra's run_job, one thread per member ------------------------


class _Abort(BaseException):
    """Ends a member's run_job without a result (the sweep was interrupted): its
    status.json says interrupted (`interrupted`), and no callback overwrites it."""


class Registry:
    """Members registering from their run_job threads, and their results."""

    def __init__(self, n: int):
        self.registered = [threading.Event() for _ in range(n)]
        self.go = [threading.Event() for _ in range(n)]
        self.jobs: list[Any] = [None] * n
        self.results: list[Any] = [None] * n
        self.returns: list[JobReturn | None] = [None] * n
        self.abort: set[int] = set()  # jobs ended without a result (an interrupt)

    def task(self, i: int):
        def member_task(cfg: DictConfig) -> float:
            from aectl.training.group import Job

            hc = HydraConfig.get()
            try:
                run_cfg = job_config(cfg, in_sweep=True)
            except BaseException as e:
                self.jobs[i] = e
                self.registered[i].set()
                raise
            hydra_cfg = HydraConfig.instance().cfg

            def enter() -> None:
                # the very object run_job set, not set_config(a copy): its parent holds the
                # resolver cache, so `${now:...}` in hydra.sweep.dir keeps the sweep's time
                HydraConfig.instance().cfg = hydra_cfg

            self.jobs[i] = Job(run_cfg, Path(hc.runtime.output_dir), enter)
            self.registered[i].set()
            self.go[i].wait()
            if i in self.abort:
                raise _Abort()
            result = self.results[i]
            if isinstance(result, BaseException):
                raise result
            return result

        return member_task


def run_group(launcher: Any, configs: list[DictConfig]) -> list[JobReturn]:
    load_torch()
    from aectl.training.group import train_group
    from aectl.training.stopping import Interrupted

    reg = Registry(len(configs))
    threads: list[threading.Thread] = []
    previous = HydraConfig.instance().cfg
    live: list[int] = []

    def end_members(abort: set[int]) -> None:
        reg.abort = abort
        for g in reg.go:
            g.set()
        for th in threads:
            th.join()

    try:
        for i, config in enumerate(configs):
            th = threading.Thread(
                target=_member_thread, args=(launcher, reg, i, config), daemon=True
            )
            threads.append(th)
            th.start()
            reg.registered[i].wait()  # one at a time: Hydra's config singleton is per process
        live = [
            i for i, j in enumerate(reg.jobs) if j is not None and not isinstance(j, BaseException)
        ]
        results = train_group([reg.jobs[i] for i in live])
    except Interrupted as e:
        stopping_now()
        # a member that had ended keeps its result (completed, or failed with its error), one
        # that had diverged ends failed; the others are interrupted
        ended = keep_ended(reg, live, {**e.ended, **e.failed})
        end_members({i for i in range(len(configs)) if i not in ended})
        interrupted(launcher, e, [reg.jobs[i].run_dir for i in live if i not in ended])
    except KeyboardInterrupt as e:  # Ctrl-C in the group's setup, or a second Ctrl-C
        stopping_now()
        ended = keep_ended(reg, live, getattr(e, "ended", {}))
        end_members({i for i in range(len(configs)) if i not in ended})
        started = [
            j.run_dir for i, j in enumerate(reg.jobs) if hasattr(j, "run_dir") and i not in ended
        ]
        if any((d / "checkpoints" / "last.pt").is_file() for d in started):
            where, left = (
                "a second time: stopped at once",
                "each job resumes its last checkpoint in",
            )
        else:
            where, left = "before the group's first step", "nothing trained yet in"
        interrupted(launcher, Interrupted(signal.SIGINT, where), started, left)
    except BaseException as e:  # what ended the group ends each member: failed, with it
        for i in live:
            reg.results[i] = e
        end_members(set())
        raise
    for i, r in zip(live, results):
        reg.results[i] = r
    for i, th in enumerate(threads):  # in job order, as a basic launcher would end them
        reg.go[i].set()
        th.join()
    HydraConfig.instance().cfg = previous
    return [r for r in reg.returns]


def keep_ended(reg: Registry, live: list[int], ended: dict[int, Any]) -> dict[int, Any]:
    """The results of the group's jobs that had ended (by train_group's index), handed to
    their run_job threads; returns them by the sweep's job index."""
    kept = {live[k]: r for k, r in ended.items()}
    for i, result in kept.items():
        reg.results[i] = result
    return kept


def _member_thread(launcher: Any, reg: Registry, i: int, config: DictConfig) -> None:
    try:
        reg.returns[i] = run_job(
            hydra_context=launcher.hydra_context,
            task_function=reg.task(i),
            config=config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    except _Abort:
        pass
    except Exception as e:  # Hydra failed around the task (a callback, writing .hydra/)
        ret = JobReturn()
        ret.status, ret.return_value = JobStatus.FAILED, e
        reg.returns[i] = ret
    finally:
        reg.registered[i].set()  # also when Hydra failed before the task ran


def interrupted(
    launcher: Any, e: Any, run_dirs: list[Path], left: str = "checkpoints/last.pt saved in"
) -> NoReturn:
    """Say what the interrupt left in the jobs' folders and the command that finishes the
    sweep; mark the jobs interrupted; exit."""
    from aectl.training.resume import resume_command

    config = launcher.config
    sweep_dir = str(config.hydra.sweep.dir)
    where = f" {e.where}" if e.where else ""
    folders = f"{len(run_dirs)} job folder{'' if len(run_dirs) == 1 else 's'}"
    print(f"aectl: interrupted by {e}{where}; {left} {folders} of {sweep_dir}", file=sys.stderr)
    command = resume_command(
        "", list(config.hydra.overrides.task), list(config.hydra.overrides.hydra), sweep_dir
    )
    print(f"resume with: {command}", file=sys.stderr)
    for run_dir in run_dirs:
        mark_interrupted(run_dir, str(e), command)
    sys.exit(e.exit_code)


# ---- the launcher's work ----------------------------------------------------------------------


def launch(
    launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    from aectl.record.progress import console
    from aectl.sweeps.compose_once import forget

    try:  # (each job's config as the sweeper's check composed it: compose_once)
        configs = [
            sweep_config(launcher, list(o), initial_job_idx + i)
            for i, o in enumerate(job_overrides)
        ]
    finally:
        forget(launcher.hydra_context.config_loader)
    batches = plan(configs, int(launcher.max_group))
    console.print(describe(batches, initial_job_idx, split_keys(configs), int(launcher.max_group)))
    if launcher.executor:
        return submit(launcher, job_overrides, initial_job_idx, batches)
    returns: list[JobReturn | None] = [None] * len(configs)
    for b in batches:
        for i, r in zip(b.jobs, run_batch(launcher, [configs[i] for i in b.jobs])):
            returns[i] = r
    return [r for r in returns]


def sweep_config(
    launcher: Any, overrides: list[str], num: int, job_id: str | None = None
) -> DictConfig:
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, overrides)
    with open_dict(cfg):
        cfg.hydra.job.id = job_id or f"job_id_for_{num}"
        cfg.hydra.job.num = num
    return cfg


def run_batch(launcher: Any, configs: list[DictConfig]) -> list[JobReturn]:
    """One job alone (as Hydra's basic launcher runs it) or a stacked group."""
    if len(configs) > 1:
        return run_group(launcher, configs)
    return [
        run_job(
            hydra_context=launcher.hydra_context,
            task_function=launcher.task_function,
            config=configs[0],
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    ]


# ---- each batch as one submitit job (hydra.launcher.executor=local|slurm) -------------------

BASE_PARAMS = {  # submitit's executor-independent parameters (hydra-submitit-launcher's too)
    "timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb", "nodes",
    "name", "stderr_to_stdout",
}  # fmt: skip


def submit(
    launcher: Any, job_overrides, initial_job_idx: int, batches: list[Batch]
) -> list[JobReturn]:
    import submitit
    from hydra.core.singleton import Singleton

    cluster = str(launcher.executor)
    params = dict(launcher.submitit)
    folder = params.pop("submitit_folder", f"{launcher.config.hydra.sweep.dir}/.submitit/%j")
    init = (
        {f"{cluster}_max_num_timeout": params.pop("max_num_timeout")}
        if "max_num_timeout" in params
        else {}
    )
    from aectl.record.progress import console

    executor = submitit.AutoExecutor(cluster=cluster, folder=folder, **init)
    where = str(folder).replace("%j", "<job id>")
    console.print(f"vmap launcher: each group is one submitit job ({cluster}); output in {where}")
    executor.update_parameters(
        **{k if k in BASE_PARAMS else f"{cluster}_{k}": v for k, v in params.items()}
    )
    args = [
        (
            [list(job_overrides[i]) for i in b.jobs],
            [initial_job_idx + i for i in b.jobs],
            Singleton.get_state(),
        )
        for b in batches
    ]
    jobs = executor.map_array(launcher, *zip(*args))
    returns: list[JobReturn | None] = [None] * len(job_overrides)
    for b, job in zip(batches, jobs):
        for i, r in zip(b.jobs, job.results()[0]):
            returns[i] = r
    return [r for r in returns]


def run_submitted(
    launcher: Any, overrides: list[list[str]], nums: list[int], singleton_state
) -> list[JobReturn]:
    """A batch inside its submitit job (requeued: the same batch; members resume)."""
    import submitit
    from hydra.core.singleton import Singleton
    from hydra.core.utils import setup_globals

    Singleton.set_state(singleton_state)
    setup_globals()
    job_id = submitit.JobEnvironment().job_id
    configs = [sweep_config(launcher, o, n, job_id) for o, n in zip(overrides, nums)]
    return run_batch(launcher, configs)
