"""Where a run starts: fresh, or from a checkpoint (`trainer.resume=auto|PATH`).

`auto` continues from the run folder's own checkpoints/last.pt when there is one (a
requeued cluster job, or `hydra.run.dir=<old run> trainer.resume=auto`) and starts fresh
otherwise. A new run (resume unset) into a folder that already holds checkpoints is
refused; `aectl.cli` checks an explicit `hydra.run.dir=` before Hydra writes anything there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aectl.errors import UserError

LAST = Path("checkpoints") / "last.pt"


def refuse_used_folder(run_dir: Path, resume: str | None) -> None:
    if resume is None and (run_dir / LAST).exists():
        raise UserError(
            "hydra.run.dir",
            f"{str(run_dir)!r} already holds a run with checkpoints; add trainer.resume=auto to "
            "continue it, or choose another folder",
        )


def starting_state(run_dir: Path, resume: str | None) -> dict[str, Any] | None:
    """The checkpoint to continue from, or None for a fresh start."""
    refuse_used_folder(run_dir, resume)
    for stale in (run_dir / "checkpoints").glob(".*.tmp"):  # a write that a crash cut short
        stale.unlink(missing_ok=True)
    if resume is None:
        return None
    from aectl import checkpoint  # torch: kept out of `aectl.cli`'s pre-check above

    if resume == "auto":
        path = run_dir / LAST
        return checkpoint.load(path, "trainer.resume") if path.exists() else None
    from aectl.data.paths import resolve

    return checkpoint.load(resolve(resume), "trainer.resume")
