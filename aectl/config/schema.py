"""Registers typed schemas with Hydra's ConfigStore, and says what their fields mean.

Each option's YAML (e.g. `configs/regularizer/contractive.yaml`) starts from its schema
(`- /schema/regularizer/contractive@_here_`), so Hydra rejects unknown keys and wrong
types while composing, and `validate` (OmegaConf.to_object) runs each schema's
`__post_init__` range checks before anything is built.

A field that is a hyperparameter people compare runs by is declared with `knob(...)`: it
becomes an HParams column (with its choices as the domain), `scale="log"` puts it on a log
axis in summaries, and `stackable=True` lets the vmap launcher train jobs that differ in it
as one stacked model. The rest of the engine asks `knobs()` instead of keeping lists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, TypeVar

from aectl.errors import require

try:
    from hydra.core.config_store import ConfigStore
except ModuleNotFoundError:  # a torch-only machine (the GPU bench): nothing composes configs there
    ConfigStore = None

T = TypeVar("T")

# group -> option -> schema class; filled by @schema as the config modules are imported
SCHEMAS: dict[str, dict[str, type]] = {}
GROUPS = ("dataset", "arch", "regularizer", "optim", "trainer")  # the run's config groups


def schema(group: str, name: str):
    """Class decorator: store a dataclass as the schema `schema/<group>/<name>`."""

    def register(cls: type[T]) -> type[T]:
        SCHEMAS.setdefault(group, {})[name] = cls
        if ConfigStore is not None:
            ConfigStore.instance().store(group=f"schema/{group}", name=name, node=cls)
        return cls

    return register


def knob(
    default: Any,
    *,
    scale: str = "linear",
    choices: tuple[str, ...] | None = None,
    stackable: bool = False,
) -> Any:
    """A dataclass field that is a hyperparameter: see the module docstring."""
    meta = {"knob": True, "scale": scale, "choices": choices, "stackable": stackable}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Knob:
    key: str  # e.g. "regularizer.weight"
    scale: str  # linear | log
    choices: tuple[str, ...] | None
    stackable: bool


def all_schemas() -> dict[str, dict[str, type]]:
    """Every registered schema (importing the config modules first)."""
    from aectl.config.register import register_all

    register_all()
    return SCHEMAS


def knobs() -> dict[str, Knob]:
    """Every declared hyperparameter of every option, by its override key, in group order."""
    out: dict[str, Knob] = {}
    schemas = all_schemas()
    for group in GROUPS:
        for cls in schemas.get(group, {}).values():
            for f in dataclasses.fields(cls):
                if f.metadata.get("knob") and f"{group}.{f.name}" not in out:
                    m = f.metadata
                    out[f"{group}.{f.name}"] = Knob(
                        f"{group}.{f.name}", m["scale"], m["choices"], m["stackable"]
                    )
    return out


def option_of(group: str, target: str) -> tuple[str, type] | None:
    """(option name, schema class) of the option in `group` whose builder is `target`."""
    for name, cls in all_schemas().get(group, {}).items():
        if target == getattr(cls, "_target_", None) or target in getattr(cls, "formerly", ()):
            return name, cls
    return None


def targets() -> dict[str, set[str]]:
    """The builders aectl's own config groups name: group -> {_target_, ...}."""
    return {
        group: {cls._target_ for cls in options.values()}
        for group, options in all_schemas().items()
        if group != "trainer"
    }


def fields_of(cls: type) -> Iterator[str]:
    return (f.name for f in dataclasses.fields(cls))


MAX_SEED = 2**32 - 1  # what torch.manual_seed and numpy's generators accept


def require_seed(field: str, value: object) -> None:
    """A seed is an integer 0..2**32-1, or one line naming `field`."""
    require(
        isinstance(value, int) and 0 <= value <= MAX_SEED,
        field,
        value,
        f"allowed: an integer 0..{MAX_SEED} (2**32-1)",
    )
