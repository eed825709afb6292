"""Builds what a run trains from its typed config: data, model, regularizer, optimizer.

Shared by training and `aectl eval`. Every builder is named by a `_target_`, and only the
builders aectl's own config groups name are ever called (`aectl.config.schema.targets`):
a config read from a run folder someone else made cannot name `os.system`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate

from aectl.config.run import RunConfig
from aectl.config.schema import targets
from aectl.data.base import Data
from aectl.errors import UserError
from aectl.models.autoencoder import Autoencoder
from aectl.regularizers.base import Regularizer


def instantiate(group: str, node: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate of one group's node, for aectl's own builders only; a
    UserError raised by the builder reaches the user as is."""
    target = node._target_ if dataclasses.is_dataclass(node) else node["_target_"]
    if target not in targets().get(group, set()):
        raise UserError(f"{group}._target_", f"{target!r} is not one of aectl's {group} builders")
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def build(cfg: RunConfig, device: torch.device) -> tuple[Data, Autoencoder, Regularizer]:
    """Instantiate dataset, model and regularizer and check that they fit together."""
    data = build_data(cfg, device)
    return (data, *build_model(cfg, data, device))


def build_data(cfg: RunConfig, device: torch.device) -> Data:
    return instantiate("dataset", cfg.dataset).to(device)


def build_model(
    cfg: RunConfig, data: Data, device: torch.device
) -> tuple[Autoencoder, Regularizer]:
    """The model (its initial weights drawn from the global RNG) and the regularizer."""
    model: Autoencoder = instantiate("arch", cfg.arch, input_shape=data.shape).to(device)
    reg: Regularizer = instantiate("regularizer", cfg.regularizer)
    reg.check(model, data)
    return model, reg


def optimizer(cfg: RunConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return instantiate("optim", cfg.optim, params=params)
