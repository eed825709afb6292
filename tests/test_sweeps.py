"""Sweeps through the CLI: each launcher, the Optuna search, failed jobs, `aectl summarize`.

The CLI runs in-process (`aectl_here`); the submitit sweep whose job is preempted runs as a
real process.

Every sweep is tiny (digits, 1 epoch; 10 for the job that gets preempted); the checks read
back what Hydra, TensorBoard, submitit and Optuna wrote with their own readers, and compare
summary.csv with each job's metrics.json.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import aectl_here, hparams_view

from aectl.config import metrics as metrics_vocab
from aectl.sweeps import parallel

ROOT = Path(__file__).resolve().parents[1]
EPOCH = ["trainer.max_epochs=1", "trainer.analyze=none"]  # (analyses: test_analysis)
DIVERGED = (
    "training: the loss became inf in epoch 1 (by step 12); lower optim.lr or "
    "regularizer.weight (it happened before the first checkpoint)"
)


def run_aectl(*args: str):
    """`aectl ARGS` of this checkout, in this process (conftest.aectl_here: the same CLI
    without an interpreter start; every sweep names its own folder). The submitit test runs
    a real process: it preempts one."""
    return aectl_here(*args)


def sweep(tmp_path_factory, name: str, *overrides: str) -> SimpleNamespace:
    root = tmp_path_factory.mktemp(name) / "sweep"
    proc = run_aectl("train", "-m", *overrides, f"hydra.sweep.dir={root}")
    return SimpleNamespace(root=root, proc=proc, jobs=job_dirs(root))


def job_dirs(root: Path) -> list[Path]:
    return sorted(p.parent.parent for p in root.glob("*/*/.hydra/hydra.yaml"))


def key(job: Path) -> str:
    """A job's folder relative to its sweep: `<overrides>/seed=<n>`."""
    return f"{job.parent.name}/{job.name}"


def job_overrides(job: Path) -> list[str]:
    return yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())


def summarize(root: Path, *extra: str) -> SimpleNamespace:
    proc = run_aectl("summarize", *extra, str(root))
    with (root / "summary.csv").open() as f:
        rows = list(csv.DictReader(f)) if proc.returncode == 0 else []
    return SimpleNamespace(proc=proc, rows=rows)


def check_summary(root: Path, summary: SimpleNamespace, statuses: dict[str, str]) -> None:
    """Table rows, CSV values against each job's metrics.json, and summary.png decodes."""
    from PIL import Image

    assert summary.proc.returncode == 0, summary.proc.stderr
    assert {r["folder"]: r["status"] for r in summary.rows} == statuses
    for row in summary.rows:
        job = root / row["folder"]
        assert row["overrides"] == " ".join(job_overrides(job))
        assert row["status"] in summary.proc.stdout
        if row["status"] != "completed":
            continue
        metrics = json.loads((job / "metrics.json").read_text())
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                assert float(row[key]) == value, (row["folder"], key)  # exact: CSV keeps repr
        assert f"{metrics['val/recon']:.4g}" in summary.proc.stdout
    with Image.open(root / "summary.png") as png:
        png.load()  # decodes every pixel
        assert png.format == "PNG" and png.width > 300 and png.height > 200


# ---- unit checks (fast) ---------------------------------------------------------------------


def test_gpu_and_thread_shares():
    assert [parallel.gpu_for(k, 2) for k in range(5)] == [0, 1, 0, 1, 0]
    assert parallel.gpu_for(3, 0) is None
    assert parallel.threads_for(16, 4) == 4 and parallel.threads_for(2, 4) == 1
    assert parallel.threads_for(8, 0) == 8
    assert (
        parallel.launcher_kind("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher")
        == "joblib"
    )
    assert (
        parallel.launcher_kind("hydra._internal.core_plugins.basic_launcher.BasicLauncher")
        == "basic"
    )


def test_planned_jobs_are_the_product_of_the_swept_values_or_optunas_trials():
    from aectl.commands.summarize import _planned_jobs

    def multirun(task, target="hydra._internal.core_plugins.basic_sweeper.BasicSweeper", **kw):
        return {"hydra": {"overrides": {"task": task}, "sweeper": {"_target_": target, **kw}}}

    assert _planned_jobs(multirun(["a=1,2,3", "b=x,y", "c=5"])) == 6
    assert _planned_jobs(multirun(["a=range(0,4)", "+b=choice(1,2)"])) == 8
    assert _planned_jobs(multirun(["a=1"])) == 1
    params = {"a": "1,2,3", "b": "4,5"}  # the command line's a=7,8 replaces the params' a
    assert _planned_jobs(multirun(["a=7,8"], params=params)) == 4
    optuna = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert _planned_jobs(multirun([], optuna, n_trials=7)) == 7
    assert _planned_jobs(multirun(["a=1,2"], "some.other.Sweeper")) is None
    assert _planned_jobs(None) is None


