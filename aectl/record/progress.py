"""Training progress: a rich bar on a terminal, one plain line per epoch elsewhere (CI, logs)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(highlight=False, soft_wrap=True)


class TrainProgress:
    def __init__(self, total_steps: int, max_epochs: int, done_steps: int = 0):
        self.total, self.max_epochs, self.done = total_steps, max_epochs, done_steps
        self.live = console.is_terminal
        self.bar: Progress | None = None

    def __enter__(self) -> TrainProgress:
        if self.live:
            self.bar = Progress(
                TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[sps]} samples/s"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(
                "train",
                total=self.total,
                completed=self.done,
                epoch=1,
                epochs=self.max_epochs,
                loss="-",
                sps="-",
            )
        return self

    def show(self, *, step: int, epoch: int, loss: float, samples_per_s: float) -> None:
        """Called at log points only: the bar costs nothing per step."""
        if self.bar is not None:
            self.bar.update(
                self.task,
                completed=step,
                epoch=epoch,
                loss=f"{loss:.4g}",
                sps=f"{samples_per_s:,.0f}",
            )

    def epoch_done(
        self,
        epoch: int,
        step: int,
        train: list[float],
        val_recon: float,
        samples_per_s: float,
        members: int = 1,
        shown: str = "",
        extra: dict[str, float] | None = None,
    ) -> None:
        """One line per epoch (a group of jobs: the numbers of the job `shown`, and how
        many train; `shown` alone: the one job of a group left training). `train`: the
        epoch's (loss, recon, ...). The line sets train/recon beside val/recon, the two that
        compare, then the `extra` numbers the regularizer names (a VAE's val/elbo), and the
        penalty the loss adds apart."""
        loss, recon = train[0], train[1]
        line = (
            f"epoch {epoch}/{self.max_epochs}  step {step}  train/recon {recon:.5g}  "
            f"val/recon {val_recon:.5g}  "
        )
        line += "".join(f"{k} {v:.5g}  " for k, v in (extra or {}).items())
        if loss != recon:
            line += f"train/penalty {loss - recon:.5g}  "
        line += f"{samples_per_s:,.0f} samples/s"
        if members > 1:
            line += f"  ({members} jobs training; shown: {shown})"
        elif shown:  # the one member of a group left training: which job
            line += f"  ({shown})"
        if self.bar is None:
            console.print(line)
        else:
            self.bar.update(self.task, completed=step, epoch=min(epoch + 1, self.max_epochs))

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
