"""Fields every dataset config shares, and their checks."""

from __future__ import annotations

from dataclasses import dataclass

from aectl.errors import require


@dataclass
class DatasetConfig:
    _target_: str = "???"
    val_fraction: float = 0.1  # share of samples held out for validation (0: validate on train)
    split_seed: int = 0  # seed of the train/val permutation

    def __post_init__(self) -> None:
        require(
            0.0 <= self.val_fraction < 1.0,
            "dataset.val_fraction",
            self.val_fraction,
            "allowed: 0 <= value < 1",
        )


def check_limit(limit: int | None) -> None:
    """`dataset.limit`, shared by the file-backed options: the first N samples, or all."""
    require(
        limit is None or limit >= 1,
        "dataset.limit",
        limit,
        "allowed: an integer >= 1, or null for all",
    )
