"""The 8 one-hot patterns of the classic 8-3-8 identity problem (Rumelhart et al. 1986).

An 8-3-8 autoencoder must discover a 3-bit binary code for them: the smallest test that a
bottleneck actually learns something.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aectl.config.schema import schema
from aectl.data.base import ONEHOT, Data, split
from aectl.data.common import DatasetConfig
from aectl.errors import require


@schema("dataset", "onehot8")
@dataclass
class Onehot8Config(DatasetConfig):
    _target_: str = "aectl.data.onehot8.load"
    val_fraction: float = 0.0  # validate on the same 8 patterns
    repeat: int = 1  # tile the 8 patterns this many times (more than one batch per epoch)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.repeat >= 1, "dataset.repeat", self.repeat, "allowed: an integer >= 1")


def load(val_fraction: float = 0.0, split_seed: int = 0, repeat: int = 1) -> Data:
    require(repeat >= 1, "dataset.repeat", repeat, "allowed: an integer >= 1")
    x = torch.eye(8, dtype=torch.float32).repeat(repeat, 1)  # (8*repeat, 8)
    y = torch.arange(8, dtype=torch.int64).repeat(repeat)
    return split(
        x,
        y,
        val_fraction=val_fraction,
        seed=split_seed,
        shape=(8,),
        kind=ONEHOT,
        name="onehot8",
        scaling={"source": "8x8 identity matrix", "raw_range": [0, 1], "divide_by": 1.0},
        extras={"repeat": repeat},
    )