def sweep_config(*overrides: str):
    """The config `aectl train -m OVERRIDES` composes before any job (what the sweep
    callback's on_multirun_start sees), composed in-process."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from aectl.paths import configs_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        return GlobalHydra.instance().hydra.compose_config(
            "train", list(overrides), run_mode=RunMode.MULTIRUN
        )


@pytest.mark.parametrize(
    "overrides,field,says",
    [
        (
            ["model=contractive", "regularizer.weight=0.1,0.1"],
            "regularizer.weight",
            "lists 0.1 twice",
        ),
        (
            ["regularizer.weight=0.1,1"],
            "regularizer.weight",
            "regularizer=none has no penalty term",
        ),
        (["hparams_search=optuna_lambda"], "regularizer.weight", "has no penalty term"),
        (
            ["hydra/launcher=vmap", "model=dropout", "regularizer.weight=0.1,1"],
            "regularizer.weight",
            "its strength is regularizer.p",
        ),
        (["model=sparse", "regularizer.weight=0.1,1e-1"], "regularizer.weight", "twice"),
        (["model=deep,conv,deep"], "model", "lists deep twice"),
        (["trainer.seed=0,00"], "trainer.seed", "would train into one folder"),
        (["trainer.seed=range(0,0)"], "trainer.seed", "holds no values"),
        (["hydra/launcher=parallel", "hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs", "got 0"),
        (
            ["hparams_search=optuna_lambda", "hydra.sweeper.n_trials=0"],
            "hydra.sweeper.n_trials",
            "got 0",
        ),
        (
            ["hparams_search=optuna_lambda", "hydra.sweeper.n_jobs=0"],
            "hydra.sweeper.n_jobs",
            "got 0",
        ),
        (
            ["hydra.sweeper.max_batch_size=0", "trainer.seed=0,1"],
            "hydra.sweeper.max_batch_size",
            "got 0",
        ),
        (["+typo=1", "trainer.seed=0,1"], "typo", "unknown key"),
        (
            ["+trainer.max_epoch=5", "trainer.seed=0,1"],
            "trainer.max_epoch",
            "did you mean trainer.max_epochs?",
        ),
        (["+trainer.max_epoch=1,2"], "trainer.max_epoch", "did you mean trainer.max_epochs?"),
        (["+typo=1,2"], "typo", "unknown key"),
        (  # a value every trial shares: each would fail, then the study with a traceback
            ["hparams_search=optuna_lambda", "model=contractive", "trainer.monitor=bogus"],
            "trainer.monitor",
            "got 'bogus'",
        ),
        (["model=contractive", "regularizer.weight=0.1,1", "optim.lr=-1"], "optim.lr", "got -1"),
    ],
)
def test_sweeps_that_cannot_run_as_asked_are_refused(overrides, field, says):
    from aectl.errors import UserError
    from aectl.sweeps.checks import check_sweep

    with pytest.raises(UserError) as e:
        check_sweep(sweep_config(*overrides))
    assert e.value.field == field and says in e.value.message, str(e.value)


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=sparse", "regularizer.weight=0.1,0.2", "trainer.seed=range(0,3)"],
        ["regularizer=none,sparse_l1", "regularizer.weight=0.1,0.2"],  # some jobs have one
        ["model=deep,conv", "trainer.seed=0,1"],
        ["trainer.device=cpu,cuda", "trainer.seed=0,1"],
        ["trainer.seed=0,00", "hydra.sweep.subdir=${hydra.job.num}"],
        ["hydra/launcher=parallel", "hydra.launcher.n_jobs=-1", "trainer.seed=0,1"],
        ["hparams_search=optuna_lambda", "model=contractive", "hydra.sweeper.n_trials=2"],
        ["experiment=onehot8", "trainer.seed=0,1"],
        ["+trainer=default", "trainer.max_epochs=1,2"],
        ["experiment=probe_mnist,stacked_cae", "dataset.limit=100,200"],  # digits has no limit
        ["dataset=npz", "dataset.path=a.npz,b.npz"],  # a swept key whose default is ???
    ],
)
def test_sweeps_that_can_run_pass_the_checks(overrides):
    from aectl.sweeps.checks import check_sweep

    check_sweep(sweep_config(*overrides))


def hydra_job_folders(tmp_path: Path, *overrides: str) -> list[str]:
    """Each job's folder as Hydra and aectl's naming make it: the basic sweeper's job list
    and multirun.yaml, each job's config composed as the launcher composes it, then
    `hydra.sweep.subdir` resolved."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    where = f"hydra.sweep.dir={tmp_path}"
    OmegaConf.save(sweep_config(*overrides, where), tmp_path / "multirun.yaml")
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    (jobs,) = BasicSweeper.split_arguments(parsed, None)
    folders = []
    try:
        for num, job in enumerate(jobs):
            cfg = sweep_config(*job, where)
            with open_dict(cfg):  # as the launcher does
                cfg.hydra.job.num = num
            HydraConfig.instance().set_config(cfg)
            folders.append(str(cfg.hydra.sweep.subdir))
    finally:
        HydraConfig.instance().cfg = None  # later in-process tests: no Hydra app is running
    return folders


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.device=cpu,cuda", "trainer.seed=0,1"],
        ["trainer.seed=0,00"],
        ["model=sparse", "regularizer.weight=0.1,1e-1"],
        ["model=deep,conv", "trainer.seed=0,1"],
        ["trainer.seed=0,00", "hydra.sweep.subdir=${hydra.job.num}"],
    ],
)
def test_the_one_folder_check_agrees_with_the_folders_jobs_get(overrides, tmp_path):
    from aectl.errors import UserError
    from aectl.sweeps.checks import check_sweep

    folders = hydra_job_folders(tmp_path, *overrides)
    try:
        check_sweep(sweep_config(*overrides))
        refused = False
    except UserError:
        refused = True
    assert refused == (len(set(folders)) < len(folders)), folders


