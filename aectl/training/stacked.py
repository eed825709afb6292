"""N members of a sweep as one stacked model: one vmapped step trains them all.

`stack` turns N models of one architecture into [N, ...] parameter leaves
(`torch.func.stack_module_state`) and points every member's own parameters at its slice,
so an in-place update of the stack is what each member's module holds: validation,
pictures, analyses and checkpoints keep working on the members' modules. `StackedStep`
runs `aectl.training.step.losses` for every member at once (`torch.func.vmap` of
`functional_call`), each with its own regularizer strength as a 0-d tensor, and
differentiates the SUM of the members' losses, so each member's gradient is its own; an
optimizer from `aectl.training.optim` then updates each member with its own lr. Random
corruption, dropout and Hutchinson projections draw different noise per member
(`randomness="different"`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from aectl.models.autoencoder import Autoencoder
from aectl.regularizers.base import Regularizer
from aectl.training.fast_step import Autocast, GraphedStep
from aectl.training.seeding import rng_state
from aectl.training.step import losses


def stack(
    models: Sequence[nn.Module],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], nn.Module]:
    """(params, buffers, base): [N, ...] leaves that require grad, stacked buffers, and a
    copy of member 0 to call functionally. Afterwards each member's parameters are views of
    the stacked leaves (tied weights need nothing special: the tied decoder reads the
    encoder module's weight, which functional_call swaps)."""
    names = [n for n, _ in models[0].named_parameters()]
    for m in models[1:]:
        if [n for n, _ in m.named_parameters()] != names:
            raise ValueError("stacked members must share one architecture")
    params, buffers = stack_module_state(list(models))
    for i, m in enumerate(models):
        for name, p in m.named_parameters():
            p.data = params[name].detach()[i]
        for name, b in m.named_buffers():
            b.data = buffers[name][i]
    return params, buffers, copy.deepcopy(models[0])


def hyperparameters(
    regs: Sequence[Regularizer], names: Sequence[str], device
) -> dict[str, torch.Tensor]:
    """{attribute: [N] tensor} of the regularizer settings the members differ in."""
    return {k: torch.tensor([float(getattr(r, k)) for r in regs], device=device) for k in names}


class _MemberLoss(nn.Module):
    """One member's losses as a module, so functional_call can swap its parameters in."""

    def __init__(self, model: Autoencoder, reg: Regularizer, loss: str, precision: str):
        super().__init__()
        self.model, self.reg, self.loss, self.precision = model, reg, loss, precision

    def forward(self, x: torch.Tensor, hp: dict[str, torch.Tensor]) -> torch.Tensor:
        net: Any = self.model
        if self.precision == "bf16":
            net = Autocast(self.model, x.device.type)
        reg = copy.copy(self.reg)  # this member's strengths, as batched 0-d tensors
        for k, v in hp.items():
            setattr(reg, k, v)
        total, recon, term = losses(net, reg, x, self.loss)
        return torch.stack([total, recon, term])


def vmapped_losses(base: Autoencoder, reg: Regularizer, loss: str, precision: str = "32"):
    """f(params, buffers, x[N, B, ...], hp{name: [N]}) -> [N, 3] (total, recon, term)."""
    wrapper = _MemberLoss(base, reg, loss, precision)

    def member(p, b, x, hp):
        state = {"model." + k: v for k, v in {**p, **b}.items()}
        return functional_call(wrapper, state, (x, hp))

    return vmap(member, randomness="different")


class StackedStep:
    """step(x[N, B, ...]) -> [N, 3] (total, recon, term), detached: trains every member once."""

    def __init__(
        self,
        base: Autoencoder,
        reg: Regularizer,
        loss: str,
        params: dict[str, torch.Tensor],
        buffers: dict[str, torch.Tensor],
        hp: dict[str, torch.Tensor],
        opt: Any,
        *,
        compile: bool = False,
        precision: str = "32",
    ):
        self.params, self.buffers, self.hp, self.opt = params, buffers, hp, opt
        self.leaves = list(params.values())
        f = vmapped_losses(base, reg, loss, precision)

        def forward(x: torch.Tensor) -> torch.Tensor:
            return f(self.params, self.buffers, x, self.hp)

        def update(grads: list[torch.Tensor], totals: torch.Tensor) -> None:
            self.opt.step(grads, totals)

        if compile:
            forward = torch.compile(forward, dynamic=False)
            if not getattr(opt, "fused", False):  # torch's fused kernel is one launch already
                update = torch.compile(update, dynamic=False)
        self.forward, self.update = forward, update

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.forward(x)
        totals = out[:, 0]
        # d(sum)/d(member i's parameters) = d(total_i)/d(member i's parameters)
        grads = torch.autograd.grad(totals.sum(), self.leaves)
        self.update(list(grads), totals.detach())
        return out.detach()


def make_stacked_step(
    base, reg, loss, params, buffers, hp, opt, *, compile: bool = False, precision: str = "32"
):
    """The group's step, on CUDA with compile captured as a CUDA graph like a run alone's."""
    step = StackedStep(
        base, reg, loss, params, buffers, hp, opt, compile=compile, precision=precision
    )
    device = next(iter(params.values())).device
    if compile and device.type == "cuda":
        return GraphedStep(step, opt)
    return step


def member_generator(device: torch.device) -> torch.Generator:
    """Call right after seeding and building a member: a generator holding the global RNG's
    state at that point, i.e. what the job run alone draws its data order from."""
    g = torch.Generator(device=device)
    g.set_state(
        torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()
    )
    return g


def member_rng(g: torch.Generator) -> dict[str, Any]:
    """The RNG snapshot a member's checkpoint holds: the job's own data-order generator in
    the place a run alone keeps its global generator (so the checkpoint resumes alone with
    the basic launcher), plus the group's global state under "group" (the noise drawn
    under vmap), so the group resumes as a group bit for bit."""
    group = rng_state()
    state = dict(group)
    if g.device.type == "cuda":
        cuda = list(state.get("cuda", []))
        cuda[g.device.index or 0] = g.get_state()
        state["cuda"] = cuda
    else:
        state["torch"] = g.get_state()
    state["group"] = group
    return state


def restore_member_generator(g: torch.Generator, rng: dict[str, Any]) -> None:
    if g.device.type == "cuda":
        g.set_state(rng["cuda"][g.device.index or 0])
    else:
        g.set_state(rng["torch"])
