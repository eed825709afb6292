"""aectl's optimizers: torch's Adam and SGD updates, for one model or N stacked members.

Why not torch.optim: its first use imports torch's compiler stack (`torch._dynamo`, seconds
before a run's first step), and it takes one learning rate per parameter group, where a
vmap group trains N members, stacked into [N, ...] leaves, each with its own lr and weight
decay. Adam and SGD are elementwise, so an update of the stack is N independent updates.

`StackedAdam(fused=True)` (aectl's default, `optim.fused=true`) runs torch's own fused Adam
kernel (`aten::_fused_adam_`) once per member over that member's slices: bit for bit what
`torch.optim.Adam(fused=True)` does; `fused=False` follows torch's single-tensor Adam op for
op. An on-device `alive` mask stops a member whose loss became NaN/Inf (no host sync per
step) while the others go on. Each member's state converts to and from torch's own
`state_dict` format: checkpoints hold what torch.optim would, older checkpoints written by
torch.optim load, and a group's member resumes alone.

`Adam` and `SGD` are what the `optim` config group builds for a run alone: the same
updates over the model's parameters as one member (`optimizer.step()` after `backward()`,
`zero_grad`, `state_dict`, `load_state_dict`, like torch.optim).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def _col(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[N] -> [N, 1, 1, ...], broadcastable against a stacked [N, ...] tensor."""
    return t.view(t.shape[0], *([1] * (like.dim() - 1)))


def _per_member(value, n: int, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float64, device=device).expand(n).clone()


