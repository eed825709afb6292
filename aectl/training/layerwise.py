"""Greedy layer-wise training of a deep fully connected autoencoder (Bengio et al., 2007).

With `trainer.layerwise=true`, before the usual end-to-end training (which then acts as
fine-tuning), stage k trains encoder layer k together with its mirror decoder layer as a
one-hidden-layer autoencoder of layer k-1's codes. Those codes come from the layers below,
computed once and frozen for the stage; the layers above are not touched. Each stage uses
the run's regularizer (giving stacked denoising, sparse or contractive autoencoders) and
optimizer settings, and the run's loss for stage 1 (MSE for the later stages, whose targets
are hidden codes, not probabilities). A stage is built from the deep model's own layer
objects, so it trains them in place and tied weights stay tied. Each stage logs
`layerwise/stage<k>/{loss,recon,penalty}` per epoch to TensorBoard, and its last epoch's
values to metrics.json, with the stages' seconds as `layerwise/train_time_s` (a run's
`train_time_s` is its end-to-end training only, so a layer-wise run costs the two together).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from aectl.config.run import RunConfig
from aectl.data.base import Data
from aectl.errors import UserError
from aectl.models.activations import MODULES
from aectl.models.autoencoder import Autoencoder
from aectl.models.mlp import TiedLinear
from aectl.record.progress import console
from aectl.regularizers.base import Regularizer
from aectl.training.build import optimizer
from aectl.training.step import losses

ARCHS = ("mlp", "linear")


@dataclass
class Layer:
    """Encoder layer k and the decoder layer that mirrors it."""

    linear: nn.Linear
    act: nn.Module
    mirror: nn.Module  # nn.Linear, or TiedLinear sharing `linear.weight`
    mirror_act: nn.Module


def layers(model: Autoencoder) -> list[Layer]:
    """The encoder's (Linear, activation) pairs, each with its mirror decoder pair."""
    if model.arch not in ARCHS:
        raise UserError(
            "trainer.layerwise",
            f"layer-wise training needs fully connected layers "
            f"(arch={' or '.join(ARCHS)}); this run has arch={model.arch}",
        )
    if model.stochastic:
        raise UserError(
            "trainer.layerwise",
            "got true; layer-wise pretraining stacks deterministic one-layer autoencoders and "
            "this code is stochastic (arch.stochastic=true); allowed: false",
        )
    enc, dec = list(model.encoder), list(model.decoder)
    enc_pairs = [(m, enc[i + 1]) for i, m in enumerate(enc) if isinstance(m, nn.Linear)]
    dec_pairs = [
        (m, dec[i + 1]) for i, m in enumerate(dec) if isinstance(m, (nn.Linear, TiedLinear))
    ]
    n = len(enc_pairs)
    return [Layer(lin, act, *dec_pairs[n - 1 - k]) for k, (lin, act) in enumerate(enc_pairs)]


def _activation_name(act: nn.Module) -> str:
    return next(name for name, cls in MODULES.items() if type(act) is cls)


def stage_model(layer: Layer, k: int) -> Autoencoder:
    """Layer k as a one-hidden-layer autoencoder (sharing the deep model's modules)."""
    return Autoencoder(
        nn.Sequential(layer.linear, layer.act),
        nn.Sequential(layer.mirror, layer.mirror_act),
        input_shape=(layer.linear.in_features,),
        code_dim=layer.linear.out_features,
        code_activation=_activation_name(layer.act),
        output_activation=_activation_name(layer.mirror_act),
        arch=f"layerwise-stage{k + 1}",
        single_layer=(layer.linear, layer.act),
        code_act=layer.act,
        output_act=layer.mirror_act,
    )


