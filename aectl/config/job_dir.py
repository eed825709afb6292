"""The `aectl_job_subdir` resolver: where each job of a sweep writes, under the sweep folder.

A sweep job's folder is named by what differs between the sweep's jobs: the overrides whose
key the sweep command sweeps (`regularizer.weight=1e-4,1e-2,1`, `range(...)`, Optuna's
`hydra.sweeper.params`), then the seed as the last folder level
(`regularizer.weight=0.0001/seed=0`). The overrides every job shares stay in the sweep
folder's `multirun.yaml` (and `aectl summarize`'s header), so names are short and the part
that differs is never cut off. Which keys are swept is read from `multirun.yaml`, which
Hydra (and aectl's sweep callback, for Optuna) writes before the first job starts; the same
sweep command therefore gives every job the same folder again, which is how an interrupted
sweep resumes (`trainer.resume=auto` finds each job's `last.pt`).

Sweeps made before this naming named a job after all its overrides
(`hydra.job.override_dirname`): when that folder exists, it is used, so an old sweep's
command still resumes its jobs; without a readable `multirun.yaml` the name is that one too.

Either name is one safe folder level per configuration: with no override but the seed it
is `seed=N` (not `/seed=N`, the root of the file system); `/` in a value is written `%2F`
and `%` itself `%25` (as in a URL), so `data/a.npz` and `data_a.npz` cannot meet in one
folder (a sweep job would then resume another job's checkpoint); and a name longer than a
folder name may be ends in a short hash of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

NAME = "aectl_job_subdir"
MAX_BYTES = 200  # of one folder name; file systems allow 255
MULTIRUN = "multirun.yaml"
SEED = "trainer.seed"  # the last folder level, never part of the name


def _safe(name: str) -> str:
    name = name.replace("%", "%25").replace("/", "%2F")
    if len(name.encode()) > MAX_BYTES:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = name.encode()[: MAX_BYTES - 11].decode(errors="ignore") + "-" + digest
    return name


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def load_multirun(sweep_dir: str | Path) -> dict[str, Any]:
    """A sweep's `multirun.yaml` as plain data (YAML's safe loader: nothing is resolved,
    built or run). Raises ValueError saying why it cannot be read."""
    import yaml

    path = Path(sweep_dir) / MULTIRUN
    try:
        with path.open() as f:
            data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise ValueError(f"no {MULTIRUN}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{MULTIRUN} does not parse ({first})") from None
    if not isinstance(data, dict) or not isinstance(data.get("hydra"), dict):
        raise ValueError(f"{MULTIRUN} is not a Hydra config (no `hydra:` mapping)")
    return data


def _mapping(node: Any, where: str) -> Mapping[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ValueError(f"{MULTIRUN}: {where} is not a mapping")
    return node


def sweep_task(multirun: Mapping[str, Any]) -> list[str]:
    """The sweep command line's overrides, as `multirun.yaml` filed them."""
    hydra = _mapping(multirun.get("hydra"), "hydra")
    task = _mapping(hydra.get("overrides"), "hydra.overrides").get("task") or []
    if not isinstance(task, list) or not all(isinstance(o, str) for o in task):
        raise ValueError(f"{MULTIRUN}: hydra.overrides.task is not a list of overrides")
    return task


def swept_keys_of(multirun: Mapping[str, Any]) -> list[str]:
    """Keys the sweep sweeps: the command line's sweep overrides (a,b / range / glob /
    interval), then the sweeper's own search space (`hydra.sweeper.params`, Optuna's or the
    basic sweeper's), in that order; `hydra.*` keys left out. Raises ValueError when the
    overrides do not parse."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    task = sweep_task(multirun)
    sweeper = _mapping(_mapping(multirun.get("hydra"), "hydra").get("sweeper"), "hydra.sweeper")
    params = _mapping(sweeper.get("params"), "hydra.sweeper.params")
    try:
        parsed = OverridesParser.create().parse_overrides(task)
    except HydraException as e:
        raise ValueError(f"{MULTIRUN}: an override does not parse ({e})") from None
    keys = [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]
    keys += [str(k) for k in params]
    return [k for k in dict.fromkeys(keys) if not k.startswith("hydra.")]


def swept_keys(sweep_dir: str | Path) -> list[str] | None:
    """`swept_keys_of` the sweep folder's `multirun.yaml`; None when it is missing or
    cannot be read."""
    try:
        return swept_keys_of(load_multirun(sweep_dir))
    except ValueError:
        return None


def differing(task: Iterable[str], swept: Iterable[str]) -> list[str]:
    """The job's overrides (`task`) whose key is swept, seed and `hydra.*` left out, sorted
    (as Hydra sorts `override_dirname`)."""
    keys = set(swept) - {SEED}
    return sorted(o for o in task if _key(o) in keys and not _key(o).startswith("hydra."))


def job_subdir(
    overrides: str,
    seed: int | str,
    sweep_dir: str | None = None,
    task: Iterable[str] | None = None,
) -> str:
    """`<what differs>/seed=<seed>` (see the module docstring), or `seed=<seed>` when only
    the seed differs.

    `overrides` is Hydra's `override_dirname` (every override: the name sweeps made before
    this naming used), `task` the job's own overrides and `sweep_dir` its sweep folder;
    without the last two (a config stored by an older aectl), the old name."""
    leaf = f"seed={seed}"
    legacy = f"{_safe(overrides)}/{leaf}" if overrides else leaf
    if sweep_dir is None or task is None:
        return legacy
    if (Path(str(sweep_dir)) / legacy / ".hydra").is_dir():
        return legacy  # a job of a sweep made before this naming: resume it where it is
    swept = swept_keys(str(sweep_dir))
    if swept is None:
        return legacy
    name = ",".join(differing([str(o) for o in task], swept))
    return f"{_safe(name)}/{leaf}" if name else leaf


if not OmegaConf.has_resolver(NAME):
    OmegaConf.register_new_resolver(NAME, job_subdir)
