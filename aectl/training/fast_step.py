"""One training step as a callable, with the fast paths the loop and the benchmark share.

Why this module exists: `aectl train` and `aectl bench` must run the SAME step, and the
step has speed options (torch.compile, bf16, CUDA graphs) that would otherwise clutter the
loop. `make_step(...)` returns `step(x) -> tensor([total, recon, term])`, detached, on the
device; nothing in it waits for the device.

- eager, precision "32" (the default): `aectl.training.step.losses`, `zero_grad(set_to_none=True)`,
  `backward`, `opt.step()`, the exact sequence train.py ran before, so results are
  bit-identical to it.
- precision "bf16": the network's encode/decode run under bf16 autocast; the reconstruction
  loss and the penalty are computed in fp32 from fp32 copies of the code and output (BCE is
  not autocast-safe, and the penalties are small sums).
- compile: `torch.compile` of the losses (forward and, through AOTAutograd, backward); on
  the CPU also of an unfused optimizer's step (one loop over all parameters instead of ~10
  passes per tensor; torch's fused optimizers, aectl's default, are that loop already).
  Results match eager within float tolerance, not bitwise.
- cuda_graph (default: on when compiling on CUDA): after a few eager warm-up steps for a
  batch shape, the whole step (forward, backward, optimizer) is captured once into a CUDA
  graph and replayed: one launch per step instead of ~100, which is what a small MLP needs
  on a large GPU. Each call is still exactly one real step (the capture call replays too).
  The optimizer is switched to `capturable=True` (its step count lives on the device); the
  learning rate is baked into the graph, so a schedule that changes it would need a
  recapture (aectl has none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from aectl.config.trainer import COMPILE_MODES, PRECISIONS
from aectl.models.autoencoder import Autoencoder
from aectl.regularizers.base import Regularizer
from aectl.training.step import losses

WARMUP_STEPS = 3  # eager steps per batch shape before a CUDA graph is captured

Step = Callable[[torch.Tensor], torch.Tensor]


class Autocast:
    """The model as `losses` sees it under bf16: bf16 inside the network, fp32 out of it.

    Everything but encode/decode and their logits (single_layer, code_dim, ...) is the
    wrapped model's.
    """

    def __init__(self, model: Autoencoder, device_type: str, dtype: torch.dtype = torch.bfloat16):
        self._model, self._device_type, self._dtype = model, device_type, dtype

    def __getattr__(self, name: str) -> Any:
        if name == "_model":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self._model, name)

    def _autocast(self) -> torch.autocast:
        # No weight-cast cache: it would be stale across CUDA graph replays.
        return torch.autocast(self._device_type, self._dtype, cache_enabled=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            h = self._model.encode(x)
        return h.float()

    def encode_gaussian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self._autocast():
            mu, logvar = self._model.encode_gaussian(x)
        return mu.float(), logvar.float()

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            x_hat = self._model.decode(h)
        return x_hat.float()

    def encode_logits(self, x: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            a = self._model.encode_logits(x)
        return a.float()

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            z = self._model.decode_logits(h)
        return z.float()


def make_step(
    model: Autoencoder,
    reg: Regularizer,
    opt: torch.optim.Optimizer | None,
    loss: str,
    *,
    compile: bool = False,
    precision: str = "32",
    cuda_graph: bool | None = None,
    compile_mode: str = "default",
) -> Step:
    """A function that takes one (clean) batch, trains on it once and returns its losses.
    Without an optimizer (a model solved in closed form) it only measures the losses."""
    if opt is None:
        return measure_only(model, reg, loss)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if compile_mode not in COMPILE_MODES:
        raise ValueError(f"compile_mode must be one of {COMPILE_MODES}, got {compile_mode!r}")
    device = next(model.parameters()).device
    if cuda_graph is None:
        cuda_graph = compile and device.type == "cuda"
    if cuda_graph and device.type != "cuda":
        raise ValueError(f"cuda_graph needs a CUDA model; this one is on {device}")
    net: Any = Autocast(model, device.type) if precision == "bf16" else model

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return losses(net, reg, x, loss)

    def opt_step() -> None:
        opt.step()

    if compile:
        mode = None if compile_mode == "default" else compile_mode
        forward = torch.compile(forward, dynamic=False, mode=mode)
        fused = all(g.get("fused") for g in opt.param_groups)
        if not cuda_graph and not fused:  # a graph replays the optimizer's launches at once
            opt_step = torch.compile(opt_step, dynamic=False, mode=mode)

    def step(x: torch.Tensor) -> torch.Tensor:
        total, recon, term = forward(x)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt_step()
        return torch.stack([total.detach(), recon.detach(), term.detach()])

    if not cuda_graph:
        if device.type != "cuda":  # e.g. resumed on the CPU from a CUDA-graph run's checkpoint
            set_capturable(opt, False)
        return step
    set_capturable(opt, True)
    return GraphedStep(step, opt)


def measure_only(model: Autoencoder, reg: Regularizer, loss: str) -> Step:
    def step(x: torch.Tensor) -> torch.Tensor:
        total, recon, term = losses(model, reg, x, loss)
        return torch.stack([total.detach(), recon.detach(), term.detach()])

    return step


def set_capturable(opt: torch.optim.Optimizer, on: bool) -> None:
    """Switch the optimizer in or out of the mode CUDA graphs need, where its step counters
    live on the parameters' device (torch allows that mode on CUDA only)."""
    if not hasattr(opt, "state"):  # aectl's optimizers: their step counts live on the device
        return
    for group in opt.param_groups:
        if "capturable" not in group or group["capturable"] == on:
            continue
        group["capturable"] = on
        for p in group["params"]:
            state = opt.state.get(p, {})
            step = state.get("step")
            where = p.device if on else torch.device("cpu")
            if torch.is_tensor(step) and step.device != where:
                state["step"] = step.to(where)


class GraphedStep:
    """`step` replayed from a CUDA graph, one graph per batch shape (the last batch of an
    epoch is usually shorter), after WARMUP_STEPS eager steps of that shape."""

    def __init__(self, step: Step, opt: torch.optim.Optimizer, warmup: int = WARMUP_STEPS):
        self.step, self.opt, self.warmup = step, opt, warmup
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}
        self.eager_calls: dict[tuple, int] = {}
        self.stream = torch.cuda.Stream()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype)
        held = self.graphs.get(key)
        if held is not None:
            graph, static_x, static_out = held
            static_x.copy_(x)
            graph.replay()
            return static_out.clone()
        seen = self.eager_calls.get(key, 0)
        if seen < self.warmup:  # warm up on a side stream, as capture requires
            self.eager_calls[key] = seen + 1
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                out = self.step(x)
            torch.cuda.current_stream().wait_stream(self.stream)
            return out
        static_x = x.clone()
        graph = torch.cuda.CUDAGraph()
        self.opt.zero_grad(set_to_none=True)  # gradients get allocated from the graph's pool
        with torch.cuda.graph(graph):
            static_out = self.step(static_x)
        graph.replay()  # capturing records the step; this runs it
        self.graphs[key] = (graph, static_x, static_out)
        return static_out.clone()
