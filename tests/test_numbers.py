"""Numbers a scientist can report: epoch figures weighted by samples, and a run stopped
mid-epoch that still resumes bit for bit; each checked against an independent
recomputation (numpy on the checkpoint's weights) or the uninterrupted run."""

from __future__ import annotations

import copy
import json
import os
import signal

import numpy as np
import pytest
import torch
from conftest import compose

from aectl.data import digits
from aectl.models import conv, mlp

TINY = ("trainer.device=cpu", "trainer.log_every_n_steps=5", "trainer.picture_every_n_epochs=5")


def train(path, *overrides):
    from aectl.training.run import train as run

    path.mkdir(parents=True, exist_ok=True)
    run(compose(*TINY, *overrides), path)
    return json.loads((path / "metrics.json").read_text())


def test_epoch_train_figures_are_per_sample_means_like_validation(tmp_path):
    """model=pca is solved, then one epoch only measures the training samples: its
    train/recon must be the MSE over the training split, the short last batch (37 of
    1437 samples at batch 200) weighing 37 samples, not a whole batch."""
    metrics = train(tmp_path, "model=pca", "arch.code_dim=8", "trainer.batch_size=200")
    w = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["model"]
    w = {k: v.double().numpy() for k, v in w.items()}
    data = digits.load(test_fraction=None)
    x = data.train_x.flatten(1).double().numpy()
    assert len(x) % 200 == 37
    x_hat = (x @ w["encoder.1.weight"].T + w["encoder.1.bias"]) @ w["decoder.0.weight"].T
    per_sample = ((x_hat + w["decoder.0.bias"] - x) ** 2).mean(1)
    assert metrics["train/recon"] == pytest.approx(per_sample.mean(), rel=1e-5)
    batch_means = [b.mean() for b in np.array_split(per_sample, range(200, len(x), 200))]
    assert abs(np.mean(batch_means) / per_sample.mean() - 1) > 1e-4  # the old figure differs


def _sigterm_at(step: int):
    """A faults.hit that sends this process SIGTERM after the `step`-th training step."""
    seen = {"n": 0}

    def hit(point: str, before=None) -> None:
        if point == "step":
            seen["n"] += 1
            if seen["n"] == step:
                if before is not None:
                    before()
                os.kill(os.getpid(), signal.SIGTERM)

    return hit


def test_stopped_mid_epoch_then_resumed_ends_bitwise_with_the_same_epoch_figures(
    tmp_path, monkeypatch
):
    from aectl.training import loop
    from aectl.training.stopping import Interrupted

    run = ("model=linear", "trainer.max_epochs=2", "trainer.batch_size=100")
    ref = train(tmp_path / "ref", *run)
    monkeypatch.setattr(loop.faults, "hit", _sigterm_at(19))  # epoch 2, batch 4 of 15
    with pytest.raises(Interrupted):
        train(tmp_path / "cut", *run)
    state = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and state["position"]["batch"] == 4
    monkeypatch.undo()
    got = train(tmp_path / "cut", *run, "trainer.resume=auto")
    done = torch.load(tmp_path / "ref" / "checkpoints" / "last.pt", weights_only=True)["model"]
    now = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(done[k], now[k]) for k in done)
    for key in ("train/loss", "train/recon", "val/recon"):
        assert got[key] == ref[key], key


def _bce_definition(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """−[t log σ(z) + (1 − t) log(1 − σ(z))], mean over elements, with 1 − σ(z) as σ(−z)."""
    return -(t * torch.log(torch.sigmoid(z)) + (1 - t) * torch.log(torch.sigmoid(-z))).mean()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bce_from_logits_is_the_definition_at_saturation(dtype):
    """The step's BCE (decoded from a sigmoid model's logits) against autograd on the
    definition in float64, at logits ±20 and ±40 with targets 0, 1 and 0.3; the clamped
    BCE of aectl 0.1 gives an output saturated on the wrong side no gradient."""
    from aectl.training.step import decoded_loss

    z = torch.tensor([[-40.0, -20.0, 20.0, 40.0]] * 3, dtype=torch.float64)
    t = torch.tensor([[1.0] * 4, [0.0] * 4, [0.3] * 4], dtype=torch.float64)
    ref_z = z.clone().requires_grad_(True)
    ref = _bce_definition(ref_z, t)
    ref.backward()
    model = mlp.build((4,), code_dim=4, hidden=[], output_activation="sigmoid").to(dtype)
    with torch.no_grad():  # decoder = identity: the code is the output's logits
        model.decoder[0].weight.copy_(torch.eye(4))
        model.decoder[0].bias.zero_()
    h = z.to(dtype).requires_grad_(True)
    got = decoded_loss(model, h, t.to(dtype), "bce")
    got.backward()
    assert got.item() == pytest.approx(ref.item(), rel=1e-6 if dtype == torch.float32 else 1e-12)
    tol = {"rtol": 1e-5, "atol": 1e-9} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-15}
    torch.testing.assert_close(h.grad.double(), ref_z.grad, **tol)
    assert ref_z.grad[0, 1].item() == pytest.approx(-1 / 12)  # logit -20, target 1: pulled up

    h.grad = None
    decoded_loss(model, h, t.to(dtype), "bce_clamped").backward()
    assert h.grad[0, 1] == 0  # aectl 0.1's clamp: no pull at all


