"""The whole run's config as one typed object: what `validate` hands to the trainer.

Hydra composes a DictConfig; `aectl.config.validate.validate` turns it into a `RunConfig`
whose groups are the schema dataclasses of the chosen options (their `__post_init__`
checks have run), so the trainer reads typed fields. `as_dict` gives the resolved plain
dict that checkpoints and config.yaml hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aectl.config.trainer import TrainerConfig


@dataclass
class RunConfig:
    dataset: Any  # a schema of aectl.config.dataset
    arch: Any  # ... of aectl.config.arch
    regularizer: Any  # ... of aectl.config.regularizer
    optim: Any  # ... of aectl.config.optim
    trainer: TrainerConfig

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _plain(node: Any) -> Any:
    if dataclasses.is_dataclass(node):
        return {f.name: _plain(getattr(node, f.name)) for f in dataclasses.fields(node)}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    return node


GROUP_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
