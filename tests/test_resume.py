"""Interruptions lose nothing: kill -9 at three points, SIGTERM/SIGINT, NaN, a full disk.

Every interruption hits a real `aectl` process; what follows it (the refusal, the resume,
the reference run) goes through the same CLI in this process (`aectl_here`: no interpreter
start). A resumed run must end with weights bitwise equal to the same run uninterrupted
(CPU), and TensorBoard must show each step once.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import MNIST_DIR, ROOT, aectl, aectl_here, trained_run

pytestmark = pytest.mark.slow

BASE = [
    "trainer.max_epochs=3",
    "trainer.device=cpu",
    "trainer.log_every_n_steps=4",
    "trainer.picture_every_n_epochs=3",
    "trainer.analyze=none",  # (what resumes is training; the analyses are test_analysis')
]


def weights(run: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / name, weights_only=True)["model"]


def assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def scalar_steps(run: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("ref") / "run", *BASE)


# 12 steps per epoch (1437 training digits, batch 128): in epoch 2, and its last step
@pytest.mark.parametrize("fault", ["step:20", "step:24", "checkpoint-write:2"])
def test_sigkill_then_resume_is_bitwise_identical(fault, reference, tmp_path):
    run = tmp_path / "run"
    r = aectl("train", *BASE, f"hydra.run.dir={run}", env={"AECTL_FAULT": fault})
    assert r.returncode == -signal.SIGKILL
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1  # the crash never replaced the last good checkpoint
    if fault.startswith("checkpoint"):
        assert list((run / "checkpoints").glob(".*.tmp")), (
            "the crash should leave a partial temp file"
        )

    r = aectl_here("train", *BASE, f"hydra.run.dir={run}")  # a NEW run into a used folder
    assert r.returncode == 2 and "trainer.resume=auto" in r.stderr

    r = aectl_here("train", *BASE, f"hydra.run.dir={run}", "trainer.resume=auto")
    assert r.returncode == 0, r.stderr
    assert not list((run / "checkpoints").glob(".*.tmp"))
    assert_bitwise_equal(weights(run), weights(reference))
    assert_bitwise_equal(weights(run, "best.pt"), weights(reference, "best.pt"))
    # TensorBoard: every step once, in order, with the uninterrupted run's values
    assert scalar_steps(run, "train/loss") == scalar_steps(reference, "train/loss")
    assert scalar_steps(run, "val/recon") == scalar_steps(reference, "val/recon")


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "aectl", "train", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end
        time.sleep(0.01)


MNIST = [
    "dataset=idx",
    f"dataset.images={MNIST_DIR}/t10k-images-idx3-ubyte.gz",
    "dataset.limit=2000",
    "trainer.max_epochs=3",
    "trainer.batch_size=32",
    "trainer.device=cpu",
    "trainer.picture_every_n_epochs=3",
    "trainer.analyze=none",  # (what resumes is training; the analyses are test_analysis')
]
needs_mnist = pytest.mark.skipif(not MNIST_DIR.exists(), reason="needs ../shared/data/mnist-t10k")


@pytest.fixture(scope="module")
def mnist_reference(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("mnist") / "ref", *MNIST)


@needs_mnist
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_and_resumes_exactly(sig, mnist_reference, tmp_path):
    ref = mnist_reference
    run = tmp_path / "run"
    proc = _start([*MNIST, f"hydra.run.dir={run}"])
    _wait_for(run / "checkpoints" / "last.pt", proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "resume with: aectl train" in err
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert 1 <= state["epoch"] < 3
    command = shlex.split(err.split("resume with: ")[1].strip())
    assert command[:2] == ["aectl", "train"]
    r = aectl_here(*command[1:])
    assert r.returncode == 0, r.stderr
    assert_bitwise_equal(weights(run), weights(ref))
    steps = [s for s, _ in scalar_steps(run, "train/loss")]
    assert steps == sorted(set(steps)) == [s for s, _ in scalar_steps(ref, "train/loss")]


@needs_mnist
def test_an_interrupted_sweep_prints_the_command_that_finishes_it(tmp_path):
    """A sweep job's folder holds `=` and `,`: the hint is the sweep's own command (quoted for
    Hydra and the shell), which resumes the interrupted job and runs the ones not started."""
    root = tmp_path / "it's a sweep"
    quoted = "'" + str(root).replace("'", "\\'") + "'"  # Hydra's quoting
    proc = _start(["-m", *MNIST, "trainer.seed=0,1", f"hydra.sweep.dir={quoted}"])
    first = None
    end = time.time() + 120
    while first is None:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end
        first = next(root.glob("seed=0/checkpoints/last.pt"), None)  # only the seed is swept
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    command = shlex.split(err.split("resume with: ")[1].strip())
    assert command[:3] == ["aectl", "train", "-m"] and "trainer.seed=0,1" in command
    status = json.loads((root / "seed=0" / "status.json").read_text())
    assert status["status"] == "interrupted" and "SIGINT" in status["signal"]
    assert shlex.split(status["resume"]) == command and status["pid"] == proc.pid
    s = aectl_here("summarize", str(root))
    assert "(2 jobs: 1 interrupted, 1 not started)" in " ".join(s.stdout.split()), s.stdout
    r = aectl_here(*command[1:])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(resumed " in r.stdout
    done = sorted(root.glob("seed=*/metrics.json"))
    assert [p.parent.name for p in done] == ["seed=0", "seed=1"]
    assert all(json.loads(p.read_text())["epoch"] == 3 for p in done)
    assert json.loads((root / "seed=0" / "status.json").read_text())["status"] == "completed"


@needs_mnist
def test_second_ctrl_c_exits_at_once_and_damages_nothing(tmp_path):
    run = tmp_path / "run"
    proc = _start([*MNIST, "trainer.max_epochs=50", f"hydra.run.dir={run}"])
    _wait_for(run / "checkpoints" / "last.pt", proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] >= 1


def test_nan_loss_stops_with_the_step_and_keeps_a_finite_checkpoint(tmp_path):
    run = tmp_path / "run"
    r = aectl_here(
        "train",
        "model=linear",
        "optim=sgd",
        "optim.lr=50",
        "trainer.max_epochs=5",
        "trainer.log_every_n_steps=1",
        "trainer.device=cpu",
        f"hydra.run.dir={run}",
    )
    assert r.returncode == 3, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "at step " in lines[0] and "lower optim.lr" in lines[0], r.stderr
    last = run / "checkpoints" / "last.pt"
    if last.exists():
        assert all(torch.isfinite(v).all() for v in weights(run).values())
        assert "last.pt keeps the last finite state" in lines[0]
    else:  # the message must not point at a file that is not there
        assert "before the first checkpoint" in lines[0] and "last.pt" not in lines[0]


def test_full_disk_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path):
    run = tmp_path / "run"
    r = aectl_here("train", "trainer.max_epochs=1", "trainer.analyze=none", f"hydra.run.dir={run}")
    assert r.returncode == 0, r.stderr
    before = (run / "checkpoints" / "last.pt").read_bytes()
    limit = len(before) // 2  # checkpoints no longer fit; everything else still does

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ}
    env.pop("HYDRA_FULL_ERROR", None)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "aectl",
            "train",
            "trainer.max_epochs=2",
            "trainer.device=cpu",
            f"hydra.run.dir={run}",
            "trainer.resume=auto",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr
    line = [x for x in r.stderr.splitlines() if x.startswith("aectl: error:")]
    assert line and "last.pt" in line[0] and "previous one is kept" in line[0]
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    assert not list((run / "checkpoints").glob(".*.tmp"))


@pytest.mark.parametrize("every", [5, 1000])
def test_every_epoch_ends_with_a_logged_window(every, tmp_path):
    """Windows of `log_every_n_steps` steps, then the epoch's partial one: a run shorter
    than one window still logs train/*, and each epoch's windows, weighted by their steps,
    average to that epoch's training loss (windows are means of batch means, the epoch a
    mean per sample: equal when every batch is full, as here)."""
    from conftest import compose

    from aectl.training.run import train

    train(
        compose(
            f"trainer.log_every_n_steps={every}",
            "trainer.max_epochs=2",
            "trainer.device=cpu",
            "dataset.test_fraction=0",
            "trainer.batch_size=147",
        ),
        tmp_path,
    )
    per_epoch = 11  # 1617 training digits = 11 full batches of 147
    want = [s for e in (0, per_epoch) for s in range(e + every, e + per_epoch, every)]
    want = sorted(want + [per_epoch, 2 * per_epoch])
    logged = scalar_steps(tmp_path, "train/loss")
    assert [s for s, _ in logged] == want
    epoch_means = dict(scalar_steps(tmp_path, "epoch/train_loss"))  # (finish() logs it again)
    assert sorted(epoch_means) == [per_epoch, 2 * per_epoch]
    for e, mean in enumerate(epoch_means[s] for s in sorted(epoch_means)):
        windows = [(s, v) for s, v in logged if e * per_epoch < s <= (e + 1) * per_epoch]
        sizes = [
            b - a
            for a, b in zip([e * per_epoch] + [s for s, _ in windows], [s for s, _ in windows])
        ]
        weighted = sum(n * v for n, (_, v) in zip(sizes, windows)) / per_epoch
        assert weighted == pytest.approx(mean, rel=1e-5)


def test_continuing_a_finished_run_saved_before_epoch_samples_per_s(tmp_path):
    """Nothing left to train: the closing line must cope with an older checkpoint's metrics."""
    from conftest import compose

    from aectl.training.run import train

    args = ("trainer.max_epochs=1", "trainer.device=cpu")
    train(compose(*args), tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    state["metrics"].pop("epoch_samples_per_s")
    torch.save(state, tmp_path / "checkpoints" / "last.pt")
    train(compose(*args, "trainer.resume=auto"), tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["epoch"] == 1


def test_a_log_opened_in_the_same_second_as_an_older_one_sorts_after_it(tmp_path):
    """TensorBoard reads event files in name order (second, host, pid): a resume moments
    after a crash by a process with a smaller pid would sort first and lose the older
    file's points. The new writer waits for the next second instead."""
    from tensorboard.backend.event_processing import io_wrapper

    from aectl.record.runlog import RunLog

    older = tmp_path / f"events.out.tfevents.{int(time.time()):010d}.host.999999999.0"
    older.write_bytes(b"")
    log = RunLog(tmp_path, "penalty_term", purge_step=13)
    log.close()
    files = [Path(p).name for p in io_wrapper.ListDirectoryAbsolute(str(tmp_path))]
    events = sorted(f for f in files if f.startswith("events.out.tfevents."))
    assert len(events) == 2 and events[0] == older.name


@pytest.mark.parametrize("optim", ["adam", "sgd"])
def test_a_resume_that_changes_the_learning_rate_trains_at_the_new_one(optim, tmp_path):
    """optim.* may change on resume (it is printed as a change): the optimizer's moments
    come from the checkpoint, its lr and weight decay from the command line."""
    import shutil

    from conftest import compose

    from aectl.training.run import train

    base = (f"optim={optim}", "trainer.analyze=none", "trainer.device=cpu")
    changed, same = tmp_path / "changed", tmp_path / "same"
    train(compose(*base, "trainer.max_epochs=1", "optim.lr=0.01"), changed)
    shutil.copytree(changed, same)
    more = ("trainer.max_epochs=2", "trainer.resume=auto")
    train(compose(*base, *more, "optim.lr=0.01"), same)
    train(compose(*base, *more, "optim.lr=0.02", "optim.weight_decay=0.001"), changed)
    group = torch.load(changed / "checkpoints" / "last.pt", weights_only=True)["optimizer"]
    assert group["param_groups"][0]["lr"] == 0.02
    assert group["param_groups"][0]["weight_decay"] == 0.001
    assert group["state"]  # the moments went on
    # and the second epoch trained at them (before the fix both resumes ended bit-equal)
    a, b = weights(changed), weights(same)
    assert any(not torch.equal(a[k], b[k]) for k in a)


STATUS = "status.json"


def test_a_sweep_job_resumed_alone_keeps_its_status_json_true(tmp_path):
    """A sweep job's folder continued by a run alone (README's "resume alone"): status.json
    says interrupted when that run is stopped, and completed when it finishes; it once still
    said completed at the sweep's epoch while last.pt was far past it."""
    sweep = tmp_path / "sweep"
    r = aectl_here(
        "train", "-m", "model=contractive", "regularizer.weight=1e-3", "trainer.max_epochs=1",
        "trainer.analyze=none", "trainer.device=cpu", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    (job,) = [p.parent for p in sweep.glob("**/status.json")]
    before = json.loads((job / "status.json").read_text())
    alone = ["train", "model=contractive", "regularizer.weight=1e-3", "trainer.analyze=none",
             "trainer.device=cpu", f"hydra.run.dir='{job}'", "trainer.resume=auto"]  # fmt: skip
    r = aectl_here(*alone, "trainer.max_epochs=3", env={"AECTL_FAULT": "step:20:TERM"})
    assert r.returncode == 143, r.stderr[-2000:]
    status = json.loads((job / "status.json").read_text())
    assert status["status"] == "interrupted" and status["signal"] == "SIGTERM"
    assert status["job"] == before["job"] and "resume" in status
    # the run alone's process and start, not the sweep's (it once kept the sweep's pid)
    assert status["started"] > before["ended"] and status["host"] == before["host"]
    r = aectl_here(*alone, "trainer.max_epochs=3")
    assert r.returncode == 0, r.stderr[-2000:]
    status = json.loads((job / "status.json").read_text())
    assert status["status"] == "completed" and status["ended"] > before["ended"]
    assert not {"signal", "resume"} & set(status)
    assert json.loads((job / "metrics.json").read_text())["epoch"] == 3
    assert status["attempt"] == 3  # the sweep's, then two runs alone (it once stayed at 1)
    # asked for fewer epochs than it has, alone or by the sweep run again: it is done
    # already and left as it is, Hydra's records of the commands that trained it too (it
    # was refused, and the sweep marked the finished run "failed"); status.json records
    # each command
    kept = lambda: {  # noqa: E731
        p: p.read_bytes()
        for p in job.rglob("*")
        if p.is_file() and p.name not in (".aectl.lock", STATUS)
    }
    files = kept()
    r = aectl_here(*alone, "trainer.max_epochs=2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (
        f"run folder: {job}: already trained to epoch 3, past trainer.max_epochs=2: nothing to "
        "train; left as it is (val/recon "
    ) in " ".join(r.stdout.split())
    sweep_again = ["train", "-m", "model=contractive", "regularizer.weight=1e-3",
                   "trainer.max_epochs=1", "trainer.analyze=none", "trainer.device=cpu",
                   f"hydra.sweep.dir={sweep}"]  # fmt: skip
    for launcher in ("basic", "vmap"):
        r = aectl_here(*sweep_again, f"hydra/launcher={launcher}")
        assert r.returncode == 0, r.stderr[-2000:]
        assert "past trainer.max_epochs=1: nothing to train; left as it is" in r.stdout
        assert "aectl train  device" not in r.stdout  # (nothing built, nothing written)
    assert kept() == files
    status = json.loads((job / "status.json").read_text())
    assert status["status"] == "completed" and status["attempt"] == 6
    # another change with nothing to train is refused: the job fails in the sweep, and its
    # folder's status.json stays what it said (it once became "failed" over a finished run),
    # and so do the sweep's and the job's records of the command that trained it (the
    # refused command was recorded, and `aectl summarize` showed its settings)
    multirun = (sweep / "multirun.yaml").read_bytes()
    for launcher in ("basic", "vmap"):
        r = aectl_here(*sweep_again, "optim.lr=1e-4", f"hydra/launcher={launcher}")
        assert r.returncode == 2 and "describe epochs trained without them" in r.stderr, r.stderr
        assert json.loads((job / "status.json").read_text()) == status
        assert (sweep / "multirun.yaml").read_bytes() == multirun
    assert kept() == files
    # its own settings again: said, nothing trained, measured again
    r = aectl_here(*alone, "trainer.max_epochs=3")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (  # (trainer.analyze=none: the test split only; it said "and analyses" too)
        "note: the checkpoint is at epoch 3, at or past trainer.max_epochs=3: nothing to "
        "train; the test split is measured again" in " ".join(r.stdout.split())
    )
    assert json.loads((job / "metrics.json").read_text())["epoch"] == 3
    (done,) = [line for line in r.stdout.splitlines() if line.startswith("done: ")]
    assert done.endswith(f"; measured again, nothing trained; run folder {job}"), done
    assert "samples/s" not in done  # (an earlier process's speed, once shown as this one's)
    assert "first_step_unix" not in json.loads((job / "metrics.json").read_text())["timing"]


