"""`status.json`: how a sweep job is doing, written into its folder by the sweep callback.

`aectl.sweeps.callbacks` writes it when a job starts (running, with host and pid) and ends
(completed, or failed with its one-line error); `aectl summarize` reads it, and a
"running" job whose process is gone reads as interrupted. Owned here, by its writer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aectl import atomic

STATUS_FILE = "status.json"


def write_status(run_dir: str | Path, status: str, **fields: Any) -> Path:
    """Write `run_dir/status.json` = {"status": ..., **fields} atomically."""
    return atomic.write_json(Path(run_dir) / STATUS_FILE, {**fields, "status": status})


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    path = Path(run_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
