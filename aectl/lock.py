"""One writer per folder: an OS-level lock that a second aectl process is refused by.

A run, a resume, `aectl eval` or `aectl summarize` that writes into a folder first takes an
exclusive `flock` on `<folder>/.aectl.lock`. The OS releases it when the process ends,
however it ends (kill -9 included), so a killed run never leaves a stale lock. The file
says who holds it (pid, host, command, since when), which is what the refused process
prints. Within one process the lock is re-entrant: the command line takes it before Hydra
writes into an explicit `hydra.run.dir=`, and the training code takes it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from aectl.errors import UserError, refusing

LOCK_FILE = ".aectl.lock"

_held: dict[Path, tuple[int, int]] = {}  # folder -> (fd, how many times taken)


def acquire(folder: str | os.PathLike, field: str = "hydra.run.dir") -> None:
    """Take `folder`'s lock (making the folder if needed), or raise a UserError naming the
    process that holds it."""
    folder = Path(folder).resolve()
    if folder in _held:
        fd, n = _held[folder]
        _held[folder] = (fd, n + 1)
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UserError(field, f"{folder}: cannot write ({e.strerror or e})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe(fd)
        os.close(fd)
        raise UserError(
            field,
            f"{folder} is being written by another aectl ({holder}); wait for it to finish, "
            "or choose another folder",
        ) from None
    _write_holder(fd)
    _held[folder] = (fd, 1)


def release(folder: str | os.PathLike) -> None:
    folder = Path(folder).resolve()
    if folder not in _held:
        return
    fd, n = _held[folder]
    if n > 1:
        _held[folder] = (fd, n - 1)
        return
    del _held[folder]
    os.close(fd)  # closing the last descriptor releases the flock


def is_held(folder: str | os.PathLike) -> bool:
    """Whether this process holds `folder`'s lock."""
    return Path(folder).resolve() in _held


@contextlib.contextmanager
def holding(folder: str | os.PathLike, field: str = "hydra.run.dir") -> Iterator[None]:
    with refusing():
        acquire(folder, field)
    try:
        yield
    finally:
        release(folder)


def _write_holder(fd: int) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join([_program(), *sys.argv[1:]])[:300],
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    with contextlib.suppress(OSError):  # who holds it is information, not the lock itself
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)


def _program() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv else "aectl"
    return name if name.startswith("aectl") else "aectl"


def _describe(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "a process that did not say who it is"
    return f"pid {info.get('pid')} on {info.get('host')}, since {info.get('since')}: {info.get('command')}"
