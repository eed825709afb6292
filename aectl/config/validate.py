"""Runs every schema's range checks on a composed config, before anything is built.

`OmegaConf.to_object` turns each structured node back into its dataclass, which runs its
`__post_init__`; those raise UserError naming the field. Checks that need two groups at
once (a regularizer and an architecture, say) live with the code that builds them.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from aectl.errors import UserError


def validate(cfg: DictConfig) -> object:
    try:
        return OmegaConf.to_object(cfg)
    except MissingMandatoryValue as e:  # a field without a default, e.g. dataset=idx's images
        key = e.full_key or "a config value"
        raise UserError(key, f"required, and not set; add {key}=VALUE") from None
