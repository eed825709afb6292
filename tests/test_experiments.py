"""The `experiment=` presets: each composes on top of train.yaml, keeps command-line
overrides on top of it, and reproduces its demonstration's numbers and pictures. The
linear-vs-PCA claim is checked on the real MNIST test split against numpy's SVD; the
manifold presets' geometry is checked in test_analysis.py; the slow tests run presets
through the real CLI within their two-minute budget."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import MNIST_DIR, ROOT, aectl_here, compose, needs_mnist
from PIL import Image

from aectl.config.validate import validate

PRESETS = {  # name: (dataset loader, model preset)
    "pca_equivalence": ("idx", "linear"),
    "onehot8": ("onehot8", "shallow"),
    "dae_vector_field": ("manifold", "denoising"),
    "cae_tangents": ("manifold", "contractive"),
    "sparse_filters": ("idx", "sparse"),
    "probe_mnist": ("idx", "deep"),
    "stacked_cae": ("idx", "contractive"),
    "vae_mnist": ("idx", "vae"),
}
MNIST = ("idx",)


@pytest.fixture(autouse=True)
def _mnist(monkeypatch):
    monkeypatch.setenv("AECTL_MNIST", str(MNIST_DIR))


def run(tmp_path, *overrides):
    from aectl.training.run import train

    train(compose(*overrides, "trainer.device=cpu"), tmp_path)
    return json.loads((tmp_path / "metrics.json").read_text())


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_every_preset_file_is_listed_and_documents_its_command():
    files = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))
    assert files == sorted(PRESETS)
    for name in files:
        text = (ROOT / "configs" / "experiment" / f"{name}.yaml").read_text()
        assert text.startswith("# @package _global_\n")
        assert f"aectl train experiment={name}" in text


@pytest.mark.parametrize("name", PRESETS)
def test_preset_composes_and_validates(name):
    cfg = compose(f"experiment={name}")
    validate(cfg)
    dataset, model = PRESETS[name]
    assert cfg.dataset._target_ == f"aectl.data.{dataset}.load"
    preset = compose(
        f"model={model}",
        f"dataset={dataset}",
        *([f"dataset.images={MNIST_DIR}/x"] if dataset in MNIST else []),
    )
    assert cfg.regularizer._target_ == preset.regularizer._target_
    assert cfg.arch._target_ == preset.arch._target_
    if dataset in MNIST:
        assert cfg.dataset.images == f"{MNIST_DIR}/t10k-images-idx3-ubyte.gz"


def test_command_line_overrides_win_over_the_preset():
    cfg = compose("experiment=dae_vector_field", "regularizer.level=0.3", "trainer.max_epochs=2")
    assert (cfg.regularizer.level, cfg.trainer.max_epochs, cfg.regularizer.noise) == (
        0.3,
        2,
        "gaussian",
    )


def principal_angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Independent of scipy: cosines of the principal angles are the singular values of
    Q_aᵀ Q_b (Björck & Golub); small angles from the sines, via the residual."""
    qa, _ = np.linalg.qr(a)
    qb, _ = np.linalg.qr(b)
    sines = np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False)
    return np.degrees(np.arcsin(np.clip(sines, 0, 1)))


MNIST_FILES = (
    f"dataset.images={MNIST_DIR}/t10k-images-idx3-ubyte.gz",
    f"dataset.labels={MNIST_DIR}/t10k-labels-idx1-ubyte.gz",
)


def test_pca_equivalence_is_model_linear_on_mnist():
    """The experiment adds only the data: the claim below is the preset's own."""
    preset = validate(compose("model=linear", "dataset=idx", *MNIST_FILES))
    experiment = validate(compose("experiment=pca_equivalence"))
    for group in ("dataset", "arch", "regularizer", "optim", "trainer"):
        assert getattr(experiment, group) == getattr(preset, group), group


