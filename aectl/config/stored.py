"""A config read from a run folder is untrusted input: it is validated before anything is built.

Run folders are shared (a collaborator's sweep, a paper's checkpoints), and a config is
instructions: `_target_` names a Python callable. So a stored config (a checkpoint's
`config`, `config.yaml`) goes through the same typed schemas as a command-line config,
and each group's `_target_` must be the builder of one of aectl's own options (found from
the schemas, not from a list kept here). Anything else is one line naming the file, the
key and the target, before anything is opened, loaded or written.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from aectl.config.run import GROUP_FIELDS, RunConfig
from aectl.config.schema import option_of
from aectl.config.trainer import TrainerConfig
from aectl.errors import UserError


def stored_config(stored: Any, source: str, field: str = "--checkpoint") -> RunConfig:
    """The typed config of a stored run config (a dict), or a UserError."""
    where = f"{source}: " if source else ""
    if not isinstance(stored, dict):
        raise UserError(field, f"{where}holds no run config")
    for key in stored:
        if key not in GROUP_FIELDS:
            raise UserError(field, f"{where}config key {key!r} is not one aectl writes")
    groups = {}
    for group in GROUP_FIELDS:
        node = stored.get(group)
        if not isinstance(node, dict):
            raise UserError(field, f"{where}config has no {group!r} section")
        _no_interpolation(node, group, where, field)
        cls = TrainerConfig if group == "trainer" else _schema_of(group, node, where, field)
        _no_nested_target(node, group, where, field)
        node = {**old_defaults(cls, node), **node}
        try:
            merged = OmegaConf.merge(OmegaConf.structured(cls), node)
            groups[group] = OmegaConf.to_object(merged)
        except UserError as e:
            raise UserError(field, f"{where}{e}") from None
        except OmegaConfBaseException as e:
            key = getattr(e, "full_key", None) or group
            first = str(e).strip().splitlines()[0]
            raise UserError(field, f"{where}{group}.{key}: {first}") from None
    return RunConfig(**groups)


def old_defaults(cls: type, node: dict) -> dict[str, Any]:
    """The values of the fields a stored group lacks that its schema says runs saved before
    the field existed had (`OLD_DEFAULTS`: e.g. no test split): an old run is rebuilt as it
    was trained, not with today's defaults."""
    return {k: v for k, v in getattr(cls, "OLD_DEFAULTS", {}).items() if k not in node}


def keep_old_behaviour(cfg: RunConfig, stored: Any) -> None:
    """Give `cfg` (the config a run resumes with) the old values of the fields its
    checkpoint's stored config lacks, so a run saved by an earlier aectl continues as it
    was trained (its train/val split, its arithmetic)."""
    if not isinstance(stored, dict):
        return
    for group in GROUP_FIELDS:
        node = stored.get(group)
        if isinstance(node, dict):
            mine = getattr(cfg, group)
            for key, value in old_defaults(type(mine), node).items():
                setattr(mine, key, value)


def _schema_of(group: str, node: dict, where: str, field: str) -> type:
    target = node.get("_target_")
    found = option_of(group, target) if isinstance(target, str) else None
    if found is None:
        raise UserError(
            field,
            f"{where}{group}._target_ is {target!r}, not one of aectl's {group} builders; "
            "refusing to build anything from this config",
        )
    return found[1]


def _no_nested_target(node: Any, path: str, where: str, field: str, top: bool = True) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "_target_" and not top:
                raise UserError(
                    field,
                    f"{where}{path}._target_ is {v!r}: aectl's configs have no nested builders; "
                    "refusing to build anything from this config",
                )
            _no_nested_target(v, f"{path}.{k}", where, field, top=False)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _no_nested_target(v, f"{path}[{i}]", where, field, top=False)


def _no_interpolation(node: Any, path: str, where: str, field: str) -> None:
    """A stored config is resolved when it is written: `${...}` in it is not aectl's."""
    if isinstance(node, dict):
        for k, v in node.items():
            _no_interpolation(v, f"{path}.{k}", where, field)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _no_interpolation(v, f"{path}[{i}]", where, field)
    elif isinstance(node, str) and "${" in node:
        raise UserError(field, f"{where}{path} holds an interpolation ({node!r}); refused")
