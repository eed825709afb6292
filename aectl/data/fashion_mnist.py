"""Zalando's Fashion-MNIST (28x28 grayscale clothing, 10 labels) via torchvision.

A drop-in harder replacement for MNIST; the shared code is in torchvision_sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aectl.config.schema import schema
from aectl.data.base import Data
from aectl.data.torchvision_sets import TorchvisionConfig, load_torchvision


@schema("dataset", "fashion_mnist")
@dataclass
class FashionMnistConfig(TorchvisionConfig):
    _target_: str = "aectl.data.fashion_mnist.load"


def load(
    root: str = "data",
    download: bool = False,
    train: bool = True,
    limit: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
) -> Data:
    return load_torchvision(
        "FashionMNIST",
        "fashion_mnist",
        root=root,
        download=download,
        train=train,
        limit=limit,
        val_fraction=val_fraction,
        split_seed=split_seed,
    )
