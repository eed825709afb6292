"""The in-memory dataset every loader returns, and the seeded train/val/test split.

Autoencoder datasets here are small enough to live as one tensor on the training device,
so every loader decodes its source once into a `Data` and training never touches a
DataLoader.

Three splits: training, validation (each epoch's numbers, best.pt, what sweeps minimise)
and test (measured once, at the end of the run, and by `aectl eval`: the number to report).
The test split is a data set's official one when it has one, else a seeded share of the
samples held out like the validation split.
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


# how 8-bit pixels are scaled to [0, 1] (recorded in metrics.json; PSNR's peak follows it)
EIGHT_BIT = {"raw_dtype": "uint8", "raw_range": [0, 255], "divide_by": 255.0}


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
    test_x: torch.Tensor | None = None  # (T, *shape), or None: this data has no test split
    test_y: torch.Tensor | None = None
    test_source: str = "none"  # where the test split came from, in words (metrics.json)
    notes: list[str] = field(default_factory=list)  # said under the run's first line

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
            test_x=move(self.test_x),
            test_y=move(self.test_y),
        )

    def binarized_held_out(self, seed: int) -> Data:
        """The validation and test splits binarized once, x ~ Bernoulli(x), from a generator
        seeded with `seed` (on the CPU, so every device gets the same bits); the training
        split stays as it is (the loop binarizes each batch afresh). Needs values in [0, 1]."""
        splits = [t for t in (self.train_x, self.val_x, self.test_x) if t is not None and t.numel()]
        lo, hi = min(t.min().item() for t in splits), max(t.max().item() for t in splits)
        require(
            lo >= 0 and hi <= 1,
            "trainer.binarize",
            True,
            f"allowed for values in [0, 1] only (Bernoulli probabilities); these span "
            f"[{lo:.4g}, {hi:.4g}]",
        )
        gen = torch.Generator().manual_seed(seed)

        def draw(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else torch.bernoulli(t.cpu(), generator=gen).to(t.device)

        return replace(self, val_x=draw(self.val_x), test_x=draw(self.test_x))

    def samples(self, split: str) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(x, y) of the split "train", "val" or "test" (x is None when there is no test split)."""
        return {
            "train": (self.train_x, self.train_y),
            "val": (self.val_x, self.val_y),
            "test": (self.test_x, self.test_y),
        }[split]

    def sizes(self) -> dict[str, Any]:
        """How many samples each split holds, and where the test split came from."""
        n_test = 0 if self.test_x is None else len(self.test_x)
        return {
            "train": len(self.train_x),
            "val": len(self.val_x),
            "test": n_test,
            "test_source": self.test_source,
        }


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
    test_fraction: float = 0.0,
    test: tuple[torch.Tensor, torch.Tensor | None, str] | None = None,
    limit: int | None = None,
) -> Data:
    """Seeded random train/val/test split. `val_fraction=0` validates on the training set.

    One permutation (seeded by `seed`) orders the samples: the first share is validation,
    the next `test_fraction` is test, the rest trains; so the validation split does not
    depend on `test_fraction`, and `test_fraction=0` is exactly the train/val split of
    runs saved before aectl had a test split. `test` is an official test split instead,
    (x, y, where it came from); the two cannot be combined. `limit`: the `dataset.limit`
    that cut `x` (a limit above what the data holds is said in a note).
    """
    require(
        0.0 <= val_fraction < 1.0, "dataset.val_fraction", val_fraction, "allowed: 0 <= value < 1"
    )
    require(
        0.0 <= test_fraction < 1.0 - val_fraction,
        "dataset.test_fraction",
        test_fraction,
        f"allowed: 0 <= value < 1 - dataset.val_fraction ({1.0 - val_fraction:g})",
    )
    if test is not None and test_fraction > 0:
        raise ValueError("an official test split and a test_fraction cannot be combined")
    x = x.float().contiguous()
    n = x.shape[0]
    require(n >= 1, f"dataset ({name})", n, "the dataset holds no samples")
    n_val = int(round(n * val_fraction))
    if val_fraction > 0:
        n_val = min(max(n_val, 1), n - 1)
    n_test = int(round(n * test_fraction))
    if test_fraction > 0:
        n_test = max(n_test, 1)
    require(
        n_val + n_test <= n - 1,
        "dataset.test_fraction",
        test_fraction,
        f"too large for {n} samples: the training split would be empty",
    )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    va, te, tr = perm[:n_val], perm[n_val : n_val + n_test], perm[n_val + n_test :]
    if n_val == 0:
        va = tr
    pick = lambda t, i: None if t is None else t[i].contiguous()  # noqa: E731
    test_x, test_y, source = None, None, "none"
    if test is not None:
        test_x, test_y, source = test[0].float().contiguous(), test[1], test[2]
    elif n_test:
        test_x, test_y = x[te].contiguous(), pick(y, te)
        source = f"{n_test} of the {n} samples (dataset.test_fraction={test_fraction:g})"
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
        test_x=test_x,
        test_y=test_y,
        test_source=source,
        notes=[
            f"dataset.limit={limit} is more than the {n:,} samples of "
            f"{scaling.get('source', name)}: all {n:,} are used"
        ]
        if limit is not None and n < limit
        else [],
    )
