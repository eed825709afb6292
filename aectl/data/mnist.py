"""LeCun et al.'s MNIST handwritten digits (28x28 grayscale, 10 labels) via torchvision.

The standard first benchmark for image autoencoders; the shared code is in torchvision_sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aectl.config.schema import schema
from aectl.data.base import Data
from aectl.data.torchvision_sets import TorchvisionConfig, load_torchvision


@schema("dataset", "mnist")
@dataclass
class MnistConfig(TorchvisionConfig):
    _target_: str = "aectl.data.mnist.load"


def load(
    root: str = "data",
    download: bool = False,
    train: bool = True,
    limit: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
) -> Data:
    return load_torchvision(
        "MNIST",
        "mnist",
        root=root,
        download=download,
        train=train,
        limit=limit,
        val_fraction=val_fraction,
        split_seed=split_seed,
    )
