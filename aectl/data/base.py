"""The in-memory dataset every loader returns, and the seeded train/val split.

Autoencoder datasets here are small enough to live as one tensor on the training device,
so every loader decodes its source once into a `Data` and training never touches a
DataLoader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from aectl.errors import require

IMAGE, VECTOR, ONEHOT, MANIFOLD = "image", "vector", "onehot", "manifold"


def ram_bytes() -> int | None:
    """The machine's memory in all (None when it cannot be told): a loader's data, and a
    model's weights on the CPU, must fit in it."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


@dataclass
class Data:
    """Train and validation tensors plus what the rest of aectl needs to know about them."""

    train_x: torch.Tensor  # (N, *shape), float32
    val_x: torch.Tensor  # (M, *shape), float32
    train_y: torch.Tensor | None  # (N,) int64 labels, or None
    val_y: torch.Tensor | None
    shape: tuple[int, ...]  # one sample: (C, H, W) for images, (D,) otherwise
    kind: str  # IMAGE | VECTOR | ONEHOT | MANIFOLD
    name: str
    scaling: dict[str, Any]  # how raw values became these floats (recorded in the run)
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. the manifold's true curve

    @property
    def input_size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def is_image(self) -> bool:
        return self.kind == IMAGE

    def to(self, device: torch.device | str) -> Data:
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return replace(
            self,
            train_x=move(self.train_x),
            val_x=move(self.val_x),
            train_y=move(self.train_y),
            val_y=move(self.val_y),
        )


def split(
    x: torch.Tensor,
    y: torch.Tensor | None,
    *,
    val_fraction: float,
    seed: int,
    shape: tuple[int, ...],
    kind: str,
    name: str,
    scaling: dict[str, Any],
    extras: dict[str, Any] | None = None,
) -> Data:
    """Seeded random train/val split. `val_fraction=0` validates on the training set."""
    require(
        0.0 <= val_fraction < 1.0, "dataset.val_fraction", val_fraction, "allowed: 0 <= value < 1"
    )
    x = x.float().contiguous()
    n = x.shape[0]
    require(n >= 1, f"dataset ({name})", n, "the dataset holds no samples")
    n_val = int(round(n * val_fraction))
    if val_fraction > 0:
        n_val = min(max(n_val, 1), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if n_val == 0:
        tr, va = perm, perm
    else:
        va, tr = perm[:n_val], perm[n_val:]
    pick = lambda t, i: None if t is None else t[i].contiguous()  # noqa: E731
    return Data(
        train_x=x[tr].contiguous(),
        val_x=x[va].contiguous(),
        train_y=pick(y, tr),
        val_y=pick(y, va),
        shape=tuple(shape),
        kind=kind,
        name=name,
        scaling=dict(scaling),
        extras=dict(extras or {}),
    )
