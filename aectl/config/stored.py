"""A config read from a run folder is untrusted input: it is validated before anything is built.

Run folders are shared (a collaborator's sweep, a paper's checkpoints), and a config is
instructions: `_target_` names a Python callable. So a stored config (a checkpoint's
`config`, for `aectl eval` and for a resume) goes through the same typed schemas as a
command-line config, and each group's `_target_` must be the builder of one of aectl's own
options (found from the schemas, not from a list kept here). Anything else is one line
naming the file, the key and the target, before anything is opened, loaded or written:
a `_target_` of another callable, a `_target_` below a group's top (aectl's configs have no
nested builders), Hydra's other instantiate keys (`_args_`, `_partial_`, `_convert_`,
`_recursive_`, any `_name_`), and `${...}` (a stored config is resolved when it is written,
so an interpolation or resolver call in it is not aectl's).

`launch_folder` reads the one thing `aectl eval` takes from Hydra's record of a run
(`.hydra/hydra.yaml`: the folder the run was launched from) as plain YAML data: no YAML tags,
nothing resolved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from aectl.config.run import GROUP_FIELDS, RunConfig
from aectl.config.schema import all_schemas, option_of
from aectl.config.trainer import TrainerConfig
from aectl.errors import UserError

REFUSED = "nothing was built"


def stored_config(stored: Any, source: str, field: str = "--checkpoint") -> RunConfig:
    """The typed config of a stored run config (a dict), or a UserError."""
    where = f"{source}: " if source else ""
    if not isinstance(stored, dict):
        raise UserError(field, f"{where}holds no run config")
    for key in stored:
        if key not in GROUP_FIELDS:
            raise UserError(
                field,
                f"{where}config key {key!r} is not one aectl writes; "
                f"allowed: {', '.join(GROUP_FIELDS)}",
            )
    groups = {}
    for group in GROUP_FIELDS:
        node = stored.get(group)
        if not isinstance(node, dict):
            raise UserError(field, f"{where}config has no {group!r} section")
        _no_interpolation(node, group, where, field)
        cls = TrainerConfig if group == "trainer" else _schema_of(group, node, where, field)
        _only_plain_keys(node, group, where, field, top=bool(_builders(group)))
        if group != "trainer":  # a builder's former name (torch.optim.Adam) becomes its own
            node = {**node, "_target_": cls._target_}
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


def _builders(group: str) -> list[str]:
    return sorted(
        {getattr(cls, "_target_", None) for cls in all_schemas().get(group, {}).values()} - {None}
    )


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
            f"{where}{group}._target_ is {target!r}, not one of aectl's {group} builders "
            f"({REFUSED}); allowed: {', '.join(_builders(group))}",
        )
    return found[1]


def _is_directive(key: Any) -> bool:
    """Hydra's instantiate keys (`_target_`, `_args_`, `_partial_`, ...) and any other
    `_name_`: none of aectl's schemas has such a field but a group's `_target_`."""
    return isinstance(key, str) and len(key) > 2 and key.startswith("_") and key.endswith("_")


def _only_plain_keys(node: Any, path: str, where: str, field: str, top: bool) -> None:
    """Refuse every Hydra instantiate key but the `_target_` at the top of a group that
    builds something (`top`; the trainer's settings build nothing)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if _is_directive(k) and not (top and k == "_target_"):
                what = f" is {v!r}" if k == "_target_" else ""
                raise UserError(
                    field,
                    f"{where}{path}.{k}{what}: a Hydra instantiate key in a place aectl never "
                    f"writes one ({REFUSED}); allowed: a _target_ only at the top of "
                    f"{', '.join(g for g in GROUP_FIELDS if _builders(g))}",
                )
            _only_plain_keys(v, f"{path}.{k}", where, field, top=False)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _only_plain_keys(v, f"{path}[{i}]", where, field, top=False)


def _no_interpolation(node: Any, path: str, where: str, field: str) -> None:
    """A stored config is resolved when it is written: `${...}` in it is not aectl's."""
    if isinstance(node, dict):
        for k, v in node.items():
            _no_interpolation(v, f"{path}.{k}", where, field)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _no_interpolation(v, f"{path}[{i}]", where, field)
    elif isinstance(node, str) and "${" in node:
        raise UserError(
            field,
            f"{where}{path} is {node!r}, an interpolation ({REFUSED}); allowed: plain values "
            "(aectl stores resolved configs)",
        )


# ---- Hydra's record of a run ----------------------------------------------------------------


def launch_folder(hydra_yaml: Path, field: str = "RUN_DIR") -> str | None:
    """`hydra.runtime.cwd` from a run's `.hydra/hydra.yaml` (None when the file or the
    value is absent), read as plain YAML: a YAML tag or a file that is not Hydra's record
    is one line naming it."""
    import yaml

    if not hydra_yaml.is_file():
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    allowed = (
        "allowed: the record Hydra wrote, or no such file (relative dataset paths then "
        "resolve from the current folder)"
    )
    try:
        with hydra_yaml.open("rb") as f:
            data = yaml.load(f, Loader=loader)
    except (OSError, yaml.YAMLError, ValueError) as e:
        first = " ".join(str(e).split())[:200] or type(e).__name__
        raise UserError(field, f"{hydra_yaml} is not readable YAML ({first}); {allowed}") from None
    runtime = data.get("hydra") if isinstance(data, dict) else None
    runtime = runtime.get("runtime") if isinstance(runtime, dict) else None
    if not isinstance(runtime, dict):
        raise UserError(field, f"{hydra_yaml} holds no hydra.runtime section; {allowed}")
    cwd = runtime.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise UserError(
            field, f"{hydra_yaml}: hydra.runtime.cwd is {cwd!r}, not a folder path; {allowed}"
        )
    return cwd or None
