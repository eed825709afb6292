"""Deterministic crash points for the recovery tests: `AECTL_FAULT=<point>:<n>`.

The n-th time the process reaches `hit("<point>")` it SIGKILLs itself, exactly as a
scheduler's kill -9 or a power cut would, so tests can crash a run mid-step or in the middle
of a checkpoint write and check that resuming gives the same weights. Points:
`step` (after a training step), `checkpoint-write` (checkpoint bytes written to the
temporary file, not yet renamed). Unset, it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def hit(point: str) -> None:
    spec = os.environ.get("AECTL_FAULT")
    if not spec:
        return
    name, _, n = spec.partition(":")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(n or 1):
        os.kill(os.getpid(), signal.SIGKILL)
