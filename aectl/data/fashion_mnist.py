"""Zalando's Fashion-MNIST (28x28 grayscale clothing, 10 labels) via torchvision.

A drop-in harder replacement for MNIST; the shared code is in torchvision_sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aectl.config.schema import schema
from aectl.data.torchvision_sets import TorchvisionConfig, loader


@schema("dataset", "fashion_mnist")
@dataclass
class FashionMnistConfig(TorchvisionConfig):
    _target_: str = "aectl.data.fashion_mnist.load"


load = loader("FashionMNIST", "fashion_mnist")