@pytest.mark.parametrize("found", [True, False])
def test_a_slurm_sweep_needs_slurm_on_this_machine(monkeypatch, found):
    from aectl.errors import UserError
    from aectl.sweeps import checks

    monkeypatch.setattr(checks.shutil, "which", lambda c: f"/usr/bin/{c}" if found else None)
    cfg = sweep_config("hydra/launcher=slurm", "trainer.seed=0,1")
    if found:
        checks.check_sweep(cfg)
        return
    with pytest.raises(UserError) as e:
        checks.check_sweep(cfg)
    assert e.value.field == "hydra/launcher=slurm" and "srun and sbatch" in e.value.message


@pytest.mark.slow
def test_summarize_rejects_a_missing_or_non_sweep_folder(tmp_path):
    for bad, needle in ((tmp_path / "nope", "is not a folder"), (tmp_path, "holds no sweep")):
        p = run_aectl("summarize", str(bad))
        assert p.returncode == 2 and p.stdout == ""
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
        assert p.stderr.startswith("aectl: error: SWEEP_DIR: ") and needle in p.stderr


def test_slurm_preset_renders_partition_gpus_time_memory_and_requeue(tmp_path, monkeypatch):
    """The preset goes through the plugin into submitit's own sbatch script (no cluster needed)."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from aectl.config.register import register_all
    from aectl.paths import configs_dir

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    register_all()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        cfg = compose(
            "train",
            return_hydra_config=True,
            overrides=[
                "hydra/launcher=slurm",
                "hydra.launcher.partition=gpu",
                "hydra.launcher.mem_gb=32",
                f"hydra.sweep.dir={tmp_path / 'sweep'}",
            ],
        )
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    seen = {}

    def map_array(self, fn, *args):  # stands in for sbatch
        seen["executor"] = self._executor
        return [SimpleNamespace(results=lambda: ["ok"]) for _ in args[0]]

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    assert launcher.launch([["regularizer.weight=0.1"], ["regularizer.weight=1"]], 0) == [
        "ok",
        "ok",
    ]
    executor = seen["executor"]
    assert type(executor).__name__ == "SlurmExecutor" and executor.max_num_timeout == 3
    script = executor._make_submission_file_text("python -u -m submitit.core._submit x", "uid")
    for line in (
        "--partition=gpu",
        "--gpus-per-node=1",
        "--time=240",
        "--mem=32GB",
        "--cpus-per-task=4",
        "--signal=USR2@120",
    ):
        assert f"#SBATCH {line}\n" in script


# ---- the basic launcher: 3 jobs, one of them failing (a bad value is refused before any
# job runs: this one fails in training) ----------------------------------------


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    return sweep(
        tmp_path_factory,
        "basic",
        "model=contractive",
        "regularizer.weight=1e-3,1e-1,1e38",  # the last one's loss overflows: it fails
        "trainer.seed=3",
        *EPOCH,
    )


@pytest.mark.slow
def test_summarize_refuses_a_folder_inside_a_sweep_and_names_the_sweep(basic):
    """One job's folder (or the folder of one swept value) is not a sweep: summarising it
    would write summary.csv and summary.png into the job. It names the sweep folder."""
    for inside in (basic.jobs[0], basic.jobs[0].parent):
        p = run_aectl("summarize", str(inside))
        assert p.returncode == 2 and p.stdout == "", p.stderr
        assert p.stderr.strip() == (
            f"aectl: error: SWEEP_DIR: {str(inside)!r} is inside the sweep folder "
            f"{str(basic.root)!r}, not one; allowed: the sweep folder, aectl summarize "
            f"{basic.root}"
        )
        assert not list(inside.rglob("summary.*"))


@pytest.mark.slow
def test_basic_sweep_runs_every_job_and_reports_the_failed_one(basic):
    assert basic.proc.returncode == 2  # the sweep ran every job, then reported the failure
    # one line, naming the job (Hydra's "Error executing job with overrides" line is not
    # printed: its overrides are in aectl's)
    assert basic.proc.stderr.strip().splitlines()[-1] == (
        f"aectl: error: job regularizer.weight=1e+38: {DIVERGED}"
    )
    assert "Error executing job" not in basic.proc.stderr
    names = [key(j) for j in basic.jobs]
    # named by what differs: the constant overrides are in multirun.yaml, not in the names
    assert names == [f"regularizer.weight={w}/seed=3" for w in ("0.001", "0.1", "1e+38")]
    multirun = yaml.safe_load((basic.root / "multirun.yaml").read_text())
    assert "regularizer.weight=1e-3,1e-1,1e38" in multirun["hydra"]["overrides"]["task"]
    failed = json.loads((basic.jobs[2] / "status.json").read_text())
    assert failed["status"] == "failed" and failed["error"] == DIVERGED
    for job in basic.jobs[:2]:
        assert json.loads((job / "status.json").read_text())["status"] == "completed"
        assert (job / "metrics.json").exists()


@pytest.mark.slow
def test_tensorboard_shows_each_job_with_its_hparams_and_final_metrics(basic):
    exp, groups, runs = hparams_view(basic.root)
    assert runs == [key(j) for j in basic.jobs]  # readable run names: the job folders
    assert {m.name.tag for m in exp.metric_infos} == set(metrics_vocab.declared_metrics(None))
    assert [h.name for h in exp.hparam_infos if h.differs] == ["regularizer.weight"]
    assert len(groups) == 3
    for group in groups:
        (session,) = group.sessions
        assert group.name == session.name  # the "Trial ID" is the job's folder
        job = basic.root / session.name
        if job == basic.jobs[2]:  # the one that diverged: listed as failed, not unfinished
            assert session.status == 2  # STATUS_FAILURE
            continue
        metrics = json.loads((job / "metrics.json").read_text())
        weight = float(
            next(o for o in job_overrides(job) if o.startswith("regularizer.weight=")).split("=")[1]
        )
        assert group.hparams["regularizer.weight"].number_value == pytest.approx(weight)
        assert group.hparams["trainer.seed"].number_value == 3
        assert group.hparams["model"].string_value == "contractive"
        assert session.status == 1  # STATUS_SUCCESS
        values = {m.name.tag: m.value for m in group.metric_values}
        for tag, (mkey, _, _) in metrics_vocab.METRICS.items():
            if mkey in metrics:  # every metric metrics.json has, with the same value
                assert math.isclose(values[tag], metrics[mkey], rel_tol=1e-6), tag
        assert {"val/recon", "whole_run/best_val_recon", "epoch/train_loss"} <= set(values)


@pytest.mark.slow
def test_summarize_basic_sweep_sorted_with_the_failed_job_last(basic):
    s = summarize(basic.root, "--sort", "val/recon")
    check_summary(
        basic.root,
        s,
        {
            key(basic.jobs[0]): "completed",
            key(basic.jobs[1]): "completed",
            key(basic.jobs[2]): "failed",
        },
    )
    recon = [float(r["val/recon"]) for r in s.rows[:2]]
    assert recon == sorted(recon) and s.rows[2]["status"] == "failed"
    assert s.rows[2]["error"] == DIVERGED
    assert "the loss became inf in epoch 1" in s.proc.stdout
    assert [r["regularizer.weight"] for r in s.rows[2:]] == ["1e+38"]

    s = summarize(basic.root, "--sort", "val/recon", "--descending")  # largest first
    recon = [float(r["val/recon"]) for r in s.rows[:2]]
    assert recon == sorted(recon, reverse=True) and s.rows[2]["status"] == "failed"
    bad = run_aectl("summarize", "--descending", str(basic.root))
    assert bad.returncode == 2 and bad.stderr == "aectl: error: --descending: needs --sort METRIC\n"

    bad = run_aectl("summarize", "--sort", "val/recn", str(basic.root))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert (
        bad.stderr.startswith("aectl: error: --sort: got 'val/recn' (did you mean val/recon?); ")
        and "val/recon" in bad.stderr
    )


@pytest.mark.slow
def test_summarize_partial_rows_from_tensorboard_and_killed_jobs(basic, tmp_path):
    """A job without metrics.json shows its last logged epoch; one whose process died says so."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = tmp_path / "sweep"
    shutil.copytree(basic.root, root)
    running, killed = (root / key(basic.jobs[0]), root / key(basic.jobs[1]))
    for job, pid in ((running, os.getpid()), (killed, dead_pid())):
        (job / "metrics.json").unlink()
        status = json.loads((job / "status.json").read_text())
        (job / "status.json").write_text(json.dumps({**status, "status": "running", "pid": pid}))
    s = summarize(root)
    assert s.proc.returncode == 0, s.proc.stderr
    rows = {r["folder"]: r for r in s.rows}
    assert (
        rows[key(running)]["status"] == "running" and rows[key(killed)]["status"] == "interrupted"
    )
    acc = EventAccumulator(str(running))
    acc.Reload()
    assert float(rows[key(running)]["val/recon"]) == pytest.approx(
        acc.Scalars("val/recon")[-1].value, rel=1e-6
    )
    assert rows[key(running)]["epoch"] == "1"
    assert "interrupted" in s.proc.stdout and "running" in s.proc.stdout


