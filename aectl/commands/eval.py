"""`aectl eval RUN_DIR`: reload a trained run and measure what its autoencoder does.

Training reports the loss it optimised; eval answers the other questions from a checkpoint
alone: reconstruction MSE and BCE, PSNR for images, the penalty, code sparsity, the mean
Frobenius norm of the encoder Jacobian, the linear probe and every analysis that applies
(aectl.analysis); for a stochastic run (a VAE) also the importance-sampled negative
log-likelihood with `--samples K` codes per example, the IWAE bound and the negative ELBO,
in nats per example (`nll/*`, with K as `nll/samples`). It writes `<run>/eval.json`, prints a table, and saves a fresh
reconstruction grid and the analysis pictures under `<run>/eval/` (and to the run's
TensorBoard, tagged `eval/...`). The data are rebuilt from the run's own config, relative
paths from the folder the run was launched in.

By default it measures the test split (the run never selected anything on it) of the
checkpoint the run's own analyses describe (`trainer.analyze`, last unless set): the same
numbers as the run's metrics.json (`test/last/...` and the analyses). A run without a test
split (saved before aectl had one, or `dataset.test_fraction=0`) is measured on its
validation split, with a note saying so.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aectl import lock
from aectl.config.run import RunConfig
from aectl.config.stored import launch_folder, stored_config
from aectl.errors import OneLineParser, UserError
from aectl.training.stopping import load_torch

if TYPE_CHECKING:
    import torch

CHECKPOINTS = ("best", "last")
SAMPLES = 1000  # importance samples per example for a stochastic run's log-likelihood
SPLITS = ("test", "val", "train")
NO_TEST = (
    "this run has no test split (saved before aectl had one, or dataset.test_fraction=0): "
    "measured on the validation split, which chose best.pt"
)


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="aectl eval", description="Evaluate a trained run: numbers, pictures, eval.json."
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by `aectl train`")
    p.add_argument(
        "--checkpoint",
        choices=CHECKPOINTS,
        default=None,
        help="which checkpoint (default: the one the run's analyses describe, trainer.analyze)",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="samples to measure on (default: test; val for a run without a test split)",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    p.add_argument(
        "--samples",
        type=int,
        default=None,
        metavar="K",
        help="a stochastic run (VAE): codes drawn per sample for the importance-sampled "
        f"log-likelihood and the IWAE bound (default {SAMPLES})",
    )
    return p


@contextlib.contextmanager
def launch_dir(run_dir: Path):
    """Work in the folder `aectl train` was launched from (Hydra records it), so the run's
    relative dataset paths point where they did."""
    cwd = launch_folder(run_dir / ".hydra" / "hydra.yaml")  # plain YAML data, nothing resolved
    if not cwd or not Path(cwd).is_dir():
        yield
        return
    here = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)


def analyzed_checkpoint(run_dir: Path) -> str:
    """The checkpoint the run's end-of-run analyses describe: its config.yaml's
    trainer.analyze, or last (what runs saved before trainer.analyze analysed)."""
    import yaml

    try:
        value = yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["analyze"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "last"
    return value if value in CHECKPOINTS else "last"


def checkpoint_path(run_dir: Path, which: str) -> Path:
    """The checkpoint to evaluate, refused with one line before torch is even imported."""
    if not run_dir.exists():
        raise UserError("RUN_DIR", f"{str(run_dir)!r} does not exist")
    if not run_dir.is_dir():
        raise UserError("RUN_DIR", f"{str(run_dir)!r} is not a folder" + _file_hint(run_dir))
    if not _is_run(run_dir):
        raise UserError("RUN_DIR", f"{str(run_dir)!r} is " + _folder_hint(run_dir))
    path = run_dir / "checkpoints" / f"{which}.pt"
    if not path.is_file():
        held = sorted(p.stem for p in (run_dir / "checkpoints").glob("*.pt"))
        raise UserError(
            "--checkpoint",
            f"{str(path)!r} does not exist; this run holds: "
            f"{', '.join(held) if held else 'no checkpoints (is it a run folder?)'}",
        )
    return path


def _is_run(folder: Path) -> bool:
    return (folder / "checkpoints").is_dir() or (folder / "config.yaml").is_file()


def _file_hint(path: Path) -> str:
    """A checkpoint file given where its run folder goes: name the folder and the flag."""
    run = path.parent.parent
    if path.is_file() and path.suffix == ".pt" and path == run / "checkpoints" / path.name:
        return f"; it is a checkpoint: pass its run folder {str(run)!r}" + (
            f" with --checkpoint {path.stem}" if path.stem in CHECKPOINTS else ""
        )
    return ""


def _folder_hint(folder: Path) -> str:
    """Why `folder` is not a run folder, and which folders below it are."""
    if _is_run(folder.parent) and folder == folder.parent / "checkpoints":
        return f"a run's checkpoints folder; pass the run folder {str(folder.parent)!r}"
    if (folder / "multirun.yaml").is_file():
        return (
            "a sweep folder, not a run folder; pass one of its job folders, or compare "
            f"the jobs with `aectl summarize {folder}`"
        )
    below = sorted(
        p
        for p in [*folder.glob("*"), *folder.glob("*/*")]
        if not any(part.startswith(".") for part in p.relative_to(folder).parts) and _is_run(p)
    )
    if below:
        names = ", ".join(repr(str(p)) for p in below[:3])
        more = f" and {len(below) - 3} more" if len(below) > 3 else ""
        return f"not a run folder; the run folders in it: {names}{more}"
    return (
        "not a run folder (no checkpoints/ or config.yaml in it); a run folder "
        "is what `aectl train` printed after 'run folder:'"
    )


def checkpoint_epoch(state: dict[str, Any]) -> str:
    """Where a checkpoint stands: `epoch 3`, or, for one saved mid-epoch by an interrupt,
    `epoch 3 after 4 batches` (its `epoch` counts the epochs finished: 2)."""
    epoch, position = state.get("epoch"), state.get("position")
    batch = position.get("batch") if isinstance(position, dict) else None
    if isinstance(epoch, int) and isinstance(batch, int):
        return f"epoch {epoch + 1} after {batch} batch{'es' if batch != 1 else ''}"
    return f"epoch {epoch}"


def load_run(run_dir: Path, which: str, device: torch.device):
    """(config, checkpoint state, data, model with the checkpoint's weights, regularizer)."""
    from aectl.training import checkpoint
    from aectl.training.build import build

    path = checkpoint_path(run_dir, which)
    state = checkpoint.load(path, "--checkpoint")
    cfg = stored_config(state.get("config"), str(path))
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


def measure(cfg: RunConfig, data, model, reg, x: torch.Tensor) -> dict[str, float | None]:
    """Reconstruction, penalty and Jacobian numbers (sparsity comes with the analyses)."""
    from aectl.training.measure import report

    return report(model, reg, data, x, cfg.trainer.step_loss, cfg.trainer.batch_size)


def table(numbers: dict[str, Any]):
    from rich.table import Table

    t = Table()  # (what was measured is the command's first line)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in numbers.items():
        t.add_row(k, "n/a" if v is None else f"{v:.6g}")
    return t


def samples(data, split: str | None) -> tuple[str, Any, str | None]:
    """(the split measured, its samples, a note or None): test by default, validation for
    data without a test split; asking for a test split the run does not have is refused."""
    if split is None:
        split = "test" if data.test_x is not None else "val"
        note = None if split == "test" else NO_TEST
    else:
        note = None
    if data.samples(split)[0] is None:
        raise UserError(
            "--split",
            "test; allowed: val, train (this run has no test split: saved before aectl had "
            "one, or dataset.test_fraction=0)",
        )
    return split, data.samples(split)[0], note


def run(args: argparse.Namespace) -> dict[str, Any]:
    which = args.checkpoint or analyzed_checkpoint(Path(args.run_dir))

    from torch.utils.tensorboard import SummaryWriter

    from aectl import analysis, atomic
    from aectl.config.metrics import WHOLE_RUN
    from aectl.data.base import ONEHOT
    from aectl.record import pictures
    from aectl.record.progress import console
    from aectl.record.runlog import add_picture
    from aectl.training import device as devices
    from aectl.training.measure import AT_THE_MEAN, psnr_peak
    from aectl.training.run import written_as_one_line
    from aectl.training.seeding import seed_everything

    run_dir = Path(args.run_dir)
    cfg, state, data, model, reg = load_run(run_dir, which, devices.pick(args.device, "--device"))
    split, x, note = samples(data, args.split)
    meta: dict[str, Any] = {
        "checkpoint": which,
        "split": split,
        "epoch": state.get("epoch"),
        "step": state.get("step"),
        "samples": len(x),
    }
    console.print(  # first: the analyses print their line while they run
        f"aectl eval {run_dir}: {which}.pt ({checkpoint_epoch(state)}) on the {split} split "
        f"({len(x)} samples)"
    )
    if split == "train" and data.train_y is not None:  # (the probe is fit on these codes)
        probe = "probe/accuracy is scored on the codes the probe was fit on (a training score)"
        note = f"{note}; {probe}" if note else probe
    if note:
        meta["note"] = note
        console.print(f"note: {note}")
    if model.stochastic:
        console.print(f"note: {AT_THE_MEAN}")
    elif args.samples is not None:
        console.print(
            "note: --samples ignored: it sets the codes drawn for a stochastic run's "
            "log-likelihood (a VAE), and this run's code is deterministic"
        )
    if data.is_image:
        peak, source = psnr_peak(data)
        meta["psnr_peak"] = {"value": peak, "from": source}
    seed_everything(cfg.trainer.seed)  # each block from the seed, as at the end of training
    numbers = measure(cfg, data, model, reg, x)
    if model.stochastic:
        from aectl.training.measure import log_likelihood

        seed_everything(cfg.trainer.seed)
        k = SAMPLES if args.samples is None else args.samples
        numbers.update(log_likelihood(model, x, cfg.trainer.step_loss, k))
    step = int(state.get("step") or 0)
    # each evaluation under its own tags: two evals of a run (another checkpoint or split)
    # stay apart in TensorBoard, where eval.json and eval/ hold only the latest
    tag = f"eval/{which}/{split}"
    logs = set(run_dir.glob("events.out.tfevents.*"))
    try:
        # the pictures replace eval/ as one set, with eval.json: an eval that fails leaves
        # the previous eval's pictures and numbers, never some of each
        with written_as_one_line(run_dir), atomic.staged_folder(run_dir / "eval") as staged:
            writer = SummaryWriter(log_dir=str(run_dir))
            try:
                img = pictures.model_picture(
                    replace(data, val_x=x), model, reg, cfg.trainer.num_images
                )
                add_picture(
                    writer, f"{tag}/reconstructions", img, step, staged / "reconstructions.png"
                )
                for key, value in numbers.items():
                    if isinstance(value, (int, float)):  # (None: no such number for this run)
                        writer.add_scalar(f"{WHOLE_RUN}{tag}/{key}", value, step)
                seed_everything(cfg.trainer.seed)
                numbers.update(
                    analysis.analyze(
                        run_dir, model, data, writer, step, folder="eval", split=split,
                        tag=tag, to=staged,
                    )
                )  # fmt: skip
            except BaseException:
                with contextlib.suppress(OSError):  # (it fails again on a full disk)
                    writer.close()
                raise
            writer.close()
            result = {**meta, **numbers}
            atomic.write_json(run_dir / "eval.json", result)
    except UserError:  # the event file this eval began is cut short: it goes
        for new in set(run_dir.glob("events.out.tfevents.*")) - logs:
            new.unlink(missing_ok=True)
        raise
    if data.kind == ONEHOT:
        from aectl.record.onehot_table import show

        show(model, data, run_dir)
    console.print(table(numbers))
    console.print(f"wrote {run_dir / 'eval.json'} and pictures in {run_dir / 'eval'}")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.samples is not None and args.samples < 1:
            raise UserError("--samples", f"{args.samples}; allowed: an integer >= 1")
        given = args.checkpoint is not None
        args.checkpoint = args.checkpoint or analyzed_checkpoint(Path(args.run_dir))
        checkpoint_path(Path(args.run_dir), args.checkpoint)  # bad input: one line, at once
        load_torch()
        with lock.holding(args.run_dir, "RUN_DIR"):  # eval writes into the run folder
            run(args)
    except UserError as e:
        if e.field == "--checkpoint" and not given:  # the run's own: name what was typed
            e = UserError("RUN_DIR", e.message)
        print(f"aectl: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0
