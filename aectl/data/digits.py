"""scikit-learn's bundled 8x8 handwritten digits: the default dataset, no download."""

from __future__ import annotations

import torch

from aectl.config.dataset import held_out_share
from aectl.data.base import IMAGE, Data, split


def load(val_fraction: float = 0.1, split_seed: int = 0, test_fraction: float | None = 0.0) -> Data:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797,1,8,8)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    return split(
        x,
        y,
        val_fraction=val_fraction,
        seed=split_seed,
        test_fraction=held_out_share(test_fraction, official=False),
        shape=(1, 8, 8),
        kind=IMAGE,
        name="digits",
        scaling={"source": "sklearn.datasets.load_digits", "raw_range": [0, 16], "divide_by": 16.0},
    )
