"""Numbers a scientist can report: epoch figures weighted by samples, and a run stopped
mid-epoch that still resumes bit for bit; each checked against an independent
recomputation (numpy on the checkpoint's weights) or the uninterrupted run."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch
from conftest import compose

from aectl.data import digits

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

    def hit(point: str) -> None:
        if point == "step":
            seen["n"] += 1
            if seen["n"] == step:
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
