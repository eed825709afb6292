"""Everything a run writes besides checkpoints: TensorBoard events, pictures, metrics.json.

Tags: train/loss, train/recon, train/penalty, train/<penalty term> (e.g. jacobian_fro2),
train/lr, train/samples_per_s every log_every_n_steps; val/recon, val/penalty,
code/mean_activation, code/frac_near_zero, epoch/train_loss once per epoch; the
reconstruction picture and a histogram of code activations once per epoch.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

from aectl.record import pictures


class RunLog:
    def __init__(self, run_dir: Path, term_name: str, purge_step: int | None = None):
        """`purge_step`: on resume, TensorBoard hides points at or after it from the crashed run."""
        self.dir = run_dir
        self.term_name = term_name
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
        (run_dir / "reconstructions").mkdir(parents=True, exist_ok=True)

    def step(
        self,
        step: int,
        total: float,
        recon: float,
        term: float,
        penalty: float,
        lr: float,
        sps: float,
    ) -> None:
        w = self.writer
        w.add_scalar("train/loss", total, step)
        w.add_scalar("train/recon", recon, step)
        w.add_scalar("train/penalty", penalty, step)
        if self.term_name != "penalty_term":
            w.add_scalar(f"train/{self.term_name}", term, step)
        w.add_scalar("train/lr", lr, step)
        w.add_scalar("train/samples_per_s", sps, step)

    def epoch(self, step: int, scalars: dict[str, float], codes: torch.Tensor) -> None:
        for tag, v in scalars.items():
            self.writer.add_scalar(tag, v, step)
        self.writer.add_histogram("code/activations", codes.detach().float().cpu().flatten(), step)

    def picture(self, epoch: int, step: int, picture: torch.Tensor) -> Path:
        self.writer.add_image("reconstructions", picture, step)
        return pictures.save_png(picture, self.dir / "reconstructions" / f"epoch_{epoch:03d}.png")

    def text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
