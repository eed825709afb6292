"""`aectl summarize SWEEP_DIR`: one view of a sweep's jobs, finished or not.

Reads what each job leaves in its folder (Hydra's `.hydra/hydra.yaml` for its number and
overrides, `status.json` from `aectl.sweeps.callbacks`, `metrics.json` from the trainer, and for
a job still running its latest TensorBoard scalars) and writes a rich table to the
terminal, `summary.csv` and `summary.png` (metrics against the swept parameter, one line
per value of the other swept dimensions) into the sweep folder. An Optuna study's result
(`optimization_results.yaml`) is shown under the table. Imports no torch, so it is quick.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aectl.errors import OneLineParser
from aectl.sweeps.status import alive, read_status

# Shown in the table and plotted (when present); the CSV has every metric of metrics.json.
TABLE_METRICS = (
    "val/recon",
    "best_val_recon",
    "train/loss",
    "train/penalty",
    "code/frac_near_zero",
)
PLOT_METRICS = ("val/recon", "best_val_recon", "train/penalty", "code/frac_near_zero")
# Scalars a running job has logged to TensorBoard, by the metrics.json key they stand for.
LIVE_TAGS = {
    "val/recon": "val/recon",
    "val/penalty": "val/penalty",
    "epoch/train_loss": "train/loss",
    "epoch/train_recon": "train/recon",
    "code/frac_near_zero": "code/frac_near_zero",
    "code/mean_activation": "code/mean_activation",
}
STYLE = {
    "completed": "green",
    "running": "yellow",
    "failed": "bold red",
    "interrupted": "red",
    "incomplete": "dim",
}


class SummaryError(Exception):
    """Bad input: reaches the terminal as one line, exit code 2."""


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


@dataclass
class Sweep:
    root: Path
    jobs: list[Job]
    swept: list[str]
    fixed: dict[str, str]
    study: dict[str, Any] | None  # Optuna: direction, objective, params, n_trials, result
    planned: int | None = None  # jobs the sweep command asks for, when that is known


def _yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as f:
        return yaml.load(f, Loader=loader)


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in metrics.items()
        if isinstance(v, (int, float, str)) and not isinstance(v, bool)
    }


def _live_metrics(folder: Path) -> dict[str, Any]:
    """A running job's latest logged epoch, read with TensorBoard's own event reader."""
    if not any(folder.glob("events.out.tfevents.*")):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={SCALARS: 0})
    acc.Reload()
    tags = set(acc.Tags().get(SCALARS, []))
    out: dict[str, Any] = {}
    for tag, key in LIVE_TAGS.items():
        if tag in tags:
            events = acc.Scalars(tag)
            out[key] = events[-1].value
            if tag == "val/recon":  # one per epoch; a requeued job that restarted logs steps again
                out["epoch"], out["step"] = len({e.step for e in events}), events[-1].step
    return out


def _job(folder: Path, hydra: dict[str, Any]) -> Job:
    overrides = dict(_split(o) for o in hydra.get("overrides", {}).get("task", []) or [])
    status = read_status(folder)
    metrics_file = folder / "metrics.json"
    metrics = _flat(json.loads(metrics_file.read_text())) if metrics_file.exists() else {}
    config = folder / ".hydra" / "config.yaml"
    max_epochs = None
    if config.exists():
        max_epochs = ((_yaml(config) or {}).get("trainer") or {}).get("max_epochs")
    if status is None:
        state = "completed" if metrics else "incomplete"  # a sweep made before status.json
    else:
        state = status.get("status", "incomplete")
        if (
            state == "running"
            and status.get("host") == socket.gethostname()
            and int(status.get("pid", 0)) > 0
            and not alive(int(status["pid"]))
        ):
            state = "interrupted"  # its process is gone without recording an end
    if state != "completed" and not metrics:
        metrics = _live_metrics(folder)
    return Job(
        folder=folder,
        num=int(hydra.get("job", {}).get("num", -1)),
        overrides=overrides,
        status=state,
        error=(status or {}).get("error", ""),
        attempt=int((status or {}).get("attempt", 1)),
        max_epochs=max_epochs,
        metrics=metrics,
    )


def _sweep_keys(multirun: dict[str, Any] | None) -> list[str]:
    """Keys the sweep command line sweeps (a,b / range / interval), plus Optuna's search space."""
    if not multirun:
        return []
    hydra = multirun.get("hydra", {})
    task = list(hydra.get("overrides", {}).get("task", []) or [])
    params = hydra.get("sweeper", {}).get("params") or {}
    task += [f"{k}={v}" for k, v in params.items()]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys: list[str] = []
    for o in OverridesParser.create().parse_overrides(task):
        if o.is_sweep_override() and o.get_key_element().lstrip("+~") not in keys:
            keys.append(o.get_key_element().lstrip("+~"))
    return keys