@pytest.mark.parametrize("sweep", [False, True])
def test_a_resume_keeps_the_record_of_the_command_that_started_the_run(tmp_path, sweep):
    """Hydra's record in `.hydra/` stays the first command's; each command that continues
    the run records itself in `.hydra/resume_<time>/` (a sweep run again with more epochs
    once overwrote its jobs' records)."""
    folder = tmp_path / "runs"
    args = ["model=contractive", "trainer.analyze=none", "trainer.device=cpu"]
    where = ["-m", f"hydra.sweep.dir={folder}"] if sweep else [f"hydra.run.dir={folder}"]
    assert aectl_here("train", *where, *args, "trainer.max_epochs=1").returncode == 0
    (job,) = [p.parent.parent for p in folder.glob("**/.hydra/overrides.yaml")]
    first = {p.name: p.read_bytes() for p in (job / ".hydra").glob("*.yaml")}
    assert len(first) == 3
    resume = [] if sweep else ["trainer.resume=auto"]  # (a sweep's jobs continue by default)
    r = aectl_here("train", *where, *args, "trainer.max_epochs=2", *resume)
    assert r.returncode == 0, r.stderr[-2000:]
    assert {p.name: p.read_bytes() for p in (job / ".hydra").glob("*.yaml")} == first
    (record,) = (job / ".hydra").glob("resume_*/overrides.yaml")
    assert "trainer.max_epochs=2" in record.read_text()
    assert json.loads((job / "metrics.json").read_text())["epoch"] == 2


