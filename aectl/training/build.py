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
from aectl.config.trainer import BINARIZE_SEED
from aectl.data.base import Data, ram_bytes
from aectl.errors import UserError
from aectl.models.autoencoder import Autoencoder
from aectl.regularizers.base import Regularizer
from aectl.training import device as devices


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
    """The data set on `device`; with `trainer.binarize`, its held-out splits binarized
    once with a fixed seed (training batches are binarized afresh by the loop)."""
    data = instantiate("dataset", cfg.dataset).to(device)
    if cfg.trainer.binarize:
        data = data.binarized_held_out(BINARIZE_SEED)
    return data


def build_model(
    cfg: RunConfig, data: Data, device: torch.device
) -> tuple[Autoencoder, Regularizer]:
    """The model (its initial weights drawn from the global RNG) and the regularizer."""
    check_fits(cfg, data.shape, device)
    model: Autoencoder = instantiate("arch", cfg.arch, input_shape=data.shape).to(device)
    reg: Regularizer = instantiate("regularizer", cfg.regularizer)
    reg.check(model, data)
    return model, reg


def check_fits(cfg: RunConfig, input_shape: tuple[int, ...], device: torch.device) -> None:
    """Refuse a model whose float32 weights alone exceed the memory it is built in (the
    machine's, then the device's), counted on torch's meta device first (shapes only:
    nothing is allocated, no random number is drawn), naming the architecture's largest
    size field."""
    field, value = _largest_size(cfg.arch)
    sizes = [m for m in (ram_bytes(), devices.memory_bytes(device)) if m]
    have = min(sizes) if sizes else None
    allowed = "allowed: sizes whose weights fit in memory" + (
        f" ({_gib(have)}: at most {have // 4:,} float32 parameters)" if have else ""
    )
    try:
        with torch.device("meta"):
            meta = instantiate("arch", cfg.arch, input_shape=input_shape)
    except (RuntimeError, OverflowError, TypeError, ValueError, InstantiationException) as e:
        cause = e.__cause__ or e
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:120]
        raise UserError(
            field, f"got {value}; the model cannot be built ({first}); {allowed}"
        ) from None
    n = sum(p.numel() for p in meta.parameters())
    if have is not None and 4 * n > have:
        raise UserError(
            field,
            f"got {value}; the model would hold {n:,} parameters ({_gib(4 * n)} as float32) "
            f"for inputs of shape {tuple(input_shape)}; {allowed}",
        )


def _largest_size(arch: Any) -> tuple[str, Any]:
    """(`arch.<field>`, value) of the integer or integer-list field with the largest number."""
    best, size = ("arch", None), -1
    for f in dataclasses.fields(arch):
        value = getattr(arch, f.name)
        ints = value if isinstance(value, (list, tuple)) else [value]
        ints = [v for v in ints if isinstance(v, int) and not isinstance(v, bool)]
        if ints and max(ints) > size:
            best, size = (f"arch.{f.name}", value), max(ints)
    return best


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def optimizer(cfg: RunConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return instantiate("optim", cfg.optim, params=params)
