"""Run folders are shared: one writer at a time, and a resume continues the same run or refuses.

The lock is an OS-level flock (released when its process dies, however it dies); the
resume check compares the checkpoint's config and data fingerprint with the run being
started and names what changed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, aectl, aectl_here, compose

from aectl import lock
from aectl.errors import UserError

TINY = ("trainer.max_epochs=1", "trainer.device=cpu")


def train(tmp: Path, *overrides: str) -> float:
    from aectl.training.run import train as run

    return run(compose(*TINY, *overrides), tmp)


# ---- the lock ----------------------------------------------------------------------------------


def hold_in_another_process(folder: Path) -> subprocess.Popen:
    code = (
        "import sys, time; from aectl import lock\n"
        f"lock.acquire({str(folder)!r}); print('held', flush=True); time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_holder_and_a_killed_holder_frees_it(tmp_path):
    proc = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(UserError) as e:
            lock.acquire(tmp_path)
        assert str(tmp_path) in str(e.value) and f"pid {proc.pid}" in str(e.value)
        with pytest.raises(UserError, match="being written by another aectl"):
            train(tmp_path)
        assert not (tmp_path / "config.yaml").exists()  # refused before writing anything
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    lock.acquire(tmp_path)  # no stale lock after kill -9
    lock.acquire(tmp_path)  # re-entrant within a process
    lock.release(tmp_path)
    lock.release(tmp_path)


def test_summarize_is_refused_while_another_aectl_writes_the_sweep_folder(tmp_path, capsys):
    from test_summarize import contractive_sweep

    from aectl.commands import summarize

    root = contractive_sweep(tmp_path / "sweep")
    proc = hold_in_another_process(root)
    try:
        assert summarize.main([str(root)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "SWEEP_DIR" in err[0] and f"pid {proc.pid}" in err[0], err
        assert not (root / "summary.csv").exists() and not (root / "summary.png").exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert summarize.main([str(root)]) == 0  # the lock died with its holder
    assert (root / "summary.csv").is_file()


@pytest.mark.slow
def test_two_cli_runs_into_one_folder_never_mix(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    first = subprocess.Popen(
        [sys.executable, "-m", "aectl", "train", "trainer.max_epochs=400", "trainer.device=cpu",
         f"hydra.run.dir={run}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        end = time.time() + 120
        while not (run / "checkpoints" / "last.pt").exists():
            assert first.poll() is None and time.time() < end, first.communicate()
            time.sleep(0.05)
        for args in (
            ("train", *TINY, f"hydra.run.dir={run}", "trainer.resume=auto"),
            ("eval", str(run), "--checkpoint", "last"),
        ):
            r = aectl_here(*args)
            assert r.returncode == 2, r.stderr
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and "being written by another aectl" in lines[0], r.stderr
            assert f"pid {first.pid}" in lines[0]
        assert len(list(run.glob("events.out.tfevents.*"))) == 1
        assert not (run / "eval.json").exists()
        assert [p.name for p in (run / ".hydra").iterdir() if p.is_dir()] == []
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


# ---- resume continues the same run -------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("finished")
    train(run)
    return run


def files(run: Path) -> dict[Path, bytes]:
    """Every file's bytes but the lock's (it names its latest holder)."""
    return {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != lock.LOCK_FILE}


def copy_of(run: Path, tmp: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, tmp / "run"))


@pytest.mark.parametrize(
    "overrides, says",
    [
        (("arch.code_dim=8",), "arch.code_dim 16 -> 8"),
        (("model=sparse",), "regularizer none -> sparse_l1"),
        (("dataset.val_fraction=0.2",), "dataset.val_fraction 0.1 -> 0.2"),
        (("trainer.loss=bce",), "trainer.loss 'mse' -> 'bce'"),
        (("dataset=onehot8",), "dataset digits -> onehot8"),
    ],
)
def test_resuming_with_another_model_loss_or_data_is_refused(finished, tmp_path, overrides, says):
    run = copy_of(finished, tmp_path)
    before = files(run)
    with pytest.raises(UserError) as e:
        train(run, "trainer.max_epochs=2", "trainer.resume=auto", *overrides)
    assert e.value.field == "trainer.resume" and says in e.value.message, e.value.message
    # where to start anew, a sweep's folder too (it named only a run's)
    assert e.value.message.endswith(
        "start a new one in another hydra.run.dir (a sweep: another hydra.sweep.dir)"
    )
    assert files(run) == before  # config.yaml not rewritten, nothing added


def test_resuming_on_data_whose_contents_changed_is_refused(tmp_path):
    data = tmp_path / "x.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((200, 6)).astype(np.float32))
    run = tmp_path / "run"
    args = ("dataset=npz", f"dataset.path={data}", "arch.hidden=[8]", "arch.code_dim=2")
    train(run, *args)
    x = np.load(data)["x"]
    x[7, 3] = 0.5
    np.savez(data, x=x)  # same file, same shape, one value changed
    with pytest.raises(UserError, match="trained on other data.*same shapes, other values"):
        train(run, *args, "trainer.max_epochs=2", "trainer.resume=auto")


def test_allowed_changes_are_recorded_and_printed(finished, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    train(run, "trainer.max_epochs=2", "trainer.log_every_n_steps=3", "trainer.resume=auto")
    out = capsys.readouterr().out
    assert "changed: trainer.log_every_n_steps 10 -> 3, trainer.max_epochs 1 -> 2" in out
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2
    (resume,) = state["resumes"]
    # one epoch: 12 steps
    assert resume["step"] == 12 and resume["changed"]["trainer.max_epochs"] == [1, 2]
    assert state["fingerprint"]["data"]["train_x"] == [1437, 1, 8, 8]


def test_auto_with_best_but_no_last_refuses_instead_of_training_over_it(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    (run / "checkpoints" / "last.pt").unlink()
    best = (run / "checkpoints" / "best.pt").read_bytes()
    with pytest.raises(UserError, match="best.pt but no last.pt"):
        train(run, "trainer.resume=auto")
    assert (run / "checkpoints" / "best.pt").read_bytes() == best


# ---- a stop during the final analyses ------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_during_the_final_analyses_prints_the_resume_hint(tmp_path):
    import shlex

    run = tmp_path / "run"
    r = aectl("train", *TINY, f"hydra.run.dir={run}", env={"AECTL_FAULT": "analysis:1:TERM"})
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    assert "resume with: aectl train" in r.stderr and not (run / "metrics.json").exists()
    assert "interrupted by SIGTERM during the final analyses (training had finished" in r.stderr
    command = shlex.split(r.stderr.split("resume with: ")[1].strip())
    r = aectl_here(*command[1:])
    assert r.returncode == 0, r.stderr
    assert (run / "metrics.json").exists() and (run / "analysis" / "code_histogram.png").exists()


# ---- a refused run leaves nothing behind --------------------------------------------------------


@pytest.mark.slow
def test_a_run_refused_after_writing_its_log_leaves_no_folder(tmp_path):
    """Layer-wise training refuses a stage only once the run's files exist (config.yaml, the
    event file); the whole folder still goes."""
    run = tmp_path / "run"
    r = aectl_here(
        "train",
        *TINY,
        "trainer.layerwise=true",
        "regularizer=sparse_kl",
        "arch.code_activation=sigmoid",
        f"hydra.run.dir={run}",
    )
    assert r.returncode == 2 and "trainer.layerwise: stage 1" in r.stderr, r.stderr
    assert not run.exists(), sorted(run.rglob("*"))
