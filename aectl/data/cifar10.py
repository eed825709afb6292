"""CIFAR-10 (32x32 colour photos, 10 labels) via torchvision.

The first colour-image benchmark, much harder to reconstruct than MNIST; the shared code
is in torchvision_sets.
"""

from __future__ import annotations

from aectl.data.torchvision_sets import loader

load = loader("CIFAR10", "cifar10")
