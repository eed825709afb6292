"""2-D points near a known plane curve, for checking what an autoencoder's bottleneck learns.

Because the true curve is known, later code can measure how far reconstructions are from
the manifold and whether a contractive/denoising model's Jacobian follows its tangent:
`extras["curve"]` is the `Curve` the data were drawn from.
"""

from __future__ import annotations

import math

import torch

from aectl.config.dataset import CURVES, check_manifold, held_out_share
from aectl.data.base import MANIFOLD, Data, split
from aectl.errors import require

_ALLOWED = "allowed: " + " | ".join(CURVES)

# p(t) = scale * t * (cos t, sin t) for the spirals; circle p(t) = (cos t, sin t).
_T_RANGE = {
    "circle": (0.0, 2 * math.pi),
    "spiral": (0.0, 4 * math.pi),  # Archimedean r = t / (4 pi): two turns out to radius 1
    "swiss_roll": (1.5 * math.pi, 4.5 * math.pi),  # 2-D section of sklearn's swiss roll
}
_SCALE = {"circle": 1.0, "spiral": 1.0 / (4 * math.pi), "swiss_roll": 1.0}


class Curve:
    """A parametrised plane curve p(t), t in `t_range` (closed: the circle wraps around).

    - `points(t)`: (L,) params -> (L, 2) points
    - `derivative(t)`: dp/dt, (L, 2); `tangent(t)`: the unit tangent, (L, 2)
    - `nearest(x)`: (B, 2) points -> (nearest curve points (B, 2), their params (B,))
    - `distance(x)`: (B,) Euclidean distance of each point to the curve
    - `sample(n, noise, generator)`: n points with t uniform in `t_range` plus gaussian noise

    Results follow the dtype/device of the input (float tensors; anything else -> float32).
    """

    def __init__(self, name: str):
        require(name in CURVES, "dataset.curve", name, _ALLOWED)
        self.name = name
        self.t_range: tuple[float, float] = _T_RANGE[name]
        self.closed = name == "circle"
        self._scale = _SCALE[name]
        lo, hi = self.t_range
        t = torch.linspace(lo, hi, 20001, dtype=torch.float64)
        self.length = float(self.points(t).diff(dim=0).norm(dim=1).sum())
        # grid for nearest(): about one point per 0.02 units of arc length
        self._grid_n = int(min(max(math.ceil(self.length / 0.02), 256), 16384))

    def __repr__(self) -> str:
        return f"Curve({self.name!r}, t_range=({self.t_range[0]:.4f}, {self.t_range[1]:.4f}))"

    @staticmethod
    def _as_t(t) -> torch.Tensor:
        t = torch.as_tensor(t)
        if not t.is_floating_point():
            t = t.to(torch.float32)
        return t.reshape(-1)

    def points(self, t) -> torch.Tensor:
        t = self._as_t(t)
        if self.name == "circle":
            return torch.stack([torch.cos(t), torch.sin(t)], dim=1)
        r = self._scale * t
        return torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)

    def derivative(self, t) -> torch.Tensor:
        t = self._as_t(t)
        c, s = torch.cos(t), torch.sin(t)
        if self.name == "circle":
            return torch.stack([-s, c], dim=1)
        a = self._scale
        return torch.stack([a * (c - t * s), a * (s + t * c)], dim=1)

    def tangent(self, t) -> torch.Tensor:
        d = self.derivative(t)
        return d / d.norm(dim=1, keepdim=True)

    def _fix(self, t: torch.Tensor) -> torch.Tensor:
        lo, hi = self.t_range
        if self.closed:
            return lo + torch.remainder(t - lo, hi - lo)
        return t.clamp(lo, hi)

    @torch.no_grad()
    def nearest(self, x: torch.Tensor, *, chunk: int | None = None, candidates: int = 3):
        """Nearest curve points and their params for a (B, 2) batch.

        A grid ~0.02 apart in arc length gives each point its `candidates` best local minima
        of the distance (so near-ties between spiral arms are all tried); four passes of a
        33-point local search around each bring t to ~1e-5 of the grid step, and the
        closest refined candidate wins.
        """
        x = torch.as_tensor(x)
        out_dtype = x.dtype if x.is_floating_point() else torch.float32
        xd = x.reshape(-1, 2).to(torch.float64)
        lo, hi = self.t_range
        n = self._grid_n
        grid_t = torch.linspace(lo, hi, n + 1, dtype=torch.float64, device=xd.device)
        if self.closed:
            grid_t = grid_t[:-1]  # the last point repeats the first
        grid_p = self.points(grid_t)
        k = min(candidates, grid_t.numel())
        rows = chunk or max(1, (1 << 21) // grid_t.numel())
        starts = []
        for i in range(0, xd.shape[0], rows):
            xi = xd[i : i + rows]
            d2 = (xi * xi).sum(1, keepdim=True) - 2 * xi @ grid_p.T + (grid_p * grid_p).sum(1)
            if self.closed:
                left, right = d2.roll(1, dims=1), d2.roll(-1, dims=1)
            else:
                inf = d2.new_full((d2.shape[0], 1), float("inf"))
                left = torch.cat([inf, d2[:, :-1]], dim=1)
                right = torch.cat([d2[:, 1:], inf], dim=1)
            d2 = d2.masked_fill((d2 > left) | (d2 > right), float("inf"))  # keep local minima
            starts.append(grid_t[d2.topk(k, dim=1, largest=False).indices])
        t = torch.cat(starts) if starts else xd.new_zeros(0, k)  # (B, k)
        offsets = torch.linspace(-1.0, 1.0, 33, dtype=torch.float64, device=xd.device)
        half = (hi - lo) / n
        target = xd[:, None, None, :]
        for _ in range(4):
            cand = self._fix(t[..., None] + half * offsets)  # (B, k, 33)
            d2 = ((self.points(cand.reshape(-1)).reshape(*cand.shape, 2) - target) ** 2).sum(-1)
            t = cand.gather(2, d2.argmin(dim=2, keepdim=True)).squeeze(2)
            half = half / 16
        d2 = ((self.points(t.reshape(-1)).reshape(*t.shape, 2) - xd[:, None, :]) ** 2).sum(-1)
        t = t.gather(1, d2.argmin(dim=1, keepdim=True)).squeeze(1)
        return self.points(t).to(out_dtype), t.to(out_dtype)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        p, _ = self.nearest(x)
        return (torch.as_tensor(x).reshape(-1, 2).to(p.dtype) - p).norm(dim=1)

    def sample(self, n: int, noise: float, generator: torch.Generator | None = None):
        """(n, 2) float32 points p(t) + noise * N(0, I), t uniform in t_range; and the t."""
        lo, hi = self.t_range
        t = lo + (hi - lo) * torch.rand(n, dtype=torch.float64, generator=generator)
        x = self.points(t) + noise * torch.randn(n, 2, dtype=torch.float64, generator=generator)
        return x.float(), t.float()


def load(
    val_fraction: float = 0.1,
    split_seed: int = 0,
    curve: str = "circle",
    n: int = 2000,
    noise: float = 0.05,
    seed: int = 0,
    test_fraction: float | None = 0.0,
) -> Data:
    check_manifold(curve, n, noise)
    c = Curve(curve)
    x, _ = c.sample(n, noise, torch.Generator().manual_seed(seed))
    return split(
        x,
        None,
        val_fraction=val_fraction,
        seed=split_seed,
        test_fraction=held_out_share(test_fraction, official=False),
        shape=(2,),
        kind=MANIFOLD,
        name="manifold",
        scaling={
            "source": f"synthetic {curve} curve, t uniform in {list(c.t_range)}, noise std {noise}",
            "none": "coordinates are not rescaled (raw curve units)",
            "divide_by": 1.0,
        },
        extras={"curve": c},
    )