def test_bernoulli_nll_is_the_per_sample_sum_of_the_definition():
    """The Bernoulli likelihood a later model can reuse: −log p(x | logits), summed over the
    pixels of each sample, exact at saturation (float64 definition as above)."""
    from aectl.training.step import bernoulli_nll

    z = torch.tensor([[[-40.0, 20.0], [3.0, -0.5]], [[40.0, -20.0], [0.0, 7.0]]])
    t = torch.tensor([[[1.0, 0.0], [0.3, 1.0]], [[0.0, 1.0], [0.5, 0.0]]])
    ref = -(
        t * torch.log(torch.sigmoid(z.double())) + (1 - t) * torch.log(torch.sigmoid(-z.double()))
    )
    got = bernoulli_nll(z, t)
    assert got.shape == (2,)
    torch.testing.assert_close(got.double(), ref.flatten(1).sum(1), rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: mlp.build((1, 8, 8), hidden=[32], code_activation="sigmoid"),
        lambda: mlp.build((1, 8, 8), hidden=[], code_activation="sigmoid", tied=True),
        lambda: conv.build((1, 8, 8), code_activation="sigmoid"),
    ],
    ids=["mlp", "tied", "conv"],
)
def test_the_logits_are_the_inputs_of_the_sigmoids(build):
    """σ(encode_logits(x)) is the code and σ(decode_logits(h)) the output, bit for bit (that
    the parameters' names did not change, the old run folders' tests check)."""
    torch.manual_seed(0)
    model = build()
    x = torch.rand(5, 1, 8, 8)
    h = model.encode(x)
    assert model.has_logits and model.has_code_logits
    assert torch.equal(torch.sigmoid(model.encode_logits(x)), h)
    assert torch.equal(torch.sigmoid(model.decode_logits(h)), model.decode(h))


def test_runs_saved_before_the_exact_losses_keep_the_clamped_ones():
    """A stored config without bce_from_logits / from_logits was trained with aectl 0.1's
    clamped BCE and KL: it is rebuilt (eval) and resumed with them, bit for bit."""
    from omegaconf import OmegaConf

    from aectl.config.stored import keep_old_behaviour, stored_config
    from aectl.config.validate import validate

    cfg = compose("model=sparse_kl", "trainer.loss=bce")
    stored = OmegaConf.to_container(cfg, resolve=True)
    assert validate(cfg).trainer.step_loss == "bce" and validate(cfg).regularizer.from_logits
    del stored["trainer"]["bce_from_logits"], stored["regularizer"]["from_logits"]
    old = stored_config(stored, "old.pt")
    assert old.trainer.step_loss == "bce_clamped" and old.regularizer.from_logits is False
    resumed = validate(cfg)
    keep_old_behaviour(resumed, stored)
    assert resumed.trainer.step_loss == "bce_clamped" and resumed.regularizer.from_logits is False


