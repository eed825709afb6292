"""The CPU half of an analysis (fitting the probe, drawing its figures), run apart from the
model: a vmap group hands its members' halves to worker processes and goes on.

An analysis spends its time in two places: the model's codes (torch, on the run's device),
then SciPy's fit and matplotlib's figures on the CPU, single-threaded and holding the GIL.
A run alone does both in turn. A vmap group finishes N members: done one after another,
its members' CPU halves were a third of a 16-job sweep on 2 cores, with the other core
idle, and on a GPU machine 15 idle cores beside one busy one. So an analysis whose time goes to
the CPU returns `Later(fn, args, ready)`: a module-level function and its arguments, CPU
tensors only (no model, nothing on a device), whose (numbers, pictures) join `ready`, what
the analysis measured already. `Workers` runs them: in a run alone, at once; in a group, in
forked worker processes (Linux, more than one core), one per core, which also PNG-encode
the pictures (`pictures.Png`), while the main thread measures the next members. The numbers
and the files are the same either way: the same function on the same values (one torch
thread in a worker; `tests/test_vmap.py` compares a member's with its job alone).

Forked, not spawned: a spawned worker imports torch, SciPy and matplotlib again (~3 s of a
core), where a fork of the finished group has them already. What a fork of a threaded
process must not meet is a lock some other thread held at the fork; the half does not log,
print, write or import (its modules are imported here before any fork, and no preload is
still running), and it gets its arguments as NumPy arrays through a pipe, never through
torch's shared-memory tensors (a container's /dev/shm is often a few MB). Each worker
ignores SIGINT (Ctrl-C reaches the main process, which stops the group), ends on SIGTERM
(the pool's way to end the others when one died), and dies with the main process (a SIGKILL
leaves no worker behind); a group that stops kills its workers at once. A worker that dies
is answered by running its half in the main process, and said once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import torch

from aectl.record import pictures

Result = tuple[dict[str, float], dict[str, torch.Tensor]]  # (in a worker's: pictures.Png)


@dataclass(frozen=True)
class Later:
    fn: Callable[..., Result]  # a module-level function (workers find it by name)
    args: tuple = ()  # CPU tensors, NumPy arrays, numbers, strings, dicts of numbers
    ready: Result = field(default_factory=lambda: ({}, {}))

    def join(self, got: Result) -> Result:
        return {**self.ready[0], **got[0]}, {**self.ready[1], **got[1]}

    def __call__(self) -> Result:
        return self.join(self.fn(*self.args))


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Workers:
    """Where `Later` halves run: `Workers(n)` for n members to finish forks up to n worker
    processes (no more than the cores), `Workers(0)` runs each when submitted. Use it as a
    context manager: leaving it waits for the workers and ends them."""

    def __init__(self, jobs: int = 0):
        n = min(jobs, usable_cores())
        forks = sys.platform.startswith("linux")
        self.pool: ProcessPoolExecutor | None = None
        self.broken = False  # a worker died: said once
        if n > 1 and forks:
            context = multiprocessing.get_context("fork")
            self.pool = ProcessPoolExecutor(
                n, mp_context=context, initializer=_worker_starts, initargs=(os.getpid(),)
            )

    def submit(self, job: Later) -> Callable[[], Result]:
        """Start the half; the returned call gives its joined result (or raises its error)."""
        if self.pool is None:
            return _now(job)
        from aectl.record import preload

        preload.wait()  # (no import under way in another thread when the first worker forks)
        try:
            future = self.pool.submit(_run, job.fn, _pack(job.args))
        except BrokenProcessPool:  # a worker died before: the rest run here
            self.say_broken()
            return _now(job)

        def result() -> Result:
            try:
                got = future.result()
            except BrokenProcessPool:  # a worker died (killed, out of memory): do it here
                self.say_broken()
                return job()
            return job.join(got)

        return result

    def say_broken(self) -> None:
        """Once: why the analyses slow down (the kernel's log says who killed the worker)."""
        if not self.broken:
            from aectl.record.progress import console

            console.print(
                "[yellow]note: an analysis worker process died (killed, or out of memory); "
                "the analyses left run in this process[/]"
            )
        self.broken = True

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        if self.pool is None:
            return
        if kind is not None:  # stopped (a second Ctrl-C, an error): end the workers, no wait
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.kill()
        self.pool.shutdown(wait=kind is None, cancel_futures=True)


def _worker_starts(main: int) -> None:
    # not the main process's handlers (GracefulStop's): Ctrl-C is the main process's to
    # handle, and SIGTERM (what the pool sends its workers when one of them died) ends one
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != main:  # the main process died before the line above took effect
            os._exit(1)
    torch.set_num_threads(1)  # (a pool's workers share the cores)


def _now(job: Later) -> Callable[[], Result]:
    got = job()
    return lambda: got


def _run(fn: Callable[..., Result], packed: tuple) -> tuple:
    """In a worker: the half, its pictures PNG-encoded here (the main thread only writes)."""
    numbers, images = fn(*_unpack(packed))
    return numbers, {name: pictures.Png.of(img) for name, img in images.items()}


class _Array:
    """A tensor argument in transit: its NumPy array (pickled in the message itself)."""

    def __init__(self, t: torch.Tensor):
        self.array = t.detach().cpu().numpy()


def _pack(args: tuple) -> tuple:
    return tuple(_Array(a) if isinstance(a, torch.Tensor) else a for a in args)


def _unpack(args: tuple) -> tuple:
    return tuple(torch.from_numpy(a.array) if isinstance(a, _Array) else a for a in args)
