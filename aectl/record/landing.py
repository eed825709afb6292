"""Pictures and checkpoints written off the training thread, in the order they were made.

Once a picture is a tensor on the CPU, its PNG encoding (zlib: 10-40 ms for an MNIST grid
on 2 cores), its file and its TensorBoard image need nothing of the training thread; nor
does a checkpoint once its state is serialised to bytes: writing them, fsync'ing the file
and its folder and renaming it into place (50-70 ms an epoch for the MNIST job's last.pt
and best.pt, the training thread idle on the disk) can overlap the next epoch's steps.
`Landing.submit` hands such work to one worker thread per process and returns at once;
`Landing.wait` returns when everything submitted (or up to a given write) is done, and
raises the error of a write that failed (one line, as if it had failed on the training
thread).

One worker runs the writes in the order they were submitted, so an epoch's pictures are on
disk before the checkpoint that holds the epoch replaces the old one, and a checkpoint
submitted `after_earlier` is not written at all when a write before it failed: the old
checkpoint stays. A SIGKILL can only lose what no checkpoint holds yet; the resumed run
trains and draws that epoch again. The bytes are the same as when they were written on the
training thread; only the order of the events in the TensorBoard file can differ, which
TensorBoard does not read.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor

_lock = threading.Lock()
_worker: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """The process's one worker (its thread is joined at exit, after its queue)."""
    global _worker
    with _lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aectl-writes")
        return _worker


class Landing:
    """What one run (or one member of a group) has handed to the worker."""

    def __init__(self) -> None:
        self._pending: list[Future] = []

    def submit(
        self, write: Callable[..., object], *args: object, after_earlier: bool = False
    ) -> Future:
        """Queue `write(*args)`. `after_earlier`: skip it if a write this Landing queued
        before it failed."""
        if after_earlier and self._pending:
            future = _executor().submit(_unless_failed, list(self._pending), write, *args)
        else:
            future = _executor().submit(write, *args)
        self._pending.append(future)
        return future

    def wait(self, until: Future | None = None) -> None:
        """Return once every submitted write (or every one up to `until`) is done; raise
        the first one's error."""
        n = len(self._pending)
        if until is not None:
            n = self._pending.index(until) + 1 if until in self._pending else 0
        done, self._pending = self._pending[:n], self._pending[n:]
        errors = [e for e in (f.exception() for f in done) if e is not None]
        if errors:
            raise errors[0]

    def settle(self) -> None:
        """Return once every submitted write is done, keeping their errors for `wait`."""
        futures.wait(self._pending)


@contextlib.contextmanager
def drained() -> Iterator[None]:
    """On leaving, wait until the worker has run everything queued so far, whatever ended
    the block: a run folder's lock is released only once nothing writes into it. (Each
    write's error is its Landing's to raise.)"""
    try:
        yield
    finally:
        idle()


def idle() -> None:
    """Return once the worker has run everything queued so far (errors stay with their
    Landing)."""
    _executor().submit(lambda: None).result()  # (one worker, in order: the last)


def _unless_failed(earlier: list[Future], write: Callable[..., object], *args: object) -> None:
    # the earlier writes are done: one worker runs them in order
    if all(f.exception() is None for f in earlier):
        write(*args)
