"""Run folders written by an earlier aectl still evaluate and resume (tests/fixtures/runs_v0.1).

The fixtures were made by aectl 0.1 before the engine was reorganised (see their README):
a finished run and a run stopped mid-epoch by SIGTERM. The same training, continued by
today's code, must end bit for bit where the uninterrupted old run ended, and evaluating
the old checkpoint must give the numbers the old `aectl eval` wrote.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import ROOT, compose

FIXTURES = ROOT / "tests" / "fixtures" / "runs_v0.1"
BASE = [
    "model=shallow",
    "arch.code_dim=4",
    "trainer.max_epochs=3",
    "trainer.batch_size=16",
    "trainer.device=cpu",
    "trainer.log_every_n_steps=7",
    "trainer.picture_every_n_epochs=3",
]


def copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def test_an_old_mid_epoch_checkpoint_resumes_bit_for_bit(tmp_path):
    from aectl.training.run import train

    run = copy("interrupted", tmp_path)
    train(compose(*BASE, "trainer.resume=auto"), run)
    done = torch.load(FIXTURES / "finished" / "checkpoints" / "last.pt", weights_only=True)
    now = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert now["epoch"] == done["epoch"] == 3 and now["step"] == done["step"]
    for k, v in done["model"].items():
        assert torch.equal(now["model"][k], v), k
    assert now["metrics"]["val/recon"] == done["metrics"]["val/recon"]


def test_an_old_finished_run_evaluates_to_its_old_numbers(tmp_path):
    from aectl.commands import eval as evaluate

    run = copy("finished", tmp_path)
    result = evaluate.run(
        evaluate.parser().parse_args(
            [str(run), "--checkpoint", "last", "--split", "val", "--device", "cpu"]
        )
    )
    before = json.loads((run / "eval_before.json").read_text())
    for key in ("recon/mse", "recon/bce", "jacobian/fro_mean", "probe/train_accuracy"):
        assert result[key] == pytest.approx(before[key], rel=1e-6), key
    # The probe now fits in float64; scikit-learn fitted these float32 codes in float32, and
    # one of the 180 samples sits on a decision boundary the two put a hair apart.
    assert abs(result["probe/accuracy"] - before["probe/accuracy"]) <= 1 / 180 + 1e-12
    assert result["epoch"] == before["epoch"] and result["samples"] == before["samples"]


def test_an_old_run_without_a_test_split_is_measured_on_val_with_a_note(tmp_path, capsys):
    """Saved before the test split existed: by default eval measures the validation split
    it was trained with (last.pt: what its analyses described) and says so; asking for
    the test split is one line."""
    from aectl.commands import eval as evaluate

    run = copy("finished", tmp_path)
    result = evaluate.run(evaluate.parser().parse_args([str(run), "--device", "cpu"]))
    before = json.loads((run / "eval_before.json").read_text())
    assert (result["split"], result["checkpoint"], result["samples"]) == ("val", "last", 180)
    assert "no test split" in result["note"] and "no test split" in capsys.readouterr().out
    assert result["recon/mse"] == pytest.approx(before["recon/mse"], rel=1e-6)
    assert evaluate.main([str(run), "--split", "test", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("aectl: error: --split: test; allowed: val, train") and err.count("\n") == 1
    )
