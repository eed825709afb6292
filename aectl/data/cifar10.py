"""CIFAR-10 (32x32 colour photos, 10 labels) via torchvision.

The first colour-image benchmark, much harder to reconstruct than MNIST; the shared code
is in torchvision_sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aectl.config.schema import schema
from aectl.data.torchvision_sets import TorchvisionConfig, loader


@schema("dataset", "cifar10")
@dataclass
class Cifar10Config(TorchvisionConfig):
    _target_: str = "aectl.data.cifar10.load"


load = loader("CIFAR10", "cifar10")
