"""Numbers measured on a split with the model frozen: shared by the trainer and `aectl eval`.

`validation_pass` is what every epoch ends with: reconstruction and penalty term on clean
inputs (no corruption, no dropout), sample-weighted, plus the codes. `reconstruction` and
`jacobian_fro` are the extra numbers `aectl eval` reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aectl.models.autoencoder import Autoencoder
from aectl.regularizers.base import Regularizer
from aectl.training.step import decoded_loss, losses, reconstruction_loss

JACOBIAN_SAMPLES = 1000  # mean ‖J‖_F is estimated on at most this many samples
JACOBIAN_CHUNK = 100


@dataclass
class Pass:
    recon: float  # mean reconstruction loss per sample
    term: float  # mean unweighted penalty term
    codes: torch.Tensor  # every sample's code


@torch.no_grad()
def validation_pass(
    model: Autoencoder, reg: Regularizer, x: torch.Tensor, loss: str, batch: int
) -> Pass:
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
    return Pass(recon, term, torch.cat(codes))


def jacobian_fro(model: Autoencoder, x: torch.Tensor) -> float:
    """Mean over samples of the encoder Jacobian's Frobenius norm (torch.func, exact)."""
    from aectl.regularizers.contractive import exact

    x = x[:JACOBIAN_SAMPLES]
    norms = [exact(model, xb).detach().sqrt() for xb in x.split(JACOBIAN_CHUNK)]
    return torch.cat(norms).mean().item()


@torch.no_grad()
def reconstruction(
    model: Autoencoder, x: torch.Tensor, batch: int, is_image: bool
) -> dict[str, float | None]:
    """MSE, BCE (when inputs and outputs lie in [0, 1]) and, for images, PSNR (peak 1)."""
    sums = {"mse": 0.0, "bce": 0.0}
    bce_ok = model.output_activation == "sigmoid" and x.min() >= 0 and x.max() <= 1
    for xb in x.split(batch):
        h = model.encode(xb)
        sums["mse"] += reconstruction_loss(model.decode(h), xb, "mse").item() * len(xb)
        if bce_ok:  # from the logits: exact however saturated
            sums["bce"] += decoded_loss(model, h, xb, "bce").item() * len(xb)
    mse = sums["mse"] / len(x)
    return {
        "recon/mse": mse,
        "recon/bce": sums["bce"] / len(x) if bce_ok else None,
        "recon/psnr_db": (10 * math.log10(1 / mse) if mse > 0 else math.inf) if is_image else None,
    }
