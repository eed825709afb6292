"""Schemas of the `optim` group: torch's Adam and SGD updates (`aectl.training.optim`),
instantiated with the model's parameters.

`fused: true` (the default) runs torch's fused Adam kernel: one kernel updates every
parameter, on the CPU and on CUDA, bit for bit what `torch.optim.Adam(fused=True)` does. On
the benchmark's model that makes the whole CPU step about 1.2x faster than torch's default
(a per-tensor loop of ~10 passes); results agree with it to float rounding.
`optim.fused=false` follows torch's single-tensor Adam. Runs saved when these targets were
`torch.optim.Adam`/`SGD` (`formerly`) still load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from aectl.config.schema import knob, schema
from aectl.errors import require


@dataclass
class OptimConfig:
    _target_: str = "???"
    lr: float = knob(1e-3, scale="log", stackable=True)
    weight_decay: float = knob(0.0, stackable=True)
    fused: bool = True

    def __post_init__(self) -> None:
        require(
            math.isfinite(self.lr) and self.lr > 0, "optim.lr", self.lr, "allowed: a number > 0"
        )
        require(
            0 <= self.weight_decay < math.inf,  # False for NaN too
            "optim.weight_decay",
            self.weight_decay,
            "allowed: a finite number >= 0",
        )


@schema("optim", "adam")
@dataclass
class AdamConfig(OptimConfig):
    formerly: ClassVar[tuple[str, ...]] = ("torch.optim.Adam",)  # runs saved before 0.2
    _target_: str = "aectl.training.optim.Adam"
    lr: float = knob(3e-3, scale="log", stackable=True)


@schema("optim", "sgd")
@dataclass
class SGDConfig(OptimConfig):
    formerly: ClassVar[tuple[str, ...]] = ("torch.optim.SGD",)
    _target_: str = "aectl.training.optim.SGD"
    lr: float = knob(0.1, scale="log", stackable=True)
    momentum: float = 0.9

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.momentum < 1, "optim.momentum", self.momentum, "allowed: 0 <= value < 1")
