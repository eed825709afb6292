"""The libraries a run's outputs need, imported on a background thread while it trains.

A training step needs only torch. The run's pictures need torchvision (which imports
torch's compiler stack: ~3 s on 2 cores) and matplotlib, its final analyses scikit-learn
and SciPy (~2.5 s more). Imported where first used, they stopped the training thread at
the first picture and before the analyses; `start` imports them after the first step, on
one daemon thread, while the next steps run (torch's kernels release the GIL).

Only where a core is spare (`spare_core`): a GPU trains (the CPU mostly waits on it), or
torch's threads leave a core free. Where torch's threads already use every core, the
import thread only takes turns with them: measured on 2 cores, the 20-epoch MNIST run's
training grew by the ~5 s of imports and the whole run took as long, so there the
libraries load where first used, as before.

Safe because an import is the same whichever thread runs it: a thread that needs a module
still being imported waits for it (Python's per-module import lock), and a loader that
fails here is only skipped: the same import then fails where it is used, and is reported
there. Nothing is written and no random number is drawn, so a run's files and numbers are
the same with or without it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

Loader = Callable[[], object]

_started: set[Loader] = set()
_lock = threading.Lock()


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
    thread.start()
    return thread


def _run(loaders: list[Loader]) -> None:
    for load in loaders:
        with contextlib.suppress(Exception):  # (reported where the module is used)
            load()
