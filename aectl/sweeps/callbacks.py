"""Hydra callback for sweeps: sets each job up and records how it ended, in its own folder.

Hydra calls it around every job whatever the launcher (basic, joblib's loky workers,
submitit processes on a laptop or on SLURM): `on_job_start` shares the machine between
parallel jobs (`aectl.sweeps.parallel.setup_job`) and writes `status.json` = running;
`on_job_end` rewrites it as completed, or failed with the job's one-line error, so
`aectl summarize` can show a failed job while the sweep goes on; a job refused before it
wrote anything (a re-run sweep whose job cannot continue its folder's run) puts back what
status.json said and removes its record of the command (`aectl.config.record_dir`), since
the folder still holds that run. It also saves `multirun.yaml` at the sweep's root, which
Hydra's basic sweeper writes but the Optuna sweeper does not, and ends a sweep with the
command that compares its jobs. Enabled in configs/train.yaml under `hydra.callbacks`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from aectl import atomic
from aectl.config import record_dir
from aectl.errors import UserError, one_line
from aectl.sweeps.status import mark_ended, put_back, read_status, write_status

BEFORE: dict[Path, dict] = {}  # job folder -> its status.json when the job started


def _is_sweep(config: DictConfig) -> bool:
    return OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN


def error_line(exc: BaseException) -> str:
    """One line for a failed job: the user-facing message, or `Type: message` for a bug."""
    msg = one_line(exc)
    if msg is None:
        first = str(exc).strip().splitlines()
        msg = f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__
    return " ".join(msg.split())


# Sweep folders this process made at a sweep's start. A sweep Hydra refuses after that and
# before its first job (a swept option it cannot compose: `model=sparse,contrastive`) leaves
# nothing behind: `undo_refused_sweep`.
MADE: set[Path] = set()


# A sweep run again whose every job is refused before writing anything (changed settings
# its trained jobs cannot take) leaves the folder's record of the command that trained them:
# multirun.yaml, which Hydra's sweeper rewrote, is put back. Known where the jobs end in
# this process (the basic and vmap launchers).
KEPT: dict[Path, bytes] = {}  # sweep folder -> its multirun.yaml when this command started
WROTE: set[Path] = set()  # sweep folders a job of this command wrote into
# (a failed job's overrides, its one line): the sweep ends naming each, not only the first
# (known where the jobs end in this process)
FAILED: list[tuple[list[str], str]] = []
IN_PROCESS = ("BasicLauncher", "VmapLauncher")


def undo_refused_sweep() -> None:
    """Remove each sweep folder this process made that holds only its multirun.yaml (no job
    ever started in it); put back the multirun.yaml of one where no job wrote anything."""
    for root in list(MADE):
        MADE.discard(root)
        if root.is_dir() and [p.name for p in root.iterdir()] == ["multirun.yaml"]:
            shutil.rmtree(root, ignore_errors=True)
    for root, data in KEPT.items():
        if root not in WROTE and root.is_dir():
            with contextlib.suppress(UserError):  # (the error being reported comes first)
                atomic.write_bytes(root / "multirun.yaml", data)
    forget_sweeps()


def forget_sweeps() -> None:
    MADE.clear()
    KEPT.clear()
    WROTE.clear()
    FAILED.clear()


class _ToStderr(logging.Handler):
    """Writes to whatever sys.stderr is when a record comes (a handler made with
    StreamHandler() keeps the stream it was made with)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # (logging's own rule: a handler never raises)
            self.handleError(record)


def plain_optuna_log() -> None:
    """Optuna's log lines without colour codes where stderr is no terminal (a file, a pipe:
    `> sweep.log`, CI, nohup): its default handler colours every line regardless."""
    if sys.stderr.isatty():
        return
    import optuna

    log = logging.getLogger("optuna")
    if any(isinstance(h, _ToStderr) for h in log.handlers):
        return
    optuna.logging.disable_default_handler()
    handler = _ToStderr()
    handler.setFormatter(logging.Formatter("[%(levelname)1.1s %(asctime)s] %(message)s"))
    log.addHandler(handler)


class JobCallback(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from aectl.sweeps.checks import check_sweep

        try:
            check_sweep(config)  # a sweep that cannot run as asked: one line, nothing written
        except UserError as e:  # Hydra turns a callback's exceptions into warnings: exit here
            print(f"aectl: error: {e}", file=sys.stderr)
            sys.exit(e.exit_code)
        if "optuna" in str(OmegaConf.select(config, "hydra.sweeper._target_", default="")):
            plain_optuna_log()
        root = Path(str(config.hydra.sweep.dir))
        if not root.exists():
            MADE.add(root)
        launcher = str(OmegaConf.select(config, "hydra.launcher._target_", default=""))
        if launcher.endswith(IN_PROCESS) and (root / "multirun.yaml").is_file():
            KEPT[root] = (root / "multirun.yaml").read_bytes()
        try:
            root.mkdir(parents=True, exist_ok=True)
            if not (root / "multirun.yaml").exists():  # (as OmegaConf.save, whole or not at all)
                atomic.write_text(root / "multirun.yaml", OmegaConf.to_yaml(config))
        except OSError as e:  # (a read-only or full disk; Hydra would only warn)
            print(f"aectl: error: {root}: cannot write ({e.strerror or e})", file=sys.stderr)
            sys.exit(2)
        except UserError as e:  # (multirun.yaml, atomic.WriteError)
            print(f"aectl: error: {e}", file=sys.stderr)
            sys.exit(e.exit_code)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import shlex

        root = str(config.hydra.sweep.dir)
        print(f"compare the jobs: aectl summarize {shlex.quote(root)}")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not _is_sweep(config):
            return
        from aectl.sweeps.parallel import setup_job

        setup_job(config)
        run_dir = Path(config.hydra.runtime.output_dir)
        previous = read_status(run_dir) or {}
        BEFORE[run_dir] = previous
        write_status(
            run_dir,
            "running",
            job=int(config.hydra.job.num),
            attempt=int(previous.get("attempt", 0)) + 1,  # > 1: requeued (preempted, timed out)
            host=socket.gethostname(),
            pid=os.getpid(),
            started=time.time(),
        )

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if not _is_sweep(config):
            return
        run_dir = Path(config.hydra.runtime.output_dir)
        before = BEFORE.pop(run_dir, {})
        exc = job_return._return_value
        refused = job_return.status != JobStatus.COMPLETED and getattr(
            exc, "nothing_written", False
        )
        record_dir.end(run_dir, refused)  # (this command's record goes with a refused job)
        if not refused:
            WROTE.add(Path(str(config.hydra.sweep.dir)))
        if job_return.status == JobStatus.COMPLETED:
            mark_ended(run_dir, "completed")
            return
        fields = {"error": error_line(exc) if isinstance(exc, BaseException) else str(exc)}
        FAILED.append((list(config.hydra.overrides.task), fields["error"]))
        if refused and before.get("status") not in (None, "failed"):
            put_back(run_dir, before)  # refused: the folder holds what status.json said
            return
        if isinstance(exc, BaseException) and not _is_user_error(exc):
            fields["traceback"] = "".join(traceback.format_exception(exc))
        mark_ended(run_dir, "failed", **fields)


def _is_user_error(exc: BaseException) -> bool:
    return one_line(exc) is not None
