"""Zalando's Fashion-MNIST (28x28 grayscale clothing, 10 labels) via torchvision.

A drop-in harder replacement for MNIST; the shared code is in torchvision_sets.
"""

from __future__ import annotations

from aectl.data.torchvision_sets import loader

load = loader("FashionMNIST", "fashion_mnist")
