"""Whole runs and sweeps, timed as a user meets them: `aectl train` as a subprocess.

`--sections run`: a run costs its training and little else. The 20-epoch MNIST job of issue
13 (784-512-16 MLP, 8,000 training images, batch 100, Adam 1e-3) and the default
`aectl train` (what `make train` runs) are timed from process start to exit, interleaved,
and split with the run's own clock (metrics.json's `timing`) into startup (process start to
the first training step), training steps, per-epoch outputs (validation, logging,
pictures, checkpoints), the final analyses, and the rest. With `--peer-python`, each
round also runs issue 13's peer (pythae's default trainer on the MNIST job,
`peer_pythae.py`) under that Python, timed the same way.

`--sections sweep`: a 16-job λ sweep of `model=contractive` on digits with the basic
launcher and with `hydra/launcher=vmap`, interleaved, each a fresh sweep folder, with the
same breakdown summed over its jobs (a stacked group's shared training counted once). On a
GPU the sweep is of the throughput section's 784-512-256-32 MNIST autoencoder (sparse_l1
λ, 10 epochs), and the vmap sweep is timed against ONE of its jobs run alone: a GPU that
one small model leaves idle should train all 16 in about the time of one.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUTPUTS = ("validate", "log", "pictures", "checkpoints")
LAMBDAS = [f"{10 ** (-5 + 5 * i / 15):.3g}" for i in range(16)]  # 1e-5 ... 1, 16 values


def mnist_job(images: Path) -> list[str]:
    """The job of issue 13's table: 784-512-16 MLP, 8,000 training images, 20 epochs."""
    labels = images.with_name(images.name.replace("images-idx3", "labels-idx1"))
    return [
        "dataset=idx",
        f"dataset.images={images}",
        f"dataset.labels={labels}",
        "dataset.limit=10000",  # 10% validates, 10% tests: 8,000 train
        "dataset.val_fraction=0.1",
        "dataset.test_fraction=0.1",
        "arch.hidden=[512]",
        "arch.code_dim=16",
        "trainer.max_epochs=20",
        "trainer.batch_size=100",
        "optim.lr=1e-3",
    ]


def gpu_sweep_job(images: Path) -> list[str]:
    """The throughput section's model on MNIST, as a sweep job: 784-512-256-32, 10 epochs."""
    return [
        *mnist_job(images)[:3],
        "dataset.limit=10000",
        "arch.hidden=[512,256]",
        "arch.code_dim=32",
        "regularizer=sparse_l1",
        "trainer.max_epochs=10",
        "trainer.batch_size=256",
    ]


def aectl_train(args: list[str], cwd: Path, device: str) -> tuple[float, float]:
    """(spawn time, wall seconds) of one `aectl train ARGS`; raises on failure."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    spawned, t0 = time.time(), time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "aectl", "train", *args, f"trainer.device={device}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"aectl train {' '.join(args)} failed: {r.stderr.strip()[-500:]}")
    return spawned, wall


def first_steps(timing: list[dict[str, Any]]) -> list[float]:
    """When each run's process reached its first step (a run measured again took none)."""
    return [t["first_step_unix"] for t in timing if "first_step_unix" in t]


def breakdown(metrics: list[dict[str, Any]], spawned: float, wall: float, shared: bool) -> dict:
    """Where one process's time went, from the runs' own clocks. `shared`: the jobs trained
    together (a vmap group), so their equal training time is counted once per group."""
    timing = [m.get("timing", {}) for m in metrics]
    train = [m["train_time_s"] for m in metrics]
    if shared:
        train = list({round(t, 6) for t in train})
    out = {
        "wall_s": wall,
        "startup_s": min(firsts) - spawned if (firsts := first_steps(timing)) else None,
        "train_s": sum(train),
        "outputs_s": sum(t.get(f"{k}_s", 0.0) for t in timing for k in OUTPUTS),
        "analyses_s": sum(t.get("analyses_s", 0.0) for t in timing),
    }
    for k in OUTPUTS:
        out[f"{k}_s"] = sum(t.get(f"{k}_s", 0.0) for t in timing)
    known = out["startup_s"] + out["train_s"] + out["outputs_s"] + out["analyses_s"]
    out["other_s"] = wall - known
    out["overhead_vs_training"] = (wall - out["train_s"]) / max(out["train_s"], 1e-9)
    return out


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    med["repeats"] = len(rows)
    med["walls_s"] = [r["wall_s"] for r in rows]
    return med


PEER_ROW = "pythae's default trainer, same MNIST job"
TORCH_ROW = "`import torch` alone: the floor of any startup"  # same rounds, same interpreter
MNIST_ROW = "MNIST 784-512-16, 20 epochs"  # the job issue 13 measured against pythae


