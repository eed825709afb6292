"""Everything a run writes besides checkpoints: TensorBoard events, pictures, metrics.json.

Tags: train/loss, train/recon, train/penalty, train/<penalty term> (e.g. jacobian_fro2),
train/lr, train/samples_per_s every log_every_n_steps; val/recon, val/penalty,
val/<penalty term>, code/mean_activation, code/frac_near_zero, epoch/train_loss,
epoch/train_recon, epoch/train_penalty, epoch/train_<penalty term> once per epoch; the
reconstruction picture and a histogram of code activations once per epoch; the
custom-scalars layout and the resolved config (text) when the run starts.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from aectl.record import dashboard, pictures
from aectl.record.landing import Landing

NO_TERM = "penalty_term"  # Regularizer.term_name when the regularizer has no penalty term


class RunLog:
    def __init__(self, run_dir: Path, term_name: str, purge_step: int | None = None):
        """`purge_step`: on resume, TensorBoard hides points at or after it from the crashed run."""
        self.dir = run_dir
        self.term_name = term_name
        after_older_logs(run_dir)
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)
        (run_dir / "reconstructions").mkdir(parents=True, exist_ok=True)
        self.landing = Landing()  # its pictures and checkpoints, off the training thread

    @property
    def term(self) -> str | None:
        """The penalty term's name, None for a regularizer without one."""
        return None if self.term_name == NO_TERM else self.term_name

    def begin(self, config_yaml: str, step: int, fresh: bool, heading: str = "") -> None:
        """The custom-scalars layout (once per run: when it starts fresh) and the resolved
        config as text at `step` (a resumed run's config is shown from where it resumed),
        under `heading`."""
        if fresh:
            self.writer.file_writer.add_summary(
                dashboard.layout_summary(dashboard.layout(self.term))
            )
        text = dashboard.config_markdown(config_yaml, heading)
        self.writer.add_text(dashboard.CONFIG_TAG, text, step)
        self.writer.flush()

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
        if self.term is not None:
            w.add_scalar(f"train/{self.term_name}", term, step)
        w.add_scalar("train/lr", lr, step)
        w.add_scalar("train/samples_per_s", sps, step)

    def epoch(self, step: int, scalars: dict[str, float], codes: torch.Tensor | None) -> None:
        """The epoch's scalars, and the code histogram when `codes` is given (on the
        picture cadence)."""
        for tag, v in scalars.items():
            self.writer.add_scalar(tag, v, step)
        if codes is not None:
            codes = codes.detach().float().cpu().flatten()
            self.writer.add_histogram("code/activations", codes, step)

    def picture(self, epoch: int, step: int, picture: torch.Tensor) -> Path:
        """The epoch's picture, encoded and written by the writer thread
        (`aectl.record.landing`): on disk by the time `landed` returns."""
        path = self.dir / "reconstructions" / f"epoch_{epoch:03d}.png"
        # its pixels here, on the training thread: the writer thread runs no torch kernel
        # (`pictures.pixels` says why); it encodes and writes
        dots = pictures.pixels(picture)
        self.landing.submit(add_picture, self.writer, "reconstructions", dots, step, path)
        return path

    def landed(self) -> None:
        """Return once everything handed to the writer thread (pictures, checkpoints) is
        written; raise a write's error."""
        self.landing.wait()

    def text(self, tag: str, text: str, step: int) -> None:
        self.writer.add_text(tag, text, step)

    def close(self) -> None:
        try:
            self.landed()
        finally:
            self.writer.flush()
            self.writer.close()


def add_picture(
    writer, tag: str, picture: torch.Tensor | np.ndarray | pictures.Png, step: int, path: Path
) -> Path:
    """A picture (3, H, W), its (H, W, 3) `pictures.pixels` or its `pictures.Png`, as the
    PNG file `path` and as TensorBoard's image `tag`, the same bytes in both (encoded once;
    torch's add_image would encode it again, truncating to 8 bits where the file rounds).
    `writer` is a torch SummaryWriter."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    png = pictures.png_bytes(picture)
    if isinstance(picture, pictures.Png):
        height, width = picture.height, picture.width
    else:
        height, width = (
            picture.shape[1:] if isinstance(picture, torch.Tensor) else picture.shape[:2]
        )
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=png)
    writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
    return pictures.save_png(picture, path, png)


def after_older_logs(run_dir: Path) -> None:
    """Wait until this writer's event file will sort after the folder's older ones.

    TensorBoard reads a folder's event files in name order, and a name starts with the
    second its writer opened, then host and pid: a run resumed in the same second as the
    crashed one (a fast in-process restart) could sort first and have its points purged by
    the older file's. Waits at most one second, only then."""
    stamps = [p.name.split(".")[3] for p in run_dir.glob("events.out.tfevents.*")]
    newest = max((int(s) for s in stamps if s.isdigit()), default=None)
    if newest is not None:
        time.sleep(max(0.0, newest + 1 - time.time()))
