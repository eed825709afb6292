"""Schemas of the `arch` group: one dataclass per option in `configs/arch/`.

Each `_target_` names the builder of the option's network (`aectl/models/<name>.py`). The
schemas live here, apart from the torch code, so composing a config never imports torch;
`aectl.models.activations` maps the same activation names to torch modules (a test keeps
the two lists equal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from aectl.config.schema import knob, schema
from aectl.errors import require

ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "softplus")


def check_activation(name: str, field_name: str) -> None:
    require(name in ACTIVATIONS, field_name, name, f"allowed: {', '.join(ACTIVATIONS)}")


def check_activations(arch: MLPConfig | ConvConfig) -> None:
    """The three activation fields the MLP and the conv net share."""
    for name in ("activation", "code_activation", "output_activation"):
        check_activation(getattr(arch, name), f"arch.{name}")


def check_code_dim(code_dim: int) -> None:
    require(code_dim >= 1, "arch.code_dim", code_dim, "allowed: an integer >= 1")


def check_stochastic(arch: MLPConfig | ConvConfig) -> None:
    """A Gaussian code (arch.stochastic=true) is μ + σ·ε: no activation after it; its
    decoder's σ is positive (or null: learned)."""
    require(
        arch.sigma is None or (0 < arch.sigma < math.inf),
        "arch.sigma",
        arch.sigma,
        "allowed: a finite number > 0 (the Gaussian decoder's σ), or null (learned)",
    )
    if arch.stochastic:
        require(
            arch.code_activation == "identity",
            "arch.code_activation",
            arch.code_activation,
            "allowed with arch.stochastic=true: identity (the code is sampled from N(μ, σ²))",
        )


@schema("arch", "mlp")
@dataclass
class MLPConfig:
    _target_: str = "aectl.models.mlp.build"
    code_dim: int = knob(16)
    hidden: list[int] = field(default_factory=lambda: [128, 64])
    activation: str = "relu"
    code_activation: str = "identity"
    output_activation: str = "sigmoid"
    tied: bool = False
    bias: bool = True
    # true: a VAE's Gaussian encoder q(h|x) = N(μ(x), diag σ²(x)) (regularizer=kl samples it)
    stochastic: bool = False
    sigma: float | None = 1.0  # trainer.loss=gaussian: the decoder's σ; null: learned

    def __post_init__(self) -> None:
        check_code_dim(self.code_dim)
        require(
            all(h >= 1 for h in self.hidden),
            "arch.hidden",
            list(self.hidden),
            "allowed: a list of layer widths, each >= 1 (empty: one-layer encoder)",
        )
        check_activations(self)
        check_stochastic(self)
        require(
            not (self.stochastic and self.tied),
            "arch.tied",
            self.tied,
            "allowed with arch.stochastic=true: false (the encoder's last layer outputs μ and "
            "log σ², twice the code, so the decoder cannot share its transpose)",
        )


@schema("arch", "linear")
@dataclass
class LinearConfig:
    _target_: str = "aectl.models.linear.build"
    code_dim: int = knob(16)
    bias: bool = True
    tied: bool = False

    def __post_init__(self) -> None:
        check_code_dim(self.code_dim)


@schema("arch", "conv")
@dataclass
class ConvConfig:
    _target_: str = "aectl.models.conv.build"
    code_dim: int = knob(16)
    channels: list[int] = field(default_factory=lambda: [16, 32])
    kernel_size: int = 3
    activation: str = "relu"
    code_activation: str = "identity"
    output_activation: str = "sigmoid"
    stochastic: bool = False  # true: a VAE's Gaussian encoder (see MLPConfig)
    sigma: float | None = 1.0  # trainer.loss=gaussian: the decoder's σ; null: learned

    def __post_init__(self) -> None:
        check_code_dim(self.code_dim)
        check_stochastic(self)
        require(
            len(self.channels) >= 1 and all(c >= 1 for c in self.channels),
            "arch.channels",
            list(self.channels),
            "allowed: a non-empty list of channel counts, each >= 1",
        )
        require(
            self.kernel_size >= 1 and self.kernel_size % 2 == 1,
            "arch.kernel_size",
            self.kernel_size,
            "allowed: an odd integer >= 1",
        )
        check_activations(self)


@schema("arch", "pca")
@dataclass
class PCAConfig:
    # solved, not trained (the model says so too): a vmap sweep runs such a job alone
    solved_in_closed_form: ClassVar[bool] = True
    _target_: str = "aectl.models.pca.build"
    code_dim: int = knob(16)  # k, the number of principal components kept

    def __post_init__(self) -> None:
        check_code_dim(self.code_dim)
