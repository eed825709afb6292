"""`aectl train`: compose → instantiate → fit → return the validation loss.

The loop reads top to bottom: data lives on the device as one tensor, batches are slices
of a random permutation, losses stay on the device and are read back only every
`log_every_n_steps` steps and at the end of each epoch. A checkpoint at each epoch's end
(and on SIGINT/SIGTERM, mid-epoch) holds everything needed to continue bit for bit.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf

from aectl import analysis, checkpoint, data_range, faults, hparams, layerwise, pictures
from aectl import device as devices
from aectl.config.validate import validate
from aectl.data.base import MANIFOLD, ONEHOT, Data
from aectl.errors import UserError, require
from aectl.fast_step import make_step
from aectl.models import pca
from aectl.models.autoencoder import Autoencoder
from aectl.progress import TrainProgress, console
from aectl.regularizers.base import Regularizer
from aectl.resume import starting_state
from aectl.runlog import RunLog, code_stats, write_json
from aectl.seeding import rng_state, seed_everything, set_rng_state
from aectl.step import losses
from aectl.stopping import GracefulStop, Interrupted


class Diverged(UserError):
    exit_code = 3


def instantiate(node: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, but a UserError raised by the target reaches the user as is."""
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        while cause is not None and not isinstance(cause, UserError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        raise


def build(cfg: DictConfig, device: torch.device) -> tuple[Data, Autoencoder, Regularizer]:
    """Instantiate dataset, model and regularizer from the config and check they fit together."""
    data: Data = instantiate(cfg.dataset).to(device)
    model: Autoencoder = instantiate(cfg.arch, input_shape=data.shape).to(device)
    reg: Regularizer = instantiate(cfg.regularizer)
    reg.check(model, data)
    return data, model, reg


@torch.no_grad()
def evaluate(
    model: Autoencoder, reg: Regularizer, x: torch.Tensor, loss: str, batch: int
) -> dict[str, Any]:
    """Validation numbers on clean inputs (no corruption, no dropout), plus all the codes."""
    model.eval()
    sums = torch.zeros(2, device=x.device)
    codes = []
    for xb in x.split(batch):
        with torch.enable_grad():  # penalties such as the contractive one differentiate
            _, recon, term = losses(model, reg, xb, loss, train=False)
        sums += torch.stack([recon.detach(), term.detach()]) * len(xb)
        codes.append(model.encode(xb))
    model.train()
    recon, term = (sums / len(x)).tolist()
    return {"val/recon": recon, "val/penalty": reg.weight * term, "codes": torch.cat(codes)}


def picture(data: Data, model: Autoencoder, reg: Regularizer, n: int) -> torch.Tensor:
    if data.kind == MANIFOLD:
        x = data.val_x[:512]
    elif data.kind == ONEHOT:
        x = torch.unique(data.val_x, dim=0).flip(0)  # each pattern once, in order
    else:
        x = data.val_x[:n]
    with torch.no_grad():
        x_in = reg.corrupt(x) if reg.name == "denoising" else None
        h = model.encode(x if x_in is None else x_in)
        x_hat = model.decode(h)
    return pictures.reconstruction_picture(data.kind, x, x_in, x_hat, h, data.extras.get("curve"))


def first_bad_step(window: list[list[float]], last_step: int) -> int | None:
    """The step whose loss was NaN/Inf, from the rows of the last window (oldest first)."""
    for k, row in enumerate(window):
        if not math.isfinite(row[0]):
            return last_step - len(window) + 1 + k
    return None


def train(cfg: DictConfig, run_dir: str | Path) -> float:
    validate(cfg)
    t, run_dir = cfg.trainer, Path(run_dir)
    start = starting_state(run_dir, t.resume)
    device = devices.pick(t.device)
    seed_everything(t.seed)
    data, model, reg = build(cfg, device)
    # Not in build(): `aectl eval` builds runs trained before this check existed.
    data_range.check(data, model.output_activation, t.loss)
    if model.arch == "pca":  # closed form: solved by SVD, then one evaluation-only epoch
        pca.fit(model, data.train_x)
        if t.max_epochs != 1:
            console.print(
                f"arch=pca is solved in closed form: trainer.max_epochs={t.max_epochs} ignored"
            )
        t.max_epochs = 1
    n, batch = len(data.train_x), t.batch_size
    require(
        batch <= n,
        "trainer.batch_size",
        batch,
        f"allowed: 1..{n} (the training split holds {n} samples)",
    )
    opt: torch.optim.Optimizer = instantiate(cfg.optim, params=model.parameters())
    steps_per_epoch = math.ceil(n / batch)
    epoch, step, best, best_epoch, t_train, metrics = 0, 0, math.inf, 0, 0.0, {}
    position = None  # where a mid-epoch checkpoint stopped: (perm, next batch, epoch sums)
    if start is not None:
        checkpoint.load_model_state(model, start, "trainer.resume")
        opt.load_state_dict(start["optimizer"])
        epoch, step, metrics = start["epoch"], start["step"], start["metrics"]
        best, best_epoch, t_train = start["best"], start["best_epoch"], start["train_time_s"]
        set_rng_state(start["rng"])
        if start.get("position") is not None:
            p = start["position"]
            position = (p["perm"].to(device), p["batch"], p["sums"].to(device))
    if model.arch == "pca":
        train_step = pca.frozen_step(model, reg, t.loss)
    else:
        train_step = make_step(model, reg, opt, t.loss, compile=t.compile, precision=t.precision)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    log = RunLog(run_dir, reg.term_name, purge_step=step + 1 if start else None)
    hparams.declare(log.writer, cfg)
    console.print(
        f"[bold]aectl train[/]  device={device}  data={data.name} {tuple(data.shape)} "
        f"train={n} val={len(data.val_x)}  arch={model.arch} code_dim={model.code_dim} "
        f"([bold]{model.completeness}[/]: input size {model.input_size})  regularizer={reg.describe()}"
    )
    console.print(
        f"run folder: {run_dir}" + (f"  (resumed at epoch {epoch}, step {step})" if start else "")
    )

    def save(position: dict[str, Any] | None = None) -> dict[str, Any]:
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": epoch,
            "step": step,
            "rng": rng_state(),
            "config": resolved,
            "metrics": metrics,
            "best": best,
            "best_epoch": best_epoch,
            "train_time_s": t_train,
            "position": position,
            "log_window": window.cpu(),
            "layerwise": stages,  # so a resumed run still reports its pretraining stages
        }
        checkpoint.save(state, run_dir / "checkpoints" / "last.pt")
        return state

    window = torch.zeros(t.log_every_n_steps, 3, device=device)  # the steps since the last log
    filled = 0  # rows of `window` in use; it is logged when full and at each epoch's end
    if start is not None and start["log_window"].shape == window.shape:
        window.copy_(start["log_window"])
        if start.get("position") is not None:
            filled = start["position"].get("log_filled", step % t.log_every_n_steps)
    lr, t_window = opt.param_groups[0]["lr"], time.perf_counter()
    if start is not None:  # pretrained (or not) in the session that wrote the checkpoint
        stages = start.get("layerwise", {})
    else:
        stages = layerwise.pretrain(cfg, model, data, reg, log.writer) if t.layerwise else {}

    def kept() -> str:
        if (run_dir / "checkpoints" / "last.pt").is_file():
            return "last.pt keeps the last finite state"
        return "it happened before the first checkpoint"

    def log_window() -> None:
        """Read back the window's rows (the loop's only sync), stop on a NaN/Inf loss, and log
        their means."""
        nonlocal t_window
        rows = window[:filled].tolist()
        if (bad := first_bad_step(rows, step)) is not None:
            raise Diverged(
                "training",
                f"the loss became {rows[bad - step - 1][0]} at step {bad}; "
                f"lower optim.lr or regularizer.weight ({kept()})",
            )
        now = time.perf_counter()
        means = [sum(c) / len(rows) for c in zip(*rows)]
        sps = len(rows) * batch / max(now - t_window, 1e-9)
        log.step(step, *means, reg.weight, lr, sps)
        bar.show(step=step, epoch=epoch + 1, loss=means[0], samples_per_s=sps)
        t_window = now

    with (
        GracefulStop() as stop,
        TrainProgress(steps_per_epoch * t.max_epochs, t.max_epochs, step) as bar,
    ):
        while epoch < t.max_epochs:
            t_epoch = t_window = time.perf_counter()
            perm, first, sums = position or (
                torch.randperm(n, device=device),
                0,
                torch.zeros(3, device=device),
            )
            position = None
            epoch_first_step = step
            for b in range(first, steps_per_epoch):
                parts = train_step(data.train_x[perm[b * batch : (b + 1) * batch]])
                step += 1
                sums += parts
                window[filled] = parts
                filled += 1
                faults.hit("step")
                if filled == t.log_every_n_steps:
                    log_window()
                    filled = 0
                if stop.requested and b + 1 < steps_per_epoch:
                    t_train += time.perf_counter() - t_epoch
                    save(
                        {
                            "perm": perm.cpu(),
                            "batch": b + 1,
                            "sums": sums.cpu(),
                            "log_filled": filled,
                        }
                    )
                    raise Interrupted(stop.signum)
            if filled:  # the epoch's last, partial window
                log_window()
                filled = 0
            train_loss, train_recon, train_term = (sums / steps_per_epoch).tolist()
            if not math.isfinite(train_loss):
                raise Diverged(
                    "training",
                    f"the loss became {train_loss} in epoch {epoch + 1} (by step {step}); "
                    f"lower optim.lr or regularizer.weight ({kept()})",
                )
            epoch_s = time.perf_counter() - t_epoch  # training steps only, after the sync above
            t_train += epoch_s
            epoch += 1
            # This epoch's own rate: the overall one also holds compiling and capturing,
            # which the first steps of each batch shape pay (trainer.compile=true).
            epoch_sps = (step - epoch_first_step) * batch / max(epoch_s, 1e-9)
            val = evaluate(model, reg, data.val_x, t.loss, batch)
            stats = {k: v.item() for k, v in code_stats(val["codes"]).items()}
            log.epoch(
                step,
                {
                    "val/recon": val["val/recon"],
                    "val/penalty": val["val/penalty"],
                    "epoch/train_loss": train_loss,
                    "epoch/train_recon": train_recon,
                    **stats,
                },
                val["codes"],
            )
            if epoch % t.picture_every_n_epochs == 0 or epoch == t.max_epochs:
                log.picture(epoch, step, picture(data, model, reg, t.num_images))
            if val["val/recon"] < best:
                best, best_epoch = val["val/recon"], epoch
            metrics = {
                "train/loss": train_loss,
                "train/recon": train_recon,
                "train/penalty": reg.weight * train_term,
                "val/recon": val["val/recon"],
                "val/penalty": val["val/penalty"],
                **stats,
                "epoch": epoch,
                "step": step,
                "train_time_s": t_train,
                "samples_per_s": step * batch / max(t_train, 1e-9),
                "epoch_samples_per_s": epoch_sps,
                "best_epoch": best_epoch,
                "best_val_recon": best,
            }
            state = save()
            if best_epoch == epoch:
                checkpoint.save(state, run_dir / "checkpoints" / "best.pt")
            bar.epoch_done(epoch, step, train_loss, val["val/recon"], epoch_sps)
            if stop.requested:
                raise Interrupted(stop.signum)
    metrics.update({**stages, **analysis.analyze(run_dir, model, data, log.writer, step)})
    metrics.update(
        {
            "completeness": model.completeness,
            "code_dim": model.code_dim,
            "input_size": model.input_size,
            "scaling": data.scaling,
        }
    )
    hparams.finish(log.writer, metrics)
    log.close()
    write_json(metrics, run_dir / "metrics.json")
    if data.kind == ONEHOT:
        from aectl.onehot_table import show

        show(model, data, run_dir)
    console.print(
        f"done: val/recon {metrics['val/recon']:.5g} (best {best:.5g} at epoch {best_epoch}); "
        f"{metrics['samples_per_s']:,.0f} samples/s overall"
        + (
            f", {metrics['epoch_samples_per_s']:,.0f} in the last epoch"
            if "epoch_samples_per_s" in metrics  # (not in a checkpoint from before it existed)
            else ""
        )
        + f"; run folder {run_dir}"
    )
    return hparams.objective(metrics, t.monitor)
