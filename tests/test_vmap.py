"""`hydra/launcher=vmap`: a sweep's jobs trained as one stacked model, each as if alone.

References: torch's own Adam and SGD run per member; the single-job step (`make_step`) and
the whole single-run engine (`train`) on the same seed; TensorBoard's reader for the losses
each run logged; the old forward-AD Hutchinson estimate.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, aectl_here, compose, hparams_view

from aectl.config.validate import validate
from aectl.models import mlp
from aectl.training import stacked
from aectl.training.group import Job, train_group
from aectl.training.optim import StackedAdam, StackedSGD
from aectl.training.window import Diverged

N, STEPS = 4, 20
LRS = [1e-3, 3e-3, 1e-2, 3e-2]


def members(tied=True, hidden=(), code_dim=32, code_act="sigmoid", seeds=(0, 1, 2, 3)):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(
            mlp.build(
                (1, 8, 8),
                code_dim=code_dim,
                hidden=list(hidden),
                code_activation=code_act,
                tied=tied,
            )
        )
    return out


def grads(params, steps, seed=123):
    g = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(p.shape, generator=g) * (1 + t) for p in params.values()] for t in range(steps)
    ]


def torch_optimizer_run(model, seq, i, make):
    opt = make(model.parameters())
    for gs in seq:
        for p, g in zip(model.parameters(), gs):
            p.grad = g[i].clone()
        opt.step()
    return opt


# ---- the stacked optimizers against torch's own ------------------------------------------------


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_stacked_adam_is_torch_adam_per_member(fused, wd):
    ms = members()
    refs = [copy.deepcopy(m) for m in ms]
    params, _, _ = stacked.stack(ms)
    seq = grads(params, STEPS)
    opt = StackedAdam(params.values(), lr=LRS, weight_decay=wd, fused=fused)
    for gs in seq:
        opt.step(gs, torch.zeros(N))
    for i in range(N):
        ref = torch_optimizer_run(
            refs[i],
            seq,
            i,
            lambda p, i=i: torch.optim.Adam(p, lr=LRS[i], weight_decay=wd, fused=fused),
        )
        for p, q in zip(ms[i].parameters(), refs[i].parameters()):
            if fused:  # torch's own kernel, member by member: bit for bit
                assert torch.equal(p, q)
            else:
                assert (p - q).abs().max() <= 1e-6 * q.abs().max()
        sd = opt.member_state_dict(i, ms[i])  # torch's exact format, accepted by torch
        assert sd["param_groups"] == ref.state_dict()["param_groups"]
        for k, st in ref.state_dict()["state"].items():
            assert torch.allclose(sd["state"][k]["exp_avg"], st["exp_avg"], rtol=1e-5, atol=1e-8)
        torch.optim.Adam(ms[i].parameters(), fused=fused).load_state_dict(sd)


def test_a_dead_member_freezes_and_the_others_go_on_bit_for_bit():
    ms = members()
    refs = [copy.deepcopy(m) for m in ms]
    params, _, _ = stacked.stack(ms)
    seq = grads(params, STEPS)
    opt = StackedAdam(params.values(), lr=LRS)
    dead, dead_at, frozen = 2, 10, None
    for t, gs in enumerate(seq):
        totals, gs = torch.zeros(N), [g.clone() for g in gs]
        if t == dead_at:
            frozen = [p[dead].clone() for p in params.values()]
        if t >= dead_at:  # member 2's loss (and gradient) is NaN from step 10 on
            totals[dead] = float("nan")
            for g in gs:
                g[dead] = float("nan")
        opt.step(gs, totals)
    assert opt.alive.tolist() == [True, True, False, True]
    assert all(torch.equal(p[dead], f) for p, f in zip(params.values(), frozen))
    for i in (0, 1, 3):
        torch_optimizer_run(
            refs[i], seq, i, lambda p, i=i: torch.optim.Adam(p, lr=LRS[i], fused=True)
        )
        assert all(torch.equal(p, q) for p, q in zip(ms[i].parameters(), refs[i].parameters()))
    # a group resumes from its members' torch-format states and goes on identically (its
    # lr from its config, as a resume's optimizer is built: the moments from the states)
    sds = [opt.member_state_dict(i, ms[i]) for i in range(N)]
    again = [copy.deepcopy(m) for m in ms]
    params2, _, _ = stacked.stack(again)
    opt2 = StackedAdam(params2.values(), lr=LRS)
    for i, sd in enumerate(sds):
        opt2.load_member(i, sd)
    more = grads(params, 5, seed=7)
    for gs in more:
        opt.step([g.clone() for g in gs], torch.zeros(N))
        opt2.step([g.clone() for g in gs], torch.zeros(N))
    keep = [0, 1, 3]
    assert all(torch.equal(a[keep], b[keep]) for a, b in zip(params.values(), params2.values()))


@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_stacked_sgd_is_torch_sgd_per_member(wd):
    ms = members()
    refs = [copy.deepcopy(m) for m in ms]
    params, _, _ = stacked.stack(ms)
    seq = grads(params, STEPS)
    opt = StackedSGD(params.values(), lr=LRS, momentum=0.9, weight_decay=wd)
    for gs in seq:
        opt.step(gs, torch.zeros(N))
    for i in range(N):
        make = lambda p, i=i: torch.optim.SGD(p, lr=LRS[i], momentum=0.9, weight_decay=wd)  # noqa: E731
        ref = torch_optimizer_run(refs[i], seq, i, make)
        for p, q in zip(ms[i].parameters(), refs[i].parameters()):
            assert (p - q).abs().max() <= 1e-6 * q.abs().max()
        torch.optim.SGD(ms[i].parameters(), lr=0.1, momentum=0.9).load_state_dict(
            opt.member_state_dict(i, ms[i])
        )
        assert opt.member_state_dict(i, ms[i])["param_groups"] == ref.state_dict()["param_groups"]


def test_a_members_checkpoint_holds_only_its_own_weights(tmp_path):
    from aectl.training.state import own

    ms = members()
    stacked.stack(ms)
    whole = {k: v for k, v in ms[1].state_dict().items()}
    torch.save(whole, tmp_path / "view.pt")
    torch.save({k: own(v) for k, v in whole.items()}, tmp_path / "own.pt")
    assert (tmp_path / "view.pt").stat().st_size > 3 * (tmp_path / "own.pt").stat().st_size


# ---- the vmapped step against the step of a job alone --------------------------------------------

DETERMINISTIC = {
    "none, deep": (dict(code_dim=16, hidden=[64, 32], code_activation="identity"), "none", {}),
    "sparse_l1": (dict(code_dim=64, hidden=[], code_activation="relu"), "sparse_l1", {}),
    "sparse_kl": (
        dict(code_dim=64, hidden=[], code_activation="sigmoid"),
        "sparse_kl",
        {"target": [0.05, 0.1, 0.2, 0.05]},
    ),
    "contractive analytic": (
        dict(code_dim=64, hidden=[], code_activation="sigmoid", tied=True),
        "contractive",
        {"method": "analytic"},
    ),
    "contractive exact": (
        dict(code_dim=16, hidden=[32], code_activation="tanh"),
        "contractive",
        {"method": "exact"},
    ),
}
REGS = {
    "none": "aectl.regularizers.none.NoRegularizer",
    "sparse_l1": "aectl.regularizers.sparse_l1.SparseL1",
    "sparse_kl": "aectl.regularizers.sparse_kl.SparseKL",
    "contractive": "aectl.regularizers.contractive.Contractive",
}


def regularizer(name: str, **kw):
    import importlib

    module, _, cls = REGS[name].rpartition(".")
    return getattr(importlib.import_module(module), cls)(**kw)


@pytest.mark.parametrize("case", list(DETERMINISTIC))
def test_each_member_takes_the_steps_its_job_takes_alone(case):
    from aectl.training.fast_step import make_step

    arch, name, extra = DETERMINISTIC[case]
    per_member = {k: v for k, v in extra.items() if isinstance(v, list)}
    fixed = {k: v for k, v in extra.items() if not isinstance(v, list)}
    weights = [1e-3, 1e-2, 1e-1, 1.0] if name != "none" else [0.0] * N
    hp = {"weight": weights, **per_member}
    x = torch.rand(STEPS, N, 32, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ms = []
    for i in range(N):
        torch.manual_seed(i)
        ms.append(mlp.build((1, 8, 8), **arch))
    alone = [copy.deepcopy(m) for m in ms]
    params, buffers, base = stacked.stack(ms)
    regs = [regularizer(name, **fixed, **{k: v[i] for k, v in hp.items()}) for i in range(N)]
    opt = StackedAdam(params.values(), lr=LRS, fused=True)
    names = [k for k in hp if name != "none" or k != "weight"]
    step = stacked.make_stacked_step(
        base, regs[0], "mse", params, buffers, stacked.hyperparameters(regs, names, "cpu"), opt
    )
    got = torch.stack([step(x[t]) for t in range(STEPS)])  # (steps, members, 3)
    for i in range(N):
        opt_i = torch.optim.Adam(alone[i].parameters(), lr=LRS[i], fused=True)
        single = make_step(alone[i], regs[i], opt_i, "mse")
        want = torch.stack([single(x[t, i]) for t in range(STEPS)])
        assert torch.allclose(got[:, i], want, rtol=1e-5, atol=1e-8), (case, i)


def tiny_group(optim: str, precision: str = "32", compile: bool = False):
    """Three one-layer contractive members on 4x4 inputs: (stacked step, each alone)."""
    from aectl.regularizers.contractive import Contractive

    ms = []
    for s in range(3):
        torch.manual_seed(s)
        ms.append(mlp.build((1, 4, 4), code_dim=6, hidden=[], code_activation="sigmoid"))
    alone = [copy.deepcopy(m) for m in ms]
    params, buffers, base = stacked.stack(ms)
    regs = [Contractive(weight=w) for w in (1e-3, 1e-2, 1e-1)]
    lrs = [1e-2, 3e-2, 1e-1]
    if optim == "adam":
        opt = StackedAdam(params.values(), lr=lrs, fused=True)
    else:
        opt = StackedSGD(params.values(), lr=lrs, momentum=0.9)
    hp = stacked.hyperparameters(regs, ["weight"], "cpu")
    step = stacked.make_stacked_step(
        base, regs[0], "mse", params, buffers, hp, opt, compile=compile, precision=precision
    )
    return step, alone, regs, lrs


BATCHES = (8, 8, 3, 8)  # an epoch's short last batch is a shape of its own


@pytest.mark.timeout(600)
@pytest.mark.parametrize("optim", ["sgd"])
def test_a_compiled_group_step_trains_as_the_eager_one(optim):
    """trainer.compile=true: the vmapped losses and the optimizer's update compiled (torch's
    fused Adam kernel, the default, is left as it is and was checked the same way), the
    short last batch included. It compiles once: one graph per batch shape and one for the
    update (the members' strengths and learning rates are tensors, not constants baked into
    a graph), and a second epoch compiles nothing. One case: compiling costs tens of
    seconds on 2 cores."""
    from torch._dynamo.utils import counters

    g = torch.Generator().manual_seed(0)
    xs = [torch.rand(3, b, 1, 4, 4, generator=g) for b in BATCHES]
    eager = tiny_group(optim)[0]
    want = torch.stack([eager(x) for x in xs])
    counters.clear()
    compiled = tiny_group(optim, compile=True)[0]
    got = torch.stack([compiled(x) for x in xs])
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-7)
    graphs = counters["stats"]["unique_graphs"]
    assert 1 <= graphs <= 2 * len(set(BATCHES)), dict(counters["stats"])
    for x in xs:  # the next epoch
        compiled(x)
    assert counters["stats"]["unique_graphs"] == graphs, dict(counters["stats"])


def test_a_bf16_group_step_trains_each_member_as_bf16_alone():
    from aectl.training.fast_step import make_step

    g = torch.Generator().manual_seed(0)
    xs = [torch.rand(3, b, 1, 4, 4, generator=g) for b in BATCHES]
    step, alone, regs, lrs = tiny_group("adam", precision="bf16")
    got = torch.stack([step(x) for x in xs])
    fp32_step = tiny_group("adam")[0]
    fp32 = torch.stack([fp32_step(x) for x in xs])
    for i in range(3):
        opt = torch.optim.Adam(alone[i].parameters(), lr=lrs[i], fused=True)
        single = make_step(alone[i], regs[i], opt, "mse", precision="bf16")
        want = torch.stack([single(x[i]) for x in xs])
        # bf16 products round by their own batching: equal within bf16's precision
        assert torch.allclose(got[:, i], want, rtol=1e-2, atol=1e-4), i
    assert not torch.equal(got, fp32)  # bf16 did run: its rounding shows
    assert torch.allclose(got, fp32, rtol=0.05, atol=1e-3)


def test_hutchinson_through_torch_func_jvp_gives_the_numbers_forward_ad_gave():
    import torch.autograd.forward_ad as fwAD

    from aectl.regularizers.contractive import encode_hutchinson

    def old(model, x, k):  # the estimate as aectl computed it before, with a dual number
        with fwAD.dual_level():
            h, jv = fwAD.unpack_dual(model.encode(fwAD.make_dual(x, torch.randn_like(x))))
        total = jv.flatten(1).pow(2).sum(1)
        for _ in range(k - 1):
            _, jv = torch.func.jvp(model.encode, (x,), (torch.randn_like(x),))
            total = total + jv.flatten(1).pow(2).sum(1)
        return h, total / k

    torch.manual_seed(0)
    m = mlp.build((1, 8, 8), code_dim=32, hidden=[16], code_activation="sigmoid")
    x = torch.rand(8, 1, 8, 8)
    results = []
    for f in (old, encode_hutchinson):
        torch.manual_seed(5)
        h, e = f(m, x, 2)
        results.append((h, e, torch.autograd.grad(e.sum(), list(m.encoder.parameters()))))
    (h1, e1, g1), (h2, e2, g2) = results
    assert torch.equal(h1, h2) and torch.equal(e1, e2)
    assert all(torch.allclose(a, b, rtol=1e-6, atol=1e-9) for a, b in zip(g1, g2))


def test_random_regularizers_draw_their_own_noise_at_their_own_strength():
    from aectl.regularizers.denoising import Denoising
    from aectl.regularizers.dropout import Dropout

    x = torch.ones(3, 20000)
    for reg, key, levels in (
        (Denoising(noise="masking"), "level", [0.1, 0.5, 0.9]),
        (Dropout(), "p", [0.1, 0.5, 0.9]),
    ):

        def member(x, level, reg=reg, key=key):
            r = copy.copy(reg)
            setattr(r, key, level)
            return r.corrupt(x) if key == "level" else r.code(x)

        out = torch.vmap(member, randomness="different")(x, torch.tensor(levels))
        dropped = (out == 0).float().mean(1)
        assert torch.allclose(dropped, torch.tensor(levels), atol=0.02), (key, dropped)
        assert not torch.equal(out[0] == 0, out[1] == 0)  # each member its own noise
        if key == "p":  # inverted dropout: kept values scaled by 1/(1-p), as F.dropout does
            kept = out.sum(1) / (out != 0).sum(1)
            assert torch.allclose(kept, 1 / (1 - torch.tensor(levels)), rtol=1e-5)


# ---- the engine: members are their jobs --------------------------------------------------------

TINY = ["trainer.device=cpu", "trainer.max_epochs=2", "trainer.log_every_n_steps=1"]

RANDOM = {  # the regularizers that draw noise in the step: (their job, that noise switched off)
    "denoising": (("model=denoising", "regularizer.level=0.5"), "regularizer.level=0"),
    "dropout": (("model=dropout", "regularizer.p=0.8"), "regularizer.p=0"),
    "hutchinson": (
        ("model=contractive", "regularizer.method=hutchinson", "regularizer.weight=3"),
        "regularizer.weight=0",
    ),
}


@pytest.mark.parametrize("case", list(RANDOM))
def test_a_random_regularizers_members_end_within_the_seed_spread_of_their_jobs_alone(
    case, tmp_path
):
    """Under vmap a member draws other noise than its job alone (randomness="different"),
    so its numbers cannot be equal, only alike: four seeds trained as one group end with
    val/recon inside the spread of the same four jobs trained alone (widened by half its
    width on each side), and the same job with its noise switched off ends outside it:
    a group whose members drew no noise, or the wrong amount, would fail."""
    from aectl.training.run import train

    job_, off = RANDOM[case]
    base = ["trainer.device=cpu", "trainer.max_epochs=3", "trainer.analyze=none", *job_]
    seeds = range(4)

    def val_recon(run: Path) -> float:
        return json.loads((run / "metrics.json").read_text())["val/recon"]

    alone = []
    for s in seeds:
        train(compose(*base, f"trainer.seed={s}"), tmp_path / f"alone{s}")
        alone.append(val_recon(tmp_path / f"alone{s}"))
    members = train_group(
        [Job(validate(compose(*base, f"trainer.seed={s}")), tmp_path / f"m{s}") for s in seeds]
    )
    train(compose(*base, off, "trainer.seed=0"), tmp_path / "off")
    width = max(alone) - min(alone)
    low, high = min(alone) - width / 2, max(alone) + width / 2
    assert all(low <= m <= high for m in members), (case, alone, members)
    assert not low <= val_recon(tmp_path / "off") <= high, (case, alone)


def job(tmp: Path, name: str, *overrides: str) -> Job:
    return Job(validate(compose(*TINY, *overrides)), tmp / name)


def logged(run: Path, tag: str = "train/loss") -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


GROUP = [  # three jobs of one contractive sweep: λ, seed and learning rate differ
    ("model=contractive", "regularizer.weight=1e-4", "trainer.seed=0"),
    ("model=contractive", "regularizer.weight=1e-2", "trainer.seed=1", "optim.lr=1e-2"),
    ("model=contractive", "regularizer.weight=1", "trainer.seed=2"),
]


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> list[Path]:
    """Each job of GROUP trained alone, as the basic launcher would."""
    from aectl.training.run import train

    root = tmp_path_factory.mktemp("alone")
    runs = []
    for i, overrides in enumerate(GROUP):
        train(compose(*TINY, *overrides), root / str(i))
        runs.append(root / str(i))
    return runs


def test_the_plan_line_says_when_max_group_split_a_group():
    from aectl.sweeps.vmap import describe, plan

    configs = [compose("model=contractive", f"regularizer.weight={w}") for w in (1e-3, 1e-2, 1)]
    line = describe(plan(configs, 2), 0, [], 2)
    assert line == (
        "vmap launcher: 3 jobs: 2 in 1 stacked group (2; differing in regularizer.weight); at "
        "most hydra.launcher.max_group=2 jobs a group; job 2 alone (the rest of a group over "
        "hydra.launcher.max_group=2)"
    ), line


def test_a_group_trains_each_job_as_it_trains_alone(alone, tmp_path):
    jobs = [job(tmp_path, str(i), *o) for i, o in enumerate(GROUP)]
    results = train_group(jobs)
    assert all(isinstance(r, float) for r in results), results
    for j, ref in zip(jobs, alone):
        got, want = logged(j.run_dir), logged(ref)
        assert len(got) == len(want) == 24  # every step of both epochs (12 each)
        assert got[:20] == pytest.approx(want[:20], rel=1e-5)
        for k, v in weights(ref).items():
            assert torch.equal(weights(j.run_dir)[k], v), k  # fused Adam per member: bitwise
        m_got = json.loads((j.run_dir / "metrics.json").read_text())
        m_want = json.loads((ref / "metrics.json").read_text())
        assert m_got["val/recon"] == m_want["val/recon"]
        # the analyses' CPU halves ran in worker processes (`aectl.analysis.later`): the
        # same numbers, the same picture files, byte for byte
        analysed = [k for k in m_want if k.startswith(("probe/", "sparsity/"))]
        assert len(analysed) > 5 and {k: m_got[k] for k in analysed} == {
            k: m_want[k] for k in analysed
        }
        for name in ("probe_confusion", "code_histogram"):
            png = f"analysis/{name}.png"
            assert (j.run_dir / png).read_bytes() == (ref / png).read_bytes(), png


@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", [1, 0])
def test_a_diverging_member_fails_alone(alone, tmp_path, where):
    """Also when it is the group's first member: the group's epoch once followed member 0,
    which stopped counting when it diverged, and the others trained on forever."""
    bad = (*GROUP[1][:2], "optim.lr=1e30", "trainer.seed=5")  # its weights overflow at once
    jobs = [job(tmp_path, "0", *GROUP[0]), job(tmp_path, "2", *GROUP[2])]
    jobs.insert(where, job(tmp_path, "bad", *bad))
    results = train_group(jobs)
    good = [k for k in range(3) if k != where]
    assert isinstance(results[where], Diverged) and "lower optim.lr" in str(results[where])
    assert all(isinstance(results[k], float) for k in good)
    for k, ref in zip(good, (alone[0], alone[2])):
        assert all(torch.equal(weights(jobs[k].run_dir)[n], v) for n, v in weights(ref).items())
        metrics = json.loads((jobs[k].run_dir / "metrics.json").read_text())
        assert metrics["epoch"] == 2  # TINY's max_epochs, no more
    assert not (jobs[where].run_dir / "metrics.json").exists()


def test_an_interrupted_group_says_which_members_had_diverged(tmp_path, monkeypatch):
    """They end failed with their own error (`aectl.sweeps.vmap.run_group`), not as
    interrupted jobs whose last.pt would resume."""
    from aectl.training.stopping import Interrupted

    bad = (*GROUP[1][:2], "optim.lr=1e30", "trainer.seed=5")
    jobs = [job(tmp_path, "bad", *bad), job(tmp_path, "0", *GROUP[0])]
    from aectl import faults

    monkeypatch.setattr(faults, "_counts", {})  # (this process's count of steps starts here)
    monkeypatch.setenv("AECTL_FAULT", "step:17:TERM")
    with pytest.raises(Interrupted) as stopped:
        train_group(jobs)
    assert list(stopped.value.failed) == [0]
    assert isinstance(stopped.value.failed[0], Diverged)
    assert (jobs[1].run_dir / "checkpoints" / "last.pt").is_file()


def test_an_interrupted_group_resumes_as_a_group_and_a_member_alone(
    alone, tmp_path, monkeypatch, capsys
):
    from aectl import faults
    from aectl.training.run import train
    from aectl.training.stopping import Interrupted

    jobs = [job(tmp_path, str(i), *o) for i, o in enumerate(GROUP)]
    monkeypatch.setattr(faults, "_counts", {})  # (this process's count of steps starts here)
    monkeypatch.setenv("AECTL_FAULT", "step:17:TERM")  # SIGTERM to itself mid epoch 2
    with pytest.raises(Interrupted):
        train_group(jobs)
    monkeypatch.delenv("AECTL_FAULT")
    for j in jobs:  # every member saved mid-epoch
        state = torch.load(j.run_dir / "checkpoints" / "last.pt", weights_only=True)
        assert state["epoch"] == 1 and state["position"]["batch"] == 5  # 12 steps per epoch
    single = tmp_path / "alone"  # a member's checkpoint resumes alone, with the basic launcher
    import shutil

    shutil.copytree(jobs[1].run_dir, single)
    train(compose(*TINY, *GROUP[1], "trainer.resume=auto"), single)
    again = [job(tmp_path, str(i), *o, "trainer.resume=auto") for i, o in enumerate(GROUP)]
    capsys.readouterr()
    assert all(isinstance(r, float) for r in train_group(again))
    # 12 steps per epoch: stopped after step 17, in epoch 2
    assert capsys.readouterr().out.count("(resumed in epoch 2 after 5 batches, step 17") == 3
    for j, ref in zip(again, alone):
        assert all(torch.equal(weights(j.run_dir)[k], v) for k, v in weights(ref).items())
    assert all(torch.equal(weights(single)[k], v) for k, v in weights(alone[1]).items())


def test_members_from_different_steps_train_apart_each_to_the_end(alone, tmp_path, capsys):
    """A sweep extended with a new value (its other jobs had trained), or stopped while its
    members saved: the group once followed its first member's epoch, so a fresh member
    beside one that had trained 1 epoch trained 1 epoch, and said done."""
    first = job(tmp_path, "0", *GROUP[0], "trainer.max_epochs=1")
    assert isinstance(train_group([first])[0], float)
    capsys.readouterr()
    jobs = [job(tmp_path, str(i), *o, "trainer.resume=auto") for i, o in enumerate(GROUP)]
    assert all(isinstance(r, float) for r in train_group(jobs))
    out = capsys.readouterr().out
    assert (
        "vmap: this group's jobs start from 2 different steps, so it trains as 2 stacked sets, "
        "one after another: 1 from step 12; 2 from step 0"
    ) in " ".join(out.split())
    # a set of one names its job in its epoch line, as a group's lines do
    assert re.search(r"^epoch 2/2  step 24 .* samples/s  \(0\)$", out, re.M), out
    assert re.search(r"^epoch 1/2 .*\(2 jobs training; shown: 1\)$", out, re.M), out
    for j, ref in zip(jobs, alone):  # each where its job alone ends, the resumed one too
        assert json.loads((j.run_dir / "metrics.json").read_text())["step"] == 24
        assert all(torch.equal(weights(j.run_dir)[k], v) for k, v in weights(ref).items())
    # whose time was shared, and by how many: the set of one trained alone, the set of two
    # shared all of theirs (summarize labels the time from these)
    m0, m1, m2 = (json.loads((j.run_dir / "metrics.json").read_text()) for j in jobs)
    assert "shared_train_time_s" not in m0
    for m in (m1, m2):
        assert m["shared_by"] == 2 and m["shared_train_time_s"] == m["train_time_s"]


def test_summarize_says_how_much_of_a_jobs_time_a_group_shared():
    from aectl.commands.summarize import _train_time
    from aectl.training.state import from_checkpoint

    assert _train_time({"train_time_s": 4.0, "shared_train_time_s": 4.0, "shared_by": 3}) == (
        "4 shared by 3"
    )
    # 2 epochs in a group of 3, then 2 alone: it once said nothing (the last epoch's group)
    partly = {"train_time_s": 4.0, "shared_train_time_s": 1.5, "shared_by": 3}
    assert _train_time(partly) == "4 (1.5 shared by 3)"
    mixed = {"train_time_s": 4.0, "shared_train_time_s": 4.0, "shared_by": 0}
    assert _train_time(mixed) == "4 shared by groups"  # (it once said "by 2" for a 3 and a 2)
    assert _train_time({"train_time_s": 4.0}) == "4"
    assert _train_time({"train_time_s": 4.0, "group_jobs": 3}) == "4 shared by 3"  # older runs
    # a checkpoint from before the keys: a group member's time was all shared
    old = {"epoch": 2, "step": 24, "best": 1.0, "best_epoch": 2, "train_time_s": 3.0,
           "metrics": {"group_jobs": 3}}  # fmt: skip
    state, _, _ = from_checkpoint(old, torch.device("cpu"), 10)
    assert (state.shared_s, state.shared_by) == (3.0, 3)


def test_the_training_line_counts_the_jobs_that_do_not_train():
    from aectl.errors import UserError
    from aectl.training.group import training_line

    results = [None, 0.5, UserError("trainer.max_epochs", "got 2"), None, 0.25]
    assert training_line(results, 2) == (
        "vmap: jobs in this group to train: 2 of 5 (2 left as it was; 1 refused: said at the end)"
    )
    assert (
        training_line([0.5, None], 1)
        == "vmap: jobs in this group to train: 1 of 2 (1 left as it was)"
    )


def test_the_parts_line_says_which_sets_only_measure_again():
    from types import SimpleNamespace as NS

    from aectl.training.group import parts_line

    def member(epoch: int, step: int):
        return NS(state=NS(epoch=epoch, step=step), cfg=NS(trainer=NS(max_epochs=2)))

    line = parts_line([[member(2, 24)] * 3, [member(0, 0)]])
    assert line == (
        "vmap: this group's jobs start from 2 different steps, so it trains as 2 stacked sets, "
        "one after another: 3 from step 24 (nothing left to train: measured again); 1 from "
        "step 0"
    )


# ---- through the CLI (in-process; the interrupted sweep in a real process) -------------------


@pytest.mark.slow
def test_a_vmap_sweep_writes_what_a_basic_sweep_writes(tmp_path, monkeypatch):
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from omegaconf import OmegaConf
    from PIL import Image

    composed: list[list[str]] = []
    compose = ConfigLoaderImpl.load_sweep_config

    def counted(self, master_config, sweep_overrides):
        composed.append(list(sweep_overrides))
        return compose(self, master_config=master_config, sweep_overrides=sweep_overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", counted)
    # a time in the folder's name, as the default sweep folder has: every member must
    # read the sweep's time, not the time it is asked at (HParams named none of them)
    r = aectl_here(
        "train", "-m", "hydra/launcher=vmap", "model=contractive,pca",
        "regularizer.weight=1e-4,1e-2,1", "trainer.max_epochs=2", "trainer.device=cpu",
        f"hydra.sweep.dir={tmp_path}/sweep/${{now:%H-%M-%S-%f}}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    (root,) = (tmp_path / "sweep").iterdir()
    first, last = r.stdout.splitlines()[0], r.stdout.splitlines()[-1]
    assert first.startswith("vmap launcher: 6 jobs: 3 in 1 stacked group"), first
    assert last == f"compare the jobs: aectl summarize {root}", last
    assert "alone (arch=pca is solved in closed form, not trained)" in first
    assert "groups apart by model (not stackable)" in first
    # the group's epoch lines say whose numbers they show, by the job's folder
    epochs = [line for line in r.stdout.splitlines() if line.startswith("epoch ")]
    assert epochs and all(
        line.endswith(
            "(3 jobs training; shown: model=contractive,regularizer.weight=0.0001/seed=0)"
        )
        for line in epochs[:2]
    ), epochs
    folders = sorted(p.parent for p in root.glob("**/metrics.json"))
    assert len(folders) == 6
    # each job composed once: the launcher runs the config the sweeper's check composed
    assert len(composed) == len({tuple(c) for c in composed}) == 6, composed
    nums = set()
    for run in folders:  # ... and each folder holds its own job's config
        hydra = OmegaConf.load(run / ".hydra" / "hydra.yaml").hydra
        overrides = dict(o.split("=", 1) for o in hydra.overrides.task)
        cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
        assert cfg.regularizer.weight == float(overrides["regularizer.weight"])
        assert hydra.runtime.choices.model == overrides["model"]
        assert Path(hydra.runtime.output_dir) == run
        nums.add(hydra.job.num)
    assert nums == set(range(6))
    for run in folders:
        assert {
            ".hydra",
            "config.yaml",
            "checkpoints",
            "reconstructions",
            "analysis",
            "status.json",
        } <= {p.name for p in run.iterdir()}
        assert json.loads((run / "status.json").read_text())["status"] == "completed"
        assert logged(run, "val/recon")  # its own event file, read by TensorBoard's reader
        for png in (*run.glob("reconstructions/*.png"), *run.glob("analysis/*.png")):
            Image.open(png).load()
    contractive = [f for f in folders if "contractive" in str(f) or "pca" not in str(f)][0]
    e = aectl_here("eval", str(contractive), "--checkpoint", "last")
    assert e.returncode == 0, e.stderr
    s = aectl_here("summarize", str(root))
    assert s.returncode == 0, s.stderr
    import csv

    rows = list(csv.DictReader((root / "summary.csv").open()))
    for row in rows:
        metrics = json.loads((root / row["folder"] / "metrics.json").read_text())
        assert float(row["val/recon"]) == pytest.approx(metrics["val/recon"], rel=1e-6)
        # a member's training time is its group's: metrics.json and summarize say so
        if "contractive" in row["folder"]:
            assert metrics["group_jobs"] == 3
            rate = metrics["group_samples_per_s"] / metrics["samples_per_s"]
            assert rate == pytest.approx(3)
        else:  # pca jobs run alone
            assert "group_jobs" not in metrics
    # HParams, asked as the dashboard asks: a row (session group) per job, named by its
    # folder under the sweep, and the swept keys marked as differing
    exp, groups, _ = hparams_view(root)
    named = sorted(g.name for g in groups)
    assert named == sorted(f.relative_to(root).as_posix() for f in folders), named
    assert {h.name for h in exp.hparam_infos if h.differs} == {"model", "regularizer.weight"}
    assert r.stdout.count("(3 jobs stacked: ") == 3  # the done lines of the group's jobs
    assert r.stdout.count(" samples/s overall, together); run folder ") == 3
    shared = [line for line in s.stdout.splitlines() if " shared by 3" in line]
    assert len(shared) == 3, s.stdout
    assert "one stacked group trained N jobs at once" in " ".join(s.stdout.split())


@pytest.mark.slow
def test_an_interrupted_vmap_sweep_prints_the_command_that_finishes_it(tmp_path):
    import shlex
    import time

    root = tmp_path / "sweep"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aectl", "train", "-m", "hydra/launcher=vmap", "model=contractive",
         "regularizer.weight=1e-4,1e-2", "trainer.max_epochs=60", "trainer.device=cpu",
         "trainer.analyze=none", f"hydra.sweep.dir={root}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    end = time.time() + 120
    while len(list(root.glob("*/seed=0/checkpoints/last.pt"))) < 2:
        assert proc.poll() is None and time.time() < end, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    command = shlex.split(err.split("resume with: ")[1].strip())
    assert command[:3] == ["aectl", "train", "-m"] and "hydra/launcher=vmap" in command
    for status in root.glob("*/seed=0/status.json"):  # said by the job, not guessed
        status = json.loads(status.read_text())
        assert status["status"] == "interrupted" and "SIGINT" in status["signal"]
        assert shlex.split(status["resume"]) == command
    s = aectl_here("summarize", str(root))
    assert "2 interrupted" in " ".join(s.stdout.split()), s.stdout
    # interrupted within its first epochs: finished at 10 (a change a resume may make)
    r = aectl_here(*command[1:], "trainer.max_epochs=10")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("(resumed ") == 2
    done = sorted(root.glob("*/seed=0/metrics.json"))
    assert [json.loads(p.read_text())["epoch"] for p in done] == [10, 10]


@pytest.mark.slow
@pytest.mark.parametrize("signal_, said", [
    ("TERM", "no metrics.json); checkpoints/last.pt saved in 2 job folders"),
    ("INT2", "a second time: stopped at once; each job resumes its last checkpoint in 2 job"),
])  # fmt: skip
def test_a_group_stopped_while_it_finishes_keeps_the_jobs_it_finished(tmp_path, signal_, said):
    """SIGTERM, or Ctrl-C twice, as the second member finishes (`AECTL_FAULT=finish:2:...`):
    the first had written its metrics.json and stays completed (every member once said
    interrupted, and the message counted it); the others are interrupted, and the printed
    command ends them."""
    import shlex

    root = tmp_path / "sweep"
    sweep = ["train", "-m", "hydra/launcher=vmap", "model=contractive",
             "regularizer.weight=1e-4,1e-3,1e-2", "trainer.max_epochs=1", "trainer.device=cpu",
             f"hydra.sweep.dir={root}"]  # fmt: skip
    r = aectl_here(*sweep, env={"AECTL_FAULT": f"finish:2:{signal_}"})
    assert r.returncode == (143 if signal_ == "TERM" else 130), r.stderr[-3000:]
    assert said in r.stderr and "resume with: " in r.stderr, r.stderr[-3000:]
    assert "aectl: stopped" not in r.stderr and "Traceback" not in r.stderr
    statuses = {
        p.parent.parent.name: json.loads(p.read_text())["status"]
        for p in root.glob("*/seed=0/status.json")
    }
    assert statuses == {
        "regularizer.weight=0.0001": "completed",
        "regularizer.weight=0.001": "interrupted",
        "regularizer.weight=0.01": "interrupted",
    }, statuses
    command = shlex.split(r.stderr.split("resume with: ")[1].splitlines()[0])
    done = aectl_here(*command[1:])
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list(root.glob("*/seed=0/metrics.json"))) == 3


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["vmap", "basic"])
def test_ctrl_c_before_a_sweeps_first_step_marks_its_jobs_and_says_how_to_finish(
    tmp_path, launcher
):
    """SIGINT once the models are built, before the first step (`AECTL_FAULT=setup:1:INT`):
    the jobs that had started say interrupted in status.json (they said "running" for
    good), the command that finishes the sweep is printed, and it does."""
    import shlex

    from conftest import aectl

    root = tmp_path / "sweep"
    chosen = ["hydra/launcher=vmap"] if launcher == "vmap" else []
    r = aectl(
        "train", "-m", *chosen, "model=contractive", "regularizer.weight=1e-4,1e-2",
        "trainer.max_epochs=1", "trainer.device=cpu", "trainer.analyze=none",
        f"hydra.sweep.dir={root}", env={"AECTL_FAULT": "setup:1:INT"},
    )  # fmt: skip
    assert r.returncode == 130, r.stderr[-3000:]
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    if launcher == "vmap":
        assert "before the group's first step; nothing trained yet in 2 job folders" in r.stderr
    command = shlex.split(r.stderr.split("resume with: ")[1].splitlines()[0])
    statuses = [json.loads(p.read_text()) for p in sorted(root.glob("*/seed=0/status.json"))]
    assert len(statuses) == (2 if launcher == "vmap" else 1)  # (basic: job 1 never started)
    for status in statuses:
        assert status["status"] == "interrupted" and shlex.split(status["resume"]) == command
    done = aectl_here(*command[1:])
    assert done.returncode == 0, done.stderr[-3000:]
    statuses = [json.loads(p.read_text()) for p in sorted(root.glob("*/seed=0/status.json"))]
    assert [s["status"] for s in statuses] == ["completed", "completed"]


def test_a_group_whose_data_cannot_load_fails_each_job_with_the_reason(tmp_path):
    """As the basic launcher records it: each job failed, with the one-line reason (the
    jobs were left "running", and summarize counted them interrupted)."""
    root = tmp_path / "sweep"
    r = aectl_here(
        "train", "-m", "hydra/launcher=vmap", "dataset=idx", f"dataset.images={tmp_path}/no.gz",
        "model=contractive", "regularizer.weight=1e-3,1e-2", "trainer.max_epochs=1",
        f"hydra.sweep.dir={root}",
    )  # fmt: skip
    assert r.returncode == 2 and "no such file" in r.stderr, r.stderr[-2000:]
    statuses = [json.loads(p.read_text()) for p in sorted(root.glob("*/seed=0/status.json"))]
    assert [s["status"] for s in statuses] == ["failed", "failed"], statuses
    assert all("no such file" in s["error"] for s in statuses)


@pytest.mark.slow
def test_groups_run_as_submitit_jobs_with_the_local_executor(tmp_path):
    root = tmp_path / "sweep"
    r = aectl_here(
        "train", "-m", "hydra/launcher=vmap", "hydra.launcher.executor=local",
        "model=contractive", "regularizer.weight=1e-4,1e-2", "trainer.max_epochs=1",
        "trainer.device=cpu", "trainer.analyze=none", f"hydra.sweep.dir={root}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert list(root.glob(".submitit/*/*_result.pkl"))  # the group ran as one submitit job
    said = " ".join(r.stdout.split())  # where its output went
    assert f"each group is one submitit job (local); output in {root}/.submitit/<job id>" in said
    statuses = [json.loads(p.read_text())["status"] for p in root.glob("*/seed=0/status.json")]
    assert statuses == ["completed", "completed"]
