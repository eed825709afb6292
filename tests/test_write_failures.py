"""Every write failure is one line, and nothing is half-written.

Everything runs as root here, so `chmod` stops nothing: read-only folders are read-only
bind mounts and a full disk is a tiny tmpfs, each inside its own mount namespace
(`unshare -m`), and a file-size limit is `RLIMIT_FSIZE`. Each case checks the one-line
error, the exit code, that the checkpoints still load, and that no file is left truncated
or empty in place of an earlier good one.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, aectl_here, trained_run
from PIL import Image

pytestmark = pytest.mark.slow
SMALL = [
    "model=shallow",
    "arch.code_dim=4",
    "trainer.max_epochs=2",
    "trainer.device=cpu",
    "trainer.batch_size=64",
]


def can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return r.returncode == 0


needs_unshare = pytest.mark.skipif(not can_unshare(), reason="needs root and unshare -m")


def aectl_in_namespace(mounts: list[str], *args: str, cwd: Path = ROOT):
    """`aectl ARGS` in a private mount namespace after running the `mounts` commands."""
    command = shlex.join([sys.executable, "-m", "aectl", *args])
    script = " && ".join([*mounts, f"exec {command}"])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line(r, *needles: str) -> str:
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("aectl: error: "), r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != ".aectl.lock"
    }


def all_whole(folder: Path) -> None:
    """No temporary leftovers, no empty files (Hydra's train.log aside), and every file of a
    kind aectl writes reads back."""
    assert not list(folder.rglob(".*.tmp")), list(folder.rglob(".*.tmp"))
    for p in folder.rglob("*"):
        if not p.is_file() or p.name in ("train.log", ".aectl.lock"):
            continue
        assert p.stat().st_size > 0, p
        if p.suffix == ".pt":
            torch.load(p, weights_only=True)
        elif p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".png":
            Image.open(p).load()


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    return trained_run(tmp_path_factory.mktemp("done") / "run", *SMALL)


@needs_unshare
def test_resume_into_a_read_only_run_folder(finished, tmp_path):
    before = snapshot(finished)
    r = aectl_in_namespace(
        [f"mount --bind -o ro {shlex.quote(str(finished))} {shlex.quote(str(finished))}"],
        "train", *SMALL, "trainer.max_epochs=3", "trainer.resume=auto", f"hydra.run.dir={finished}",
    )  # fmt: skip
    one_line(r, str(finished), "Read-only file system")
    assert snapshot(finished) == before


@needs_unshare
@pytest.mark.parametrize("sub", ["analysis", "reconstructions"])
def test_an_output_folder_that_is_not_writable(sub, tmp_path):
    run = tmp_path / "run"
    (run / sub).mkdir(parents=True)
    r = aectl_in_namespace(
        [f"mount --bind -o ro {shlex.quote(str(run / sub))} {shlex.quote(str(run / sub))}"],
        "train", *SMALL, f"hydra.run.dir={run}",
    )  # fmt: skip
    one_line(r, str(run / sub), "Read-only file system")
    all_whole(run)
    if sub == "analysis":  # training had finished: its checkpoints are there and whole
        assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2
        assert not (run / "metrics.json").exists()


@needs_unshare
def test_a_resume_that_trained_keeps_its_epochs_when_its_analyses_cannot_be_written(
    finished, tmp_path
):
    """A resume trains epoch 3, saves it, then cannot write its analyses: it was refused
    nothing, it trained. Its checkpoint holds epoch 3, so the event file and the picture of
    epoch 3 stay (they went, and the epoch's logs were lost for good); the rerun does the
    analyses only, and the curves have every step."""
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    run = Path(shutil.copytree(finished, tmp_path / "run"))
    ro = shlex.quote(str(run / "analysis"))
    args = ("train", *SMALL, "trainer.max_epochs=3", "trainer.resume=auto", f"hydra.run.dir={run}")
    r = aectl_in_namespace([f"mount --bind -o ro {ro} {ro}"], *args)
    one_line(r, str(run / "analysis"), "Read-only file system")
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 3
    assert (run / "reconstructions" / "epoch_003.png").is_file()
    assert len(list(run.glob("events.out.tfevents.*"))) == 2
    all_whole(run)
    r = aectl_here(*args)
    assert r.returncode == 0 and "nothing to train" in r.stdout, r.stdout + r.stderr
    mux = EventMultiplexer().AddRunsFromDirectory(str(run))
    mux.Reload()
    steps = sorted({e.step for name in mux.Runs() for e in mux.Scalars(name, "val/recon")})
    assert len(steps) == 3, steps  # one per epoch: none lost, none twice


@needs_unshare
def test_a_full_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    run = disk / "run"
    r = aectl_in_namespace(
        [f"mount -t tmpfs -o size=120k tmpfs {shlex.quote(str(disk))}"],
        "train", *SMALL, "trainer.max_epochs=30", f"hydra.run.dir={run}",
    )  # fmt: skip
    # The run folder lived in the namespace's tmpfs; what it held is gone with it, so the
    # check is the message: one line, naming the path, and no traceback.
    one_line(r, "No space left on device", str(run))


def limited(nbytes: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


def run_limited(nbytes: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "aectl", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limited(nbytes),
        timeout=300,
    )


def test_a_file_size_limit_while_tensorboard_writes(tmp_path):
    """TensorBoard's event writer fails in its own thread and reports it at its next call;
    that too is one line, and the checkpoints written so far are whole."""
    run = tmp_path / "run"
    r = run_limited(
        60_000,
        "train", *SMALL, "trainer.max_epochs=200", "trainer.picture_every_n_epochs=1000",
        f"hydra.run.dir={run}",
    )  # fmt: skip
    line = one_line(r, "File too large")
    assert "events.out.tfevents" in line or str(run) in line, line
    all_whole(run)
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] >= 1


@pytest.mark.parametrize("hydra_record", [True, False], ids=["hydra-writes-first", "aectl-first"])
def test_an_earlier_good_file_is_never_replaced_by_a_truncated_one(
    hydra_record, finished, tmp_path
):
    """300 bytes fit nothing: with Hydra's record on, Hydra's write fails first (and its
    half-written record goes); without it, aectl's config.yaml is first. Either way the
    run's earlier files are untouched and nothing is left half-written."""
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    before = snapshot(run)
    extra = [] if hydra_record else ["hydra.output_subdir=null"]
    r = run_limited(300, "train", *SMALL, "trainer.resume=auto", f"hydra.run.dir={run}", *extra)
    if hydra_record:
        one_line(r, str(run), "File too large")
    else:
        one_line(r, "config.yaml", "File too large", "the previous one is kept")
    assert snapshot(run) == before
    all_whole(run)


def three_pictured_epochs(run: Path):
    """A 3-epoch default run in this process, with a picture every epoch."""
    from conftest import aectl_here

    return aectl_here(
        "train", "trainer.max_epochs=3", "trainer.picture_every_n_epochs=1",
        "trainer.analyze=none", "trainer.device=cpu", f"hydra.run.dir={run}",
    )  # fmt: skip


def test_an_epochs_picture_is_written_off_the_training_thread_before_its_checkpoint(
    tmp_path, monkeypatch
):
    """The reconstruction picture is encoded and written by the writer thread, and every
    last.pt that holds an epoch replaced the previous one (on that thread too) only once
    that epoch's picture was on disk: a slow encoder (0.3 s) holds the checkpoint back."""
    import threading
    import time

    from aectl.record import pictures

    encoders, commits, renamers = [], [], []
    real_png, real_replace = pictures.png_bytes, os.replace

    def slow_png(img):
        encoders.append(threading.current_thread().name)
        time.sleep(0.3)
        return real_png(img)

    def replace(src, dst):
        if str(dst).endswith(os.path.join("checkpoints", "last.pt")):
            epoch = torch.load(src, weights_only=True)["epoch"]
            commits.append((epoch, (run / "reconstructions" / f"epoch_{epoch:03d}.png").exists()))
            renamers.append(threading.current_thread().name)
        return real_replace(src, dst)

    monkeypatch.setattr(pictures, "png_bytes", slow_png)
    monkeypatch.setattr(os, "replace", replace)
    run = tmp_path / "run"
    r = three_pictured_epochs(run)
    assert r.returncode == 0, r.stderr
    assert commits == [(1, True), (2, True), (3, True)]
    assert encoders and all(name.startswith("aectl-writes") for name in encoders)
    assert renamers and all(name.startswith("aectl-writes") for name in renamers)
    for epoch in (1, 2, 3):
        Image.open(run / "reconstructions" / f"epoch_{epoch:03d}.png").load()


def test_the_writer_thread_gets_a_pictures_pixels_never_a_tensor(tmp_path, monkeypatch):
    """The writer thread runs no torch kernel: a kernel on a second thread starts a second
    OpenMP team, after which libgomp stops spinning between the training step's kernels
    (more OpenMP threads than cores) and the MNIST job's steps took 1.5x as long. So the
    epoch's picture reaches it as 8-bit pixels, whose PNG is byte for byte torchvision's."""
    import io
    import threading

    import numpy as np

    from aectl.record import pictures, runlog, vision

    got, real = [], runlog.add_picture

    def add_picture(writer, tag, picture, step, path):
        got.append((threading.current_thread().name, type(picture)))
        if isinstance(picture, np.ndarray):  # the bytes torchvision's save_image writes
            image = torch.from_numpy(picture).permute(2, 0, 1).float() / 255
            buf = io.BytesIO()
            vision.utils().save_image(image, buf, format="png")
            assert pictures.png_bytes(picture) == buf.getvalue()
        return real(writer, tag, picture, step, path)

    monkeypatch.setattr(runlog, "add_picture", add_picture)
    r = three_pictured_epochs(tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert [(n.startswith("aectl-writes"), kind) for n, kind in got] == [(True, np.ndarray)] * 3


def test_a_picture_that_cannot_be_written_stops_the_run_before_the_epochs_checkpoint(
    tmp_path, monkeypatch
):
    """The worker's write error reaches the run at the checkpoint that would hold the
    epoch: one line naming the picture, exit 2, and last.pt still the epoch before."""
    from aectl import atomic
    from aectl.record import runlog

    real = runlog.add_picture

    def add_picture(writer, tag, picture, step, path):
        if path.name == "epoch_002.png":
            raise atomic.WriteError(path, "No space left on device", "picture")
        return real(writer, tag, picture, step, path)

    monkeypatch.setattr(runlog, "add_picture", add_picture)
    stopped_after_epoch_1(tmp_path / "run", "epoch_002.png", "picture")


def stopped_after_epoch_1(run: Path, name: str, what: str) -> None:
    """Three pictured epochs whose epoch-2 `what` (file `name`) fails with a full disk:
    exit 2, one line naming it, last.pt still epoch 1, no temporary file left."""
    r = three_pictured_epochs(run)
    assert r.returncode == 2, r.stderr
    line = one_line(r, name, "No space left on device")
    assert f"could not write the {what}" in line
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
    assert not list((run / "checkpoints").glob(".*.tmp"))


def test_a_checkpoint_that_cannot_be_written_stops_the_run_at_the_next_one(tmp_path, monkeypatch):
    """A checkpoint is written by the writer thread while the next epoch trains: its error
    reaches the run when the next checkpoint is due, as one line naming last.pt, exit 2,
    with last.pt still the epoch before and nothing written after it."""
    import errno

    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(os.path.join("checkpoints", "last.pt")):
            if torch.load(src, weights_only=True)["epoch"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    stopped_after_epoch_1(tmp_path / "run", "last.pt", "checkpoint")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_run_that_fails_returns_only_once_its_queued_checkpoint_is_down(tmp_path, monkeypatch):
    """Whatever ends a run, it leaves (and unlocks its folder) only after the writer thread
    has written what it queued: here a slow checkpoint write, then an error after epoch 1."""
    import time

    from conftest import compose

    from aectl.training import checkpoint, loop, run

    real_write, real_end = checkpoint.write, loop.end_epoch

    def slow_write(data, *paths):
        time.sleep(0.5)
        return real_write(data, *paths)

    def end_then_fail(*args, **kwargs):
        real_end(*args, **kwargs)
        raise RuntimeError("something after epoch 1")

    monkeypatch.setattr(checkpoint, "write", slow_write)
    monkeypatch.setattr(loop, "end_epoch", end_then_fail)
    with pytest.raises(RuntimeError):
        run.train(compose("trainer.max_epochs=3", "trainer.device=cpu"), tmp_path)
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1


def test_a_write_error_says_a_previous_file_is_kept_only_when_there_was_one(tmp_path):
    from aectl.atomic import WriteError

    old = tmp_path / "last.pt"
    old.write_bytes(b"x")
    assert str(WriteError(old, "File too large", "checkpoint")).endswith(
        "could not write the checkpoint (File too large); the previous one is kept"
    )
    new = tmp_path / "best.pt"
    assert str(WriteError(new, "File too large", "checkpoint")).endswith(
        "could not write the checkpoint (File too large)"
    )


@pytest.mark.parametrize("nbytes", [20_000, 200])
def test_eval_on_a_full_disk_is_one_line_and_leaves_no_cut_event_file(finished, tmp_path, nbytes):
    """`aectl eval` under a file-size limit: one line, exit 2, no traceback from
    TensorBoard's writer thread, and the event file it began (cut at the limit) is gone; the
    run's own files are as they were."""
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    before = {k: v for k, v in snapshot(run).items() if not k.startswith("eval")}
    r = run_limited(nbytes, "eval", str(run))
    one_line(r, "File too large")
    after = {k: v for k, v in snapshot(run).items() if not k.startswith("eval")}
    assert after == before
    all_whole(run)


@needs_unshare
def test_a_sweep_into_a_read_only_folder_is_one_line_and_leaves_it_as_it_was(tmp_path):
    """The sweep's multirun.yaml cannot be written: one line, exit 2, no job started."""
    root = tmp_path / "sweep"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    r = aectl_in_namespace(
        [f"mount --bind -o ro {shlex.quote(str(root))} {shlex.quote(str(root))}"],
        "train", "-m", *SMALL, "trainer.seed=0,1", f"hydra.sweep.dir={root}",
    )  # fmt: skip
    one_line(r, "multirun.yaml", "Read-only file system")
    assert snapshot(root) == {"notes.txt": b"mine"}


@needs_unshare
def test_a_sweep_onto_a_full_disk_leaves_no_half_written_multirun_yaml(tmp_path):
    root = tmp_path / "sweep"
    root.mkdir()
    command = shlex.join([sys.executable, "-m", "aectl", "train", "-m", *SMALL,
                          "trainer.seed=0,1", f"hydra.sweep.dir={root}"])  # fmt: skip
    script = (
        f"mount -t tmpfs -o size=4k tmpfs {shlex.quote(str(root))} && {{ {command}; "
        f"echo rc=$? >&2; ls -A {shlex.quote(str(root))}; }}"
    )  # (what is left is listed inside the namespace, where the tiny disk is)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    r = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.stdout.split() == [], r.stdout  # not a half-written multirun.yaml
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert lines[-1] == "rc=2" and len(lines) == 2, r.stderr
    assert "multirun.yaml" in lines[0] and "No space left on device" in lines[0], lines[0]


@needs_unshare
def test_summarize_of_a_read_only_sweep_prints_the_table_and_writes_nothing(tmp_path):
    """A colleague's sweep, read-only: the table still comes (exit 0), with a note that
    summary.csv and summary.png were not written. It was refused whole."""
    from test_summarize import metrics, write_sweep

    jobs = [
        {"folder": f"regularizer.weight={w}/seed=0", "overrides": [f"regularizer.weight={w}"],
         "weight": float(w), "metrics": metrics(0.05 + float(w), 0.1, float(w))}
        for w in ("0.01", "0.1")
    ]  # fmt: skip
    root = write_sweep(tmp_path / "sweep", ["regularizer.weight=0.01,0.1"], jobs)
    before = snapshot(root)
    q = shlex.quote(str(root))
    r = aectl_in_namespace([f"mount --bind -o ro {q} {q}"], "summarize", str(root))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("completed") == 3 and "0.15" in r.stdout, r.stdout  # (2 rows)
    assert r.stderr.strip() == (
        f"note: {root} is read-only: summary.csv and summary.png not written"
    )
    assert snapshot(root) == before


def test_an_eval_that_fails_leaves_the_previous_evals_pictures_and_numbers(
    finished, tmp_path, monkeypatch, capsys
):
    """eval/ and eval.json are one set: a second eval (another split: other pictures and
    numbers) whose third picture cannot be written leaves the first eval's pictures and
    eval.json byte for byte, and no staging folder; the next eval then replaces them."""
    from aectl import atomic
    from aectl.commands import eval as evaluate
    from aectl.record import pictures

    run = Path(shutil.copytree(finished, tmp_path / "run"))
    assert evaluate.main([str(run), "--device", "cpu"]) == 0
    first = {k: v for k, v in snapshot(run).items() if k.startswith("eval")}
    assert len([k for k in first if k.endswith(".png")]) >= 3, sorted(first)
    real, calls = pictures.save_png, []

    def disk_full_at_the_third(img, path, png=None):
        calls.append(path)
        if len(calls) == 3:
            raise atomic.WriteError(path, "No space left on device")
        return real(img, path, png)

    monkeypatch.setattr(pictures, "save_png", disk_full_at_the_third)
    assert evaluate.main([str(run), "--device", "cpu", "--split", "val"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert {k: v for k, v in snapshot(run).items() if k.startswith("eval")} == first
    assert not [p.name for p in run.iterdir() if p.name.startswith(".eval")]
    monkeypatch.setattr(pictures, "save_png", real)
    assert evaluate.main([str(run), "--device", "cpu", "--split", "val"]) == 0
    second = {k: v for k, v in snapshot(run).items() if k.startswith("eval")}
    assert sorted(second) == sorted(first)
    for changed in ("eval.json", "eval/reconstructions.png"):  # (the filters are no split's)
        assert second[changed] != first[changed], changed
    assert json.loads((run / "eval.json").read_text())["split"] == "val"
    all_whole(run)
