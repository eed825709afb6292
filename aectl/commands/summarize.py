"""`aectl summarize SWEEP_DIR`: one view of a sweep's jobs, finished or not.

Reads what each job leaves in its folder (Hydra's `.hydra/hydra.yaml` for its number and
overrides, `status.json` from `aectl.sweeps.callbacks`, `metrics.json` from the trainer, and for
a job still running its latest TensorBoard scalars) and writes a rich table to the
terminal, `summary.csv` and `summary.png` into the sweep folder. An Optuna study's result
(`optimization_results.yaml`) is shown under the table.

A run folder may come from anyone: every file is read as data (JSON, YAML's safe loader,
TensorBoard's event reader), checked for the shape aectl writes, and nothing in it is
built or run. A job whose file is cut off or of the wrong type is one row, "unreadable",
with why; the rest are summarized. Imports no torch, so it is quick.

summary.png has one panel per number that answers the sweep's question, chosen by its
regularizer: validation reconstruction against the swept parameter, the regularizer's own
(unweighted) penalty term on the validation split, probe accuracy when the data has labels,
the regularization path (reconstruction against the penalty term, one labelled point per
λ; for a term that is a rate, the VAE's KL, the rate-distortion curve: KL nats against
reconstruction nats, one point per β), and a heat map when two keys are swept. Panels with the same values as an earlier one
are left out. CSV and PNG are written whole or not at all (`aectl.atomic`).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import math
import os
import socket
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aectl import atomic, lock
from aectl.errors import OneLineParser, UserError
from aectl.sweeps.status import STATUSES, alive

# Shown in the table (when present); the CSV has every metric of metrics.json.
TABLE_METRICS = (
    "val/recon",
    "best_val_recon",
    "train/loss",
    "train/penalty",
    "code/frac_near_zero",
)


def live_key(tag: str) -> str | None:
    """The metrics.json key a per-epoch TensorBoard scalar stands for (`val/*` and `code/*`
    as they are, `epoch/train_X` as `train/X`: the regularizer's own term too); None for
    the rest (per-step curves, the final analyses)."""
    if tag.startswith(("val/", "code/")):
        return tag
    if tag.startswith("epoch/train_"):
        return "train/" + tag.removeprefix("epoch/train_")
    return None


STYLE = {
    "completed": "green",
    "running": "yellow",
    "failed": "bold red",
    "interrupted": "red",
    "incomplete": "dim",
    "unreadable": "magenta",
}
SEED = "trainer.seed"
PANEL_IN = (5.0, 4.0)  # one panel of summary.png, inches
DPI = 100  # so a panel is 500 x 400 pixels
PROBE = "probe/accuracy"


class SummaryError(Exception):
    """Bad input: reaches the terminal as one line, exit code 2."""


class Unreadable(Exception):
    """A file of a job (or of the sweep) that is not what aectl writes: the message says why."""


# ---- reading files as data ------------------------------------------------------------------


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(e).__name__


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise Unreadable(
            f"{path.name}: not valid JSON, cut off? ({e.msg}: line {e.lineno} column {e.colno})"
        ) from None
    except UnicodeDecodeError:
        raise Unreadable(f"{path.name}: not UTF-8 text") from None
    except OSError as e:
        raise Unreadable(f"{path.name}: cannot be read ({e.strerror or e})") from None


def _yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # plain data: no tags, nothing built
    try:
        with path.open() as f:
            return yaml.load(f, Loader=loader)
    except yaml.YAMLError as e:
        raise Unreadable(f"{path.name}: does not parse as YAML ({_first_line(e)})") from None
    except UnicodeDecodeError:
        raise Unreadable(f"{path.name}: not UTF-8 text") from None
    except OSError as e:
        raise Unreadable(f"{path.name}: cannot be read ({e.strerror or e})") from None


def _kind(v: Any) -> str:
    if isinstance(v, str):
        return f"the string {v[:40]!r}"
    return {list: "a list", dict: "a mapping", bool: "a boolean", type(None): "null"}.get(
        type(v), type(v).__name__
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numeric_keys() -> set[str]:
    """metrics.json keys aectl writes as numbers."""
    from aectl.config.metrics import ANALYSIS, final_metrics

    keys = {key for key, _, _ in final_metrics().values()} | set(ANALYSIS)
    return keys | {"epoch", "step", "wall_time_s", "code_dim", "input_size", "group_jobs",
                   "shared_train_time_s", "shared_by"}  # fmt: skip


def read_metrics(folder: Path) -> dict[str, Any]:
    """A job's metrics.json, flat (numbers and strings), or {} when there is none."""
    path = folder / "metrics.json"
    if not path.exists():
        return {}
    data = _json(path)
    if not isinstance(data, dict):
        raise Unreadable(f"metrics.json: {_kind(data)}, not a mapping of metric names to values")
    numeric = _numeric_keys()
    for key, value in data.items():
        if isinstance(value, str) and _number(value) is not None:
            raise Unreadable(f"metrics.json: {key!r} is {_kind(value)}, not a number")
        if key in numeric and not _is_number(value):
            raise Unreadable(f"metrics.json: {key!r} is {_kind(value)}, not a number")
    flat = {k: v for k, v in data.items() if _is_number(v) or isinstance(v, str)}
    return flat | _analyzed_samples(data)


def _analyzed_samples(data: dict[str, Any]) -> dict[str, int]:
    """`analyzed_samples`: how many samples the analyses (the probe's accuracy) were
    scored on, from `analyzed.split` and `splits`; {} when either is missing or odd."""
    analyzed, splits = data.get("analyzed"), data.get("splits")
    if not isinstance(analyzed, dict) or not isinstance(splits, dict):
        return {}
    n = splits.get(analyzed.get("split"))
    return {"analyzed_samples": n} if isinstance(n, int) and not isinstance(n, bool) else {}


def read_status(folder: Path) -> dict[str, Any] | None:
    """A job's status.json (see `aectl.sweeps.status`), checked; None when there is none."""
    path = folder / "status.json"
    if not path.exists():
        return None
    data = _json(path)
    if not isinstance(data, dict):
        raise Unreadable(f"status.json: {_kind(data)}, not a mapping")
    if data.get("status") not in STATUSES:
        got = _kind(data.get("status"))
        raise Unreadable(f"status.json: status is {got}; allowed: {', '.join(STATUSES)}")
    for key, ok, what in (
        ("attempt", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
        ("pid", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
        ("job", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
        ("error", lambda v: isinstance(v, str), "a string"),
        ("signal", lambda v: isinstance(v, str), "a string"),
        ("resume", lambda v: isinstance(v, str), "a string"),
        ("host", lambda v: isinstance(v, str), "a string"),
        ("started", _is_number, "a number"),
        ("ended", _is_number, "a number"),
    ):
        if key in data and not ok(data[key]):
            raise Unreadable(f"status.json: {key} is {_kind(data[key])}, not {what}")
    return data


def read_hydra(path: Path) -> dict[str, Any]:
    """The `hydra:` part of a job's `.hydra/hydra.yaml`, checked where summarize reads it."""
    data = _yaml(path)
    hydra = data.get("hydra") if isinstance(data, dict) else None
    if not isinstance(hydra, dict):
        raise Unreadable("hydra.yaml: no `hydra:` mapping")
    for key in ("overrides", "job", "runtime"):
        if hydra.get(key) is not None and not isinstance(hydra[key], dict):
            raise Unreadable(f"hydra.yaml: hydra.{key} is {_kind(hydra[key])}, not a mapping")
    task = (
        (hydra.get("overrides") or {}).get("task")
        if isinstance(hydra.get("overrides"), dict)
        else None
    )
    if task is not None and not (isinstance(task, list) and all(isinstance(o, str) for o in task)):
        raise Unreadable("hydra.yaml: hydra.overrides.task is not a list of overrides")
    job = hydra.get("job")
    num = job.get("num") if isinstance(job, dict) else None
    multirun = str(hydra.get("mode", "")).endswith("MULTIRUN")  # (a run alone has no number)
    if multirun and num is not None and not (isinstance(num, int) and not isinstance(num, bool)):
        raise Unreadable(f"hydra.yaml: hydra.job.num is {_kind(num)}, not an integer")
    return hydra


def _choice(hydra: dict[str, Any], group: str) -> str | None:
    choices = (
        (hydra.get("runtime") or {}).get("choices")
        if isinstance(hydra.get("runtime"), dict)
        else None
    )
    value = choices.get(group) if isinstance(choices, dict) else None
    return value if isinstance(value, str) else None


def _config_values(folder: Path) -> tuple[int | None, float | None]:
    """(trainer.max_epochs, regularizer.weight) from the job's stored config, when readable."""
    try:
        cfg = _yaml(folder / ".hydra" / "config.yaml")
    except Unreadable:
        return None, None
    if not isinstance(cfg, dict):
        return None, None
    trainer, reg = cfg.get("trainer"), cfg.get("regularizer")
    epochs = trainer.get("max_epochs") if isinstance(trainer, dict) else None
    weight = reg.get("weight") if isinstance(reg, dict) else None
    return (
        epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
        float(weight) if _is_number(weight) else None,
    )


# ---- reading a sweep ------------------------------------------------------------------------


@dataclass
class Job:
    folder: Path
    num: int
    overrides: dict[str, str]
    status: str
    error: str = ""
    attempt: int = 1
    max_epochs: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    regularizer: str | None = None  # its option name
    weight: float | None = None  # regularizer.weight


@dataclass
class Sweep:
    root: Path
    jobs: list[Job]
    swept: list[str]
    fixed: dict[str, str]
    study: dict[str, Any] | None  # Optuna: direction, objective, params, n_trials, result
    planned: int | None = None  # jobs the sweep command asks for, when that is known
    notes: list[str] = field(default_factory=list)  # sweep files that could not be read


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def _live_metrics(folder: Path) -> dict[str, Any]:
    """A running (or interrupted) job's latest logged epoch and its best so far, read with
    TensorBoard's own event reader."""
    if not any(folder.glob("events.out.tfevents.*")):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    try:
        acc = EventAccumulator(str(folder), size_guidance={SCALARS: 0})
        acc.Reload()
        tags = set(acc.Tags().get(SCALARS, []))
        out: dict[str, Any] = {}
        for tag in sorted(tags):
            if (key := live_key(tag)) is not None:
                events = acc.Scalars(tag)
                out[key] = events[-1].value
                if tag == "val/recon":  # one per epoch; a requeued job that restarted logs again
                    out.update(_epochs(events))
        return out
    except Exception:  # a damaged event file: the job shows no live numbers, nothing more
        return {}


def _epochs(val_recon: list) -> dict[str, Any]:
    """epoch, step, best_epoch and best_val_recon from the val/recon events (one per
    epoch; an epoch logged again, by a job that resumed, counts once, as logged last)."""
    by_step = {e.step: e.value for e in val_recon}
    values = [by_step[s] for s in sorted(by_step)]
    best = min(range(len(values)), key=values.__getitem__)
    return {
        "epoch": len(values),
        "step": max(by_step),
        "best_epoch": best + 1,
        "best_val_recon": values[best],
    }


def _state(folder: Path, status: dict[str, Any] | None, metrics: dict[str, Any]) -> str:
    if status is None:
        return "completed" if metrics else "incomplete"  # a sweep made before status.json
    state = status["status"]
    pid = status.get("pid", 0)
    if state == "running" and status.get("host") == socket.gethostname() and pid > 0:
        if not alive(pid):
            return "interrupted"  # its process is gone without recording an end
    return state


def _job(folder: Path, hydra: dict[str, Any]) -> Job:
    task = (hydra.get("overrides") or {}).get("task") or []
    job = Job(
        folder=folder,
        num=int(
            (hydra.get("job") or {}).get("num", -1) if isinstance(hydra.get("job"), dict) else -1
        ),
        overrides={**dict(_split(o) for o in task), **_resumed_overrides(folder)},
        status="unreadable",
        regularizer=_choice(hydra, "regularizer"),
    )
    job.max_epochs, job.weight = _config_values(folder)
    try:
        status = read_status(folder)
        metrics = read_metrics(folder)
    except Unreadable as e:
        job.error = str(e)
        return job
    job.status = _state(folder, status, metrics)
    job.error = (status or {}).get("error", "")
    job.attempt = int((status or {}).get("attempt", 1))
    job.metrics = metrics if job.status == "completed" or metrics else _live_metrics(folder)
    return job


def _resumed_overrides(folder: Path) -> dict[str, str]:
    """What the job's latest resume set (alone, or by the sweep run again:
    `.hydra/resume_<time>/overrides.yaml`, say `trainer.max_epochs=5`), over its sweep's
    overrides: what its numbers were trained with.
    `trainer.resume` itself is how it continued, not a setting."""
    records = sorted((folder / ".hydra").glob("resume_*/overrides.yaml"))
    try:
        listed = _yaml(records[-1]) if records else []
    except Unreadable:
        return {}
    if not isinstance(listed, list) or not all(isinstance(o, str) for o in listed):
        return {}
    return {k: v for k, v in (_split(o) for o in listed) if k != "trainer.resume"}


def _unreadable_job(folder: Path, why: str) -> Job:
    """A job whose hydra.yaml cannot be read: its overrides from overrides.yaml if that can."""
    overrides: dict[str, str] = {}
    try:
        listed = _yaml(folder / ".hydra" / "overrides.yaml")
        if isinstance(listed, list) and all(isinstance(o, str) for o in listed):
            overrides = dict(_split(o) for o in listed)
    except Unreadable:
        pass
    return Job(folder=folder, num=-1, overrides=overrides, status="unreadable", error=why)


def _sweep_keys(multirun: dict[str, Any] | None) -> list[str]:
    """Keys the sweep command line sweeps (a,b / range / interval), plus Optuna's search space."""
    from aectl.config.job_dir import swept_keys_of

    return swept_keys_of(multirun) if multirun else []


def _planned_jobs(multirun: dict[str, Any] | None) -> int | None:
    """How many jobs the sweep asked for: the product of its value lists for Hydra's basic
    sweeper, n_trials for Optuna; None when unknown. A sweep interrupted before its last
    jobs started has fewer job folders than that."""
    sweeper = ((multirun or {}).get("hydra") or {}).get("sweeper") or {}
    if not isinstance(sweeper, dict):
        return None
    target = str(sweeper.get("_target_", ""))
    if "optuna" in target:
        n = sweeper.get("n_trials")
        return n if isinstance(n, int) and not isinstance(n, bool) else None
    if "BasicSweeper" not in target:
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from aectl.config.job_dir import sweep_task

    try:
        # as BasicSweeper.sweep does: its params first, the command line's overrides after
        task = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
        task += sweep_task(multirun or {})
        overrides = OverridesParser.create().parse_overrides(task)
        (jobs,) = BasicSweeper.split_arguments(overrides, None)
    except Exception:  # an interval, a sweep kind the basic sweeper refuses, a bad file
        return None
    return len(jobs)


def _study(root: Path, multirun: dict[str, Any] | None, notes: list[str]) -> dict[str, Any] | None:
    result_file = root / "optimization_results.yaml"
    sweeper = ((multirun or {}).get("hydra") or {}).get("sweeper") or {}
    sweeper = sweeper if isinstance(sweeper, dict) else {}
    if "optuna" not in str(sweeper.get("_target_", "")) and not result_file.exists():
        return None
    direction = sweeper.get("direction", "minimize")
    params = sweeper.get("params") if isinstance(sweeper.get("params"), dict) else {}
    trainer = (multirun or {}).get("trainer")
    result = None
    if result_file.exists():
        try:
            result = _yaml(result_file)
            best = result.get("best_params") if isinstance(result, dict) else None
            if not isinstance(best, dict) or not _is_number(result.get("best_value")):
                raise Unreadable(f"{result_file.name}: no best_params mapping and best_value")
        except Unreadable as e:
            notes.append(f"unreadable: {e}")
            result = None
    return {
        "direction": direction
        if isinstance(direction, str)
        else ",".join(map(str, direction))
        if isinstance(direction, list)
        else "minimize",
        "objective": (trainer or {}).get("monitor", "val/recon")
        if isinstance(trainer, dict)
        else "val/recon",
        "params": dict(params or {}),
        "n_trials": sweeper.get("n_trials"),
        "result": result,
    }


def _read_multirun(root: Path, notes: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
    """(multirun.yaml, its swept keys); (None, []) with a note when it cannot be read."""
    from aectl.config.job_dir import load_multirun, swept_keys_of

    if not (root / "multirun.yaml").is_file():
        return None, []
    try:
        multirun = load_multirun(root)
        return multirun, swept_keys_of(multirun)
    except ValueError as e:
        notes.append(f"unreadable: {e}; the swept keys are taken from the jobs")
        return None, []


def read_sweep(root: str | Path) -> Sweep:
    root = Path(root)
    if not root.is_dir():
        raise SummaryError(
            f"SWEEP_DIR: {str(root)!r} is not a folder; allowed: a sweep folder made by "
            "`aectl train -m` (outputs/sweeps/<time>)"
        )
    if not _is_sweep(root):
        _not_inside_a_sweep(root)
    notes: list[str] = []
    multirun, swept = _read_multirun(root, notes)
    jobs = []
    for hydra_file in sorted(root.glob("**/.hydra/hydra.yaml")):
        folder = hydra_file.parent.parent
        if folder == root:
            raise SummaryError(
                f"SWEEP_DIR: {str(root)!r} is a single run, not a sweep (for its numbers: "
                f"aectl eval {root}); allowed: a sweep folder made by `aectl train -m` "
                "(outputs/sweeps/<time>)"
            )
        try:
            hydra = read_hydra(hydra_file)
        except Unreadable as e:
            jobs.append(_unreadable_job(folder, str(e)))
            continue
        mode = hydra.get("mode")
        if not isinstance(mode, str):
            jobs.append(_unreadable_job(folder, f"hydra.yaml: hydra.mode is {_kind(mode)}"))
        elif mode.endswith("MULTIRUN"):  # (a single run's folder inside is not a job)
            jobs.append(_job(folder, hydra))
    if multirun is None:
        _not_a_folder_of_sweeps(root, jobs)
    if multirun is None and not notes and not jobs:
        raise SummaryError(
            f"SWEEP_DIR: {str(root)!r} holds no sweep (no multirun.yaml, no job folders); "
            "allowed: a sweep folder made by `aectl train -m` (outputs/sweeps/<time>)"
        )
    jobs.sort(key=lambda j: (j.num, j.folder.relative_to(root).as_posix()))
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    swept += [k for k in keys if k not in swept and len({j.overrides.get(k) for j in jobs}) > 1]
    readable = [j for j in jobs if j.overrides]
    fixed = {
        k: readable[0].overrides[k]
        for k in keys
        if k not in swept and readable and k in readable[0].overrides
    }
    return Sweep(
        root=root,
        jobs=jobs,
        swept=swept,
        fixed=fixed,
        study=_study(root, multirun, notes),
        planned=_planned_jobs(multirun),
        notes=notes,
    )


def _not_inside_a_sweep(root: Path) -> None:
    """A folder below a sweep's (one job's, `regularizer.weight=1`): summarising it as a
    sweep would write summary.csv and summary.png into that job's folder."""
    import shlex

    sweep = next((p for p in root.resolve().parents if _is_sweep(p)), None)
    if sweep is not None:
        raise SummaryError(
            f"SWEEP_DIR: {str(root)!r} is inside the sweep folder {str(sweep)!r}, not one; "
            f"allowed: the sweep folder, aectl summarize {shlex.quote(str(sweep))}"
        )


def _not_a_folder_of_sweeps(root: Path, jobs: list[Job]) -> None:
    """A folder without multirun.yaml whose jobs sit in sweep folders below it (outputs/,
    /tmp) holds several sweeps: summarising them as one would mix their jobs."""
    sweeps = sorted(
        {p for j in jobs for p in j.folder.parents if root in p.parents and _is_sweep(p)}
    )
    if sweeps:
        shown = ", ".join(repr(str(p)) for p in sweeps[:3]) + (", ..." if len(sweeps) > 3 else "")
        raise SummaryError(
            f"SWEEP_DIR: {str(root)!r} holds {len(sweeps)} sweep folder"
            f"{'s' if len(sweeps) > 1 else ''}, it is not one; allowed: one sweep folder "
            f"made by `aectl train -m`: {shown}"
        )


def _is_sweep(folder: Path) -> bool:
    return (folder / "multirun.yaml").is_file()


# ---- rows, CSV ------------------------------------------------------------------------------


def best_job(sweep: Sweep) -> Job | None:
    """The Optuna study's best trial, matched by its parameters."""
    result = (sweep.study or {}).get("result") or {}
    best = result.get("best_params")
    if not best:
        return None
    for job in sweep.jobs:
        if job.status != "unreadable" and all(
            _number(job.overrides.get(k)) == _number(v) or job.overrides.get(k) == str(v)
            for k, v in best.items()
        ):
            return job
    return None


def rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One dict per job: its number, folder, overrides, swept values, status and metrics."""
    best = best_job(sweep)
    out = []
    for j in sweep.jobs:
        row: dict[str, Any] = {
            "job": j.num,
            "folder": j.folder.relative_to(sweep.root).as_posix(),
            "overrides": " ".join(f"{k}={v}" for k, v in j.overrides.items()),
        }
        row.update({k: j.overrides.get(k, "") for k in sweep.swept})
        row.update(status=j.status, error=j.error, attempt=j.attempt)
        if sweep.study is not None:
            row["study_best"] = j is best
        row.update({k: v for k, v in j.metrics.items() if k not in row})
        out.append(row)
    return out


def csv_text(table: list[dict[str, Any]]) -> str:
    head = ["job", "folder", "overrides"]
    columns = list(dict.fromkeys([*head, *(k for r in table for k in r)]))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(table)
    return buf.getvalue()


def write_csv(table: list[dict[str, Any]], path: Path) -> Path:
    """The whole CSV, or the previous one untouched (`aectl.atomic`)."""
    return atomic.write_text(path, csv_text(table))


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return x if math.isfinite(x) else None


def sort_rows(
    table: list[dict[str, Any]], metric: str, descending: bool = False
) -> list[dict[str, Any]]:
    """Ascending by `metric` (descending: largest first, for an accuracy); jobs without it
    last either way, ties in job order."""
    sign = -1.0 if descending else 1.0
    return sorted(
        table,
        key=lambda r: (
            _number(r.get(metric)) is None,
            sign * (_number(r.get(metric)) or 0.0),
            r["job"],
        ),
    )


def metric_names(table: list[dict[str, Any]]) -> list[str]:
    skip = {"job", "attempt", "folder", "overrides", "status", "error"}
    found = {k for r in table for k, v in r.items() if k not in skip and _number(v) is not None}
    return sorted(found | set(TABLE_METRICS) | {"best_epoch", "train_time_s", "samples_per_s"})


# ---- terminal table -------------------------------------------------------------------------


def _train_time(r: dict) -> str:
    """A job's training seconds; a vmap group's shared time says how many jobs shared it
    (and how much of it, for a job that also trained alone or in another group)."""
    t = _fmt(r.get("train_time_s", r.get("wall_time_s")))
    shared, by = _number(r.get("shared_train_time_s")), _number(r.get("shared_by"))
    if shared is None:  # (a run from before these keys)
        n = _number(r.get("group_jobs"))
        return f"{t} shared by {int(n)}" if n is not None and 1 < n < 1e6 and t else t
    whom = f"by {int(by)}" if by is not None and 1 < by < 1e6 else "by groups"
    whole = _number(r.get("train_time_s"))
    if not t or shared <= 0:
        return t
    if whole is not None and abs(whole - shared) <= 1e-9 * max(whole, 1.0):
        return f"{t} shared {whom}"
    return f"{t} ({_fmt(shared)} shared {whom})"


def _fmt(v: Any) -> str:
    x = _number(v)
    if x is None:
        return "" if v is None else str(v)
    return (
        f"{int(x)}"
        if float(x).is_integer() and abs(x) < 1e6 and not isinstance(v, float)
        else f"{x:.4g}"
    )


def _short(v: Any) -> str:
    """A swept value as typed, unless it is a long float (Optuna's): then 4 significant digits."""
    s = str(v)
    return f"{_number(s):.4g}" if len(s) > 8 and _number(s) is not None else s


def _study_line(sweep: Sweep) -> str:
    s = sweep.study or {}
    space = ", ".join(f"{k}: {v}" for k, v in s.get("params", {}).items())
    done = sum(j.status == "completed" for j in sweep.jobs)
    line = (
        f"Optuna study: {s.get('direction')} {s.get('objective')} over {space or 'the sweep'}; "
        f"{done}/{s.get('n_trials') or len(sweep.jobs)} trials completed"
    )
    result = s.get("result")
    if result and "best_params" in result:
        best = " ".join(f"{k}={v}" for k, v in result["best_params"].items())
        job = best_job(sweep)
        line += f"; best: {best} -> {result['best_value']:.6g}" + (
            f" (job {job.num})" if job else ""
        )
    else:
        line += "; the study has not finished (no optimization_results.yaml yet)"
    return line


def title(sweep: Sweep) -> str:
    """The table's header: folder, job counts, the overrides every job shares, notes."""
    counts: dict[str, int] = {}
    for j in sweep.jobs:
        counts[j.status] = counts.get(j.status, 0) + 1
    if sweep.planned is not None and sweep.planned > len(sweep.jobs):
        counts["not started"] = sweep.planned - len(sweep.jobs)
    total = max(len(sweep.jobs), sweep.planned or 0)
    lines = [
        f"{sweep.root}  ({total} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")"
    ]
    if sweep.fixed:
        lines.append("every job: " + " ".join(f"{k}={v}" for k, v in sweep.fixed.items()))
    lines += sweep.notes
    return "\n".join(lines)


def render(sweep: Sweep, table: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.measure import Measurement
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    t = Table(title=escape(title(sweep)), title_justify="left")
    t.add_column("#", justify="right")
    for k in sweep.swept:  # never cut: the values that differ are the point of the table
        t.add_column(escape(k), min_width=len(k))
    t.add_column("status")
    t.add_column("epoch", justify="right")
    t.add_column("best epoch", justify="right")
    terms = [f"val/{t}" for t in _terms()]  # the unweighted penalty terms, and the probe
    metrics = [m for m in (*TABLE_METRICS, *terms, PROBE) if any(m in r for r in table)]
    for m in metrics:  # the header on two lines (val/ over recon): the values are short
        t.add_column(escape(m.replace("/", "/\n", 1)), justify="right")
    t.add_column("train s", justify="right")
    show_error = any(r["error"] for r in table)
    if show_error:  # cut to fit; each one whole under the table
        t.add_column("error", overflow="ellipsis", no_wrap=True, max_width=40)
    by_num = {(j.num, j.folder.relative_to(sweep.root).as_posix()): j for j in sweep.jobs}
    for r in table:
        job = by_num.get((r["job"], r["folder"]))
        epoch = _fmt(r.get("epoch"))
        if r["status"] != "completed" and epoch and job is not None and job.max_epochs:
            epoch = f"{epoch}/{job.max_epochs}"
        status = f"[{STYLE.get(r['status'], '')}]{r['status']}[/]"
        if int(r.get("attempt") or 1) > 1:
            status += f" (attempt {r['attempt']})"
        cells = [
            ("★ " if r.get("study_best") else "") + str(r["job"] if r["job"] >= 0 else "?"),
            *(escape(_short(r[k])) for k in sweep.swept),
            status,
            epoch,
            _fmt(r.get("best_epoch")),
            *(_fmt(r.get(m)) for m in metrics),
            _train_time(r),
        ]
        if show_error:
            cells.append(escape(r["error"]))
        t.add_row(*cells, style="bold" if r.get("study_best") else None)
    # never squeezed to the terminal: cut values are no values (a narrow terminal wraps)
    natural = Measurement.get(console, console.options.update_width(100_000), t).maximum
    wide = console if natural <= console.width else Console(highlight=False, width=natural)
    if sys.stdout.isatty():
        wide.print(t)
    else:  # piped or in a file: rich pads every line to the table's width; grep and diff
        with wide.capture() as shown:  # read better without the trailing blanks
            wide.print(t)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in shown.get().splitlines()))
    if any(r.get("group_jobs") or r.get("shared_train_time_s") for r in table):
        console.print(
            "train s marked 'shared by N': one stacked group trained N jobs at once in that time "
            "(hydra/launcher=vmap); the time is the group's, shared ('(x shared by N)': x of "
            "it, the rest trained alone; 'by groups': groups of different sizes)"
        )
    for r in table:  # every job's error, one whole line each
        if r["error"]:
            line = f"{r['status']}: {r['folder']}: {r['error']}"
            console.print(escape(line), style=STYLE.get(r["status"]), soft_wrap=True)
    if sweep.study is not None:
        console.print(escape(_study_line(sweep)))


# ---- summary.png: which panels --------------------------------------------------------------


@dataclass
class Panel:
    """One panel of summary.png, as data (what `draw` renders; tests read it)."""

    title: str
    kind: str  # "metric" (against the swept key), "path" (recon against term), "heatmap"
    x_label: str
    y_label: str
    # label -> points (x, y, point label); a heat map: {"": [(column, row, value)]}
    series: dict[str, list[tuple[Any, Any, Any]]]
    log_x: bool = False
    log_y: bool = False
    categories: list[str] = field(default_factory=list)  # categorical x (metric panels)
    symbol: str | None = None  # what a path's points are labelled with (default: the x key's)
    errors: dict[Any, float] = field(default_factory=dict)  # job number -> ± of its point
    joined: bool = True  # a line through the points: the x key is ordered (a seed is not)


def _x_key(sweep: Sweep, done: list[dict[str, Any]]) -> str | None:
    """The swept key to put on the x axis: a numeric one, a declared hyperparameter
    strength first (`aectl.config.schema.knob`: the regularizer's weight before the
    learning rate before the rest), in the schemas' order."""
    from aectl.config.schema import knobs

    numeric = [k for k in sweep.swept if done and all(_number(r[k]) is not None for r in done)]
    order = {k: i for i, k in enumerate(k for k, v in knobs().items() if v.stackable)}
    strengths = sorted((k for k in numeric if k in order), key=order.__getitem__)
    if strengths:
        return strengths[0]
    numeric = [k for k in numeric if k != SEED] or numeric
    return numeric[0] if numeric else (sweep.swept[0] if sweep.swept else None)


def _log_scale(key: str | None) -> bool:
    from aectl.config.schema import knobs

    knob = knobs().get(key) if key else None
    return knob is not None and knob.scale == "log"


def _spans_decades(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and len(positive) == len(values) and min(positive) * 100 <= max(positive)


def _symbol(key: str) -> str:
    return "λ" if key == "regularizer.weight" else key.rsplit(".", 1)[-1]


def _term_values(sweep: Sweep, done: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Each penalty term in the sweep -> {row index: its validation value}: metrics.json's
    `val/<term>`, or for a run made before it was logged, val/penalty / λ (λ > 0)."""
    from aectl.config.schema import all_schemas

    schemas = all_schemas().get("regularizer", {})
    jobs = {j.folder.relative_to(sweep.root).as_posix(): j for j in sweep.jobs}
    out: dict[str, dict[int, float]] = {}
    for i, r in enumerate(done):
        job = jobs.get(r["folder"])
        term = getattr(schemas.get(job.regularizer if job else None), "term_name", None)
        found = [k[4:] for k in r if k.startswith("val/") and k[4:] in _terms()]
        term = found[0] if found else term
        if term is None:
            continue
        value = _number(r.get(f"val/{term}"))
        if (
            value is None
            and job is not None
            and job.weight
            and _number(r.get("val/penalty")) is not None
        ):
            value = _number(r["val/penalty"]) / job.weight  # penalty = λ · term
        if value is not None:
            out.setdefault(term, {})[i] = value
    return out


def _terms() -> tuple[str, ...]:
    from aectl.config.metrics import term_names

    return term_names()


def _over_seeds(sweep: Sweep, x_key: str | None) -> bool:
    """Seeds are swept beside the x axis: each line is their mean, ± their spread."""
    return SEED in sweep.swept and x_key != SEED


def _groups(sweep: Sweep, done: list[dict[str, Any]], x_key: str | None) -> dict[str, list[int]]:
    """Rows by the values of the swept keys other than the x axis' and the seed (one line
    each; a line's seeds are averaged, `_over_seeds`)."""
    others = [
        k for k in sweep.swept if k != x_key and not (k == SEED and _over_seeds(sweep, x_key))
    ]
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(done):
        groups.setdefault(", ".join(f"{k}={r[k]}" for k in others), []).append(i)
    return groups


def _metric_panel(
    name: str, values: dict[int, float], sweep: Sweep, done: list[dict[str, Any]], x_key: str | None
) -> Panel:
    # seeds are labels, not amounts: one column each, no line from one to the next
    numeric_x = (
        x_key is not None and x_key != SEED and all(_number(r[x_key]) is not None for r in done)
    )
    categories = list(dict.fromkeys(str(r[x_key]) for r in done)) if x_key and not numeric_x else []
    if x_key == SEED:
        categories = sorted(categories, key=lambda v: _number(v) or 0.0)

    def xval(r: dict[str, Any]) -> float:
        if x_key is None:
            return float(r["job"])
        return _number(r[x_key]) if numeric_x else float(categories.index(str(r[x_key])))  # type: ignore[return-value]

    series: dict[str, list[tuple[Any, Any, Any]]] = {}
    errors: dict[Any, float] = {}
    for label, idx in _groups(sweep, done, x_key).items():
        if not _over_seeds(sweep, x_key):
            series[label] = sorted(
                (xval(done[i]), values[i], done[i]["job"]) for i in idx if i in values
            )
            continue
        by_x: dict[float, list[float]] = {}
        for i in idx:
            if i in values:
                by_x.setdefault(xval(done[i]), []).append(values[i])
        series[label] = [(x, statistics.fmean(v), f"{label}@{x}") for x, v in sorted(by_x.items())]
        errors.update({f"{label}@{x}": statistics.stdev(v) for x, v in by_x.items() if len(v) > 1})
    xs = [xval(r) for r in done]
    seeds = len({r[SEED] for r in done}) if _over_seeds(sweep, x_key) else 0
    return Panel(
        title=name,
        kind="metric",
        x_label=x_key or "job",
        y_label=name + (f" (mean ± std over {seeds} seeds)" if seeds else ""),
        errors=errors,
        series={k: v for k, v in series.items() if v},
        log_x=bool(
            numeric_x and (_log_scale(x_key) or _spans_decades(xs)) and any(x > 0 for x in xs)
        ),
        log_y=_spans_decades(list(values.values())),  # e.g. a penalty term over λ's decades
        categories=categories,
        joined=x_key != SEED,
    )


def _term_schema(term: str) -> Any:
    """The regularizer schema whose penalty term is `term` (None: none is)."""
    from aectl.config.schema import all_schemas

    found = [c for c in all_schemas().get("regularizer", {}).values() if c.term_name == term]
    return found[0] if found else None


def _rate_distortion_panel(path: Panel, term: str, x_key: str | None) -> Panel:
    """A rate's path turned around: the rate (the term, nats) against the distortion
    (val/recon, nats), one point per β: the curve of Alemi et al. (2018); −ELBO = R + D."""
    series = {k: [(y, x, label) for x, y, label in pts] for k, pts in path.series.items()}
    symbol = getattr(_term_schema(term), "weight_symbol", "β")
    return Panel(
        title=f"rate-distortion: val/{term} against val/recon (nats per example)",
        kind="path",
        x_label="distortion: val/recon (nats)",
        y_label=f"rate: val/{term} (nats)",
        series=series,
        log_x=path.log_y,
        log_y=path.log_x,
        symbol=symbol if x_key == "regularizer.weight" else None,
        joined=path.joined,
    )


def _path_panel(
    term: str, values: dict[int, float], sweep: Sweep, done: list[dict[str, Any]], x_key: str | None
) -> Panel:
    """Validation reconstruction against the unweighted validation term: one point per λ
    (a rate's, such as the VAE's KL: the rate-distortion curve)."""
    path = _regularization_path(term, values, sweep, done, x_key)
    if getattr(_term_schema(term), "term_is_rate", False):
        return _rate_distortion_panel(path, term, x_key)
    return path


def _regularization_path(
    term: str, values: dict[int, float], sweep: Sweep, done: list[dict[str, Any]], x_key: str | None
) -> Panel:
    series: dict[str, list[tuple[Any, Any, Any]]] = {}
    for label, idx in _groups(sweep, done, x_key).items():
        pts = [
            (values[i], _number(done[i]["val/recon"]), done[i][x_key] if x_key else done[i]["job"])
            for i in idx
            if i in values and _number(done[i].get("val/recon")) is not None
        ]
        if _over_seeds(sweep, x_key):  # one point per value: the seeds' means
            by: dict[Any, list[tuple[Any, Any, Any]]] = {}
            for p in pts:
                by.setdefault(p[2], []).append(p)
            pts = [
                (statistics.fmean(q[0] for q in v), statistics.fmean(q[1] for q in v), k)
                for k, v in by.items()
            ]
        order = (
            (lambda p: _number(p[2]) if _number(p[2]) is not None else 0.0)
            if x_key
            else (lambda p: 0.0)
        )
        if pts:
            series[label] = sorted(pts, key=order)
    xs = [p[0] for s in series.values() for p in s]
    ys = [p[1] for s in series.values() for p in s]
    seeds = " (means over seeds)" if _over_seeds(sweep, x_key) else ""
    # a path when its points are a regularizer's strengths; else one point per value
    what = (
        "regularization path: "
        if x_key and x_key.startswith("regularizer.")
        else f"one point per {x_key or 'job'}: "
    )
    return Panel(
        title=f"{what}val/recon against val/{term}{seeds}",
        kind="path",
        x_label=f"val/{term} (unweighted penalty term)",
        y_label="val/recon",
        series=series,
        log_x=_spans_decades(xs),
        log_y=_spans_decades(ys),
        joined=x_key != SEED,
    )


def _sorted_values(values: list[str]) -> list[str]:
    if all(_number(v) is not None for v in values):
        return sorted(values, key=lambda v: _number(v))  # type: ignore[arg-type,return-value]
    return values


def _heatmap_panel(sweep: Sweep, done: list[dict[str, Any]], x_key: str | None) -> Panel | None:
    """val/recon over the grid of the two swept keys (seeds averaged), when two are swept."""
    keys = [k for k in sweep.swept if k != SEED]
    if len(keys) != 2:
        return None
    col_key, row_key = (x_key, next(k for k in keys if k != x_key)) if x_key in keys else keys
    cells: dict[tuple[str, str], list[float]] = {}
    for r in done:
        v = _number(r.get("val/recon"))
        if v is not None:
            cells.setdefault((str(r[col_key]), str(r[row_key])), []).append(v)
    if not cells:
        return None
    cols = _sorted_values(list(dict.fromkeys(c for c, _ in cells)))
    rows_ = _sorted_values(list(dict.fromkeys(r for _, r in cells)))
    mean = [(c, r, sum(v) / len(v)) for (c, r), v in cells.items()]
    return Panel(
        title="val/recon" + (" (mean over seeds)" if SEED in sweep.swept else ""),
        kind="heatmap",
        x_label=col_key,
        y_label=row_key,
        series={"": sorted(mean, key=lambda p: (rows_.index(p[1]), cols.index(p[0])))},
        categories=[*cols, "|", *rows_],
    )


def panels(sweep: Sweep, table: list[dict[str, Any]], first: str | None = None) -> list[Panel]:
    """The panels of summary.png, from the completed jobs (see the module docstring)."""
    done = [r for r in table if r["status"] == "completed"]
    x_key = _x_key(sweep, done)
    terms = _term_values(sweep, done)

    def column(name: str) -> dict[int, float]:
        return {i: v for i, r in enumerate(done) if (v := _number(r.get(name))) is not None}

    wanted: list[tuple[str, dict[int, float]]] = []
    if first and first not in sweep.swept:
        wanted.append((first, column(first)))
    wanted += [("val/recon", column("val/recon")), ("best_val_recon", column("best_val_recon"))]
    wanted += [(f"val/{t}", v) for t, v in terms.items()]
    wanted.append((PROBE, column(PROBE)))
    out: list[Panel] = []
    seen: list[dict[int, float]] = []
    for name, values in wanted:
        if values and not any(values == s for s in seen):  # no panel repeats another's numbers
            seen.append(values)
            out.append(_metric_panel(name, values, sweep, done, x_key))
            if name == PROBE and not _over_seeds(sweep, x_key):
                out[-1].errors = _accuracy_errors(done, values)
                out[-1].y_label += " (± 1 standard error)" if out[-1].errors else ""
    out += [_path_panel(t, v, sweep, done, x_key) for t, v in terms.items() if len(v) > 0]
    heat = _heatmap_panel(sweep, done, x_key)
    if heat is not None:
        out.append(heat)
    return out or [_metric_panel("val/recon", {}, sweep, done, x_key)]


def _accuracy_errors(done: list[dict[str, Any]], values: dict[int, float]) -> dict[Any, float]:
    """By job number: one binomial standard error, √(p(1−p)/n), of an accuracy p scored on
    the n samples of the split metrics.json's `analyzed` names (`analyzed_samples`). With
    n = 180, one sample more or less right moves p by 0.0056: the bars show what is noise."""
    out: dict[Any, float] = {}
    for i, p in values.items():
        n = _number(done[i].get("analyzed_samples"))
        if n is not None and n > 0 and 0 <= p <= 1:
            out[done[i]["job"]] = math.sqrt(p * (1 - p) / n)
    return out


# ---- summary.png: drawing -------------------------------------------------------------------


def colors_by_label(chosen: list[Panel], cycle: list[str]) -> dict[str, str]:
    """One colour per line label across every panel (matplotlib's cycle, in order of first
    appearance): a panel holding only some of the lines (a penalty term only one
    regularizer has) would otherwise start the cycle again and colour them as others."""
    labels = [k for p in chosen if p.kind != "heatmap" for k in p.series]
    return {k: cycle[i % len(cycle)] for i, k in enumerate(dict.fromkeys(labels))}


LABELLED_VALUES = 8  # up to this many swept values, each gets a tick label of its own


def log_x(ax: Any, xs: list[float]) -> None:
    """A log x axis whose labels do not collide: a few swept values (β = 0.5, 1, 2, 4) are
    labelled themselves; more get the decades. Matplotlib's own minor labels (3×10⁰, 4×10⁰
    on an axis spanning under a decade) ran into one another."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    values = sorted(set(xs))
    if 1 < len(values) <= LABELLED_VALUES:
        ax.set_xticks(values, [f"{v:g}" for v in values])


def _draw_metric(
    ax: Any, p: Panel, sweep: Sweep, done: list[dict[str, Any]], colors: dict[str, str]
) -> None:
    best = best_job(sweep)
    for label, pts in p.series.items():
        style = "o" if sweep.study is not None or not p.joined else "o-"
        xs, ys = [q[0] for q in pts], [q[1] for q in pts]
        color = colors.get(label)
        if p.errors:
            yerr = [p.errors.get(q[2], 0.0) for q in pts]
            ax.errorbar(xs, ys, yerr=yerr, fmt=style, capsize=3, label=label or None, color=color)
        else:
            ax.plot(xs, ys, style, label=label or None, color=color)
        for x, y, job in pts:
            if best is not None and job == best.num:
                ax.plot([x], [y], "*", color="red", markersize=14, label="study best")
    if p.log_x:
        xs = [q[0] for pts in p.series.values() for q in pts]
        positive = [x for x in xs if x > 0]
        if xs and min(xs) <= 0:
            ax.set_xscale("symlog", linthresh=min(positive))  # λ = 0 next to a log scale
        else:
            log_x(ax, xs)
    if p.log_y:
        ax.set_yscale("log")
    if p.categories:
        ax.set_xticks(range(len(p.categories)), p.categories, rotation=20)
    if len(p.series) > 1 or best is not None:
        ax.legend(fontsize=8)


def _draw_path(ax: Any, p: Panel, x_key: str | None, colors: dict[str, str]) -> None:
    symbol = p.symbol or (_symbol(x_key) if x_key else "job")
    for label, pts in p.series.items():
        xs, ys = [q[0] for q in pts], [q[1] for q in pts]
        ax.plot(xs, ys, "o-" if p.joined else "o", label=label or None, color=colors.get(label))
    if p.log_x:
        log_x(ax, [q[0] for pts in p.series.values() for q in pts])
    if p.log_y:
        ax.set_yscale("log")
    ax.margins(x=0.15, y=0.12)  # room for the labels
    ax.autoscale_view()  # (the axes' final limits: where each point lands on the figure)
    pts = [q for series in p.series.values() for q in series]
    at = [tuple(ax.transData.transform((x, y))) for x, y, _ in pts]
    for (x, y, value), shown in zip(pts, apart(at)):
        if shown:
            ax.annotate(f"{symbol}={_short(value)}", (x, y), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)  # fmt: skip
    if len(p.series) > 1:
        ax.legend(fontsize=8)


def apart(points: list[tuple[float, float]], dx: float = 45.0, dy: float = 12.0) -> list[bool]:
    """Which points (in pixels) get a label: each in turn, unless a labelled one is within
    dx across and dy up or down (a label is about that big), so labels never pile up where
    a path's points crowd (small λ, where the term hardly changes)."""
    kept: list[tuple[float, float]] = []
    out = []
    for x, y in points:
        free = all(abs(x - a) > dx or abs(y - b) > dy for a, b in kept)
        out.append(free)
        if free:
            kept.append((x, y))
    return out


def _draw_heatmap(ax: Any, p: Panel) -> None:
    import numpy as np

    split = p.categories.index("|")
    cols, rows_ = p.categories[:split], p.categories[split + 1 :]
    grid = np.full((len(rows_), len(cols)), np.nan)
    for c, r, v in p.series[""]:
        grid[rows_.index(r), cols.index(c)] = v
    image = ax.imshow(grid, cmap="viridis_r", aspect="auto")
    ax.figure.colorbar(image, ax=ax, fraction=0.05)
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):  # dark text on the light (low) end of viridis_r
            light = image.norm(v) < 0.5
            ax.text(
                j, i, f"{v:.3g}", ha="center", va="center", fontsize=8, color="k" if light else "w"
            )
    ax.set_xticks(range(len(cols)), cols, rotation=20)
    ax.set_yticks(range(len(rows_)), rows_)


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) of summary.png for n panels: up to three side by side."""
    ncols = min(3, max(1, n))
    return math.ceil(n / ncols), ncols


def plot(sweep: Sweep, table: list[dict[str, Any]], path: Path, first: str | None = None) -> Path:
    """Draw `panels` into summary.png, each PANEL_IN at DPI, written whole (`aectl.atomic`)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    done = [r for r in table if r["status"] == "completed"]
    chosen = panels(sweep, table, first)
    nrows, ncols = grid_shape(len(chosen))
    fig = Figure(figsize=(PANEL_IN[0] * ncols, PANEL_IN[1] * nrows), dpi=DPI)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    x_key = _x_key(sweep, done)
    colors = colors_by_label(chosen, matplotlib.rcParams["axes.prop_cycle"].by_key()["color"])
    for ax, p in zip(axes.flat, chosen, strict=False):
        if p.kind == "heatmap":
            _draw_heatmap(ax, p)
        elif p.kind == "path":
            _draw_path(ax, p, x_key, colors)
        else:
            _draw_metric(ax, p, sweep, done, colors)
        ax.set_xlabel(p.x_label)
        ax.set_ylabel(p.y_label)
        ax.set_title(p.title, fontsize=10)
        if p.kind != "heatmap":
            ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(chosen) :]:
        ax.axis("off")
    if not done:
        fig.text(0.5, 0.5, "no completed jobs yet", ha="center", va="center")
    fig.suptitle(f"{sweep.root.name}: {len(done)}/{len(table)} jobs completed", fontsize=10)
    fig.tight_layout()
    meta = {
        "Title": f"aectl summarize {sweep.root.name}",
        "Description": "; ".join(p.title for p in chosen),
    }
    return atomic.write_with(path, lambda f: fig.savefig(f, format="png", dpi=DPI, metadata=meta))


# ---- command line ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="aectl summarize",
        description="Table, summary.csv and summary.png of a sweep's jobs (finished or still running).",
        epilog="Example: aectl summarize outputs/sweeps/2025-01-31_12-00-00 --sort val/recon",
    )
    p.add_argument("sweep_dir", metavar="SWEEP_DIR", help="a sweep folder made by `aectl train -m`")
    p.add_argument(
        "--sort", metavar="METRIC", help="sort rows by this metric, ascending (e.g. val/recon)"
    )
    p.add_argument(
        "--descending",
        action="store_true",
        help="with --sort: largest first (e.g. --sort probe/accuracy --descending)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.descending and args.sort is None:
        print("aectl: error: --descending: needs --sort METRIC", file=sys.stderr)
        return 2
    try:
        sweep = read_sweep(args.sweep_dir)
        table = rows(sweep)
        if args.sort is not None:
            allowed = metric_names(table)
            if args.sort not in allowed and args.sort not in sweep.swept:
                names = list(dict.fromkeys([*allowed, *sweep.swept]))
                near = difflib.get_close_matches(args.sort, names, n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                raise SummaryError(f"--sort: got {args.sort!r}{hint}; allowed: {', '.join(names)}")
            table = sort_rows(table, args.sort, args.descending)
        if not os.access(sweep.root, os.W_OK):  # a read-only copy (a colleague's): the table
            render(sweep, table)
            print(
                f"note: {sweep.root} is read-only: summary.csv and summary.png not written",
                file=sys.stderr,
            )
            return 0
        with lock.holding(sweep.root, "SWEEP_DIR"):  # one summarize writes at a time
            csv_path = write_csv(table, sweep.root / "summary.csv")
            png_path = plot(sweep, table, sweep.root / "summary.png", first=args.sort)
    except (SummaryError, UserError) as e:
        print(f"aectl: error: {e}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(
            f"aectl: error: SWEEP_DIR: cannot write {e.filename}; allowed: a writable sweep folder",
            file=sys.stderr,
        )
        return 2
    render(sweep, table)
    print(f"wrote {csv_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
