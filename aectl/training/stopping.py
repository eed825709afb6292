"""Graceful stop on SIGINT/SIGTERM: finish the step, save, say how to resume, exit non-zero.

The first signal only sets a flag that the loop checks after each step; it also restores
the default handlers, so a second Ctrl-C (or SIGTERM) ends the process at once. Checkpoint
writes are atomic, so even that cannot leave a damaged file behind.

Before training, a Ctrl-C is a KeyboardInterrupt (`aectl: stopped`), except while torch
loads: its import runs Python code from C++, and a KeyboardInterrupt raised in there was
either swallowed (torch's C extension imports NumPy and only warns when that import fails:
the Ctrl-C was lost, the run trained to its end and then failed on a half-imported NumPy)
or thrown through pybind11, which aborts the process. `load_torch` loads it with SIGINT
held, and raises the KeyboardInterrupt once it has loaded; the commands call it before the
first module that imports torch. (This module itself imports nothing heavy.)
"""

from __future__ import annotations

import signal
import sys
import threading


class Interrupted(Exception):
    def __init__(self, signum: int, where: str = ""):
        """`where`: what was running when the signal came, if not training."""
        self.signum = signum
        self.where = where
        self.failed: dict[int, BaseException] = {}  # a group's jobs that had diverged before
        self.ended: dict[int, object] = {}  # a group's jobs that had ended: result or error
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class GracefulStop:
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def stopping_now() -> None:
    """A run or sweep has begun to stop and to say so: a further Ctrl-C would only cut short
    its message, its status.json files or Python's exit (a traceback from an atexit
    callback), so from here it is ignored; what is left takes milliseconds."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def load_torch() -> None:
    """`import torch`, with a SIGINT that arrives meanwhile raised once it has loaded."""
    if "torch" in sys.modules or threading.current_thread() is not threading.main_thread():
        import torch  # noqa: F401  (loaded already, or no signal handler can be set here)

        return
    held: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # (a background job of a shell: nothing to hold)
        import torch  # noqa: F401

        return
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        import torch  # noqa: F401
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt
