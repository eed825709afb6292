"""Registers typed schemas with Hydra's ConfigStore.

Each option's YAML (e.g. `configs/regularizer/contractive.yaml`) starts from its schema
(`- /schema/regularizer/contractive@_here_`), so Hydra rejects unknown keys and wrong
types while composing, and `validate` (OmegaConf.to_object) runs each schema's
`__post_init__` range checks before anything is built.
"""

from __future__ import annotations

from typing import TypeVar

try:
    from hydra.core.config_store import ConfigStore
except ModuleNotFoundError:  # a torch-only machine (the GPU bench): nothing composes configs there
    ConfigStore = None

T = TypeVar("T")


def schema(group: str, name: str):
    """Class decorator: store a dataclass as the schema `schema/<group>/<name>`."""

    def register(cls: type[T]) -> type[T]:
        if ConfigStore is not None:
            ConfigStore.instance().store(group=f"schema/{group}", name=name, node=cls)
        return cls

    return register
