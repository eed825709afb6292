"""The on-device window of recent losses: the loop's only read-back, and where divergence shows.

Each step's (loss, recon, term) row goes into a (log_every_n_steps, members, 3) tensor on
the device; nothing waits for the device until the window is full (or the epoch ends).
Then its rows are read back in one transfer, their means logged, and a NaN/Inf loss is
found, with the step it happened at, without a host sync per step.
"""

from __future__ import annotations

import math

import torch

from aectl.errors import UserError


class Diverged(UserError):
    exit_code = 3


class LossWindow:
    def __init__(self, size: int, members: int, device: torch.device):
        self.rows = torch.zeros(size, members, 3, device=device)
        self.filled = 0  # rows in use; logged when full and at each epoch's end

    @property
    def size(self) -> int:
        return self.rows.shape[0]

    def add(self, parts: torch.Tensor) -> bool:
        """Append one step's (members, 3) losses; True when the window is full."""
        self.rows[self.filled] = parts
        self.filled += 1
        return self.filled == self.size

    def take(self) -> list[list[list[float]]]:
        """The filled rows as (step, member, part) lists (one device read-back), emptied."""
        rows = self.rows[: self.filled].tolist()
        self.filled = 0
        return rows

    def member(self, i: int) -> torch.Tensor:
        """Member i's (size, 3) rows, as a checkpoint stores them."""
        return self.rows[:, i]

    def restore(self, i: int, rows: torch.Tensor, filled: int) -> None:
        self.rows[:, i] = rows.to(self.rows.device)
        self.filled = filled


def first_bad_step(rows: list[list[float]], last_step: int) -> int | None:
    """The step whose loss was NaN/Inf, from one member's rows of a window (oldest first)."""
    for k, row in enumerate(rows):
        if not math.isfinite(row[0]):
            return last_step - len(rows) + 1 + k
    return None


def diverged(value: float, where: str, kept: str) -> Diverged:
    return Diverged(
        "training",
        f"the loss became {value} {where}; lower optim.lr or regularizer.weight ({kept})",
    )
