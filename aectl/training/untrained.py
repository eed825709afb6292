"""A resume at or past `trainer.max_epochs`: it trains nothing, so what may it do?

With the run's own settings it measures the test split and analyses again (the header says
so). With fewer epochs than the checkpoint holds and nothing else changed (a sweep run
again at 5 epochs, one of whose jobs was continued alone to 8), the run is finished
already: it is left as it is, byte for byte, and its metrics.json answers for it
(`LeftAsItIs`). Any other change is refused: config.yaml and HParams would then describe
epochs trained without it (lr 0.003 said for a model trained at 1e-4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aectl.config import record_dir
from aectl.config.metrics import objective
from aectl.errors import UserError
from aectl.record.progress import console
from aectl.training import fingerprint
from aectl.training.state import TrainState


class LeftAsItIs(Exception):
    """The run is done past what was asked: `line` says so, `value` is its monitored metric."""

    def __init__(self, run_dir: Path, line: str, value: float):
        super().__init__(line)
        self.run_dir, self.line, self.value = run_dir, line, value

    def report(self) -> float:
        """Say so; the command's record of itself goes at the job's end (nothing was done);
        returns the job's result."""
        console.print(self.line)
        record_dir.left_as_it_was(self.run_dir)
        return self.value


def check(run_dir: Path, state: TrainState, position: Any, t, changed: dict | None) -> None:
    """Raise LeftAsItIs or a UserError when the resume would train nothing and changes
    settings; return when it trains, or measures again with the run's own settings."""
    if not changed or state.epoch < t.max_epochs:
        return
    if list(changed) == ["trainer.max_epochs"]:  # only fewer epochs asked
        if (left := left_as_it_is(run_dir, state, position, t)) is not None:
            raise left
        own = changed["trainer.max_epochs"][0]
        again = f", or the run's own {own} to measure it again" if own <= state.epoch else ""
        raise UserError(
            "trainer.max_epochs",
            f"got {t.max_epochs}; the checkpoint is already at epoch {state.epoch}, so this "
            f"resume would train nothing; allowed: above {state.epoch} to train on{again}",
        )
    raise UserError(
        "trainer.max_epochs",
        f"got {t.max_epochs}; the checkpoint is at epoch {state.epoch}, so this resume "
        f"would train nothing and its changes ({fingerprint.describe(changed)}) would "
        f"describe epochs trained without them; allowed: trainer.max_epochs above "
        f"{state.epoch} to train on, or the run's own settings to measure it again",
    )


def left_as_it_is(run_dir: Path, state: TrainState, position: Any, t) -> LeftAsItIs | None:
    """LeftAsItIs when the folder's metrics.json describes the checkpoint's state (the run
    finished there, not stopped in a later epoch or before its analyses)."""
    if position is not None:
        return None
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict):  # (read from the folder: anything may be there)
        return None
    if metrics.get("epoch") != state.epoch or metrics.get("step") != state.step:
        return None
    try:
        value = objective(metrics, t.monitor)
    except UserError:
        return None
    return LeftAsItIs(
        run_dir,
        f"run folder: {run_dir}: already trained to epoch {state.epoch}, past "
        f"trainer.max_epochs={t.max_epochs}: nothing to train; left as it is "
        f"({t.monitor} {value:.5g} from its metrics.json)",
        value,
    )