def _planned_jobs(multirun: dict[str, Any] | None) -> int | None:
    """How many jobs the sweep asked for: the product of its value lists for Hydra's basic
    sweeper, n_trials for Optuna; None when unknown. A sweep interrupted before its last
    jobs started has fewer job folders than that."""
    sweeper = ((multirun or {}).get("hydra") or {}).get("sweeper") or {}
    target = str(sweeper.get("_target_", ""))
    if "optuna" in target:
        n = sweeper.get("n_trials")
        return n if isinstance(n, int) else None
    if "BasicSweeper" not in target:
        return None
    # as BasicSweeper.sweep does: its params first, the command line's overrides after
    task = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    task += list(multirun["hydra"].get("overrides", {}).get("task", []) or [])
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides(task)
        (jobs,) = BasicSweeper.split_arguments(overrides, None)
    except Exception:  # an interval or a sweep kind the basic sweeper refuses too
        return None
    return len(jobs)


def _study(root: Path, multirun: dict[str, Any] | None) -> dict[str, Any] | None:
    result_file = root / "optimization_results.yaml"
    sweeper = ((multirun or {}).get("hydra") or {}).get("sweeper") or {}
    if "optuna" not in str(sweeper.get("_target_", "")) and not result_file.exists():
        return None
    direction = sweeper.get("direction", "minimize")
    study = {
        "direction": direction if isinstance(direction, str) else ",".join(map(str, direction)),
        "objective": ((multirun or {}).get("trainer") or {}).get("monitor", "val/recon"),
        "params": dict(sweeper.get("params") or {}),
        "n_trials": sweeper.get("n_trials"),
        "result": _yaml(result_file) if result_file.exists() else None,
    }
    return study


def read_sweep(root: str | Path) -> Sweep:
    root = Path(root)
    if not root.is_dir():
        raise SummaryError(
            f"SWEEP_DIR: {str(root)!r} is not a folder; allowed: a sweep folder made by "
            "`aectl train -m` (outputs/sweeps/<time>)"
        )
    multirun = _yaml(root / "multirun.yaml") if (root / "multirun.yaml").is_file() else None
    jobs = []
    for hydra_file in sorted(root.glob("**/.hydra/hydra.yaml")):
        hydra = (_yaml(hydra_file) or {}).get("hydra", {})
        if hydra_file.parent.parent == root:
            raise SummaryError(
                f"SWEEP_DIR: {str(root)!r} is a single run, not a sweep; allowed: a sweep "
                "folder made by `aectl train -m` (outputs/sweeps/<time>)"
            )
        if str(hydra.get("mode", "")).endswith("MULTIRUN"):
            jobs.append(_job(hydra_file.parent.parent, hydra))
    if multirun is None and not jobs:
        raise SummaryError(
            f"SWEEP_DIR: {str(root)!r} holds no sweep (no multirun.yaml, no job folders); "
            "allowed: a sweep folder made by `aectl train -m` (outputs/sweeps/<time>)"
        )
    jobs.sort(key=lambda j: (j.num, j.folder.name))
    swept = _sweep_keys(multirun)
    keys = list(dict.fromkeys(k for j in jobs for k in j.overrides))
    swept += [k for k in keys if k not in swept and len({j.overrides.get(k) for j in jobs}) > 1]
    fixed = {k: jobs[0].overrides[k] for k in keys if k not in swept and k in jobs[0].overrides}
    return Sweep(
        root=root,
        jobs=jobs,
        swept=swept,
        fixed=fixed,
        study=_study(root, multirun),
        planned=_planned_jobs(multirun),
    )


