"""Forward-mode autodiff, made ready once without torch's deprecation noise.

torch loads forward-mode AD's decompositions on the first dual number of a process (the
first `torch.func.jvp`, `jacfwd` or `forward_ad.make_dual`) through `torch.jit.script`,
whose FutureWarning would otherwise land in the user's terminal in the middle of a
contractive run. Every place that uses forward mode calls `ready()` first.
"""

from __future__ import annotations

import warnings

import torch
import torch.autograd.forward_ad as fwAD

_done = False


def ready() -> None:
    """Idempotent; a plain flag (not functools.cache) so torch.compile traces through it
    without a graph break, which inside vmap would run the whole step uncompiled."""
    global _done
    if _done:
        return
    _load()
    _done = True


def _load() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning
        )
        with fwAD.dual_level():
            fwAD.make_dual(torch.zeros(1), torch.zeros(1))
