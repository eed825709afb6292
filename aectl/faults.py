"""Deterministic crash points for the recovery tests: `AECTL_FAULT=<point>:<n>[:TERM|:INT|:INT2]`.

The n-th time the process reaches `hit("<point>")` it SIGKILLs itself, exactly as a
scheduler's kill -9 or a power cut would (with `:TERM`, it sends itself SIGTERM instead,
as a scheduler's polite stop would; `:INT`, SIGINT, as Ctrl-C; `:INT2`, Ctrl-C twice), so tests can crash a run
mid-step, in the middle of a checkpoint write or during the final analyses and check what
resuming gives. Points: `setup` (the run's or group's models built, before training),
`step` (after a training step), `checkpoint-write` (checkpoint bytes written to the
temporary file, not yet renamed), `analysis` (before the end-of-run analyses), `finish`
(before a run's final numbers are written). Unset, it
costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

_counts: dict[str, int] = {}


def hit(point: str, before: Callable[[], object] | None = None) -> None:
    """`before` runs just before the signal: a `step` point first lets the writer thread
    finish what was queued, so a kill at step n finds the same files every time (what it
    finds on a machine whose disk keeps up). A kill during a write is `checkpoint-write`."""
    spec = os.environ.get("AECTL_FAULT")
    if not spec:
        return
    name, _, rest = spec.partition(":")
    if name != point:
        return
    n, _, how = rest.partition(":")
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(n or 1):
        if before is not None:
            before()
        signals = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "INT2": signal.SIGINT}
        for _ in range(2 if how == "INT2" else 1):
            os.kill(os.getpid(), signals.get(how, signal.SIGKILL))
