"""The 8 one-hot patterns of the classic 8-3-8 identity problem (Rumelhart et al. 1986).

An 8-3-8 autoencoder must discover a 3-bit binary code for them: the smallest test that a
bottleneck actually learns something.
"""

from __future__ import annotations

import torch

from aectl.config.dataset import check_onehot8, held_out_share
from aectl.data.base import ONEHOT, Data, split


def load(
    val_fraction: float = 0.0,
    split_seed: int = 0,
    repeat: int = 1,
    test_fraction: float | None = 0.0,
) -> Data:
    check_onehot8(repeat)
    x = torch.eye(8, dtype=torch.float32).repeat(repeat, 1)  # (8*repeat, 8)
    y = torch.arange(8, dtype=torch.int64).repeat(repeat)
    return split(
        x,
        y,
        val_fraction=val_fraction,
        seed=split_seed,
        test_fraction=held_out_share(test_fraction, official=False),
        shape=(8,),
        kind=ONEHOT,
        name="onehot8",
        scaling={"source": "8x8 identity matrix", "raw_range": [0, 1], "divide_by": 1.0},
        extras={"repeat": repeat},
    )