def dead_pid() -> int:
    """The id of a process that has exited."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ---- joblib: 2 jobs in parallel worker processes --------------------------------------------


@pytest.mark.slow
def test_joblib_sweep_splits_the_cores_and_summarizes(tmp_path_factory):
    import joblib

    s = sweep(
        tmp_path_factory,
        "joblib",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        "model=denoising",
        "optim.lr=1e-3,3e-3,1e38",  # the last one's weights overflow in its first step
        *EPOCH,
    )
    # The failing job's error comes back from its worker process (pickled) and the other
    # jobs still run: the same ending as the basic launcher's.
    assert s.proc.returncode == 2, s.proc.stderr[-3000:]
    last = s.proc.stderr.strip().splitlines()[-1]
    assert last.startswith("aectl: error: job optim.lr=1e+38: training: the loss"), last
    assert "Error executing job" not in s.proc.stderr
    assert "Traceback" not in s.proc.stderr
    assert "Joblib.Parallel(n_jobs=2" in s.proc.stdout + s.proc.stderr
    failed = [j for j in s.jobs if "lr=1e+38" in j.parent.name]
    assert len(failed) == 1
    assert json.loads((failed[0] / "status.json").read_text())["status"] == "failed"
    s.jobs.remove(failed[0])
    threads = max(1, joblib.cpu_count() // 2)
    pids = set()
    for job in s.jobs:
        log = (job / "train.log").read_text()
        assert "parallel: launcher=joblib job=" in log and f" threads={threads} " in log
        pids.add(json.loads((job / "status.json").read_text())["pid"])
    assert len(pids) == 2  # two worker processes, not the launcher's own
    want = {key(j): "completed" for j in s.jobs} | {key(failed[0]): "failed"}
    check_summary(s.root, summarize(s.root), want)


# ---- Optuna: 2 trials of the λ search -------------------------------------------------------


@pytest.mark.slow
def test_optuna_search_over_lambda_and_its_summary(tmp_path_factory):
    s = sweep(
        tmp_path_factory,
        "optuna",
        "hparams_search=optuna_lambda",
        "hydra.sweeper.n_trials=2",
        "model=contractive",
        *EPOCH,
    )
    assert s.proc.returncode == 0, s.proc.stderr
    assert len(s.jobs) == 2 and (s.root / "multirun.yaml").exists()
    # Optuna's own lines, without the colour codes its handler wrote into a redirected log
    assert "] A new study created in memory" in s.proc.stderr, s.proc.stderr
    assert "\x1b[" not in s.proc.stderr, s.proc.stderr
    result = yaml.safe_load((s.root / "optimization_results.yaml").read_text())
    trials = {}
    for job in s.jobs:
        weight = float(
            next(o for o in job_overrides(job) if o.startswith("regularizer.weight=")).split("=")[1]
        )
        assert 1e-5 <= weight <= 1
        trials[weight] = json.loads((job / "metrics.json").read_text())["val/recon"]
    best_weight = min(trials, key=trials.get)
    assert result["best_value"] == pytest.approx(trials[best_weight])
    assert result["best_params"]["regularizer.weight"] == pytest.approx(best_weight)

    summary = summarize(s.root)
    check_summary(s.root, summary, {key(j): "completed" for j in s.jobs})
    best_rows = [r for r in summary.rows if r["study_best"] == "True"]
    assert len(best_rows) == 1 and float(best_rows[0]["regularizer.weight"]) == pytest.approx(
        best_weight
    )
    assert (
        "Optuna study: minimize val/recon" in summary.proc.stdout
        and "best: regularizer.weight=" in summary.proc.stdout
    )


# ---- submitit (local executor): 2 jobs, one preempted and requeued ---------------------------


def wait_for(predicate, timeout=240.0, what=""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(root: Path, num: int) -> dict | None:
    for job in job_dirs(root):
        try:
            status = json.loads((job / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        if status.get("job") == num:
            return {**status, "folder": key(job)}
    return None


@pytest.mark.slow
def test_submitit_local_sweep_requeues_a_preempted_job_that_resumes(tmp_path_factory):
    """SLURM's preemption signal: the job is requeued into its own folder and continues from
    its last.pt; `aectl summarize` works while the sweep runs and after."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = tmp_path_factory.mktemp("submitit") / "sweep"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = ["train", "-m", "hydra/launcher=slurm_local", "hydra.launcher.cpus_per_task=1",
               "model=sparse", "regularizer.weight=0,0.01", "trainer.max_epochs=10",
               "trainer.analyze=none", "trainer.resume=auto", f"hydra.sweep.dir={root}"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "aectl", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)  # fmt: skip
    try:
        first = wait_for(
            lambda: (s := status_of(root, 0)) and s["status"] == "running" and s, what="job 0"
        )
        wait_for(
            (root / first["folder"] / "checkpoints" / "last.pt").exists, what="job 0's last.pt"
        )
        os.kill(first["pid"], signal.SIGUSR2)  # what SLURM sends before preempting the job
        wait_for(lambda: (s := status_of(root, 0)) and s.get("attempt") == 2, what="job 0 requeued")
        live = summarize(root)  # the sweep is still running
        live_end = time.time()
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out

    job0 = status_of(root, 0)
    assert live.proc.returncode == 0, live.proc.stderr
    row0 = next(r for r in live.rows if r["folder"] == job0["folder"])
    assert row0["attempt"] == "2" and row0["status"] in live.proc.stdout
    assert row0["status"] == "running" or job0["ended"] < live_end  # unless it finished meanwhile

    assert job0["status"] == "completed" and job0["attempt"] == 2 and job0["pid"] != first["pid"]
    assert job0["folder"] == first["folder"]  # requeued into its own folder
    assert status_of(root, 1)["attempt"] == 1
    logs = "".join(p.read_text() for p in root.glob(".submitit/*/*_log.out"))
    assert "this job is preempted" in logs and "Requeued job" in logs

    def val_steps(events: Path) -> list[int]:
        acc = EventAccumulator(str(events))
        acc.Reload()
        return [e.step for e in acc.Scalars("val/recon")]

    job0_dir = root / job0["folder"]
    attempts = sorted(
        job0_dir.glob("events.out.tfevents.*"), key=lambda p: float(p.name.split(".")[3])
    )
    assert len(attempts) == 2
    before, after = (val_steps(p) for p in attempts)
    assert before and min(after) > min(before)  # it continued from last.pt, it did not restart
    assert json.loads((job0_dir / "metrics.json").read_text())["epoch"] == 10

    summary = summarize(root)
    check_summary(root, summary, {key(j): "completed" for j in job_dirs(root)})
    assert sorted(r["attempt"] for r in summary.rows) == ["1", "2"]


