"""Graceful stop on SIGINT/SIGTERM: finish the step, save, say how to resume, exit non-zero.

The first signal only sets a flag that the loop checks after each step; it also restores
the default handlers, so a second Ctrl-C (or SIGTERM) ends the process at once. Checkpoint
writes are atomic, so even that cannot leave a damaged file behind.
"""

from __future__ import annotations

import signal
import threading


class Interrupted(Exception):
    def __init__(self, signum: int, where: str = ""):
        """`where`: what was running when the signal came, if not training."""
        self.signum = signum
        self.where = where
        self.failed: dict[int, BaseException] = {}  # a group's jobs that had diverged before
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
