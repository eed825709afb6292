"""`aectl eval RUN_DIR`: reload a trained run and measure what its autoencoder does.

Training reports the loss it optimised; eval answers the other questions from a checkpoint
alone: reconstruction MSE and BCE, PSNR for images, the penalty, code sparsity, the mean
Frobenius norm of the encoder Jacobian, the linear probe and every analysis that applies
(aectl.analysis). It writes `<run>/eval.json`, prints a table, and saves a fresh
reconstruction grid and the analysis pictures under `<run>/eval/` (and to the run's
TensorBoard, tagged `eval/...`). The data are rebuilt from the run's own config, relative
paths from the folder the run was launched in.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from aectl.errors import OneLineParser, UserError

if TYPE_CHECKING:
    import torch

CHECKPOINTS = ("best", "last")
SPLITS = ("val", "train")
JACOBIAN_SAMPLES = 1000  # mean ‖J‖_F is estimated on at most this many samples
JACOBIAN_CHUNK = 100


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="aectl eval", description="Evaluate a trained run: numbers, pictures, eval.json."
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `aectl train`")
    p.add_argument(
        "--checkpoint", choices=CHECKPOINTS, default="best", help="which checkpoint (default: best)"
    )
    p.add_argument(
        "--split", choices=SPLITS, default="val", help="samples to measure on (default: val)"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    return p


@contextlib.contextmanager
def launch_dir(run_dir: Path):
    """Work in the folder `aectl train` was launched from (Hydra records it), so the run's
    relative dataset paths point where they did."""
    hydra_yaml = run_dir / ".hydra" / "hydra.yaml"
    cwd = None
    if hydra_yaml.is_file():
        cwd = OmegaConf.load(hydra_yaml).hydra.runtime.get("cwd")
    if not cwd or not Path(cwd).is_dir():
        yield
        return
    here = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)


def checkpoint_path(run_dir: Path, which: str) -> Path:
    """The checkpoint to evaluate, refused with one line before torch is even imported."""
    if not run_dir.is_dir():
        raise UserError("RUN_DIR", f"{str(run_dir)!r} is not a folder")
    path = run_dir / "checkpoints" / f"{which}.pt"
    if not path.is_file():
        held = sorted(p.stem for p in (run_dir / "checkpoints").glob("*.pt"))
        raise UserError(
            "--checkpoint",
            f"{str(path)!r} does not exist; this run holds: "
            f"{', '.join(held) if held else 'no checkpoints (is it a run folder?)'}",
        )
    return path


def load_run(run_dir: Path, which: str, device: torch.device):
    """(config, checkpoint state, data, model with the checkpoint's weights, regularizer)."""
    from aectl import checkpoint
    from aectl.train import build

    path = checkpoint_path(run_dir, which)
    state = checkpoint.load(path, "--checkpoint")
    if not isinstance(state.get("config"), dict):
        raise UserError("--checkpoint", f"{str(path)!r} holds no run config")
    cfg: DictConfig = OmegaConf.create(state["config"])
    with launch_dir(run_dir):
        try:
            data, model, reg = build(cfg, device)
        except UserError as e:
            if e.field != "dataset.layout" or "layout" in state["config"]["dataset"]:
                raise
            cfg.dataset.layout = "nchw"  # a run from before dataset.layout: how it was read
            data, model, reg = build(cfg, device)
    checkpoint.load_model_state(model, state, "--checkpoint")
    model.eval()
    return cfg, state, data, model, reg


def jacobian_fro(model, x: torch.Tensor) -> float:
    """Mean over samples of the encoder Jacobian's Frobenius norm (torch.func, exact)."""
    import torch

    from aectl.regularizers.contractive import exact

    x = x[:JACOBIAN_SAMPLES]
    norms = [exact(model, xb).detach().sqrt() for xb in x.split(JACOBIAN_CHUNK)]
    return torch.cat(norms).mean().item()


def reconstruction(model, x: torch.Tensor, batch: int, is_image: bool) -> dict[str, float | None]:
    """MSE, BCE (when inputs and outputs lie in [0, 1]) and, for images, PSNR (peak 1)."""
    import torch

    from aectl.step import reconstruction_loss

    sums = {"mse": 0.0, "bce": 0.0}
    bce_ok = model.output_activation == "sigmoid" and x.min() >= 0 and x.max() <= 1
    with torch.no_grad():
        for xb in x.split(batch):
            x_hat = model(xb)
            sums["mse"] += reconstruction_loss(x_hat, xb, "mse").item() * len(xb)
            if bce_ok:
                sums["bce"] += reconstruction_loss(x_hat, xb, "bce").item() * len(xb)
    mse = sums["mse"] / len(x)
    return {
        "recon/mse": mse,
        "recon/bce": sums["bce"] / len(x) if bce_ok else None,
        "recon/psnr_db": (10 * math.log10(1 / mse) if mse > 0 else math.inf) if is_image else None,
    }


def measure(cfg: DictConfig, data, model, reg, x: torch.Tensor) -> dict[str, float | None]:
    """Reconstruction, penalty and Jacobian numbers (sparsity comes with the analyses)."""
    from aectl.train import evaluate

    batch = int(cfg.trainer.batch_size)
    val = evaluate(model, reg, x, cfg.trainer.loss, batch)
    model.eval()
    out: dict[str, float | None] = reconstruction(model, x, batch, data.is_image)
    out["penalty"] = val["val/penalty"]
    out["jacobian/fro_mean"] = jacobian_fro(model, x)
    return out


def table(run_dir: Path, meta: dict[str, Any], numbers: dict[str, Any]):
    from rich.table import Table

    t = Table(
        title=f"aectl eval {run_dir}  ({meta['checkpoint']}.pt, epoch {meta['epoch']}, "
        f"{meta['split']} split, {meta['samples']} samples)"
    )
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in numbers.items():
        t.add_row(k, "n/a" if v is None else f"{v:.6g}")
    return t


def run(args: argparse.Namespace) -> dict[str, Any]:
    checkpoint_path(Path(args.run_dir), args.checkpoint)  # bad input: one line, at once

    from torch.utils.tensorboard import SummaryWriter

    from aectl import analysis, pictures
    from aectl import device as devices
    from aectl.data.base import ONEHOT
    from aectl.progress import console
    from aectl.runlog import write_json
    from aectl.seeding import seed_everything
    from aectl.train import picture

    run_dir = Path(args.run_dir)
    cfg, state, data, model, reg = load_run(
        run_dir, args.checkpoint, devices.pick(args.device, "--device")
    )
    seed_everything(int(cfg.trainer.seed))
    x = data.val_x if args.split == "val" else data.train_x
    meta = {
        "checkpoint": args.checkpoint,
        "split": args.split,
        "epoch": state.get("epoch"),
        "step": state.get("step"),
        "samples": len(x),
    }
    numbers = measure(cfg, data, model, reg, x)
    step = int(state.get("step") or 0)
    writer = SummaryWriter(log_dir=str(run_dir))
    try:
        img = picture(replace(data, val_x=x), model, reg, int(cfg.trainer.num_images))
        pictures.save_png(img, run_dir / "eval" / "reconstructions.png")
        writer.add_image("eval/reconstructions", img, step)
        numbers.update(
            analysis.analyze(run_dir, model, data, writer, step, folder="eval", split=args.split)
        )
    finally:
        writer.close()
    if data.kind == ONEHOT:
        from aectl.onehot_table import show

        show(model, data, run_dir)
    console.print(table(run_dir, meta, numbers))
    result = {**meta, **numbers}
    write_json(result, run_dir / "eval.json")
    console.print(f"wrote {run_dir / 'eval.json'} and pictures in {run_dir / 'eval'}")
    return result


def main(argv: list[str] | None = None) -> int:
    try:
        run(parser().parse_args(sys.argv[1:] if argv is None else argv))
    except UserError as e:
        print(f"aectl: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0
