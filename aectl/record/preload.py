"""The libraries a run's outputs need, imported on a background thread while it trains.

A training step needs only torch. The run's pictures need torchvision's drawing helpers
(loaded alone, `aectl.record.vision`) and matplotlib, its final analyses scikit-learn and
SciPy (~2.5 s on 2 cores). Imported where first used, they stopped the training thread at
the first picture and before the analyses; `start` imports them after the first step, on
one daemon thread, while the next steps run (torch's kernels release the GIL).

Only where a core is spare (`spare_core`): a GPU trains (the CPU mostly waits on it), or
torch's threads leave a core free. Where torch's threads already use every core, the
import thread only takes turns with them: measured on 2 cores, the 20-epoch MNIST run's
training grew by the ~5 s of imports and the whole run took as long, so there the
libraries load where first used, as before.

Two threads must never import these packages at once: matplotlib's modules import each
other in a circle, and a second thread entering that circle gets a half-initialised module
("cannot import name ... from partially initialized module"). So every first use on the
training thread calls `wait()` first (`pictures.pyplot`, `grid`, `save_png`,
`analysis.run_all`): the training thread imports nothing of theirs while the background
thread runs. A loader that fails here is only skipped: the same import then fails where it
is used, and is reported there. Nothing is written and no random number is drawn, so a
run's files and numbers are the same with or without it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

Loader = Callable[[], object]

_started: set[Loader] = set()
_lock = threading.Lock()
_threads: list[threading.Thread] = []


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
    if not todo:
        return None
    thread = threading.Thread(target=_run, args=(todo,), name="aectl-preload", daemon=True)
    with _lock:
        _threads.append(thread)
    thread.start()
    return thread


def wait() -> None:
    """Return once no preload is running (at once when none was started): call it before
    importing anything a loader imports. A loader calling it (on its own thread) goes on."""
    with _lock:
        running = [t for t in _threads if t is not threading.current_thread()]
    for t in running:
        t.join()
    with _lock:
        _threads[:] = [t for t in _threads if t.is_alive()]


def _run(loaders: list[Loader]) -> None:
    for load in loaders:
        with contextlib.suppress(Exception):  # (reported where the module is used)
            load()
