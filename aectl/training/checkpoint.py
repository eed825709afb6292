"""Checkpoints: written atomically, read back without unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain values (model and optimizer state, epoch, step,
RNG states, the resolved config, metrics). It is written to a temporary file in the same
folder, flushed and fsync'd, then renamed over the old one, so a crash mid-write leaves the
previous checkpoint intact; it is loaded with `weights_only=True`.
"""

from __future__ import annotations

import io
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from aectl import atomic
from aectl.errors import UserError


def serialise(state: dict[str, Any]) -> memoryview:
    """The checkpoint's bytes: the state as it is now (the tensors may change next step)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getbuffer()


def write(data: bytes | memoryview, *paths: str | os.PathLike) -> Path:
    """Write to each path atomically and durably (fsync'd file and folder): last.pt, and
    best.pt when the epoch is the best (a copy, not a second name: a file written into one
    must never change the other)."""
    for path in paths:
        atomic.write_bytes(path, data, durable=True, what="checkpoint")
    return Path(paths[0])


def save(state: dict[str, Any], *paths: str | os.PathLike) -> Path:
    """Serialise once, then write to each path (`write`)."""
    return write(serialise(state), *paths)


def load(path: str | os.PathLike, field: str = "checkpoint") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(field, f"no checkpoint file at {str(path)!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        first = next(
            (x for x in lines if "Unsupported global" in x), lines[0] if lines else "refused"
        )
        raise UserError(
            field,
            f"{str(path)!r} is not a tensor checkpoint (refused by weights_only loading: {first})",
        ) from None
    except Exception as e:  # a file of any other kind: torch's legacy reader fails in many ways
        raise UserError(
            field, f"{str(path)!r} is corrupt or truncated ({type(e).__name__})"
        ) from None
    if not isinstance(state, dict) or "model" not in state:
        raise UserError(field, f"{str(path)!r} is not an aectl checkpoint (no 'model' entry)")
    return state


def load_model_state(
    model: torch.nn.Module, state: dict[str, Any], field: str = "checkpoint"
) -> None:
    """Load weights, naming every mismatching shape instead of PyTorch's long message."""
    own = model.state_dict()
    theirs = state["model"]
    problems = [
        f"{k}: checkpoint {tuple(theirs[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in theirs and tuple(theirs[k].shape) != tuple(own[k].shape)
    ]
    missing = sorted(set(own) - set(theirs))
    unexpected = sorted(set(theirs) - set(own))
    if problems or missing or unexpected:
        parts = (
            problems + [f"missing {k}" for k in missing] + [f"unexpected {k}" for k in unexpected]
        )
        raise UserError(field, "checkpoint is of another architecture: " + "; ".join(parts[:6]))
    model.load_state_dict(theirs)
