"""Picks the training device: CUDA, else Apple's MPS, else the CPU (whose steps then keep
their freed memory: `aectl.training.host_memory`)."""

from __future__ import annotations

import torch

from aectl.data.base import ram_bytes
from aectl.errors import UserError
from aectl.training.host_memory import keep_freed_memory


def pick(name: str, field: str = "trainer.device") -> torch.device:
    device = _pick(name, field)
    if device.type == "cpu":
        keep_freed_memory()
    return device


def _pick(name: str, field: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(field, "got 'cuda' but no CUDA device is available; allowed: auto, cpu")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise UserError(field, "got 'mps' but MPS is not available; allowed: auto, cpu")
    return torch.device(name)


def memory_bytes(device: torch.device) -> int | None:
    """How much memory `device` has in all (None when it cannot be told): the GPU's own, or
    the machine's RAM for the CPU (and for MPS, which shares it)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return ram_bytes()
