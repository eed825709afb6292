"""What a sweep must pass before its first job runs, and before anything is written.

`aectl.sweeps.callbacks.JobCallback.on_multirun_start` calls `check_sweep` with the
composed sweep config (the task's groups plus Hydra's own node), so a sweep that cannot run
as asked is one line and exit code 2 instead of a traceback from joblib, submitit or Optuna,
an endless loop, or jobs training into one another's folders:

- keys no schema has (`+typo=1`, `+trainer.max_epoch=5`, swept or not): aectl's config has
  no free-form keys, so Hydra's append syntax is never what the user meant;
- a swept value a run would refuse (`regularizer.weight=1e-3,-1e-4`): refused before the
  first job, not after the good ones trained; so is a value every job shares
  (`trainer.monitor=bogus` in an Optuna search);
- the vmap launcher's fields (`max_group=0`, an unknown executor or field);
- launcher and sweeper counts that mean nothing: `hydra.launcher.n_jobs=0` (joblib),
  `hydra.sweeper.n_trials=0` or `n_jobs=0` (Optuna: the latter never ends),
  `max_batch_size=0` (the basic sweeper);
- a SLURM launcher on a machine without SLURM (`srun`, `sbatch`);
- for Hydra's basic sweeper, the job list it will make (`BasicSweeper.split_arguments`): a
  swept value listed twice (`regularizer.weight=0.1,0.1`), or two values the job folder
  names write alike (a seed given as `0` and `00`), would train two jobs into one folder; a
  sweep of no values (`trainer.seed=range(0,0)`) would run nothing.
"""

from __future__ import annotations

import shutil
from typing import Any

from omegaconf import DictConfig, OmegaConf

from aectl.config.schema import option_of
from aectl.config.validate import refuse_unknown_key, unknown_keys
from aectl.errors import UserError

SLURM_COMMANDS = ("srun", "sbatch")  # what submitit's SLURM executor calls
MAX_CHECKED_JOBS = 100_000  # larger sweeps: their folders are not compared one by one


def check_sweep(config: DictConfig) -> None:
    """Refuse a sweep that cannot run as asked (a UserError), before anything is written."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    check_keys(config)
    check_launcher(config)
    check_sweeper(config)
    sweeper = config.hydra.sweeper
    task = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    task += list(OmegaConf.to_container(config.hydra.overrides.task, resolve=False))
    overrides = OverridesParser.create().parse_overrides(task)
    check_swept_keys(config, overrides)
    check_swept_weight(config, overrides)
    check_swept_values(config, overrides)
    check_shared_values(config, overrides)
    if _is_basic_sweeper(sweeper):
        check_jobs(config, overrides)


# ---- keys -------------------------------------------------------------------------------------


def check_keys(config: DictConfig) -> None:
    """The task's keys, as composed (a non-swept `+typo=1` is in the config already)."""
    unknown_keys(config, ignore=("hydra",))


def check_swept_keys(config: DictConfig, overrides: list[Any]) -> None:
    """Swept keys are not in the composed config yet: each must be a group, or a key a schema
    has (Hydra adds a swept `+key` to each job's config, where no schema checks it). With a
    swept group the keys depend on each job's option: each job checks its own then."""
    if _sweeps_a_group(config, overrides):
        return
    groups = set(config.hydra.runtime.choices)
    for o in overrides:
        key = o.key_or_group
        if not o.is_sweep_override() or o.is_delete() or key in groups or key == "hydra":
            continue
        if not key.startswith("hydra."):
            refuse_unknown_key(config, key)


def _sweeps_a_group(config: DictConfig, overrides: list[Any]) -> bool:
    """A config group is swept: each job's keys (and regularizer) depend on its option."""
    groups = set(config.hydra.runtime.choices)
    return any(o.is_sweep_override() and o.key_or_group in groups for o in overrides)


def check_swept_weight(config: DictConfig, overrides: list[Any]) -> None:
    """A λ sweep where every job's regularizer has no penalty term would train one model N
    times. (With a swept group, e.g. `regularizer=none,sparse_l1`, some jobs may have one:
    each job then notes it, as a run does.)"""
    if _sweeps_a_group(config, overrides):
        return
    if not any(o.is_sweep_override() and o.key_or_group == "regularizer.weight" for o in overrides):
        return
    option = option_of("regularizer", str(config.regularizer.get("_target_", "")))
    if option is None:
        return
    name, cls = option
    if cls.term_name is None:
        raise UserError(
            "regularizer.weight",
            f"swept, but regularizer={name} has no penalty term, so every job would train "
            f"the same model; allowed: a sweep of a penalty's weight ({cls.instead()})",
        )


