"""The analyses' CPU halves in worker processes (`aectl.analysis.later`): the same results as
run here, a worker that dies is answered here, Ctrl-C does not reach the workers, and no
worker outlives the main process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from aectl.analysis import probe
from aectl.analysis.later import Later, Workers, usable_cores
from aectl.record import pictures

pytestmark = pytest.mark.skipif(
    usable_cores() < 2 or not sys.platform.startswith("linux"),
    reason="workers are forked on Linux with more than one core",
)
MAIN = os.getpid()


def codes_and_labels(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (300,), generator=g)
    h = torch.randn(4, 6, generator=g)[y] + torch.randn(300, 6, generator=g)
    return h, y, h[:100] + 0.1, y[:100]


def test_a_half_run_by_a_worker_gives_what_it_gives_here():
    job = Later(probe.fit_and_score, codes_and_labels(), ready=({"ready": 1.0}, {}))
    here_numbers, here_pictures = job()
    with Workers(2) as workers:
        assert workers.pool is not None
        numbers, got = workers.submit(job)()
    assert numbers == here_numbers and numbers["ready"] == 1.0
    assert isinstance(got["probe_confusion"], pictures.Png)
    assert got["probe_confusion"].data == pictures.png_bytes(here_pictures["probe_confusion"])
    assert (got["probe_confusion"].height, got["probe_confusion"].width) == tuple(
        here_pictures["probe_confusion"].shape[1:]
    )


def dies_in_a_worker(x: torch.Tensor, after: float = 0.0):
    if os.getpid() != MAIN:
        time.sleep(after)
        os._exit(3)  # as the out-of-memory killer would end it
    return {"sum": float(x.sum())}, {}


def interrupts_itself(x: torch.Tensor):
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends the whole process group
    time.sleep(0.2)
    return {"pid": float(os.getpid())}, {}


def test_a_worker_that_dies_leaves_its_half_to_the_main_process(capsys):
    with Workers(2) as workers:
        first = workers.submit(Later(dies_in_a_worker, (torch.ones(3),)))
        assert first() == ({"sum": 3.0}, {})
        assert workers.submit(Later(dies_in_a_worker, (torch.ones(4),)))() == ({"sum": 4.0}, {})
    out = capsys.readouterr().out
    assert out.count("note: an analysis worker process died") == 1, out  # said, once


def sleeps(x: torch.Tensor, seconds: float = 0.5):
    """A half that takes `seconds`, whose picture is larger than a pipe holds (64 KiB)."""
    time.sleep(seconds)
    noise = torch.rand(3, 200, 200, generator=torch.Generator().manual_seed(0))
    return {"sum": float(x.sum())}, {"noise": noise}


@pytest.mark.timeout(30)
def test_a_worker_that_dies_beside_a_busy_one_under_a_graceful_stop():
    """A run's SIGTERM handler (GracefulStop) was inherited by the forked workers: when one
    died, the pool's SIGTERM did not end the others, and the sweep waited forever."""
    from aectl.training.stopping import GracefulStop

    with GracefulStop(), Workers(2) as workers:
        dead = workers.submit(Later(dies_in_a_worker, (torch.ones(3), 0.3)))
        busy = [workers.submit(Later(sleeps, (torch.ones(k),))) for k in range(5)]  # queued
        assert dead() == ({"sum": 3.0}, {})
        assert [b()[0] for b in busy] == [{"sum": float(k)} for k in range(5)]


@pytest.mark.timeout(60)
def test_a_group_stopped_while_its_workers_are_busy_ends_them_at_once():
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with Workers(2) as workers:
            workers.submit(Later(sleeps, (torch.ones(2), 20.0)))
            pids = list(workers.pool._processes)
            raise KeyboardInterrupt  # a second Ctrl-C
    assert time.monotonic() - t0 < 5  # not after the 20 s half
    for pid in pids:
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"worker {pid} still there")


def test_ctrl_c_does_not_stop_a_worker():
    with Workers(2) as workers:
        numbers, _ = workers.submit(Later(interrupts_itself, (torch.ones(1),)))()
    assert numbers["pid"] != MAIN  # it ran in a worker, and came back


def test_no_worker_outlives_a_main_process_that_is_killed(tmp_path):
    script = textwrap.dedent(
        """
        import os, signal, sys, time, torch
        from aectl.analysis.later import Later, Workers
        def pid(x):
            return {"pid": float(os.getpid())}, {}
        workers = Workers(2)
        print(int(workers.submit(Later(pid, (torch.ones(1),)))()[0]["pid"]), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    (tmp_path / "main.py").write_text(script)
    r = subprocess.run(
        [sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == -signal.SIGKILL, r.stderr
    worker = int(r.stdout.split()[0])
    for _ in range(100):
        if not os.path.exists(f"/proc/{worker}") or " Z " in open(f"/proc/{worker}/stat").read():
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"worker {worker} outlived its main process")


def test_one_job_or_one_core_runs_each_half_when_submitted():
    assert Workers(1).pool is None and Workers(0).pool is None
    got = Workers(0).submit(Later(dies_in_a_worker, (torch.ones(2),)))  # (runs here: lives)
    assert got() == ({"sum": 2.0}, {})
