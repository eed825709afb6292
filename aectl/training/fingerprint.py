"""Resume continues the same run or refuses: what a checkpoint records to tell.

A checkpoint holds the resolved config it was trained with and a fingerprint of its data
(where it came from, the splits' shapes, a hash of the tensors' bytes, which also covers
which samples went to which split). `trainer.resume` compares them with the run being
started: other data, another architecture, regularizer or loss is refused with one line
naming what changed; fields that may change on resume (how long, how often to log, where,
the optimizer's settings) are allowed, printed, and recorded in the checkpoint.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from aectl.data.base import Data
from aectl.errors import UserError

# Fields that may differ on resume (everything in these groups but what is listed in KEEP).
MAY_CHANGE = ("trainer", "optim")
KEEP = (
    "trainer.loss",
    "trainer.binarize",
    "trainer.batch_size",
    "trainer.seed",
    "trainer.layerwise",
    "trainer.layerwise_epochs",
)
# Data fields that name where the data is, not what it is: compared by the data's hash.
PLACES = ("dataset.images", "dataset.labels", "dataset.path", "dataset.root", "dataset.download")


def _bytes(t: torch.Tensor) -> memoryview:
    return memoryview(np.ascontiguousarray(t.detach().cpu().numpy())).cast("B")


def of_data(data: Data) -> dict[str, Any]:
    h = hashlib.blake2b(digest_size=16)
    splits = {}
    for name in ("train_x", "val_x", "test_x"):
        x = getattr(data, name, None)
        if x is None:
            continue
        h.update(name.encode())
        h.update(_bytes(x))
        splits[name] = list(x.shape)
    return {
        "name": data.name,
        "source": data.scaling.get("source"),
        **splits,
        "hash": h.hexdigest(),
    }


def _flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def _may_change(key: str) -> bool:
    return key.split(".", 1)[0] in MAY_CHANGE and key not in KEEP


def changes(before: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Every config field whose value differs, as {key: (before, now)}."""
    a, b = _flat(before), _flat(now)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _show(v: Any) -> str:
    return "unset" if v is None else repr(v) if isinstance(v, str) else str(v)


ELSEWHERE = "another hydra.run.dir (a sweep: another hydra.sweep.dir)"


def check_same_run(start: dict[str, Any], config: dict[str, Any], data: Data) -> dict[str, Any]:
    """Refuse to resume a checkpoint of another run; return the allowed changes."""
    diff = changes(start.get("config") or {}, config)
    stored = start.get("fingerprint", {}).get("data")
    now = of_data(data)
    same_data = stored is not None and stored.get("hash") == now["hash"]
    refused = {
        k: v for k, v in diff.items() if not _may_change(k) and not (same_data and k in PLACES)
    }
    if refused:
        parts = _explain(refused)
        raise UserError(
            "trainer.resume",
            "the checkpoint is of another run (" + "; ".join(parts[:6]) + "); a resume "
            f"continues the same run: start a new one in {ELSEWHERE}",
        )
    if stored is not None and not same_data:
        what = [
            f"{k} {stored.get(k)} -> {now.get(k)}"
            for k in ("name", "train_x", "val_x", "test_x")
            if stored.get(k) != now.get(k)
        ]
        raise UserError(
            "trainer.resume",
            "the checkpoint was trained on other data ("
            + ("; ".join(what) if what else "same shapes, other values")
            + f"); a resume continues the same run: start a new one in {ELSEWHERE}",
        )
    return {k: v for k, v in diff.items() if _may_change(k)}


def _explain(refused: dict[str, tuple[Any, Any]]) -> list[str]:
    """`key before -> now` for each refused change; a group whose option changed is one
    entry naming the options (`regularizer none -> sparse_l1`), not every field."""
    from aectl.config.schema import option_of

    swapped = {k.split(".", 1)[0] for k in refused if k.endswith("._target_")}
    parts = []
    for group in sorted(swapped):
        a, b = refused[f"{group}._target_"]
        names = [(option_of(group, t) or (t,))[0] for t in (a, b)]
        parts.append(f"{group} {names[0]} -> {names[1]}")
    for k, (a, b) in refused.items():
        if k.split(".", 1)[0] not in swapped:
            parts.append(f"{k} {_show(a)} -> {_show(b)}")
    return parts


def describe(allowed: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, (a, b) in allowed.items())