# ---- rows, CSV ------------------------------------------------------------------------------


def best_job(sweep: Sweep) -> Job | None:
    """The Optuna study's best trial, matched by its parameters."""
    result = (sweep.study or {}).get("result") or {}
    best = result.get("best_params")
    if not best:
        return None
    for job in sweep.jobs:
        if all(
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
        row.update(j.metrics)
        out.append(row)
    return out


def write_csv(table: list[dict[str, Any]], path: Path) -> Path:
    head = ["job", "folder", "overrides"]
    columns = list(dict.fromkeys([*head, *(k for r in table for k in r)]))
    columns = columns[: columns.index("overrides") + 1] + [c for c in columns if c not in head]
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(table)
    os.replace(tmp, path)
    return path


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def sort_rows(table: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Ascending by `metric`; jobs without it last, in job order."""
    return sorted(
        table,
        key=lambda r: (_number(r.get(metric)) is None, _number(r.get(metric)) or 0.0, r["job"]),
    )


def metric_names(table: list[dict[str, Any]]) -> list[str]:
    skip = {"job", "attempt"}
    found = {
        k
        for r in table
        for k, v in r.items()
        if k not in skip
        and _number(v) is not None
        and k not in ("folder", "overrides", "status", "error")
    }
    return sorted(found | set(TABLE_METRICS) | {"best_epoch", "train_time_s", "samples_per_s"})


# ---- terminal table -------------------------------------------------------------------------


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


def render(sweep: Sweep, table: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    counts: dict[str, int] = {}
    for j in sweep.jobs:
        counts[j.status] = counts.get(j.status, 0) + 1
    if sweep.planned is not None and sweep.planned > len(sweep.jobs):
        counts["not started"] = sweep.planned - len(sweep.jobs)
    total = max(len(sweep.jobs), sweep.planned or 0)
    title = (
        f"{sweep.root}  ({total} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")"
    )
    fixed = " ".join(f"{k}={v}" for k, v in sweep.fixed.items())
    t = Table(title=title, caption=f"fixed: {fixed}" if fixed else None, title_justify="left")
    t.add_column("#", justify="right")
    for k in sweep.swept:
        t.add_column(k)
    t.add_column("status")
    t.add_column("epoch", justify="right")
    t.add_column("best epoch", justify="right")
    metrics = [m for m in TABLE_METRICS if any(m in r for r in table)]
    for m in metrics:
        t.add_column(m, justify="right")
    t.add_column("train s", justify="right")
    show_error = any(r["error"] for r in table)
    if show_error:
        t.add_column("error", overflow="fold")
    by_num = {j.num: j for j in sweep.jobs}
    for r in table:
        job = by_num.get(r["job"])
        epoch = _fmt(r.get("epoch"))
        if r["status"] != "completed" and epoch and job is not None and job.max_epochs:
            epoch = f"{epoch}/{job.max_epochs}"
        status = f"[{STYLE.get(r['status'], '')}]{r['status']}[/]"
        if int(r.get("attempt") or 1) > 1:
            status += f" (attempt {r['attempt']})"
        cells = [
            ("★ " if r.get("study_best") else "") + str(r["job"]),
            *(_short(r[k]) for k in sweep.swept),
            status,
            epoch,
            _fmt(r.get("best_epoch")),
            *(_fmt(r.get(m)) for m in metrics),
            _fmt(r.get("train_time_s", r.get("wall_time_s"))),
        ]
        if show_error:
            cells.append(r["error"])
        t.add_row(*cells, style="bold" if r.get("study_best") else None)
    console.print(t)
    if sweep.study is not None:
        console.print(_study_line(sweep))


# ---- summary.png ----------------------------------------------------------------------------


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
    return numeric[0] if numeric else (sweep.swept[0] if sweep.swept else None)


def _log_scale(key: str) -> bool:
    from aectl.config.schema import knobs

    knob = knobs().get(key)
    return knob is not None and knob.scale == "log"


def plot(sweep: Sweep, table: list[dict[str, Any]], path: Path, first: str | None = None) -> Path:
    """Metrics against the swept parameter; one line per value of the other swept keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in table if r["status"] == "completed"]
    x_key = _x_key(sweep, done)
    metrics = [
        m
        for m in dict.fromkeys([*([first] if first else []), *PLOT_METRICS])
        if any(_number(r.get(m)) is not None for r in done)
    ] or ["val/recon"]
    ncols = min(2, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 4 * nrows), squeeze=False)
    others = [k for k in sweep.swept if k != x_key]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in done:
        groups.setdefault(", ".join(f"{k}={r[k]}" for k in others), []).append(r)
    numeric_x = x_key is not None and all(_number(r[x_key]) is not None for r in done)
    categories = list(dict.fromkeys(str(r[x_key]) for r in done)) if x_key and not numeric_x else []

    def xval(r: dict[str, Any]) -> float:
        if x_key is None:
            return float(r["job"])
        return _number(r[x_key]) if numeric_x else float(categories.index(str(r[x_key])))  # type: ignore[return-value]

    xs = [xval(r) for r in done]
    positive = [x for x in xs if x > 0]
    log_x = numeric_x and positive and (_log_scale(x_key) or min(positive) * 100 <= max(positive))
    best = best_job(sweep)
    for ax, m in zip(axes.flat, metrics, strict=False):
        for label, rs in groups.items():
            pts = sorted((xval(r), _number(r.get(m))) for r in rs if _number(r.get(m)) is not None)
            if pts:
                style = "o" if sweep.study is not None else "o-"
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label or None)
        if best is not None:
            r = next((r for r in done if r["job"] == best.num), None)
            if r is not None and _number(r.get(m)) is not None:
                ax.plot(
                    [xval(r)],
                    [_number(r.get(m))],
                    "*",
                    color="red",
                    markersize=14,
                    label="study best",
                )
        if log_x:
            if min(xs) <= 0:
                ax.set_xscale("symlog", linthresh=min(positive))  # λ = 0 next to a log scale
            else:
                ax.set_xscale("log")
        if categories:
            ax.set_xticks(range(len(categories)), categories, rotation=20)
        ax.set_xlabel(x_key or "job")
        ax.set_ylabel(m)
        ax.set_title(m)
        ax.grid(True, alpha=0.3)
        if len(groups) > 1 or best is not None:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    if not done:
        fig.text(0.5, 0.5, "no completed jobs yet", ha="center", va="center")
    fig.suptitle(f"{sweep.root.name}: {len(done)}/{len(table)} jobs completed")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        sweep = read_sweep(args.sweep_dir)
        table = rows(sweep)
        if args.sort is not None:
            allowed = metric_names(table)
            if args.sort not in allowed and args.sort not in sweep.swept:
                names = list(dict.fromkeys([*allowed, *sweep.swept]))
                raise SummaryError(f"--sort: got {args.sort!r}; allowed: {', '.join(names)}")
            table = sort_rows(table, args.sort)
        csv_path = write_csv(table, sweep.root / "summary.csv")
        png_path = plot(sweep, table, sweep.root / "summary.png", first=args.sort)
    except SummaryError as e:
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