def test_a_sweep_refused_job_by_job_names_each_and_writes_nothing(tmp_path):
    """A sweep run again with a setting its trained jobs cannot take: one line per job (the
    basic launcher named only the first), and the sweep folder byte for byte as it was:
    status.json, multirun.yaml and each job's .hydra/ (both were rewritten with the refused
    command, which `aectl summarize` then reported as the jobs' settings)."""
    sweep = tmp_path / "sweep"
    command = ["train", "-m", "model=contractive", "regularizer.weight=1e-3,1e-2",
               "trainer.max_epochs=1", "trainer.analyze=none", "trainer.device=cpu",
               f"hydra.sweep.dir={sweep}"]  # fmt: skip
    assert aectl_here(*command).returncode == 0
    files = lambda: {  # noqa: E731
        p: p.read_bytes() for p in sweep.rglob("*") if p.is_file() and p.name != ".aectl.lock"
    }
    before = files()
    for launcher in ("basic", "vmap"):
        r = aectl_here(*command, "optim.lr=1e-4", f"hydra/launcher={launcher}")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 2, r.stderr
        if launcher == "vmap":  # after the plan line, which counted them
            assert "vmap: jobs in this group to train: 0 of 2 (2 refused: said at the end)" in (
                r.stdout
            )
        for line, weight in zip(lines, ["0.001", "0.01"]):
            # named by what tells it apart (`optim.lr=1e-4` once showed, as `0.0001`)
            assert line.startswith(f"aectl: error: job regularizer.weight={weight}: "), line
            assert "describe epochs trained without them" in line
        assert files() == before


