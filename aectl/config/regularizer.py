"""Schemas of the `regularizer` group: one dataclass per option in `configs/regularizer/`.

Each `_target_` names the regularizer's class (`aectl/regularizers/<name>.py`), built with
these fields. The schemas live here, apart from the torch code, so composing a config never
imports torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from aectl.config.schema import knob, schema
from aectl.errors import require

NOISES = ("gaussian", "masking", "salt_and_pepper")  # denoising corruptions
METHODS = ("analytic", "exact", "hutchinson")  # ways to compute the contractive penalty


@dataclass
class RegularizerConfig:
    """Fields every regularizer option shares."""

    _target_: str = "???"
    weight: float = knob(0.0, scale="log", stackable=True)  # λ (β for sparse_kl)
    # the unweighted penalty's name (its TensorBoard tags train/<term>, val/<term> and
    # metrics.json keys); None: no penalty term. The regularizer class says the same.
    term_name: ClassVar[str | None] = None
    # the term is a rate (nats of information in the code): `aectl summarize` plots a β
    # sweep as a rate-distortion curve (term against reconstruction) instead of a
    # regularization path; `weight_symbol` is what its points are labelled with
    term_is_rate: ClassVar[bool] = False
    weight_symbol: ClassVar[str] = "λ"
    # without a penalty term: the field that sets how strongly it regularizes, if any
    strength: ClassVar[str | None] = None

    def __post_init__(self) -> None:
        require(
            math.isfinite(self.weight) and self.weight >= 0,
            "regularizer.weight",
            self.weight,
            "allowed: a finite number >= 0",
        )

    def unused_weight(self, name: str) -> str | None:
        """A note for a `weight` that weighs nothing: this regularizer (option `name`) has
        no penalty term. (Not refused: a sweep over models and λ may hold such jobs.)"""
        if self.term_name is not None or self.weight == 0:
            return None
        return (
            f"regularizer={name} has no penalty term: regularizer.weight={self.weight:g} "
            f"changes nothing ({self.instead()})"
        )

    @classmethod
    def instead(cls) -> str:
        """What to set rather than a weight, for a regularizer without a penalty term."""
        if cls.strength is not None:
            return f"its strength is regularizer.{cls.strength}"
        return (
            "a λ to sweep needs a penalty: model=contractive, or "
            "regularizer=sparse_l1, sparse_kl, contractive"
        )


@schema("regularizer", "none")
@dataclass
class NoneConfig(RegularizerConfig):
    _target_: str = "aectl.regularizers.none.NoRegularizer"


@schema("regularizer", "sparse_l1")
@dataclass
class SparseL1Config(RegularizerConfig):
    _target_: str = "aectl.regularizers.sparse_l1.SparseL1"
    term_name: ClassVar[str | None] = "code_l1"
    weight: float = knob(1e-3, scale="log", stackable=True)


@schema("regularizer", "sparse_kl")
@dataclass
class SparseKLConfig(RegularizerConfig):
    # runs saved before from_logits existed were trained with the clamped KL
    OLD_DEFAULTS: ClassVar[dict[str, Any]] = {"from_logits": False}

    _target_: str = "aectl.regularizers.sparse_kl.SparseKL"
    term_name: ClassVar[str | None] = "code_kl"
    weight: float = knob(0.1, scale="log", stackable=True)
    target: float = knob(0.05, stackable=True)  # ρ, the desired mean activation of each unit
    # true: the KL from the code's logits, exact at saturation; false: aectl 0.1's clamped
    # rates (no gradient for a saturated unit), kept so its runs resume bit for bit
    from_logits: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 < self.target < 1, "regularizer.target", self.target, "allowed: 0 < ρ < 1")


@schema("regularizer", "denoising")
@dataclass
class DenoisingConfig(RegularizerConfig):
    _target_: str = "aectl.regularizers.denoising.Denoising"
    noise: str = knob("masking", choices=NOISES)
    level: float = knob(
        0.25, stackable=True
    )  # gaussian: std; masking, salt_and_pepper: probability
    clip: bool = False  # clamp corrupted inputs to [0, 1]
    strength: ClassVar[str | None] = "level"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.noise in NOISES, "regularizer.noise", self.noise, f"allowed: {', '.join(NOISES)}"
        )
        if self.noise == "gaussian":
            require(
                0 <= self.level < math.inf,  # False for NaN too
                "regularizer.level",
                self.level,
                "allowed: a finite std >= 0",
            )
        else:
            require(
                0 <= self.level <= 1,
                "regularizer.level",
                self.level,
                "allowed: a probability in [0, 1]",
            )


@schema("regularizer", "dropout")
@dataclass
class DropoutConfig(RegularizerConfig):
    _target_: str = "aectl.regularizers.dropout.Dropout"
    p: float = knob(0.2, stackable=True)
    strength: ClassVar[str | None] = "p"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(0 <= self.p < 1, "regularizer.p", self.p, "allowed: a probability 0 <= p < 1")


@schema("regularizer", "contractive")
@dataclass
class ContractiveConfig(RegularizerConfig):
    _target_: str = "aectl.regularizers.contractive.Contractive"
    term_name: ClassVar[str | None] = "jacobian_fro2"
    weight: float = knob(0.1, scale="log", stackable=True)
    method: str = knob("analytic", choices=METHODS)
    num_projections: int = 1  # k, for method=hutchinson

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.method in METHODS,
            "regularizer.method",
            self.method,
            f"allowed: {', '.join(METHODS)}",
        )
        require(
            self.num_projections >= 1,
            "regularizer.num_projections",
            self.num_projections,
            "allowed: an integer >= 1",
        )


@schema("regularizer", "kl")
@dataclass
class KLConfig(RegularizerConfig):
    """The VAE's β · KL(q(h|x) ‖ N(0, I)); needs arch.stochastic=true."""

    _target_: str = "aectl.regularizers.kl.KL"
    term_name: ClassVar[str | None] = "kl"
    term_is_rate: ClassVar[bool] = True
    weight_symbol: ClassVar[str] = "β"
    weight: float = knob(1.0, scale="log", stackable=True)  # β
    warmup_epochs: int = 0  # β ramps linearly from β/warmup_epochs to β over these epochs
    capacity: float = knob(0.0, stackable=True)  # C > 0: the penalty is β·|KL − C| (nats)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.warmup_epochs >= 0,
            "regularizer.warmup_epochs",
            self.warmup_epochs,
            "allowed: an integer >= 0 (0: no warm-up)",
        )
        require(
            math.isfinite(self.capacity) and self.capacity >= 0,
            "regularizer.capacity",
            self.capacity,
            "allowed: a finite number of nats >= 0 (0: the plain KL)",
        )
