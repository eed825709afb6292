"""LeCun et al.'s MNIST handwritten digits (28x28 grayscale, 10 labels) via torchvision.

The standard first benchmark for image autoencoders; the shared code is in torchvision_sets.
"""

from __future__ import annotations

from aectl.data.torchvision_sets import loader

load = loader("MNIST", "mnist")
