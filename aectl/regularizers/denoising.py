"""Denoising autoencoder: corrupt the input, reconstruct the CLEAN input.

gaussian adds N(0, level²) noise; masking zeroes each value with probability `level`;
salt_and_pepper sets each value with probability `level` to 0 or 1 (even odds). The loss
target stays the clean batch: the training step passes `x` to the loss, not `corrupt(x)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aectl.config.schema import schema
from aectl.errors import require
from aectl.regularizers.base import Regularizer
from aectl.regularizers.common import RegularizerConfig

NOISES = ("gaussian", "masking", "salt_and_pepper")


@schema("regularizer", "denoising")
@dataclass
class DenoisingConfig(RegularizerConfig):
    _target_: str = "aectl.regularizers.denoising.Denoising"
    noise: str = "masking"
    level: float = 0.25  # std for gaussian, probability for masking / salt_and_pepper
    clip: bool = False  # clamp corrupted inputs to [0, 1]

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.noise in NOISES, "regularizer.noise", self.noise, f"allowed: {', '.join(NOISES)}"
        )
        if self.noise == "gaussian":
            require(self.level >= 0, "regularizer.level", self.level, "allowed: a std >= 0")
        else:
            require(
                0 <= self.level <= 1,
                "regularizer.level",
                self.level,
                "allowed: a probability in [0, 1]",
            )


def corrupt(x: torch.Tensor, noise: str, level: float) -> torch.Tensor:
    if noise == "gaussian":
        return x + level * torch.randn_like(x)
    if noise == "masking":
        return x * (torch.rand_like(x) >= level).to(x.dtype)
    if noise == "salt_and_pepper":
        hit = torch.rand_like(x) < level
        salt = (torch.rand_like(x) < 0.5).to(x.dtype)
        return torch.where(hit, salt, x)
    raise ValueError(noise)


class Denoising(Regularizer):
    name = "denoising"

    def __init__(
        self, weight: float = 0.0, noise: str = "masking", level: float = 0.25, clip: bool = False
    ):
        super().__init__(weight)
        self.noise, self.level, self.clip = noise, float(level), bool(clip)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        y = corrupt(x, self.noise, self.level)
        return y.clamp(0, 1) if self.clip else y

    def describe(self) -> str:
        return f"denoising({self.noise}, level={self.level:g})"
