"""Every file aectl writes appears whole or not at all: temporary file + rename.

A run folder may be read while it is written (TensorBoard, `aectl summarize` on a running
sweep) and a process may die at any instant (kill -9, a full disk, a file-size limit). So
no output is written in place: the bytes go to a temporary file in the same folder, which
is renamed over the target only once complete, and a failure removes the temporary file
and leaves the previous version untouched. `durable=True` also fsyncs the file and its
folder before and after the rename (checkpoints: the state a resume depends on).

A write that fails is one `UserError` naming the path (exit code 2, no traceback).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from aectl import faults
from aectl.errors import UserError


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class WriteError(UserError):
    """A file could not be written; the previous version of it, if any, is kept (and said)."""

    def __init__(self, path: str | os.PathLike, reason: str, what: str = "file"):
        kept = "; the previous one is kept" if Path(path).is_file() else ""  # (if there was one)
        super().__init__(str(path), f"could not write the {what} ({reason}){kept}")

    def __reduce__(self):  # pickled back from a launcher's worker process
        return UserError, (self.field, self.message)


def reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


@contextlib.contextmanager
def replacing(
    path: str | os.PathLike, mode: str = "wb", *, durable: bool = False, what: str = "file"
) -> Iterator[IO[Any]]:
    """A file object whose contents replace `path` when the block ends without an error."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would make it (mkstemp makes it 0600)
    except OSError as e:
        raise WriteError(path, reason(e), what) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if durable:
                faults.hit("checkpoint-write")
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(path, reason(e), what) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes | memoryview, **kw: Any) -> Path:
    with replacing(path, "wb", **kw) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, **kw: Any) -> Path:
    return write_bytes(path, text.encode(), **kw)


def write_json(path: str | os.PathLike, obj: Any, **kw: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", **kw)


def write_with(path: str | os.PathLike, save: Callable[[IO[bytes]], Any], **kw: Any) -> Path:
    """`save(buffer)` into memory first (a serialiser's own error is then not a write
    error), then the bytes to `path` atomically."""
    buf = io.BytesIO()
    save(buf)
    return write_bytes(path, buf.getbuffer(), **kw)


def remove_stale(folder: Path) -> None:
    """Temporary files a killed process left behind (`.<name>.*.tmp`)."""
    for stale in folder.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A hidden folder to fill, which replaces the folder `final` when the block ends
    without an error (and is removed when it raises): `final` then holds every file of one
    writer's set, never new files beside old ones that a failed writer left (the set is
    pictures that belong together). The old folder is moved aside before the new one moves
    in, and removed after; a process killed between the two renames leaves no `final`,
    and the old set whole under a hidden name, which `remove_staged` clears next time."""
    remove_staged(final)
    staging = final.with_name(f".{final.name}.{os.getpid()}.new")
    try:
        staging.mkdir(parents=True)
    except OSError as e:
        raise WriteError(final, reason(e), "folder") from None
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.{os.getpid()}.old")
    moved = False
    try:
        if final.is_dir():
            os.replace(final, old)
            moved = True
        os.replace(staging, final)
    except OSError as e:
        if moved:  # the old set back where it was
            with contextlib.suppress(OSError):
                os.replace(old, final)
        shutil.rmtree(staging, ignore_errors=True)
        raise WriteError(final, reason(e), "folder") from None
    shutil.rmtree(old, ignore_errors=True)


def remove_staged(final: Path) -> None:
    """What a killed `staged_folder` left beside `final`."""
    for stale in [
        *final.parent.glob(f".{final.name}.*.new"),
        *final.parent.glob(f".{final.name}.*.old"),
    ]:
        shutil.rmtree(stale, ignore_errors=True)