def test_eval_and_metrics_json_agree_for_the_same_checkpoint_and_split(tmp_path):
    """The end of a run and `aectl eval` measure a checkpoint on a split with the same code
    from the same seed: equal numbers, the random Hutchinson penalty included. By default
    eval takes the checkpoint the run's analyses describe (here trainer.analyze=best)."""
    from aectl.commands import eval as evaluate

    metrics = train(
        tmp_path,
        "model=contractive",
        "arch.hidden=[32]",
        "regularizer.method=hutchinson",
        "trainer.max_epochs=3",
        "trainer.analyze=best",
    )
    assert metrics["analyzed"] == {
        "checkpoint": "best",
        "epoch": metrics["best_epoch"],
        "split": "test",
    }
    for which in ("best", "last"):
        args = ["--device", "cpu"] if which == "best" else ["--checkpoint", "last"]
        out = evaluate.run(evaluate.parser().parse_args([str(tmp_path), *args]))
        assert (out["checkpoint"], out["split"], out["samples"]) == (which, "test", 180)
        for key in ("recon/mse", "recon/bce", "recon/psnr_db", "penalty", "jacobian/fro_mean"):
            assert out[key] == metrics[f"test/{which}/{key}"], (which, key)
        assert out["penalty"] > 0
    best = evaluate.run(evaluate.parser().parse_args([str(tmp_path), "--checkpoint", "best"]))
    analysed = [k for k in metrics if k.startswith(("sparsity/", "probe/"))]
    assert len(analysed) >= 8
    assert {k: best[k] for k in analysed} == {k: metrics[k] for k in analysed}


def _npz(tmp_path, name, array, **kw):
    from aectl.data import npz

    path = tmp_path / f"{name}.npz"
    np.savez(path, x=array)
    return npz.load(path=str(path), val_fraction=0.0, **kw)


def test_psnr_peak_is_the_datas_own(tmp_path):
    from aectl.training.measure import psnr_peak

    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, (20, 1, 5, 5), dtype=np.uint8)
    f255 = rng.uniform(0, 250, (20, 1, 5, 5)).astype(np.float32)
    f01 = rng.uniform(0, 1, (20, 1, 5, 5)).astype(np.float32)
    assert psnr_peak(_npz(tmp_path, "a", u8)) == (1.0, "scaled to [0, 1] (divided by 255.0)")
    assert psnr_peak(_npz(tmp_path, "b", u8, scale="none")) == (255.0, "unscaled 8-bit pixels")
    assert psnr_peak(_npz(tmp_path, "c", f01)) == (1.0, "values in [0, 1]")
    assert psnr_peak(_npz(tmp_path, "d", f255, scale="minmax"))[0] == 1.0
    peak, why = psnr_peak(_npz(tmp_path, "e", f255))
    assert (
        peak == pytest.approx(float(f255.max()))
        and why == "the largest value in the training split"
    )
    assert psnr_peak(digits.load())[0] == 1.0


def test_psnr_of_float_images_in_0_255_uses_their_peak(tmp_path):
    """Hand-computed: 10·log10(peak² / MSE), the MSE from the checkpoint's weights in numpy
    and the peak the largest training value (PSNR with peak 1 said -36.8 dB for such data)."""
    from aectl.commands import eval as evaluate
    from aectl.data import npz

    x = np.random.default_rng(1).uniform(0, 255, (200, 1, 5, 5)).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=x)
    run = tmp_path / "run"
    data_args = ("dataset=npz", f"dataset.path={tmp_path / 'a.npz'}")
    train(
        run, *data_args, "arch.hidden=[]", "arch.output_activation=identity", "trainer.max_epochs=1"
    )
    out = evaluate.run(evaluate.parser().parse_args([str(run)]))
    w = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]
    w = {k: v.double().numpy() for k, v in w.items()}
    data = npz.load(path=str(tmp_path / "a.npz"), test_fraction=None)
    xt = data.test_x.flatten(1).double().numpy()
    h = xt @ w["encoder.1.weight"].T + w["encoder.1.bias"]
    mse = ((h @ w["decoder.0.weight"].T + w["decoder.0.bias"] - xt) ** 2).mean()
    peak = float(data.train_x.max())
    assert out["psnr_peak"] == {"value": peak, "from": "the largest value in the training split"}
    assert out["recon/psnr_db"] == pytest.approx(10 * np.log10(peak**2 / mse), rel=1e-5)
    assert out["recon/psnr_db"] > 0


def test_nothing_is_selected_on_the_test_split():
    """best.pt, sweeps' trainer.monitor and Optuna see validation and training numbers only."""
    from aectl.config.metrics import METRICS, MONITORS
    from aectl.config.validate import validate
    from aectl.errors import UserError

    assert not [m for m in MONITORS if m.startswith("test")]
    assert {kind for _, kind, _ in METRICS.values()} == {"validation", "training"}
    with pytest.raises(UserError) as e:
        validate(compose("trainer.monitor=test/last/recon/mse"))
    assert e.value.field == "trainer.monitor"


