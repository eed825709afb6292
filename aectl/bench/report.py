"""How `aectl bench` shows its results: the tables (rich, or plain text on a machine with
torch alone) and the targets' verdicts, from the dict that bench.json holds.

Kept apart from the timing code (`aectl.bench`) because it needs no torch: it formats numbers.
"""

from __future__ import annotations

import math
import sys
from typing import Any


def _fmt(v: float | None, ratio: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.2f}x" if ratio else f"{v:,.0f}"


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, columns, rows) of each section, as text."""
    spread = lambda runs: f"{min(runs):,.0f} - {max(runs):,.0f}"  # noqa: E731
    out = []
    if result.get("throughput"):
        out.append(
            (
                "training step vs the tutorial loop (same model, data, batch, steps)",
                [
                    "row",
                    "mode",
                    "samples/s",
                    "x reference",
                    "paired",
                    "x tensor items",
                    "paired",
                    "min - max",
                ],
                [
                    [
                        r["name"],
                        r["mode"],
                        _fmt(r["samples_per_s"]),
                        _fmt(r["ratio_vs_reference"], True),
                        _fmt(r["ratio_paired_median"], True),
                        _fmt(r["ratio_vs_tensor_reference"], True),
                        _fmt(r["ratio_tensor_paired_median"], True),
                        spread(r["runs"]),
                    ]
                    for r in result["throughput"]
                ],
            )
        )
    if result.get("regularizers"):
        out.append(
            (
                "regularizer cost: time per step / time per step of none on the same model",
                [
                    "regularizer",
                    "model",
                    "mode",
                    "samples/s",
                    "cost vs none",
                    "paired",
                    "min - max",
                ],
                [
                    [
                        r["regularizer"],
                        r["model"],
                        r["mode"],
                        _fmt(r["samples_per_s"]),
                        _fmt(r["cost_vs_none"], True),
                        _fmt(r["cost_paired_median"], True),
                        spread(r["runs"]),
                    ]
                    for r in result["regularizers"]
                ],
            )
        )
    lg = result.get("logging")
    if lg:
        n = lg["every_n_steps"]
        out.append(
            (
                f"logging: losses read back every {n} steps vs never ({lg['model']})",
                [
                    "read back",
                    "mode",
                    "samples/s",
                    "cost",
                    "paired",
                    "time in read-backs",
                    "min - max",
                ],
                [
                    [
                        f"every {n} steps",
                        lg["mode"],
                        _fmt(lg["samples_per_s_logging"]),
                        f"{100 * lg['overhead']:+.1f}%",
                        f"{100 * lg['overhead_paired_median']:+.1f}%",
                        f"{100 * lg['read_back_share']:.3f}%",
                        spread(lg["runs_logging"]),
                    ],
                    [
                        "never",
                        lg["mode"],
                        _fmt(lg["samples_per_s_no_logging"]),
                        "",
                        "",
                        "",
                        spread(lg["runs_no_logging"]),
                    ],
                ],
            )
        )
    out += whole_tables(result)
    return out


WHOLE_COLUMNS = [
    "run",
    "wall s",
    "startup s",
    "training s",
    "per-epoch outputs s",
    "analyses s",
    "other s",
    "non-training / training",
]


def whole_tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The run and sweep sections: where a whole process's time goes (medians)."""

    def row(name: str, r: dict[str, Any]) -> list[str]:
        cells = [
            r["wall_s"],
            r["startup_s"],
            r["train_s"],
            r["outputs_s"],
            r["analyses_s"],
            r["other_s"],
        ]
        share = r.get("overhead_vs_training")
        return [name, *(f"{c:.2f}" for c in cells), "-" if share is None else f"{100 * share:.0f}%"]

    out = []
    if result.get("run"):
        rows = [row(n, r) for n, r in result["run"].items()]
        out.append(
            ("whole runs: `aectl train` as a subprocess, start to exit", WHOLE_COLUMNS, rows)
        )
    sweep = result.get("sweep") or {}
    if sweep.get("basic") or sweep.get("vmap"):
        names = {
            "basic": "basic launcher",
            "one job alone": "one job alone",
            "vmap": "vmap launcher",
        }
        rows = [row(label, sweep[n]) for n, label in names.items() if n in sweep]
        job = sweep.get("job", "model=contractive on digits")
        title = f"a {sweep.get('jobs', 16)}-job λ sweep of {job}"
        if "vmap_over_basic" in sweep:
            title += f"; vmap takes {sweep['vmap_over_basic']:.2f}x the basic launcher's wall time"
        if "vmap_over_one_job" in sweep:
            title += f"; vmap takes {sweep['vmap_over_one_job']:.2f}x ONE job's wall time"
        out.append((title, WHOLE_COLUMNS, rows))
    return out


def report(result: dict[str, Any], out: str | None) -> None:
    m, s = result["machine"], result["settings"]
    lines = [
        f"aectl bench  device={s['device']}  cpu={m['cpu']} ({m['cpu_cores']} cores, "
        f"{m['torch_threads']} torch threads)  gpu={m['gpu'] or '-'}  torch {m['torch']}",
        f"data: {s['data']}, {s['samples']} samples; batch {s['batch_size']}; {s['steps']} steps "
        f"x {s['repeats']} repeats, interleaved, after {s['warmup']} warm-up; {s['clock']} clock; medians",
    ]
    tail = []
    if result["targets"]:
        tail.append("targets:")
        tail += [
            f"  {k}: {v['value']:.4g} [{v['row']}] (target {v['target']}) {'met' if v['met'] else 'NOT met'}"
            for k, v in result["targets"].items()
        ]
    if result["errors"]:
        tail.append("variants that could not run:")
        tail += [f"  {k}: {v}" for k, v in result["errors"].items()]
    if out:
        tail.append(f"wrote {out}")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # a bare torch machine
        print("\n".join(lines))
        for title, cols, rows in tables(result):
            print(f"\n{title}\n  " + " | ".join(cols))
            for row in rows:
                print("  " + " | ".join(row))
        print("\n".join(tail))
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    console.print("\n".join(lines), markup=False)
    for title, cols, rows in tables(result):
        table = Table(*cols, title=title, title_justify="left")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print("\n".join(tail), markup=False)
