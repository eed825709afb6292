"""HParams in a run's own event file, read back with TensorBoard's own reader and parsers."""

from __future__ import annotations

import math

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2, metadata
from torch.utils.tensorboard import SummaryWriter

from aectl.config import metrics as metrics_vocab
from aectl.errors import UserError
from aectl.paths import configs_dir
from aectl.record import hparams


def composed(*overrides: str):
    from aectl.config.register import register_all

    register_all()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def read_back(logdir):
    """(experiment, session start, session end, scalars) as TensorBoard reads them."""
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    exp = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    ssi = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    sei = content.get(metadata.SESSION_END_INFO_TAG)
    sei = metadata.parse_session_end_info_plugin_data(sei) if sei is not None else None
    scalars = {tag: acc.Scalars(tag) for tag in acc.Tags()["scalars"]}
    return exp, ssi, sei, scalars


def fake_run(logdir, cfg, epochs=3, term=None):
    """What the trainer does: declare, log val/recon per epoch (and the last epoch's other
    numbers), finish with metrics.json's values."""
    writer = SummaryWriter(log_dir=str(logdir))
    hparams.declare(writer, cfg, term=term, run_dir=logdir)
    for epoch in range(1, epochs + 1):
        writer.add_scalar("val/recon", 1.0 / epoch, epoch * 10)
    metrics = {
        "val/recon": 1.0 / epochs,
        "val/penalty": 0.25,
        "train/loss": 0.5,
        "train/recon": 0.4,
        "train/penalty": 0.1,
        "best_val_recon": 1.0 / epochs,
        "best_epoch": epochs,
        "code/mean_activation": 0.3,
        "code/frac_near_zero": 0.125,
        "samples_per_s": 1234.5,
        "epoch_samples_per_s": 2345.6,
        "train_time_s": 2.5,
        "epoch": epochs,
        "step": epochs * 10,
        "completeness": "overcomplete",
    }
    for tag, (key, _, _) in metrics_vocab.METRICS.items():  # the last epoch's own tags
        if tag.startswith(hparams.BY_EPOCH) and tag != "val/recon":
            writer.add_scalar(tag, metrics[key], epochs * 10)
    hparams.finish(writer, metrics)
    writer.close()
    return metrics


def test_session_has_the_job_hyperparameters_and_declares_every_metric(tmp_path):
    cfg = composed(
        "model=contractive", "regularizer.weight=0.01", "optim.lr=0.002", "trainer.seed=7"
    )
    metrics = fake_run(tmp_path, cfg, term="jacobian_fro2")
    exp, ssi, sei, scalars = read_back(tmp_path)

    hp = ssi.hparams
    assert hp["regularizer.weight"].number_value == pytest.approx(0.01)
    assert hp["optim.lr"].number_value == pytest.approx(0.002)
    assert hp["trainer.seed"].number_value == 7
    assert hp["arch.code_dim"].number_value == cfg.arch.code_dim == 128
    assert hp["trainer.batch_size"].number_value == cfg.trainer.batch_size
    assert hp["regularizer.method"].string_value == "analytic"
    assert (
        hp["dataset"].string_value == "digits" and hp["regularizer"].string_value == "contractive"
    )
    assert "regularizer.noise" not in hp  # contractive has no noise: left empty, not faked

    declared = [m.name.tag for m in exp.metric_infos]
    assert declared == list(metrics_vocab.declared_metrics("jacobian_fro2"))
    assert set(declared) >= set(metrics_vocab.METRICS) | {
        "val/jacobian_fro2",  # every regularizer's term, and every analysis number
        "epoch/train_code_l1",
        *(f"whole_run/analysis/{k}" for k in metrics_vocab.ANALYSIS),
    }
    # the dashboard shows the first five: reconstruction, this run's own term, probe accuracy
    assert declared[:5] == [
        "val/recon",
        "val/jacobian_fro2",
        "epoch/train_jacobian_fro2",
        "whole_run/analysis/probe/accuracy",
        "whole_run/best_val_recon",
    ]
    assert ssi.group_name == tmp_path.name  # outside a sweep: the run folder's name
    infos = {h.name: h for h in exp.hparam_infos}
    assert set(hparams.fields()) | set(hparams.GROUPS) <= set(infos)
    assert infos["regularizer.weight"].type == api_pb2.DATA_TYPE_FLOAT64
    assert infos["regularizer.noise"].type == api_pb2.DATA_TYPE_STRING
    assert "contractive" in [v.string_value for v in infos["regularizer"].domain_discrete.values]

    assert sei is not None and sei.status == api_pb2.STATUS_SUCCESS
    for tag, (
        key,
        _,
        _,
    ) in metrics_vocab.METRICS.items():  # every declared metric has its final value
        last = scalars[tag][-1]
        assert last.step == metrics["step"]
        assert math.isclose(last.value, metrics[key], rel_tol=1e-6), tag


