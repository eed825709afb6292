"""What a stochastic autoencoder (a VAE) generates, as pictures: the decoder as a model of x.

- `prior_samples`: decoded codes h ~ N(0, I) (each pixel's Bernoulli mean, or the Gaussian
  mean), 8 per row;
- `traversal`: one row per code unit j: the first sample's mean code μ with h_j swept over
  [−3, 3] (the prior's ±3σ), the other units held;
- `interpolation`: one row per pair of consecutive samples: the first input, the decoded
  straight line between their mean codes, the second input;
- a 2-D code also gets `latent_manifold` (the decoder on a grid of the prior's quantiles,
  Kingma & Welling's figure 4) and `codes_by_label` (each sample's mean code, coloured by
  its label).

The noise is the picture's own (seeded, the global RNG forked): pictures change no run.
"""

from __future__ import annotations

import torch

from aectl.data.base import Data
from aectl.models.autoencoder import Autoencoder
from aectl.record import pictures

PRIOR_SAMPLES = 64
TRAVERSAL_STEPS = 9
TRAVERSAL_UNITS = 32  # at most this many rows (units beyond are left out)
PAIRS, INTERPOLATION_STEPS = 4, 8
GRID = 15  # the 2-D manifold's side


def applies(model: Autoencoder, data: Data) -> bool:
    return model.stochastic


@torch.no_grad()
def generative(model: Autoencoder, data: Data, x: torch.Tensor, y: torch.Tensor | None):
    model.eval()
    k, images = model.code_dim, {}
    devices = [x.device] if x.device.type == "cuda" else []
    if data.is_image:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            h = torch.randn(PRIOR_SAMPLES, k, device=x.device)
        images["prior_samples"] = pictures.tiles(model.decode(h), nrow=8)
        images["traversal"] = traversal(model, x[:1])
        if len(x) >= 2:
            images["interpolation"] = interpolation(model, x[: PAIRS + 1])
    if k == 2:
        if data.is_image:
            images["latent_manifold"] = manifold(model, x.device)
        mu = torch.cat([model.encode(xb) for xb in x.split(4096)])
        images["codes_by_label"] = pictures.codes_scatter(mu, y)
    return {}, images


def traversal(model: Autoencoder, x0: torch.Tensor) -> torch.Tensor:
    mu = model.encode(x0)[0]
    units = min(model.code_dim, TRAVERSAL_UNITS)
    values = torch.linspace(-3, 3, TRAVERSAL_STEPS, device=mu.device)
    h = mu.repeat(units, TRAVERSAL_STEPS, 1)  # (units, steps, k)
    for j in range(units):
        h[j, :, j] = values
    return pictures.tiles(model.decode(h.flatten(0, 1)), nrow=TRAVERSAL_STEPS)


def interpolation(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    mu = model.encode(x)
    a, b = mu[:-1], mu[1:]  # consecutive pairs
    t = torch.linspace(0, 1, INTERPOLATION_STEPS, device=mu.device).view(1, -1, 1)
    h = a.unsqueeze(1) * (1 - t) + b.unsqueeze(1) * t  # (pairs, steps, k)
    decoded = model.decode(h.flatten(0, 1)).unflatten(0, h.shape[:2])
    rows = torch.cat([x[:-1].unsqueeze(1), decoded, x[1:].unsqueeze(1)], 1)
    return pictures.tiles(rows.flatten(0, 1), nrow=INTERPOLATION_STEPS + 2)


def manifold(model: Autoencoder, device) -> torch.Tensor:
    """The decoder at h = (Φ⁻¹(u), Φ⁻¹(v)) for u, v on an even grid of (0, 1): equal prior
    mass between neighbours; u grows left to right, v bottom to top."""
    q = torch.linspace(0.5 / GRID, 1 - 0.5 / GRID, GRID, device=device)
    z = torch.distributions.Normal(0.0, 1.0).icdf(q)
    h = torch.stack(torch.meshgrid(z, z.flip(0), indexing="xy"), -1).reshape(-1, 2)
    return pictures.tiles(model.decode(h), nrow=GRID)