@pytest.mark.parametrize(
    "arg",
    ["hydra.run.dir='/tmp/x/seed=0'", "it's", "a b", "x$y", "q'\"", "b'`c", "n'!", "back'\\"],
)
def test_resume_commands_read_well_and_reach_the_shell_whole(arg):
    """Hydra's single-quoted folder is double-quoted, not shlex's '"'"' chains; whatever
    the argument, a real shell hands it over unchanged."""
    from aectl.training.resume import shell_join

    line = shell_join(["aectl", arg])
    if arg.startswith("hydra.run.dir"):
        assert line == "aectl \"hydra.run.dir='/tmp/x/seed=0'\""
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {line}"], capture_output=True, text=True)
    assert out.stdout.split("\0")[:2] == ["aectl", arg]


def test_a_resume_that_would_train_nothing_changes_nothing(tmp_path):
    """At or past trainer.max_epochs a resume trains nothing: measuring the run again is
    fine, changing its settings is refused (config.yaml and a new HParams session said lr
    1e-4 for a model trained at 3e-3). The folder stays byte for byte."""
    run = trained_run(tmp_path / "run", "trainer.max_epochs=2", "trainer.device=cpu")
    files = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".aectl.lock"}
    r = aectl_here(
        "train", "trainer.max_epochs=1", "optim.lr=1e-4", "trainer.device=cpu",
        f"hydra.run.dir={run}", "trainer.resume=auto",
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        "aectl: error: trainer.max_epochs: got 1; the checkpoint is at epoch 2, so this resume "
        "would train nothing and its changes (optim.lr 0.003 -> 0.0001, trainer.max_epochs 2 "
        "-> 1) would describe epochs trained without them; allowed: trainer.max_epochs above 2 "
        "to train on, or the run's own settings to measure it again"
    )
    now = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".aectl.lock"}
    assert now == files
    r = aectl_here(  # its own settings: measured again
        "train", "trainer.max_epochs=2", "trainer.device=cpu", f"hydra.run.dir={run}",
        "trainer.resume=auto",
    )  # fmt: skip
    assert r.returncode == 0 and "nothing to train" in r.stdout, r.stderr


@pytest.mark.parametrize("text", ["[1, 2]", "not json", '{"epoch": 3, "step": 36}'])
def test_a_run_is_left_as_it_is_only_on_a_metrics_json_that_describes_it(tmp_path, text):
    """metrics.json is read from the folder, as anything may be there: not a mapping, not
    JSON, or without the monitored number, the run is not taken as finished (no traceback)."""
    from types import SimpleNamespace

    from aectl.training.state import TrainState
    from aectl.training.untrained import left_as_it_is

    (tmp_path / "metrics.json").write_text(text)
    t = SimpleNamespace(max_epochs=2, monitor="val/recon")
    assert left_as_it_is(tmp_path, TrainState(epoch=3, step=36), None, t) is None
    (tmp_path / "metrics.json").write_text('{"epoch": 3, "step": 36, "val/recon": 0.5}')
    left = left_as_it_is(tmp_path, TrainState(epoch=3, step=36), None, t)
    assert left is not None and left.value == 0.5
