"""Runs every schema's range checks on a composed config, before anything is built.

`OmegaConf.to_object` turns each structured node back into its dataclass, which runs its
`__post_init__`; those raise UserError naming the field. The result is one typed
`RunConfig`. aectl's config has no free-form keys: a key no schema declares (Hydra's
`+key=value` adds one) is refused, naming the nearest key that exists. Checks that need two
groups at once (a regularizer and an architecture, say) live with the code that builds them.
"""

from __future__ import annotations

import dataclasses

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from aectl.config.run import GROUP_FIELDS, RunConfig
from aectl.errors import UserError, unknown_key


def validate(cfg: DictConfig) -> RunConfig:
    unknown_keys(cfg)
    try:
        obj = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as e:  # a field without a default, e.g. dataset=idx's images
        key = e.full_key or "a config value"
        raise UserError(key, f"required, and not set; add {key}=VALUE") from None
    return RunConfig(**{k: obj[k] for k in GROUP_FIELDS})


def unknown_keys(cfg: DictConfig, ignore: tuple[str, ...] = ()) -> None:
    """Refuse top-level keys that are not config groups and group keys no schema has
    (top-level keys in `ignore` are not looked at: a sweep's config holds `hydra`)."""
    for key in cfg:
        if key not in GROUP_FIELDS and key not in ignore:
            raise unknown_key(str(key), list(GROUP_FIELDS))
    for group in GROUP_FIELDS:
        if group not in cfg:
            raise UserError(group, "required, and not set")
        node = cfg[group]
        cls = OmegaConf.get_type(node)
        if not dataclasses.is_dataclass(cls):
            continue
        known = [f.name for f in dataclasses.fields(cls)]
        for key in node:
            if key not in known:
                raise unknown_key(f"{group}.{key}", [f"{group}.{k}" for k in known if k[0] != "_"])


def refuse_unknown_key(cfg: DictConfig, key: str) -> None:
    """Refuse a dotted key (e.g. a swept `trainer.max_epoch`) that no schema in `cfg` has."""
    group, _, rest = key.partition(".")
    if group not in GROUP_FIELDS or group not in cfg:
        raise unknown_key(key, list(GROUP_FIELDS))
    cls = OmegaConf.get_type(cfg[group])
    if not rest or not dataclasses.is_dataclass(cls):
        return
    known = [f.name for f in dataclasses.fields(cls)]  # (`in` is False for a ??? value)
    if rest.split(".")[0] not in known:
        raise unknown_key(key, [f"{group}.{k}" for k in known if k[0] != "_"])