def check_swept_values(config: DictConfig, overrides: list[Any]) -> None:
    """Each value a plain key is swept over, checked as a run's config checks it (with the
    other keys as composed): a bad one (`regularizer.weight=-1e-4,1e-3`) is refused before
    the first job, not after the good ones trained. Keys a swept group provides, and
    values an Optuna sweeper draws from a range, are checked by each job itself."""
    from aectl.training.job import job_config

    groups = set(config.hydra.runtime.choices)
    task = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    for o in overrides:
        key = o.key_or_group
        if not o.is_sweep_override() or o.is_delete() or key in groups or "." not in key:
            continue
        if key.startswith("hydra.") or not o.is_discrete_sweep():
            continue
        node = OmegaConf.select(task, key, throw_on_missing=False)
        if node is None or OmegaConf.is_config(node):
            continue
        for v in o.sweep_iterator():
            one = copy_with(task, key, v)
            if one is not None:
                job_config(one, in_sweep=True)  # a UserError naming the key and value


def check_shared_values(config: DictConfig, overrides: list[Any]) -> None:
    """The values every job shares, checked once as a run checks them (`trainer.monitor=bogus`
    in an Optuna search: each trial failed, then the study with a traceback). Checked with
    each swept plain key at its first value; not when a group is swept (its jobs' configs
    differ in shape, and each job checks its own)."""
    from aectl.training.job import job_config

    groups = set(config.hydra.runtime.choices)
    swept = [o for o in overrides if o.is_sweep_override() and not o.is_delete()]
    if any(o.key_or_group in groups for o in swept):
        return
    task = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
    for o in swept:
        if o.key_or_group.startswith("hydra.") or not o.is_discrete_sweep():
            continue
        first = next(iter(o.sweep_iterator()), None)
        one = copy_with(task, o.key_or_group, first) if first is not None else None
        if one is None:
            return  # a value that does not fit: its job says so
        task = one
    keys = {o.key_or_group for o in swept}
    try:
        job_config(task, in_sweep=True)
    except UserError as e:
        if e.field not in keys and not any(e.field.startswith(k + ".") for k in keys):
            raise


def copy_with(task: DictConfig, key: str, value: Any) -> DictConfig | None:
    """A copy of the composed task config with `key` set to a swept value (None: the
    value does not fit the key's type; the job's own check will say so)."""
    import copy

    from omegaconf.errors import OmegaConfBaseException

    one = copy.deepcopy(task)
    try:
        OmegaConf.update(one, key, value, merge=False)
    except OmegaConfBaseException:
        return None
    return one


# ---- launcher and sweeper ---------------------------------------------------------------------


def check_launcher(config: DictConfig) -> None:
    launcher = config.hydra.launcher
    if "n_jobs" in launcher:  # joblib: negative counts back from the number of cores
        n = launcher.n_jobs
        if not isinstance(n, int) or isinstance(n, bool) or n == 0:
            raise UserError(
                "hydra.launcher.n_jobs",
                f"got {n!r}; allowed: a non-zero integer (-1: one job per CPU core, -2: all "
                "cores but one, ...)",
            )
    if str(launcher.get("_target_", "")).endswith("VmapLauncher"):
        check_vmap_launcher(config)
    if str(launcher.get("_target_", "")).endswith("SlurmLauncher"):
        if missing := missing_slurm():
            choice = config.hydra.runtime.choices.get("hydra/launcher")
            raise UserError(
                f"hydra/launcher={choice}",
                f"this machine has no SLURM ({' and '.join(missing)} not found on PATH); "
                "allowed: a SLURM login node, or hydra/launcher=slurm_local (the same "
                "submitit path on this machine) or hydra/launcher=parallel",
            )


def missing_slurm() -> list[str]:
    """SLURM's commands that submitit calls and this machine lacks ([]: it has SLURM)."""
    return [c for c in SLURM_COMMANDS if shutil.which(c) is None]


VMAP_EXECUTORS = (None, "local", "slurm")  # the vmap launcher's: this process, or submitit's


def check_vmap_launcher(config: DictConfig) -> None:
    """`hydra/launcher=vmap`'s fields (Hydra would instantiate an unknown one into a
    TypeError, and a group size of 0 into a ValueError, after writing the sweep folder)."""
    import dataclasses

    from hydra_plugins.aectl_vmap_launcher.vmap_launcher import VmapLauncherConf

    launcher = config.hydra.launcher
    known = [f.name for f in dataclasses.fields(VmapLauncherConf) if f.name != "_target_"]
    for key in launcher:
        if key != "_target_" and key not in known:
            raise UserError(
                f"hydra.launcher.{key}",
                f"the vmap launcher has no such field; allowed: {', '.join(known)}",
            )
    n = launcher.max_group
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise UserError(
            "hydra.launcher.max_group",
            f"got {n!r}; allowed: an integer >= 1 (jobs per stacked group)",
        )
    executor = launcher.executor
    if executor not in VMAP_EXECUTORS:
        raise UserError(
            "hydra.launcher.executor",
            f"got {executor!r}; allowed: null (this process), local or slurm (each group one "
            "submitit job)",
        )
    if executor == "slurm" and (missing := missing_slurm()):
        raise UserError(
            "hydra.launcher.executor",
            f"slurm, but this machine has no SLURM ({' and '.join(missing)} not found on "
            "PATH); allowed: a SLURM login node, or executor=local (the same submitit path "
            "on this machine) or null",
        )