@needs_mnist
@pytest.mark.slow  # the preset's own epochs (the claim is about them), in-process
def test_model_linear_is_within_1_percent_of_pca_and_3_degrees_on_mnist(tmp_path):
    """model=linear, its defaults, on MNIST t10k (16 codes): the test split's MSE within 1%
    of scikit-learn's PCA fitted on the same training split, and every principal angle
    between the decoder's column space and PCA's components under 3 degrees."""
    from sklearn.decomposition import PCA

    from aectl.data.idx import load

    metrics = run(tmp_path, "model=linear", "dataset=idx", *MNIST_FILES)
    data = load(*(f.split("=", 1)[1] for f in MNIST_FILES), test_fraction=None)
    x = data.train_x.flatten(1).double().numpy()
    ref = PCA(n_components=16, svd_solver="full").fit(x)
    xt = data.test_x.flatten(1).double().numpy()
    pca_test = ((ref.inverse_transform(ref.transform(xt)) - xt) ** 2).mean()
    w = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["model"]
    w = {k: v.double().numpy() for k, v in w.items()}
    assert "decoder.0.weight" not in w  # the preset is tied: decoder = encoderᵀ
    decoder = w["encoder.1.weight"].T
    h = xt @ w["encoder.1.weight"].T + w["encoder.1.bias"]
    model_test = ((h @ decoder.T + w["decoder.0.bias"] - xt) ** 2).mean()
    angles = principal_angles_deg(decoder, ref.components_.T)
    assert model_test / pca_test < 1.01 and angles.max() < 3.0, (model_test / pca_test, angles)
    # aectl's own comparison (on the test split, analyses of last.pt) says the same
    assert metrics["analyzed"]["split"] == "test"
    assert metrics["pca/mse_ratio"] == pytest.approx(model_test / pca_test, rel=1e-4)
    assert metrics["pca/max_angle_deg"] == pytest.approx(angles.max(), abs=0.05)
    assert metrics["test/last/recon/mse"] == pytest.approx(model_test, rel=1e-4)
    assert png(tmp_path / "analysis" / "pca_compare.png").std() > 10


def test_onehot8_learns_a_code_for_all_eight_patterns(tmp_path):
    metrics = run(tmp_path, "experiment=onehot8", "trainer.max_epochs=150")
    assert metrics["onehot/patterns_reproduced"] == 8.0
    assert (tmp_path / "code_table.txt").is_file()
    assert png(tmp_path / "analysis" / "code_table.png").std() > 10


@needs_mnist
def test_probe_reads_digit_identity_from_the_codes(tmp_path):
    metrics = run(tmp_path, "experiment=probe_mnist", "dataset.limit=3000", "trainer.max_epochs=3")
    assert metrics["probe/majority_rate"] < 0.2  # ten digits
    assert metrics["probe/accuracy"] > 0.6


@needs_mnist
@pytest.mark.slow
def test_stacked_cae_starts_fine_tuning_far_better_than_random_weights(tmp_path):
    """The preset whole, then again without its layer-wise stages: the same 8 epochs of
    end-to-end training reach about 0.020 val MSE from the stages and 0.045-0.050 from random
    weights (seeds 0-2), since a deep sigmoid stack learns slowly from random weights."""
    (tmp_path / "pre").mkdir()
    (tmp_path / "rnd").mkdir()
    pre = run(tmp_path / "pre", "experiment=stacked_cae", "trainer.analyze=none")
    rnd = run(
        tmp_path / "rnd",
        "experiment=stacked_cae",
        "trainer.layerwise=false",
        "trainer.analyze=none",
    )
    assert pre["layerwise/stages"] == 2 and "layerwise/stages" not in rnd
    assert pre["layerwise/stage1/penalty"] > 0 and pre["layerwise/stage2/penalty"] > 0
    assert pre["val/recon"] < 0.6 * rnd["val/recon"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,key,bound,extra",
    [
        ("dae_vector_field", "vector_field/mean_cos", 0.8, []),
        # 4 of its 12 epochs: sparse already (the filters' tiles are checked below)
        pytest.param(
            "sparse_filters",
            "sparsity/frac_near_zero",
            0.65,
            ["trainer.max_epochs=4"],
            marks=needs_mnist,
        ),
    ],
)
def test_preset_runs_through_the_cli(tmp_path, name, key, bound, extra):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    r = aectl_here(
        "train",
        f"experiment={name}",
        *extra,
        f"hydra.run.dir={run_dir}",
        env={"AECTL_MNIST": str(MNIST_DIR)},
    )
    assert r.returncode == 0, r.stderr[-3000:]  # (speed is `make bench`'s job, not a test's)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics[key] > bound
    pictures = {p.stem for p in (run_dir / "analysis").glob("*.png")}
    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    acc.Reload()
    assert {f"analysis/{p}" for p in pictures} <= set(acc.Tags()["images"])
    r = aectl_here("eval", str(run_dir))  # in-process: the CLI path is test_eval's
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((run_dir / "eval.json").read_text())[key] > bound
    if name == "sparse_filters":
        assert metrics["sparsity/active_units_per_sample"] < 90  # of 256
        tiles = png(run_dir / "analysis" / "filters.png").shape
        assert tiles == (16 * 30 + 2, 16 * 30 + 2, 3)  # 16x16 tiles
