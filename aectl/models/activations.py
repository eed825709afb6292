"""Activation names used in configs (`aectl.config.arch.ACTIVATIONS`), mapped to torch
modules, with their derivatives.

The derivative is what the contractive penalty's closed form needs: sigmoid, tanh, relu
and identity have one in terms of their output h; any other elementwise activation falls
back to forward-mode autodiff (torch.func.jvp) on the pre-activation, which is exact.
"""

from __future__ import annotations

import torch
from torch import nn

from aectl.models import forward_mode

MODULES: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
}
# Activations whose outputs lie in (0, 1): what the KL sparsity target needs.
UNIT_INTERVAL = {"sigmoid"}


def make(name: str) -> nn.Module:
    return MODULES[name]()


def derivative_from_output(act: nn.Module, h: torch.Tensor) -> torch.Tensor | None:
    """s'(a) written in terms of h = s(a) where that closed form exists, else None."""
    if isinstance(act, nn.Sigmoid):
        return h * (1 - h)
    if isinstance(act, nn.Tanh):
        return 1 - h * h
    if isinstance(act, nn.ReLU):
        return (h > 0).to(h.dtype)
    if isinstance(act, nn.Identity):
        return torch.ones_like(h)
    return None


def derivative(act: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """s'(a) elementwise for any elementwise activation, by forward-mode autodiff."""
    forward_mode.ready()
    _, d = torch.func.jvp(act, (a,), (torch.ones_like(a),))
    return d