def section_run(
    images: Path | None, device: str, repeats: int, errors: dict, peer_python: str | None = None
) -> dict:
    """The MNIST job and the default run, interleaved; with `peer_python` (and the MNIST
    files), pythae's default trainer on the MNIST job too, in the same rounds."""
    jobs = {"default run (make train)": []}
    if images is not None:
        jobs = {MNIST_ROW: mnist_job(images), **jobs}
    peer = PEER_ROW if peer_python and images is not None else None
    names = [*jobs, TORCH_ROW, *([peer] if peer else [])]
    rows: dict[str, list[dict]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="aectl-bench-run-") as tmp:
        for k in range(repeats):
            for j, (name, args) in enumerate(jobs.items()):  # interleaved: load hits both
                run = Path(tmp) / f"run{j}-{k}"
                try:
                    spawned, wall = aectl_train([*args, f"hydra.run.dir={run}"], Path(tmp), device)
                except RuntimeError as e:
                    errors[name] = str(e)
                    continue
                metrics = json.loads((run / "metrics.json").read_text())
                rows[name].append(breakdown([metrics], spawned, wall, shared=False))
            rows[TORCH_ROW].append(torch_import(Path(tmp)))
            if peer:
                try:
                    rows[peer].append(
                        peer_run(peer_python, images, Path(tmp) / f"peer-{k}", device)
                    )
                except RuntimeError as e:
                    errors[peer] = str(e)
    return {name: median_row(r) for name, r in rows.items() if r}


def torch_import(cwd: Path) -> dict[str, Any]:
    """`python -c "import torch"` in the interpreter and environment `aectl train` gets: what
    no run's startup can go below on this machine (the startup target reads against it)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], cwd=cwd, check=True)
    wall = time.perf_counter() - t0
    zero = dict.fromkeys(("train_s", "outputs_s", "analyses_s", "other_s"), 0.0)
    return {"wall_s": wall, "startup_s": wall, **zero, "overhead_vs_training": None}


def peer_run(python: str, images: Path, out: Path, device: str) -> dict[str, Any]:
    """One run of `peer_pythae.py` under `python`, timed as `aectl_train` times aectl: its
    training is pythae's whole TrainingPipeline (its per-epoch evaluation and final save
    included: pythae's loop does not separate them)."""
    script = Path(__file__).with_name("peer_pythae.py")
    spawned, t0 = time.time(), time.perf_counter()
    r = subprocess.run(
        [python, str(script), str(images), str(out), device.split(":")[0]],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{python} {script.name} failed: {r.stderr.strip()[-500:]}")
    got = json.loads(r.stdout.strip().splitlines()[-1])
    startup = got["train_start_unix"] - spawned
    return {
        "wall_s": wall,
        "startup_s": startup,
        "train_s": got["pipeline_s"],
        "outputs_s": 0.0,
        "analyses_s": 0.0,
        "other_s": wall - startup - got["pipeline_s"],
        "overhead_vs_training": (wall - got["pipeline_s"]) / got["pipeline_s"],
    }


def section_sweep(device: str, repeats: int, errors: dict, images: Path | None = None) -> dict:
    """CPU: the digits sweep, basic launcher against vmap. GPU (with MNIST): the MNIST sweep
    with vmap against one of its jobs alone."""
    gpu = device.startswith("cuda") and images is not None
    job = gpu_sweep_job(images) if gpu else ["model=contractive"]
    sweep = ["-m", *job, f"regularizer.weight={','.join(LAMBDAS)}"]
    runs = {"vmap": [*sweep, "hydra/launcher=vmap"]}
    runs = {"one job alone": [*job, "regularizer.weight=0.001"], **runs} if gpu else runs
    runs = runs if gpu else {"basic": sweep, **runs}
    rows: dict[str, list[dict]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory(prefix="aectl-bench-sweep-") as tmp:
        for k in range(repeats):
            for name, args in runs.items():  # interleaved: load hits every row alike
                root = Path(tmp) / f"{name.replace(' ', '_')}-{k}"
                folder = "hydra.sweep.dir" if "-m" in args else "hydra.run.dir"
                try:
                    spawned, wall = aectl_train([*args, f"{folder}={root}"], Path(tmp), device)
                except RuntimeError as e:
                    errors[f"sweep {name}"] = str(e)
                    continue
                metrics = [json.loads(p.read_text()) for p in sorted(root.glob("**/metrics.json"))]
                rows[name].append(breakdown(metrics, spawned, wall, shared=name == "vmap"))
    out: dict[str, Any] = {name: median_row(r) for name, r in rows.items() if r}
    out["jobs"] = len(LAMBDAS)
    out["job"] = "784-512-256-32 MNIST, sparse_l1" if gpu else "model=contractive on digits"
    if "basic" in out and "vmap" in out:
        out["vmap_over_basic"] = out["vmap"]["wall_s"] / out["basic"]["wall_s"]
    if "one job alone" in out and "vmap" in out:
        out["vmap_over_one_job"] = out["vmap"]["wall_s"] / out["one job alone"]["wall_s"]
    return out
