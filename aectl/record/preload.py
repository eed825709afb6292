"""The libraries a run's outputs need, imported on a background thread while it trains.

A training step needs only torch. The run's pictures need torchvision's drawing helpers
(loaded alone, `aectl.record.vision`) and matplotlib, its final analyses SciPy (~1.5 s on 2
cores together; scikit-learn too for manifold data). Imported where first used, they
stopped the training thread at the first picture and before the analyses; `start` imports them after the first step, on
one daemon thread, while the next steps run (torch's kernels release the GIL).

Only where a core is spare (`spare_core`): a GPU trains (the CPU mostly waits on it), or
torch's threads leave a core free. Where torch's threads already use every core, the
import thread only takes turns with them, and not only for the CPU: an import holds the
GIL, which the training thread needs between its kernels. Measured on 2 cores, 5 rounds of
the 20-epoch MNIST job each way: preloaded, training took ~2 s longer and the analyses
~2.5 s shorter, the whole run the same (median 26.5 s against 26.4 s), even with the
thread at the lowest priority. There the libraries load where first used, as before.
Where it runs, the thread has the lowest CPU priority (nice 19, on Linux a per-thread
setting), so it takes what training leaves idle.

Two threads must never import these packages at once: matplotlib's modules import each
other in a circle, and a second thread entering that circle gets a half-initialised module
("cannot import name ... from partially initialized module"). So every first use calls
`wait` first: drawing (`pictures.pyplot`, `grid`, `png_bytes`) waits for the pictures'
loader, which runs first, and `analysis.run_all` for every loader. While the analyses'
loader runs (SciPy, scikit-learn: nothing drawing imports), pictures are drawn. A loader
that fails here is only skipped: the same import then fails where it is used, and is
reported there. Nothing is written and no random number is drawn, so a run's files and
numbers are the same with or without it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable

Loader = Callable[[], object]

_started: set[Loader] = set()
_done: dict[Loader, threading.Event] = {}
_lock = threading.Lock()
_threads: list[threading.Thread] = []
_here = threading.local()  # .loading: this thread is the preload's own


def spare_core(device_type: str, torch_threads: int) -> bool:
    """Whether a background thread would run beside the training rather than take turns
    with it: the model trains on an accelerator, or torch uses fewer threads than this
    process has cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return device_type != "cpu" or torch_threads < (cores or 1)


def start(*loaders: Loader) -> threading.Thread | None:
    """Run each loader not yet started in this process, in order, on one daemon thread."""
    with _lock:
        todo = [f for f in loaders if f not in _started]
        _started.update(todo)
        events = [(f, threading.Event()) for f in todo]
        _done.update(events)
    if not todo:
        return None
    thread = threading.Thread(target=_run, args=(events,), name="aectl-preload", daemon=True)
    with _lock:
        _threads.append(thread)
    thread.start()
    return thread


def wait(loader: Loader | None = None) -> None:
    """Return once `loader` has run (None: once no preload is running); at once when it
    was never started, or when called from a loader. Call it before importing anything a
    loader imports."""
    if getattr(_here, "loading", False):
        return
    if loader is not None:
        with _lock:
            done = _done.get(loader)
        if done is not None:
            done.wait()
        return
    with _lock:
        running = list(_threads)
    for t in running:
        t.join()
    with _lock:
        _threads[:] = [t for t in _threads if t.is_alive()]


def _run(loaders: list[tuple[Loader, threading.Event]]) -> None:
    _here.loading = True
    lowest_priority()
    for load, done in loaders:
        try:
            with contextlib.suppress(Exception):  # (reported where the module is used)
                load()
        finally:
            done.set()


def lowest_priority() -> None:
    """Nice 19 for the calling thread only (Linux, where a nice value is per thread;
    elsewhere setpriority would name a process, so nothing)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
