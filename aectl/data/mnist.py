"""LeCun et al.'s MNIST handwritten digits (28x28 grayscale, 10 labels) via torchvision.

The standard first benchmark for image autoencoders; the shared code is in torchvision_sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from aectl.config.schema import schema
from aectl.data.torchvision_sets import TorchvisionConfig, loader


@schema("dataset", "mnist")
@dataclass
class MnistConfig(TorchvisionConfig):
    _target_: str = "aectl.data.mnist.load"


load = loader("MNIST", "mnist")