class StackedAdam:
    """torch.optim.Adam (amsgrad=False, maximize=False, coupled weight decay) per member."""

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: Sequence[float] | float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: Sequence[float] | float = 0.0,
        fused: bool = True,
    ):
        self.params = list(params)
        self.fused = bool(fused)
        n, device = self.params[0].shape[0], self.params[0].device
        self.n = n
        self.lr = _per_member(lr, n, device)
        self.weight_decay = _per_member(weight_decay, n, device)
        self.betas, self.eps = (float(betas[0]), float(betas[1])), float(eps)
        self.steps = torch.zeros(n, dtype=torch.float32, device=device)  # torch's float step
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.alive = torch.ones(n, dtype=torch.bool, device=device)
        self._sync_host()

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to clear: the group's step hands gradients over, it keeps no .grad."""

    def _sync_host(self) -> None:
        # Python floats the fused kernel takes (the values come from the configs)
        self.any_wd = bool((self.weight_decay != 0).any())
        self._lr_host = self.lr.tolist()
        self._wd_host = self.weight_decay.tolist()

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], totals: torch.Tensor | None = None) -> None:
        if totals is not None:
            self.alive &= torch.isfinite(totals)
        self.steps += self.alive.to(self.steps.dtype)
        if self.fused:
            self._fused_step(grads)
        else:
            self._plain_step(grads)

    def _fused_step(self, grads: Sequence[torch.Tensor]) -> None:
        """One fused kernel per member; found_inf = "this member is dead" makes the kernel
        skip it on the device, as AMP's GradScaler skips a step."""
        beta1, beta2 = self.betas
        dead = (~self.alive).to(torch.float32)
        for i in range(self.n):
            torch._fused_adam_(
                [p[i] for p in self.params],
                [g[i].contiguous() for g in grads],  # the kernel needs contiguous gradients
                [m[i] for m in self.exp_avg],
                [v[i] for v in self.exp_avg_sq],
                [],
                [self.steps[i]] * len(self.params),
                lr=self._lr_host[i],
                beta1=beta1,
                beta2=beta2,
                weight_decay=self._wd_host[i],
                eps=self.eps,
                amsgrad=False,
                maximize=False,
                grad_scale=None,
                found_inf=dead[i],
            )

    def _plain_step(self, grads: Sequence[torch.Tensor]) -> None:
        """torch's single-tensor Adam; a dead member: step size 0, moments kept, exactly."""
        beta1, beta2 = self.betas
        alive = self.alive
        s = self.steps.double()
        bc1, bc2 = 1 - torch.pow(beta1, s), 1 - torch.pow(beta2, s)
        neg_step = torch.where(alive, -(self.lr / bc1), 0.0).float()
        bc2_sqrt = torch.where(alive, bc2.sqrt(), 1.0).float()
        w1 = torch.where(alive, 1 - beta1, 0.0).float()
        d2 = torch.where(alive, beta2, 1.0).float()
        wd = self.weight_decay.float()
        zero = torch.zeros((), dtype=self.params[0].dtype, device=self.params[0].device)
        for p, g, m, v in zip(self.params, grads, self.exp_avg, self.exp_avg_sq):
            if self.any_wd:
                g = g + _col(wd, p) * p
            g = torch.where(_col(alive, g), g, zero)
            m.lerp_(g, _col(w1, m))
            v.mul_(_col(d2, v)).addcmul_(g, g, value=1 - beta2)
            denom = (v.sqrt() / _col(bc2_sqrt, v)).add_(self.eps)
            p.add_(_col(neg_step, p) * m / denom)

    def member_state_dict(self, i: int, member: nn.Module | None = None) -> dict:
        """Member i's state in torch.optim.Adam's exact format."""
        group = {
            "lr": float(self.lr[i]),
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": float(self.weight_decay[i]),
            "amsgrad": False,
            "maximize": False,
            "foreach": None,
            "capturable": False,
            "differentiable": False,
            "fused": self.fused,  # what torch.optim.Adam(fused=optim.fused) records
            "decoupled_weight_decay": False,
            "params": list(range(len(self.params))),
        }
        step = float(self.steps[i])
        state = {}
        if step > 0:
            for j, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq)):
                state[j] = {
                    "step": torch.tensor(step, dtype=torch.float32),
                    "exp_avg": m[i].detach().cpu().clone(),
                    "exp_avg_sq": v[i].detach().cpu().clone(),
                }
        return {"state": state, "param_groups": [group]}

    @torch.no_grad()
    def load_member(self, i: int, sd: dict) -> None:
        """Member i's moments from a torch.optim.Adam state_dict (one param group). Its lr
        and weight decay stay the config's: a resume may change them (aectl.training.
        fingerprint), and the change must apply. Another optimizer's state (a resume that
        switched optim) starts the moments afresh."""
        (group,) = sd["param_groups"]
        states = {pid: st for pid, st in sd["state"].items() if "exp_avg" in st}
        steps = {float(st["step"]) for st in states.values()}
        self.steps[i] = steps.pop() if steps else 0.0
        for j, pid in enumerate(group["params"]):
            st = states.get(pid)
            self.exp_avg[j][i] = 0 if st is None else st["exp_avg"]
            self.exp_avg_sq[j][i] = 0 if st is None else st["exp_avg_sq"]
        self.alive[i] = True
        self._sync_host()


