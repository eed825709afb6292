"""User-facing errors: one line naming the field, the value and what is allowed.

Anything raised as `UserError` reaches the terminal as a single line and exit code 2
(see `aectl.cli`); everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Bad input from the user: a config value, a path, a file's contents."""

    exit_code = 2

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


def require(ok: bool, field: str, value: Any, allowed: str) -> None:
    """Raise a UserError `field=value: allowed` unless `ok`."""
    if not ok:
        raise UserError(field, f"got {value!r}; {allowed}")