@torch.no_grad()
def stage_inputs(model: Autoencoder, k: int, x: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """Layer k-1's codes for the samples `x` (the flattened samples for k = 0)."""
    below = layers(model)[:k]
    out = []
    for h in x.flatten(1).split(batch):
        for layer in below:
            h = layer.act(layer.linear(h))
        out.append(h)
    return torch.cat(out)


def train_stage(
    model: Autoencoder,
    k: int,
    data: Data,
    reg: Regularizer,
    make_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
    *,
    epochs: int,
    batch: int,
    loss: str,
    writer=None,
) -> dict[str, float]:
    """Train layer k (0-based) on the frozen codes of the layers below; return its last epoch's
    loss, reconstruction and penalty as `layerwise/stage<k+1>/...`."""
    stack = layers(model)
    stage = stage_model(stack[k], k)
    if k < len(stack) - 1:  # its code is a hidden layer of the deep model
        stage.code_activation_field = "arch.activation"
    try:
        reg.check(stage, data)
    except UserError as e:
        raise UserError(
            "trainer.layerwise", f"stage {k + 1} ({stage.input_size} -> {stage.code_dim}): {e}"
        ) from None
    x = stage_inputs(model, k, data.train_x)
    loss = loss if k == 0 else "mse"
    opt = make_optimizer(stage.parameters())
    n, batch = len(x), min(batch, len(x))
    tag = f"layerwise/stage{k + 1}"
    stage.train()
    for epoch in range(1, epochs + 1):
        sums = torch.zeros(3, device=x.device)
        for idx in torch.randperm(n, device=x.device).split(batch):
            total, recon, term = losses(stage, reg, x[idx], loss)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            parts = torch.stack([total.detach(), recon.detach(), reg.penalty(term.detach())])
            sums += parts * len(idx)  # per-sample sums, as the epochs after the stages
        mean_loss, mean_recon, mean_penalty = (sums / n).tolist()
        if not math.isfinite(mean_loss):
            raise UserError(
                "training",
                f"layer-wise stage {k + 1}: loss became {mean_loss} in epoch {epoch}; "
                "lower optim.lr or regularizer.weight",
            )
        if writer is not None:
            writer.add_scalar(f"{tag}/loss", mean_loss, epoch)
            writer.add_scalar(f"{tag}/recon", mean_recon, epoch)
            writer.add_scalar(f"{tag}/penalty", mean_penalty, epoch)
    return {f"{tag}/loss": mean_loss, f"{tag}/recon": mean_recon, f"{tag}/penalty": mean_penalty}


def pretrain(
    cfg: RunConfig, model: Autoencoder, data: Data, reg: Regularizer, writer=None
) -> dict[str, float]:
    """All stages, bottom to top, with `trainer.layerwise_epochs` epochs each."""
    t = cfg.trainer
    stack = layers(model)
    metrics: dict[str, float] = {"layerwise/stages": len(stack)}
    if len(stack) == 1:
        console.print(
            "[yellow]note: trainer.layerwise=true on a one-layer encoder: its one stage is "
            f"the whole model, so this is {t.layerwise_epochs} more "
            f"epoch{'s' if t.layerwise_epochs != 1 else ''} of it (layer-wise "
            "training needs a deeper encoder: model=deep)[/]"
        )
    metrics["layerwise/train_time_s"] = 0.0  # not in train_time_s: that is the end-to-end part
    for k, layer in enumerate(stack):
        t0 = time.perf_counter()
        m = train_stage(
            model,
            k,
            data,
            reg,
            lambda p: optimizer(cfg, p),
            epochs=t.layerwise_epochs,
            batch=t.batch_size,
            loss=t.step_loss,
            writer=writer,
        )
        metrics["layerwise/train_time_s"] += time.perf_counter() - t0
        metrics.update(m)
        console.print(
            f"layer-wise stage {k + 1}/{len(stack)} ({layer.linear.in_features} -> "
            f"{layer.linear.out_features}): {t.layerwise_epochs} "
            f"epoch{'s' if t.layerwise_epochs != 1 else ''}, "
            f"recon {m[f'layerwise/stage{k + 1}/recon']:.5g}"
            + (" (of the data)" if k == 0 else f" (of stage {k}'s codes: not comparable)")
        )
    return metrics
