"""CIFAR-10 (32x32 colour photos, 10 labels) via torchvision.

The first colour-image benchmark, much harder to reconstruct than MNIST; the shared code
is in torchvision_sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aectl.config.schema import schema
from aectl.data.base import Data
from aectl.data.torchvision_sets import TorchvisionConfig, load_torchvision


@schema("dataset", "cifar10")
@dataclass
class Cifar10Config(TorchvisionConfig):
    _target_: str = "aectl.data.cifar10.load"


def load(
    root: str = "data",
    download: bool = False,
    train: bool = True,
    limit: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
) -> Data:
    return load_torchvision(
        "CIFAR10",
        "cifar10",
        root=root,
        download=download,
        train=train,
        limit=limit,
        val_fraction=val_fraction,
        split_seed=split_seed,
    )