class StackedSGD:
    """torch.optim.SGD (momentum, dampening; no nesterov) per member. A member that has not
    stepped yet has no momentum buffer in torch ('None'); `has_buf` says so here."""

    def __init__(self, params, lr, momentum: float = 0.0, dampening: float = 0.0, weight_decay=0.0):
        self.params = list(params)
        n, device = self.params[0].shape[0], self.params[0].device
        self.n = n
        self.lr = _per_member(lr, n, device)
        self.weight_decay = _per_member(weight_decay, n, device)
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.bufs = [torch.zeros_like(p) for p in self.params] if momentum else []
        self.has_buf = torch.zeros(n, dtype=torch.bool, device=device)
        self.alive = torch.ones(n, dtype=torch.bool, device=device)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to clear: the group's step hands gradients over, it keeps no .grad."""

    @torch.no_grad()
    def step(self, grads, totals: torch.Tensor | None = None) -> None:
        if totals is not None:
            self.alive &= torch.isfinite(totals)
        alive = self.alive
        neg_lr = torch.where(alive, -self.lr, 0.0).float()
        wd = self.weight_decay.float()
        zero = torch.zeros((), dtype=self.params[0].dtype, device=self.params[0].device)
        for j, (p, g) in enumerate(zip(self.params, grads)):
            g = g + _col(wd, p) * p
            g = torch.where(_col(alive, g), g, zero)
            if self.momentum:
                b = self.bufs[j]
                update = b * self.momentum + g * (1 - self.dampening)
                b.copy_(torch.where(_col(self.has_buf, b), update, g).where(_col(alive, b), b))
                g = b
            p.add_(_col(neg_lr, p) * g)
        if self.momentum:
            self.has_buf |= alive

    def member_state_dict(self, i: int, member: nn.Module | None = None) -> dict:
        """Member i's state in torch.optim.SGD's exact format."""
        group = {
            "lr": float(self.lr[i]),
            "momentum": self.momentum,
            "dampening": self.dampening,
            "weight_decay": float(self.weight_decay[i]),
            "nesterov": False,
            "maximize": False,
            "foreach": None,
            "differentiable": False,
            "fused": None,
            "params": list(range(len(self.params))),
        }
        state = {}
        if self.momentum and bool(self.has_buf[i]):
            state = {
                j: {"momentum_buffer": b[i].detach().cpu().clone()} for j, b in enumerate(self.bufs)
            }
        return {"state": state, "param_groups": [group]}

    @torch.no_grad()
    def load_member(self, i: int, sd: dict) -> None:
        """Member i's momentum buffers; lr and weight decay stay the config's (as Adam's)."""
        (group,) = sd["param_groups"]
        has = False
        for j, pid in enumerate(group["params"]):
            st = sd["state"].get(pid)
            if st is not None and st.get("momentum_buffer") is not None:
                self.bufs[j][i] = st["momentum_buffer"]
                has = True
        self.has_buf[i] = has
        self.alive[i] = True


# ---- a run alone: one member, with torch.optim's interface ------------------------------------


class OneModel:
    """A stacked optimizer over one model's parameters (a group of one), used as a
    torch.optim optimizer is: `backward()`, `step()`, `zero_grad()`, `state_dict()`."""

    def __init__(self, stacked: StackedAdam | StackedSGD, params: list[torch.Tensor]):
        self.stacked, self.params = stacked, params

    @property
    def param_groups(self) -> list[dict]:
        group = self.stacked.member_state_dict(0)["param_groups"][0]
        return [{**group, "params": self.params}]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [
            (p.grad if p.grad is not None else torch.zeros_like(p)).unsqueeze(0)
            for p in self.params
        ]
        self.stacked.step(grads)

    def state_dict(self) -> dict:
        return self.stacked.member_state_dict(0)

    def load_state_dict(self, sd: dict) -> None:
        (group,) = sd["param_groups"]
        if len(group["params"]) != len(self.params):
            raise ValueError(
                f"the state holds {len(group['params'])} parameters, the model {len(self.params)}"
            )
        self.stacked.load_member(0, sd)


def Adam(
    params,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    fused: bool = True,
    betas=(0.9, 0.999),
    eps: float = 1e-8,
) -> OneModel:  # noqa: N802
    """torch.optim.Adam's update for one model (optim=adam)."""
    params = list(params)
    views = [p.unsqueeze(0) for p in params]  # the model's own storage, as a group of one
    return OneModel(StackedAdam(views, [lr], betas, eps, [weight_decay], fused=fused), params)


def SGD(
    params,
    lr: float = 0.1,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    dampening: float = 0.0,
    fused: bool = True,
) -> OneModel:  # noqa: N802
    """torch.optim.SGD's update for one model (optim=sgd); `fused` is accepted for the
    config's sake (the update is one pass either way)."""
    params = list(params)
    views = [p.unsqueeze(0) for p in params]
    return OneModel(StackedSGD(views, [lr], momentum, dampening, [weight_decay]), params)
