"""`aectl train`: compose → instantiate → fit → return the validation loss.

The loop reads top to bottom: data lives on the device as one tensor, batches are slices
of a random permutation, losses accumulate on the device and are read back only every
`log_every_n_steps` steps and at the end of each epoch.
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

from aectl import checkpoint, pictures
from aectl import device as devices
from aectl.config.validate import validate
from aectl.data.base import MANIFOLD, ONEHOT, Data
from aectl.errors import UserError, require
from aectl.models.autoencoder import Autoencoder
from aectl.progress import TrainProgress, console
from aectl.regularizers.base import Regularizer
from aectl.runlog import RunLog, code_stats, write_json
from aectl.seeding import rng_state, seed_everything
from aectl.step import losses


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
    if cfg.trainer.loss == "bce":
        require(
            model.output_activation == "sigmoid",
            "trainer.loss",
            "bce",
            "BCE needs outputs in (0, 1): set arch.output_activation=sigmoid or trainer.loss=mse",
        )
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
    recon, term = (sums / len(x)).tolist()
    return {
        "val/recon": recon,
        "val/penalty": reg.weight * term,
        "val/term": term,
        "codes": torch.cat(codes),
    }


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


def train(cfg: DictConfig, run_dir: str | Path) -> float:
    validate(cfg)
    t = cfg.trainer
    run_dir = Path(run_dir)
    device = devices.pick(t.device)
    seed_everything(t.seed)
    data, model, reg = build(cfg, device)
    n, batch = len(data.train_x), t.batch_size
    require(
        batch <= n,
        "trainer.batch_size",
        batch,
        f"allowed: 1..{n} (the training split holds {n} samples)",
    )
    opt: torch.optim.Optimizer = instantiate(cfg.optim, params=model.parameters())
    resolved = OmegaConf.to_container(cfg, resolve=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    log = RunLog(run_dir, reg.term_name)
    console.print(
        f"[bold]aectl train[/]  device={device}  data={data.name} {tuple(data.shape)} "
        f"train={n} val={len(data.val_x)}  arch={model.arch} code_dim={model.code_dim} "
        f"([bold]{model.completeness}[/]: input size {model.input_size})  regularizer={reg.describe()}"
    )
    console.print(f"run folder: {run_dir}")
    log.text(
        "run/summary",
        f"{model.completeness}: code_dim={model.code_dim}, input size={model.input_size}",
        0,
    )

    steps_per_epoch = math.ceil(n / batch)
    step, best, best_epoch, t_start, t_train = 0, math.inf, 0, time.perf_counter(), 0.0
    window = torch.zeros(3, device=device)
    t_window, lr = time.perf_counter(), opt.param_groups[0]["lr"]
    with TrainProgress(steps_per_epoch * t.max_epochs, t.max_epochs) as bar:
        for epoch in range(1, t.max_epochs + 1):
            model.train()
            t_epoch = time.perf_counter()
            sums = torch.zeros(3, device=device)
            for idx in torch.randperm(n, device=device).split(batch):
                total, recon, term = losses(model, reg, data.train_x[idx], t.loss)
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                step += 1
                parts = torch.stack([total.detach(), recon.detach(), term.detach()])
                sums += parts
                window += parts
                bar.advance()
                if step % t.log_every_n_steps == 0:
                    now = time.perf_counter()
                    means = (window / t.log_every_n_steps).tolist()  # the only sync in the loop
                    sps = t.log_every_n_steps * batch / max(now - t_window, 1e-9)
                    log.step(step, *means, reg.weight, lr, sps)
                    bar.show(epoch=epoch, loss=means[0], samples_per_s=sps)
                    window.zero_()
                    t_window = now
            train_loss, train_recon, train_term = (sums / steps_per_epoch).tolist()
            t_train += time.perf_counter() - t_epoch  # training steps only, after the sync above
            if not math.isfinite(train_loss):
                raise UserError(
                    "training",
                    f"loss became {train_loss} in epoch {epoch} (step {step}); "
                    "lower optim.lr or regularizer.weight",
                )
            val = evaluate(model, reg, data.val_x, t.loss, batch)
            sps_run = step * batch / t_train
            scalars = {
                "val/recon": val["val/recon"],
                "val/penalty": val["val/penalty"],
                "epoch/train_loss": train_loss,
                "epoch/train_recon": train_recon,
                **{k: v.item() for k, v in code_stats(val["codes"]).items()},
            }
            log.epoch(step, scalars, val["codes"])
            if epoch % t.picture_every_n_epochs == 0 or epoch == t.max_epochs:
                log.picture(epoch, step, picture(data, model, reg, t.num_images))
            metrics = {
                "train/loss": train_loss,
                "train/recon": train_recon,
                "train/penalty": reg.weight * train_term,
                "val/recon": val["val/recon"],
                "val/penalty": val["val/penalty"],
                **{k: scalars[k] for k in scalars if k.startswith("code/")},
                "epoch": epoch,
                "step": step,
                "wall_time_s": time.perf_counter() - t_start,
                "samples_per_s": sps_run,
            }
            state = {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch,
                "step": step,
                "rng": rng_state(),
                "config": resolved,
                "metrics": metrics,
            }
            checkpoint.save(state, run_dir / "checkpoints" / "last.pt")
            if val["val/recon"] < best:
                best, best_epoch = val["val/recon"], epoch
                checkpoint.save(state, run_dir / "checkpoints" / "best.pt")
            bar.epoch_done(epoch, step, train_loss, val["val/recon"], sps_run)
    log.close()
    metrics.update(
        {
            "best_epoch": best_epoch,
            "best_val_recon": best,
            "completeness": model.completeness,
            "code_dim": model.code_dim,
            "input_size": model.input_size,
            "scaling": data.scaling,
        }
    )
    write_json(metrics, run_dir / "metrics.json")
    if data.kind == ONEHOT:
        from aectl.onehot_table import show

        show(model, data, run_dir)
    console.print(
        f"done: val/recon {metrics['val/recon']:.5g} (best {best:.5g} at epoch {best_epoch}); "
        f"{metrics['samples_per_s']:,.0f} samples/s; run folder {run_dir}"
    )
    return float(metrics["val/recon"])
