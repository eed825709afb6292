"""User-facing errors: one line naming the field, the value and what is allowed.

Anything raised as `UserError` reaches the terminal as a single line and exit code 2
(see `aectl.cli`); everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn


class UserError(Exception):
    """Bad input from the user: a config value, a path, a file's contents."""

    exit_code = 2

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")

    def __reduce__(self):  # pickled back from a launcher's worker process (joblib, submitit)
        return type(self), (self.field, self.message)


def require(ok: bool, field: str, value: Any, allowed: str) -> None:
    """Raise a UserError `field=value: allowed` unless `ok`."""
    if not ok:
        raise UserError(field, f"got {value!r}; {allowed}")


class OneLineParser(argparse.ArgumentParser):
    """argparse for aectl's subcommands: a bad flag gets one line and exit code 2, like every
    other aectl error, not argparse's usage block (`--help` still shows the usage)."""

    def error(self, message: str) -> NoReturn:
        where = "" if self.prog == "aectl" else f"{self.prog}: "
        print(f"aectl: error: {where}{message}", file=sys.stderr)
        sys.exit(2)