@pytest.mark.slow
def test_job_folders_stay_inside_the_sweep_folder(tmp_path):
    """Hydra's raw `<override_dirname>/seed=N` put a seed-only sweep's jobs at `/seed=N` (the
    file system's root) and nested folders for a value with a `/`: aectl_job_subdir fixes
    both (aectl/config/job_dir.py; its unit tests are in test_configs.py)."""
    import numpy as np

    root = tmp_path / "seeds"
    proc = run_aectl("train", "-m", "trainer.seed=7", *EPOCH, f"hydra.sweep.dir={root}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(root.glob("**/metrics.json")) == [root / "seed=7" / "metrics.json"]

    data = [tmp_path / "in" / f"{c}.npz" for c in "ab"]
    data[0].parent.mkdir()
    for path in data:
        np.savez(path, x=np.random.default_rng(0).random((300, 6), dtype=np.float32))
    root = tmp_path / "paths"
    proc = run_aectl(
        "train", "-m", "dataset=npz", f"dataset.path={data[0]},{data[1]}", *EPOCH,
        f"hydra.sweep.dir={root}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.relative_to(root) for p in root.glob("**/metrics.json")) == [
        Path(f"dataset.path={str(path).replace('/', '%2F')}") / "seed=0" / "metrics.json"
        for path in data
    ]


@pytest.mark.parametrize(
    "swept, says",
    [
        ("model=sparse,contrastive", "model=contrastive: no such option; did you mean"),
        ("arch.code_dim=16,abc", "arch.code_dim: got 'abc'; allowed: an integer"),
    ],
)
def test_a_sweep_hydra_refuses_before_its_first_job_leaves_nothing(tmp_path, swept, says):
    """A swept value only Hydra's composition catches (a misspelt option, a value of the
    wrong type) is refused once the sweep folder and its multirun.yaml are written: the
    folder goes again. One that was there before stays as it was."""
    root = tmp_path / "sweeps" / "new"
    r = aectl_here("train", "-m", swept, f"hydra.sweep.dir={root}")
    assert r.returncode == 2 and says in r.stderr, r.stderr
    assert not root.exists() and "Traceback" not in r.stderr
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    r = aectl_here("train", "-m", swept, f"hydra.sweep.dir={kept}")
    assert r.returncode == 2 and says in r.stderr, r.stderr
    assert (kept / "notes.txt").read_text() == "mine"


def test_an_optuna_study_whose_every_trial_failed_ends_in_one_line(tmp_path):
    """Every trial diverges: each job is marked failed, and the study, which has no best
    trial, ends with one line and exit 2 (Optuna's ValueError was a traceback)."""
    root = tmp_path / "study"
    r = run_aectl(
        "train", "-m", "hparams_search=optuna_lambda", "model=contractive",
        "hydra.sweeper.n_trials=2", "optim.lr=1e38", *EPOCH, f"hydra.sweep.dir={root}",
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .startswith("aectl: error: hydra.sweeper: no trial of the study completed")
    ), r.stderr
    statuses = [json.loads(p.read_text())["status"] for p in root.glob("**/status.json")]
    assert statuses == ["failed", "failed"], statuses


def test_an_optuna_study_in_a_database_is_continued_by_the_same_command(tmp_path):
    """storage: sqlite:///... (configs/hparams_search/optuna_lambda.yaml) keeps the study:
    the same command again adds its trials to it. Read back with Optuna's own loader."""
    import optuna

    db = f"sqlite:///{tmp_path / 'optuna.db'}"
    for k in range(2):
        r = run_aectl(
            "train", "-m", "hparams_search=optuna_lambda", "model=contractive",
            "hydra.sweeper.n_trials=1", f"hydra.sweeper.storage={db}", *EPOCH,
            f"hydra.sweep.dir={tmp_path / f'sweep{k}'}",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
    study = optuna.load_study(study_name="aectl_lambda", storage=db)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
