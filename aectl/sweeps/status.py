"""`status.json`: how a sweep job is doing, written into its folder by the sweep callback.

`aectl.sweeps.callbacks` writes it when a job starts (running, with host and pid) and ends
(completed, or failed with its one-line error); a job stopped by SIGINT/SIGTERM after
saving its checkpoint is marked interrupted, with the command that resumes it
(`mark_interrupted`). A sweep job's folder resumed by a run alone keeps its status.json
up to date too (`aectl.commands.train`: running in that process, then interrupted, failed
by divergence or completed; a refused run puts it back as it was).
`aectl summarize` reads it, and a "running" job whose process is gone (kill -9, a crash)
reads as interrupted too. Owned here, by its writer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aectl import atomic

STATUS_FILE = "status.json"
STATUSES = ("running", "completed", "failed", "interrupted")  # what status.json may say


def write_status(run_dir: str | Path, status: str, **fields: Any) -> Path:
    """Write `run_dir/status.json` = {"status": ..., **fields} atomically."""
    return atomic.write_json(Path(run_dir) / STATUS_FILE, {**fields, "status": status})


def mark_ended(run_dir: str | Path, status: str, **fields: Any) -> Path:
    """The job ended as `status` (completed, failed, interrupted): what status.json said
    when it started (job, attempt, host, pid) kept, the end time and `fields` added."""
    import time

    kept = dict(read_status(run_dir) or {}, ended=time.time())
    for key in ("status", "error", "traceback", "signal", "resume"):  # (an earlier ending's)
        kept.pop(key, None)
    return write_status(run_dir, status, **kept, **fields)


def mark_resumed_alone(run_dir: str | Path) -> dict[str, Any] | None:
    """A run alone continues this sweep job's folder: running, on this host, in this process,
    from now, as the job's next attempt (its number kept). Returns what status.json said
    before, for `put_back` should the run be refused."""
    import socket
    import time

    before = read_status(run_dir)
    kept = {k: v for k, v in (before or {}).items() if k == "job"}
    attempt = (before or {}).get("attempt", 0)
    kept["attempt"] = (attempt if isinstance(attempt, int) else 0) + 1
    here = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    write_status(run_dir, "running", **kept, **here)
    return before


def put_back(run_dir: str | Path, before: dict[str, Any] | None) -> None:
    """status.json as it was (`mark_resumed_alone`'s `before`)."""
    if before is not None:
        atomic.write_json(Path(run_dir) / STATUS_FILE, before)


def mark_interrupted(run_dir: str | Path, signal: str, resume: str) -> Path:
    """The job stopped on `signal` with its last.pt saved; `resume` continues it."""
    return mark_ended(run_dir, "interrupted", signal=signal, resume=resume)


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