def test_every_job_declares_the_same_experiment(tmp_path):
    """TensorBoard shows the first experiment it finds, so jobs of different models must agree:
    the same hparams and the same metrics (each job's own penalty term is among the first
    five metrics, so only their order differs between regularizers)."""
    seen = []
    terms = {"contractive": "jacobian_fro2", "sparse": "code_l1"}
    for i, model in enumerate(("contractive", "denoising", "sparse", "deep")):
        fake_run(tmp_path / str(i), composed(f"model={model}"), epochs=1, term=terms.get(model))
        exp, ssi, _, _ = read_back(tmp_path / str(i))
        exp.ClearField("time_created_secs")
        seen.append(exp)
        if model == "denoising":
            assert ssi.hparams["regularizer.noise"].string_value == "masking"
            assert ssi.hparams["regularizer.level"].number_value == pytest.approx(0.25)
    assert all(e.hparam_infos == seen[0].hparam_infos for e in seen[1:])
    tags = [sorted(m.name.tag for m in e.metric_infos) for e in seen]
    assert all(t == tags[0] for t in tags[1:])
    assert seen[1] == seen[3]  # no penalty term (denoising, deep): the very same experiment


def test_objective_picks_the_named_metric():
    metrics = {"val/recon": 0.5, "best_val_recon": 0.25, "completeness": "overcomplete"}
    assert metrics_vocab.objective(metrics, "val/recon") == 0.5
    assert metrics_vocab.objective(metrics, "best_val_recon") == 0.25
    assert (
        metrics_vocab.objective(metrics, "best/val_recon") == 0.25
    )  # the TensorBoard tag works too
    assert metrics_vocab.objective(metrics, "whole_run/best_val_recon") == 0.25
    with pytest.raises(UserError) as e:
        metrics_vocab.objective(metrics, "val/recn")
    msg = str(e.value)
    assert msg.startswith("trainer.monitor: got 'val/recn'; allowed:") and "\n" not in msg
    assert "best_val_recon" in msg and "completeness" not in msg
    assert set(metrics_vocab.MONITORS) >= {
        "val/recon",
        "best_val_recon",
        "train/loss",
        "best/val_recon",  # the tag it had before the whole_run/ group
        "whole_run/best_val_recon",
    }


def test_a_single_run_marks_its_command_line_keys_as_differing(tmp_path):
    """Outside a sweep, the keys set on the command line are the ones a person compares."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    overrides = ["model=contractive", "regularizer.weight=0.5", "optim.lr=0.002"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    try:
        task = cfg.copy()
        with read_write(task), open_dict(task):
            del task["hydra"]
        fake_run(tmp_path / "my_run", task, epochs=1, term="jacobian_fro2")
    finally:
        HydraConfig.instance().cfg = None
    exp, ssi, _, _ = read_back(tmp_path / "my_run")
    assert {h.name for h in exp.hparam_infos if h.differs} == {
        "model",
        "regularizer.weight",
        "optim.lr",
    }
    assert ssi.group_name == "my_run"
