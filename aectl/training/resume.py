"""Where a run starts: fresh, or from a checkpoint (`trainer.resume=auto|PATH`).

`auto` continues from the run folder's own checkpoints/last.pt when there is one (a
requeued cluster job, or `hydra.run.dir=<old run> trainer.resume=auto`) and starts fresh
otherwise. A new run (resume unset) into a folder that already holds checkpoints is
refused; `aectl train` checks an explicit `hydra.run.dir=` before Hydra writes anything
there. An interrupted run prints `resume_command`: the exact command that continues it.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any

from aectl.atomic import remove_stale
from aectl.errors import UserError

LAST = Path("checkpoints") / "last.pt"
BEST = Path("checkpoints") / "best.pt"


def refuse_used_folder(run_dir: Path, resume: str | None) -> None:
    if resume is None and ((run_dir / LAST).exists() or (run_dir / BEST).exists()):
        raise UserError(
            "hydra.run.dir",
            f"{str(run_dir)!r} already holds a run with checkpoints; add trainer.resume=auto to "
            "continue it, or choose another folder",
        )


def starting_state(run_dir: Path, resume: str | None) -> dict[str, Any] | None:
    """The checkpoint to continue from, or None for a fresh start."""
    refuse_used_folder(run_dir, resume)
    remove_stale(run_dir / "checkpoints")  # a write that a crash cut short
    if resume is None:
        return None
    if resume == "auto":
        path = run_dir / LAST
        if not path.exists() and (run_dir / BEST).exists():
            raise UserError(
                "trainer.resume",
                f"{str(run_dir)!r} holds checkpoints/best.pt but no last.pt: auto would train "
                "from scratch over the run's only checkpoint; give trainer.resume=<path to "
                "best.pt> to continue from it, or choose another folder",
            )
        return _load(path) if path.exists() else None
    from aectl.data.paths import resolve

    return _load(Path(resolve(resume)))


def _load(path: Path) -> dict[str, Any]:
    """The checkpoint, whose stored config passed the checks a config read from a run
    folder gets (`aectl.config.stored`): a checkpoint naming a callable that is not one of
    aectl's builders is not continued."""
    from aectl.config.stored import stored_config
    from aectl.training import checkpoint

    state = checkpoint.load(path, "trainer.resume")
    stored_config(state.get("config"), str(path), "trainer.resume")
    return state


# ---- the command that continues an interrupted run or sweep -------------------------------

SAFE_VALUE = re.compile(r"[A-Za-z0-9_./+@:%-]*")  # what Hydra's grammar takes unquoted
DROP_HYDRA = ("hydra.run.dir=", "hydra.sweep.dir=", "hydra.mode=", "hydra.output_subdir=")


def hydra_value(path: str) -> str:
    """`path` as the value of an override: quoted when it holds `=`, `,`, spaces, non-ASCII
    letters and the like (a sweep job's folder always does). Inside Hydra's quotes, `'` is
    written `\\'`, and backslashes before a quote or at the end are doubled."""
    if SAFE_VALUE.fullmatch(path):
        return path
    body = re.sub(r"(\\+)(?='|$)", r"\1\1", path).replace("'", "\\'")
    return f"'{body}'"


def resume_command(
    run_dir: str, task: list[str], hydra: list[str], sweep_dir: str | None = None
) -> str:
    """The command that continues: the run, or for a sweep job the whole sweep (its jobs
    resume their own last.pt, and the jobs that never started run). `task` and `hydra` are
    the command's overrides as Hydra filed them (launcher and sweeper settings are in
    `hydra`); a sweep's come from its multirun.yaml. Folders are absolute (Hydra's default
    sweep folder is relative to where the sweep started): it resumes from anywhere."""
    run_dir = os.path.abspath(run_dir)
    if sweep_dir is not None:
        sweep_dir = os.path.abspath(sweep_dir)
        filed = _filed_overrides(Path(sweep_dir))
        if filed is not None:
            task, hydra = filed
        keep = [o for o in hydra if not o.startswith(DROP_HYDRA)]
        return shell_join(
            ["aectl", "train", "-m", *task, *keep, f"hydra.sweep.dir={hydra_value(sweep_dir)}"]
        )
    task = [o for o in task if not o.lstrip("+~").startswith("trainer.resume=")]
    keep = [o for o in hydra if not o.startswith(DROP_HYDRA)]
    return shell_join(
        ["aectl", "train", *task, *keep]
        + [f"hydra.run.dir={hydra_value(run_dir)}", "trainer.resume=auto"]
    )


def shell_join(args: list[str]) -> str:
    """`shlex.join`, but an argument holding Hydra's single quotes and nothing a shell
    expands inside double quotes is double-quoted: `"hydra.run.dir='/x/seed=0'"` instead of
    `'hydra.run.dir='"'"'/x/seed=0'"'"''` (the same argument to a POSIX shell)."""
    return " ".join(
        f'"{a}"' if "'" in a and not set('"$`\\!') & set(a) else shlex.quote(a) for a in args
    )


def _filed_overrides(sweep_dir: Path) -> tuple[list[str], list[str]] | None:
    """The sweep command's overrides as its multirun.yaml files them, read as plain data
    (`aectl.config.job_dir.load_multirun`: no YAML tags, `${...}` stays as typed); None when
    the file is missing or is not Hydra's record (the job's own overrides are used then)."""
    from aectl.config.job_dir import load_multirun, sweep_task

    try:
        multirun = load_multirun(sweep_dir)
        task = sweep_task(multirun)
    except ValueError:
        return None
    filed = multirun["hydra"].get("overrides")
    hydra = filed.get("hydra") if isinstance(filed, dict) else None
    if not isinstance(hydra, list) or not all(isinstance(o, str) for o in hydra):
        return None
    return list(task), list(hydra)
