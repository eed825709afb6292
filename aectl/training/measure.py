"""Numbers measured on a split with the model frozen: shared by the trainer and `aectl eval`.

`validation_pass` is what every epoch ends with: reconstruction and penalty term on clean
inputs (no corruption, no dropout), sample-weighted, plus the codes. `report` is what
`aectl eval` and the end of a run report on a split: `reconstruction` (PSNR against the
data's own peak, `psnr_peak`), the penalty and `jacobian_fro`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder
from aectl.regularizers.base import Regularizer
from aectl.regularizers.contractive import analytic
from aectl.training.step import decoded_loss, nll, reconstruction_loss

JACOBIAN_SAMPLES = 1000  # mean ‖J‖_F is estimated on at most this many samples
JACOBIAN_CHUNK = 500  # samples per backward pass
JACOBIAN_ELEMENTS = 2**22  # ... and at most this many input values in one (16 MiB in float32)


@dataclass
class Pass:
    recon: float  # mean reconstruction loss per sample
    term: float  # mean unweighted penalty term
    codes: torch.Tensor  # every sample's code


@torch.no_grad()
def validation_pass(
    model: Autoencoder, reg: Regularizer, x: torch.Tensor, loss: str, batch: int
) -> Pass:
    """One encoder pass per batch (the step's `losses` on clean inputs, train=False), whose
    codes are also the ones the code statistics and histogram describe. No autograd graph
    is built: the contractive term's Jacobians come from torch.func transforms and
    forward-mode AD, which an outer no_grad does not switch off."""
    model.eval()
    sums = torch.zeros(2, device=x.device)
    codes = []
    for xb in x.split(batch):
        h, term = reg.encode_and_term(model, xb)
        recon = decoded_loss(model, h, xb, loss)
        term = torch.zeros((), device=x.device) if term is None else term
        sums += torch.stack([recon, term]) * len(xb)
        codes.append(h)
    model.train()
    recon, term = (sums / len(x)).tolist()
    return Pass(recon, term, torch.cat(codes))


def jacobian_fro(model: Autoencoder, x: torch.Tensor) -> float:
    """Mean over samples of the encoder Jacobian's Frobenius norm (exact).

    One backward pass per code unit gives that unit's row of every sample's Jacobian (the
    model is in eval mode, so a sample's code depends on that sample alone); the squared
    rows are summed as they come. Backward from a scalar, with no `grad_outputs`: torch
    imports its symbolic-shapes machinery (SymPy, ~0.5-0.8 s on 2 cores) the first time
    `autograd.grad` is given output gradients, as is_grads_batched and torch.func's
    jacrev need, and the loop over large chunks is as fast as either was.

    A one-layer deterministic encoder h = s(Wx + b) has the closed form the contractive
    penalty uses, ‖J‖²_F = Σ_j s'(a_j)² ‖W_j‖²: one product instead of one backward pass
    per code unit (128 for model=contractive: most of a sweep job's test-split time)."""
    x = x[:JACOBIAN_SAMPLES]
    if model.single_layer() is not None:
        with torch.no_grad():
            return analytic(model, x, model.encode(x)).sqrt().mean().item()
    chunk = max(1, min(JACOBIAN_CHUNK, JACOBIAN_ELEMENTS // model.input_size))
    return torch.cat([_norms(model, xb) for xb in x.split(chunk)]).mean().item()


def _norms(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        h = model.encode(x).flatten(1)
        squares = torch.zeros(len(x), device=x.device, dtype=x.dtype)
        for unit in range(h.shape[1]):
            last = unit + 1 == h.shape[1]
            (row,) = torch.autograd.grad(h[:, unit].sum(), x, retain_graph=not last)
            squares += row.flatten(1).pow(2).sum(1)
    return squares.sqrt()


def psnr_peak(data: Data) -> tuple[float, str]:
    """The peak value PSNR is measured against, from how the data were scaled, and why:
    1 for data scaled to (or lying in) [0, 1], 255 for unscaled 8-bit pixels, else the
    largest value of the training split."""
    s = data.scaling
    divide = s.get("divide_by", 1.0)
    if s.get("scale") == "minmax":
        return 1.0, "min-max scaled to [0, 1]"
    if divide != 1.0:  # a number, or a sentence (image folders mixing 8 and 16 bits)
        return 1.0, f"scaled to [0, 1] (divided by {divide})"
    if s.get("raw_dtype") == "uint8":
        return 255.0, "unscaled 8-bit pixels"
    lo, hi = data.train_x.min().item(), data.train_x.max().item()
    if lo >= 0 and hi <= 1:
        return 1.0, "values in [0, 1]"
    return max(hi, -lo), "the largest value in the training split"


@torch.no_grad()
def reconstruction(
    model: Autoencoder, x: torch.Tensor, batch: int, peak: float | None
) -> dict[str, float | None]:
    """MSE, BCE (when inputs and outputs lie in [0, 1]) and, given a peak (images), PSNR
    = 10 log10(peak² / MSE)."""
    sums = {"mse": 0.0, "bce": 0.0}
    bce_ok = model.output_activation == "sigmoid" and x.min() >= 0 and x.max() <= 1
    for xb in x.split(batch):
        h = model.encode(xb)
        sums["mse"] += reconstruction_loss(model.decode(h), xb, "mse").item() * len(xb)
        if bce_ok:  # from the logits: exact however saturated
            sums["bce"] += decoded_loss(model, h, xb, "bce").item() * len(xb)
    mse = sums["mse"] / len(x)
    psnr = None
    if peak:  # (an all-zero training split has no peak)
        psnr = 10 * math.log10(peak**2 / mse) if mse > 0 else math.inf
    return {
        "recon/mse": mse,
        "recon/bce": sums["bce"] / len(x) if bce_ok else None,
        "recon/psnr_db": psnr,
    }


AT_THE_MEAN = (
    "recon/* decode the code mean μ; val/recon and nll/elbo a code sampled from q(h|x), so "
    "they differ"
)


def report(
    model: Autoencoder, reg: Regularizer, data: Data, x: torch.Tensor, loss: str, batch: int
) -> dict[str, float | None]:
    """What `aectl eval` and the end of a run report about the samples `x`: reconstruction
    (MSE, BCE, PSNR for images), the weighted penalty and the mean ‖J‖_F."""
    val = validation_pass(model, reg, x, loss, batch)
    model.eval()
    out = reconstruction(model, x, batch, psnr_peak(data)[0] if data.is_image else None)
    out["penalty"] = reg.penalty(val.term)
    out["jacobian/fro_mean"] = jacobian_fro(model, x)
    return out


LIKELIHOOD_ROWS = 2**15  # decoded samples per batch of the importance-sampled estimate
IWAE_K = 50  # the IWAE bound's samples per group (Burda et al.'s headline k)


@torch.no_grad()
def log_weights(model: Autoencoder, x: torch.Tensor, loss: str, k: int) -> torch.Tensor:
    """(samples, k) importance weights log w = log p(x | h) + log p(h) − log q(h | x) for k
    codes h ~ q(h | x) per sample, drawn from the global RNG: every sample's k codes are
    decoded together, as many samples at once as LIKELIHOOD_ROWS decoded rows allow."""
    out = []
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    for xb in x.split(max(1, LIKELIHOOD_ROWS // k)):
        mu, logvar = model.encode_gaussian(xb)
        std, cols = (0.5 * logvar).exp(), []
        for start in range(0, k, LIKELIHOOD_ROWS):
            m = min(LIKELIHOOD_ROWS, k - start)
            eps = torch.randn(m, *mu.shape, device=mu.device, dtype=mu.dtype)
            h = mu + std * eps  # (m, b, code)
            log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - half_log_2pi).sum(-1)
            log_p = (-0.5 * h.pow(2) - half_log_2pi).sum(-1)
            xr = xb.expand(m, *xb.shape).reshape(-1, *xb.shape[1:])
            log_px = -nll(model, h.reshape(-1, h.shape[-1]), xr, loss).view(m, -1)
            cols.append((log_px + log_p - log_q).T)
        out.append(torch.cat(cols, 1))
    return torch.cat(out)


def log_likelihood(model: Autoencoder, x: torch.Tensor, loss: str, k: int) -> dict[str, float]:
    """Negative log-likelihoods of a stochastic model on `x`, nats per example: the
    importance-sampled estimate −log (1/k) Σ_j w_j (Burda et al.'s IWAE bound with all k
    samples, a consistent estimate of −log p(x)), the IWAE bound with IWAE_K samples (the
    k samples in groups; with fewer, all k), and the negative ELBO (one sample each)."""
    lw = log_weights(model, x, loss, k)
    g = min(IWAE_K, k)
    groups = lw[:, : k // g * g].reshape(len(lw), k // g, g)
    iwae = torch.logsumexp(groups, -1) - math.log(g)
    return {
        "nll/importance_sampled": -(torch.logsumexp(lw, 1) - math.log(k)).mean().item(),
        f"nll/iwae_{g}": -iwae.mean().item(),
        "nll/elbo": -lw.mean().item(),
        "nll/samples": k,
    }
