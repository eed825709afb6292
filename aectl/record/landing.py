"""Pictures encoded and written off the training thread, landed before the next checkpoint.

Once a picture is a tensor on the CPU, its PNG encoding (zlib: 10-40 ms for an MNIST grid
on 2 cores), its file and its TensorBoard image need nothing of the training thread.
`Landing.submit` hands that work to one worker thread per process and returns at once;
`Landing.wait` returns when everything submitted is written, and raises the error of a
write that failed (one line, as if it had failed on the training thread).

A checkpoint calls `wait` just before it renames its new file into place: an epoch that a
checkpoint holds always has its pictures on disk, so a SIGKILL can only lose a picture of
an epoch that no checkpoint holds, and the resumed run draws that epoch again. The
encoding overlaps what comes between: the other members' validation in a stacked group,
the checkpoint's serialisation and its fsync (where the training thread waits on the disk
anyway). The bytes are the same as when they were written in place; only the order of the
events in the TensorBoard file can differ, which TensorBoard does not read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

_lock = threading.Lock()
_worker: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """The process's one worker (its thread is joined at exit, after its queue)."""
    global _worker
    with _lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aectl-pictures")
        return _worker


class Landing:
    """What one run (or one member of a group) has handed to the worker."""

    def __init__(self) -> None:
        self._pending: list[Future] = []

    def submit(self, write: Callable[..., object], *args: object) -> None:
        self._pending.append(_executor().submit(write, *args))

    def wait(self) -> None:
        """Return once every submitted write is done; raise the first one's error."""
        pending, self._pending = self._pending, []
        errors = [e for e in (f.exception() for f in pending) if e is not None]
        if errors:
            raise errors[0]