def check_sweeper(config: DictConfig) -> None:
    sweeper = config.hydra.sweeper
    for name, allowed in (
        ("n_trials", "an integer >= 1"),  # Optuna: trials in the study
        ("n_jobs", "an integer >= 1"),  # Optuna: trials asked for at a time (0: never ends)
        ("max_batch_size", "an integer >= 1, or null for every job at once"),  # basic
    ):
        if name not in sweeper:
            continue
        n = sweeper[name]
        if n is None and name == "max_batch_size":
            continue
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise UserError(f"hydra.sweeper.{name}", f"got {n!r}; allowed: {allowed}")


# ---- the basic sweeper's jobs ---------------------------------------------------------------


def _is_basic_sweeper(sweeper: DictConfig) -> bool:
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return sweeper.get("_target_") == f"{BasicSweeper.__module__}.{BasicSweeper.__name__}"


def _values(o: Any) -> list[str] | None:
    """A discrete sweep's values as the job overrides will write them; None when they
    cannot be listed here (a glob over a group needs Hydra's config loader)."""
    try:
        return list(o.sweep_string_iterator())
    except Exception:
        return None


def check_jobs(config: DictConfig, overrides: list[Any]) -> None:
    """No empty sweep; no two jobs in one folder."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    sizes = 1
    for o in overrides:
        if not (o.is_sweep_override() and o.is_discrete_sweep()):
            continue
        values = _values(o)
        if values is None:
            return
        raw = o.input_line.split("=", 1)[1] if o.input_line else ""
        if not values:
            raise UserError(
                o.key_or_group,
                f"got {raw}, which holds no values, so the sweep would run no job; allowed: "
                "a sweep of at least one value",
            )
        seen: set[str] = set()
        twice = next((v for v in values if v in seen or seen.add(v)), None)
        if twice is not None:
            raise UserError(
                o.key_or_group,
                f"got {raw}, which lists {twice} twice: two jobs would train into one folder; "
                "allowed: each value once",
            )
        sizes *= len(values)
    if sizes > MAX_CHECKED_JOBS:
        return
    try:
        (jobs,) = BasicSweeper.split_arguments(overrides, None)
    except Exception:  # a sweep kind the basic sweeper refuses: Hydra says so next
        return
    _one_folder_each(config, jobs)


def _as_in(config: DictConfig, key: str, text: str) -> Any:
    """An override's value as the job's config will hold it: `00` for an integer field is 0."""
    current = OmegaConf.select(config, key, default=None)
    if type(current) in (int, float):
        try:
            return type(current)(text)
        except ValueError:
            return text
    return text


def _one_folder_each(config: DictConfig, jobs: list[list[str]]) -> None:
    """Jobs whose folders would be one. aectl names a job's folder by its overrides of the
    swept keys, then its seed (`aectl.config.job_dir`), so two jobs meet when they differ
    only in what that name writes alike (a seed given as 0 and as 00)."""
    from aectl.config import job_dir

    hydra = OmegaConf.to_container(config.hydra, resolve=False)
    if job_dir.NAME not in str(hydra["sweep"].get("subdir")):
        return  # a naming of the user's own (by job number, say): not aectl's to check
    filed = {"overrides": {"task": hydra["overrides"]["task"]}, "sweeper": hydra["sweeper"]}
    try:
        swept = job_dir.swept_keys_of({"hydra": filed})
    except ValueError:
        return
    seed = OmegaConf.select(config, job_dir.SEED, default=None)
    seen: dict[tuple[str, Any], int] = {}
    for num, job in enumerate(jobs):
        here = {k.lstrip("+~"): v for k, _, v in (line.partition("=") for line in job)}
        job_seed = (
            _as_in(config, job_dir.SEED, here[job_dir.SEED]) if job_dir.SEED in here else seed
        )
        folder = (",".join(job_dir.differing(job, swept)), repr(job_seed))
        if folder in seen:
            other = seen[folder]
            differ = sorted({line.split("=", 1)[0] for line in set(job) ^ set(jobs[other])})
            keys = ", ".join(differ)
            raise UserError(
                differ[0].lstrip("+~") if differ else "hydra.sweep.subdir",
                f"jobs {other} and {num} would train into one folder: they differ only in "
                f"{keys}, which the folder name writes alike; allowed: values that differ "
                "as the job's config reads them",
            )
        seen[folder] = num
