"""No regularizer: plain reconstruction (the undercomplete autoencoders)."""

from __future__ import annotations

from dataclasses import dataclass

from aectl.config.schema import schema
from aectl.regularizers.base import Regularizer
from aectl.regularizers.common import RegularizerConfig


@schema("regularizer", "none")
@dataclass
class NoneConfig(RegularizerConfig):
    _target_: str = "aectl.regularizers.none.NoRegularizer"


class NoRegularizer(Regularizer):
    name = "none"
