"""A run costs its training and little else: what loads before the first step, and the
pieces that replaced heavier ones (checked against what they replaced).

Speed itself is measured by `aectl bench --sections run`, never by a timed test.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT

from aectl.models import mlp
from aectl.training import optim


def test_nothing_the_first_step_does_not_need_is_imported_before_it(tmp_path):
    """At the first training step of a default run: no scikit-learn, matplotlib, scipy,
    torchvision (all loaded later, by pictures and analyses) and no torch._dynamo (torch's
    compiler, which torch.optim's first use imports; aectl's optimizers do not use it).
    At its end, with every picture and analysis made: still neither the torchvision package
    (its drawing helpers load alone, `aectl.record.vision`) nor torch._dynamo nor SymPy
    (the mean Jacobian norm uses neither torch.func's reverse mode, which imports the
    first, nor output gradients given to autograd.grad, which import the second). And
    OpenBLAS runs one thread."""
    code = f"""
import sys
sys.argv = ["aectl", "train", "trainer.max_epochs=1", "trainer.device=cpu",
            "hydra.run.dir={tmp_path / "run"}"]
heavy = ["sklearn", "matplotlib", "scipy", "torchvision", "torch._dynamo", "sympy"]
import aectl.training.loop as loop
real_fit = loop.fit
def fit(*args, **kwargs):
    print("LOADED", [m for m in heavy if m in sys.modules])
    return real_fit(*args, **kwargs)
import aectl.training.run as run
run.fit = fit
from aectl.cli import main
code = main(sys.argv[1:])
print("AT THE END", code, [m for m in heavy if m in sys.modules])
from threadpoolctl import threadpool_info
print("OPENBLAS", sorted({{i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"}}))
"""
    # no thread settings from the suite: OpenBLAS's pool is aectl's to size
    limits = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in limits}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("LOADED")]
    assert line == "LOADED []", (line, r.stderr[-2000:])
    (end,) = [x for x in r.stdout.splitlines() if x.startswith("AT THE END")]
    assert end == "AT THE END 0 ['matplotlib', 'scipy']", (end, r.stderr[-2000:])
    assert (tmp_path / "run" / "analysis" / "code_histogram.png").is_file()
    # NumPy's and SciPy's OpenBLAS (both loaded by then) run one thread: a pool of their
    # own would spin against torch's (`aectl.cli.one_blas_thread`)
    (blas,) = [x for x in r.stdout.splitlines() if x.startswith("OPENBLAS")]
    assert blas == "OPENBLAS [1]", blas


def test_the_digits_are_scikit_learns_digits():
    from sklearn.datasets import load_digits

    from aectl.data import digits

    images, labels = digits.read()
    reference = load_digits()
    assert np.array_equal(images, reference.images) and np.array_equal(labels, reference.target)


def steps(opt, model, n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
        opt.zero_grad()


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (
            lambda p: optim.Adam(p, lr=3e-3, weight_decay=1e-3, fused=True),
            lambda p: torch.optim.Adam(p, lr=3e-3, weight_decay=1e-3, fused=True),
        ),
        (
            lambda p: optim.Adam(p, lr=3e-3, fused=False),
            lambda p: torch.optim.Adam(p, lr=3e-3, fused=False),
        ),
        (
            lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
        ),
    ],
    ids=["adam-fused", "adam", "sgd"],
)
def test_aectls_optimizers_are_torchs(ours, theirs):
    """The optimizer `optim=adam|sgd` builds against torch.optim's own: the same weights
    (fused Adam: bit for bit), the same state_dict, and torch's state_dict loads into it."""
    torch.manual_seed(0)
    model = mlp.build((1, 8, 8), code_dim=8, hidden=[16])
    twin = copy.deepcopy(model)
    a, b = ours(model.parameters()), theirs(twin.parameters())
    steps(a, model)
    steps(b, twin)
    for p, q in zip(model.parameters(), twin.parameters()):
        if isinstance(b, torch.optim.Adam) and b.defaults["fused"]:
            assert torch.equal(p, q)
        else:
            assert (p - q).abs().max() <= 1e-6 * q.abs().max()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k in sb["state"]:
        for f, v in sb["state"][k].items():
            assert torch.allclose(sa["state"][k][f], v.cpu(), rtol=1e-5, atol=1e-8), (k, f)
    fresh = ours(copy.deepcopy(twin).parameters())  # a checkpoint written by torch.optim
    fresh.load_state_dict(sb)
    assert fresh.state_dict()["param_groups"] == sb["param_groups"]


def test_drawing_helpers_load_without_torchvisions_package_and_draw_the_same():
    """`aectl.record.vision` loads torchvision's utils.py alone (no torchvision package, no
    torch._dynamo); its grids and PNG bytes equal the package's own, checked in one fresh
    process (the package imported after, as the reference)."""
    code = """
import io, sys, torch
from aectl.record import vision
u = vision.utils()
alone = [m for m in ("torchvision", "torch._dynamo") if m in sys.modules]
import torchvision.utils as tv
assert u is not tv and u.make_grid is not tv.make_grid
x = torch.rand(7, 3, 9, 5, generator=torch.Generator().manual_seed(0))
for kw in ({}, {"nrow": 3, "padding": 1, "pad_value": 0.5}, {"normalize": True, "scale_each": True}):
    assert torch.equal(u.make_grid(x, **kw), tv.make_grid(x, **kw)), kw
a, b = io.BytesIO(), io.BytesIO()
u.save_image(x, a, format="png"); tv.save_image(x, b, format="png")
assert a.getvalue() == b.getvalue() and a.getvalue()[:8] == bytes.fromhex("89504e470d0a1a0a")
print("ALONE", alone)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ALONE []" in r.stdout


def test_drawing_helpers_fall_back_to_the_package(monkeypatch):
    """Where the file cannot be loaded alone, the package's module is used; where the
    package is imported already, its module is."""
    import torchvision.utils

    from aectl.record import vision

    assert vision.utils() is torchvision.utils
    monkeypatch.delitem(sys.modules, "torchvision.utils")
    monkeypatch.delitem(sys.modules, vision.NAME, raising=False)
    monkeypatch.setattr(vision.importlib.util, "find_spec", lambda name: None)
    module = vision.utils()
    assert module.__name__ == "torchvision.utils" and vision.NAME not in sys.modules
    grid = module.make_grid(torch.ones(2, 1, 3, 3))  # two 3x3 tiles, 2 px of 0 around
    assert grid.shape == (3, 7, 12) and grid.sum() == 3 * 2 * 9
