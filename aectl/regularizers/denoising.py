"""Denoising autoencoder: corrupt the input, reconstruct the CLEAN input.

gaussian adds N(0, level²) noise; masking zeroes each value with probability `level`;
salt_and_pepper sets each value with probability `level` to 0 or 1 (even odds). The loss
target stays the clean batch: the training step passes `x` to the loss, not `corrupt(x)`.
"""

from __future__ import annotations

import torch

from aectl.regularizers.base import Regularizer


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
    corrupts_input = True
    bench_variants = (("denoising", {"noise": "masking", "level": 0.25}, frozenset()),)

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
