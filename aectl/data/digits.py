"""scikit-learn's bundled 8x8 handwritten digits: the default dataset, no download.

The 1,797 digits are read straight from the data file scikit-learn ships
(`sklearn/datasets/data/digits.csv.gz`, what `sklearn.datasets.load_digits` parses):
importing scikit-learn itself costs about a second that the default run's first training
step does not need. The test suite checks the result equals `load_digits()`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from aectl.config.dataset import held_out_share
from aectl.data.base import IMAGE, Data, split


def digits_file() -> Path:
    """The CSV scikit-learn ships, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "scikit-learn is not installed; dataset=digits needs its data file"
        )
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"


def read() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) with values 0..16, labels (1797,))."""
    data = np.loadtxt(digits_file(), delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)


def load(val_fraction: float = 0.1, split_seed: int = 0, test_fraction: float | None = 0.0) -> Data:
    images, labels = read()
    x = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797,1,8,8)
    y = torch.as_tensor(labels, dtype=torch.int64)
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