def test_trainer_analyze_none_measures_the_test_split_and_skips_the_analyses(tmp_path):
    from aectl.training.run import train

    train(compose("trainer.max_epochs=1", "trainer.device=cpu", "trainer.analyze=none"), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "test/last/recon/mse" in metrics and "test/best/recon/mse" in metrics
    assert "analyzed" not in metrics and not any(k.startswith("sparsity/") for k in metrics)
    assert not (tmp_path / "analysis").exists()


@pytest.mark.parametrize("lr", [None, 30.0], ids=["best-is-last", "best-is-earlier"])
def test_test_numbers_of_best_pt_saved_in_the_last_epoch_are_last_pts(lr, tmp_path, monkeypatch):
    """best.pt written in the last epoch holds last.pt's weights: measured once, reported
    for both; a best.pt from an earlier epoch (here: a last epoch resumed at a learning rate
    that makes it worse) is measured on its own weights, as `aectl eval` measures it."""
    from conftest import aectl_here

    from aectl.training import final
    from aectl.training.run import train

    overrides = ("trainer.analyze=none", "optim=sgd", "optim.lr=0.1", "optim.momentum=0.9")
    train(compose(*overrides, "trainer.max_epochs=2"), tmp_path)
    calls = []
    real = final.report
    monkeypatch.setattr(final, "report", lambda *a: calls.append(1) or real(*a))
    more = ("trainer.resume=auto", "trainer.max_epochs=3", *([f"optim.lr={lr}"] if lr else []))
    train(compose(*overrides, *more), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)["epoch"]
    last, best_ = (
        {k.split("/", 2)[2]: v for k, v in metrics.items() if k.startswith(f"test/{c}/")}
        for c in ("last", "best")
    )
    assert (best == metrics["epoch"] == 3) == (lr is None), (best, metrics["epoch"])
    if lr is None:
        assert len(calls) == 1 and best_ == last
        return
    assert len(calls) == 2 and best_["recon/mse"] != last["recon/mse"]
    monkeypatch.undo()
    r = aectl_here("eval", str(tmp_path), "--checkpoint", "best", "--split", "test")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["recon/mse"] == best_["recon/mse"]


@pytest.mark.parametrize(
    "build",
    [
        lambda: mlp.build((1, 8, 8), hidden=[32, 24], activation="sigmoid", code_dim=6),
        lambda: conv.build((1, 8, 8), code_activation="sigmoid", code_dim=5),
        lambda: mlp.build((1, 8, 8), hidden=[80], code_activation="sigmoid", code_dim=96),
        # one layer: the closed form (what model=contractive measures on its test split)
        lambda: mlp.build((1, 8, 8), hidden=[], code_activation="sigmoid", code_dim=96, tied=True),
        lambda: mlp.build((1, 8, 8), hidden=[], code_activation="relu", code_dim=12),
        lambda: mlp.build((1, 8, 8), hidden=[], code_activation="tanh", code_dim=40),
        lambda: mlp.build((1, 8, 8), hidden=[], code_activation="elu", code_dim=40),  # by jvp
        lambda: mlp.build((1, 8, 8), hidden=[], code_dim=5, output_activation="identity"),
    ],
    ids=[
        "undercomplete-mlp", "undercomplete-conv", "overcomplete",
        "one-layer-sigmoid-tied", "one-layer-relu", "one-layer-tanh", "one-layer-elu",
        "one-layer-linear",
    ],
)  # fmt: skip
def test_mean_jacobian_norm_is_the_float64_definition(build, request):
    """`jacobian/fro_mean` (one backward pass per code unit and chunk of samples; the
    closed form for a one-layer encoder) against torch.func.jacrev on each sample in
    float64, for narrow and wide codes, saturated inputs too, more samples than one chunk."""
    from aectl.training.measure import JACOBIAN_CHUNK, jacobian_fro

    torch.manual_seed(0)
    model = build().eval()
    one_layer = request.node.callspec.id.startswith("one-layer")
    assert (model.single_layer() is not None) == one_layer  # the path each case is for
    x = torch.rand(JACOBIAN_CHUNK + 37, 1, 8, 8)
    x[:20] *= 40.0  # saturates the sigmoids
    ref = copy.deepcopy(model).double()
    jac = torch.func.vmap(torch.func.jacrev(lambda v: ref.encode(v[None])[0]))(x.double())
    want = jac.flatten(1).pow(2).sum(1).sqrt().mean().item()
    assert jacobian_fro(model, x) == pytest.approx(want, rel=1e-5)
