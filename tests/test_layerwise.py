"""Greedy layer-wise training (`trainer.layerwise=true`): stage k changes exactly layer k's
parameters (and its mirror decoder layer's), learns from the frozen codes of the layers
below, uses the run's regularizer, and each stage shows up in TensorBoard and metrics.json."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import compose

from aectl.data import digits
from aectl.errors import UserError
from aectl.models import conv, mlp
from aectl.regularizers.contractive import Contractive
from aectl.regularizers.none import NoRegularizer
from aectl.regularizers.sparse_kl import SparseKL
from aectl.training import layerwise
from aectl.training.step import losses

ENCODER = ["encoder.1", "encoder.3", "encoder.5"]  # Flatten, then (Linear, activation) x 3
DECODER = ["decoder.0", "decoder.2", "decoder.4"]  # (Linear, activation) x 3, then Unflatten


def deep(tied=False):
    torch.manual_seed(0)
    return mlp.build(
        (1, 8, 8),
        code_dim=8,
        hidden=[32, 16],
        activation="relu",
        code_activation="sigmoid",
        output_activation="sigmoid",
        tied=tied,
    )


def adam(params):
    return torch.optim.Adam(params, lr=1e-2)


@pytest.fixture(scope="module")
def data():
    return digits.load()


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_stage_k_trains_only_layer_k(data, tied):
    model = deep(tied)
    for k in range(3):
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        stage = layerwise.stage_model(layerwise.layers(model)[k], k)
        x_k = layerwise.stage_inputs(model, k, data.train_x)
        with torch.no_grad():
            start = losses(stage, NoRegularizer(), x_k, "mse", train=False)[1].item()
        m = layerwise.train_stage(
            model, k, data, NoRegularizer(), adam, epochs=2, batch=128, loss="mse"
        )
        changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}
        mirror = DECODER[2 - k]
        want = {f"{ENCODER[k]}.weight", f"{ENCODER[k]}.bias", f"{mirror}.bias"}
        want |= set() if tied else {f"{mirror}.weight"}  # tied: the mirror uses layer k's weight
        assert changed == want, f"stage {k + 1}"
        assert m[f"layerwise/stage{k + 1}/recon"] < start


def test_stage_inputs_are_the_codes_of_the_layers_below(data):
    model = deep()
    x = data.val_x
    torch.testing.assert_close(layerwise.stage_inputs(model, 0, x), x.flatten(1))
    with torch.no_grad():
        torch.testing.assert_close(layerwise.stage_inputs(model, 2, x), model.encoder[:5](x))
        torch.testing.assert_close(layerwise.stage_inputs(model, 3, x), model.encode(x))


def test_each_stage_uses_the_runs_regularizer(data):
    model = deep()
    m = layerwise.train_stage(
        model, 1, data, Contractive(0.1, "analytic"), adam, epochs=1, batch=256, loss="mse"
    )
    assert m["layerwise/stage2/penalty"] > 0  # the closed form works on each one-layer stage
    with pytest.raises(UserError) as e:  # stage 1's code is ReLU: no KL target rate
        layerwise.train_stage(
            model, 0, data, SparseKL(0.1, 0.05), adam, epochs=1, batch=256, loss="mse"
        )
    assert e.value.field == "trainer.layerwise" and "stage 1" in str(e.value)
    assert ": arch.activation: " in str(e.value)  # a hidden layer's activation, not the code's


def test_needs_fully_connected_layers():
    model = conv.build((1, 8, 8), code_dim=4, channels=[4])
    with pytest.raises(UserError) as e:
        layerwise.layers(model)
    assert e.value.field == "trainer.layerwise" and "conv" in str(e.value)


def scalars(run_dir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


@pytest.mark.parametrize(
    "preset",
    [("model=deep",), ("model=contractive", "arch.hidden=[32]", "regularizer.method=exact")],
    ids=["deep", "deep-contractive"],
)
def test_layerwise_run_logs_every_stage_then_fine_tunes(tmp_path, preset, capsys):
    from aectl.training.run import train

    cfg = compose(
        *preset,
        "trainer.layerwise=true",
        "trainer.layerwise_epochs=3",
        "trainer.max_epochs=1",
        "trainer.device=cpu",
    )
    train(cfg, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    stages = 3 if preset[0] == "model=deep" else 2
    assert metrics["layerwise/stages"] == stages
    for k in range(1, stages + 1):
        assert {f"layerwise/stage{k}/{n}" for n in ("loss", "recon", "penalty")} <= set(metrics)
        points = scalars(tmp_path, f"layerwise/stage{k}/loss")
        assert [s for s, _ in points] == [1, 2, 3]
        assert points[-1][1] == pytest.approx(metrics[f"layerwise/stage{k}/loss"], rel=1e-6)
    assert metrics["epoch"] == 1  # then the whole stack is trained end to end
    # the stages' own time, apart from the end-to-end train_time_s
    assert 0 < metrics["layerwise/train_time_s"] and metrics["train_time_s"] > 0
    # each stage's line says what its recon is of (stage k > 1: codes, not comparable)
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("layer-wise stage")]
    assert len(lines) == stages and lines[0].endswith(" (of the data)"), lines
    assert lines[1].endswith(" (of stage 1's codes: not comparable)"), lines


def test_layerwise_on_a_one_layer_encoder_says_it_is_more_epochs_of_the_whole(tmp_path, capsys):
    from aectl.training.run import train

    cfg = compose(
        "model=sparse",
        "trainer.layerwise=true",
        "trainer.layerwise_epochs=1",
        "trainer.max_epochs=1",
        "trainer.device=cpu",
    )
    train(cfg, tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert "note: trainer.layerwise=true on a one-layer encoder: its one stage is the whole" in out
    assert "so this is 1 more epoch of it" in out and "(64 -> 256): 1 epoch, recon" in out


def test_a_resumed_layerwise_run_keeps_its_stage_metrics(tmp_path):
    """Stages train once, before the first epoch; a resumed run must not train them again,
    and its metrics.json still reports them (they travel in the checkpoint)."""
    from aectl.training.run import train

    common = ("model=deep", "trainer.layerwise=true", "trainer.layerwise_epochs=2")
    train(compose(*common, "trainer.max_epochs=1", "trainer.device=cpu"), tmp_path)
    first = json.loads((tmp_path / "metrics.json").read_text())
    train(
        compose(*common, "trainer.max_epochs=2", "trainer.resume=auto", "trainer.device=cpu"),
        tmp_path,
    )
    second = json.loads((tmp_path / "metrics.json").read_text())
    assert second["epoch"] == 2
    stage_keys = {k for k in first if k.startswith("layerwise/")}
    assert len(stage_keys) == 2 + 3 * 3  # stages, their time, and loss/recon/penalty of 3
    assert {k: second[k] for k in stage_keys} == {k: first[k] for k in stage_keys}
    assert [s for s, _ in scalars(tmp_path, "layerwise/stage1/loss")] == [1, 2]  # not retrained
