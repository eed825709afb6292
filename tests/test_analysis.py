"""The analyses behind `aectl eval` and the end of training, checked against independent
references: numpy's SVD for the PCA autoencoder, closed-form principal angles and errors
for a constructed subspace, the true circle's geometry for the vector field and the
tangents, hand-counted sparsity, scikit-learn's logistic regression and confusion matrix for the
probe (and separable vs random labels), decoded PNGs
and TensorBoard events for the pictures. Trained-model claims (a denoising run's field
points to the curve, a contractive run's Jacobian follows the tangent) run the
`experiment=` presets in-process."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import compose
from PIL import Image
from torch import nn

from aectl import analysis
from aectl.analysis import pca_compare, probe, sparsity, tangents, vector_field
from aectl.data import digits, manifold, onehot8
from aectl.data.base import VECTOR, split
from aectl.errors import UserError
from aectl.models import linear, mlp, pca
from aectl.models.autoencoder import Autoencoder


class Fn(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


def fn_model(encode, decode=lambda h: h, code_dim=2, input_shape=(2,)) -> Autoencoder:
    """An 'autoencoder' whose maps are given functions: known geometry for the metrics."""
    return Autoencoder(
        Fn(encode),
        Fn(decode),
        input_shape=input_shape,
        code_dim=code_dim,
        code_activation="identity",
        output_activation="identity",
        arch="fn",
    )


def read_png(path) -> np.ndarray:
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.ndim == 3 and img.shape[2] == 3
    return img


# ---------------------------------------------------------------- arch=pca vs numpy's SVD


def test_pca_autoencoder_is_numpy_svd_solution():
    data = digits.load()
    k = 10
    model = pca.build(data.shape, code_dim=k)
    pca.fit(model, data.train_x)
    x = data.train_x.flatten(1).double().numpy()
    mu = x.mean(0)
    v, s, ut = np.linalg.svd(x - mu, full_matrices=False)  # Ξ = V S Uᵀ
    codes_ref = v[:, :k] * s[:k]  # V_k S_k
    recon_ref = codes_ref @ ut[:k] + mu  # decoder U_kᵀ, plus the mean
    with torch.no_grad():
        codes = model.encode(data.train_x).double().numpy()
        recon = model(data.train_x).flatten(1).double().numpy()
    signs = np.sign((codes * codes_ref).sum(0))  # each component is defined up to sign
    np.testing.assert_allclose(codes, codes_ref * signs, atol=2e-4)
    np.testing.assert_allclose(recon, recon_ref, atol=2e-5)
    # Eckart–Young: the error is the energy of the discarded components.
    assert ((recon - x) ** 2).mean() == pytest.approx((s[k:] ** 2).sum() / x.size, rel=1e-4)
    assert not any(p.requires_grad for p in model.parameters())


def test_pca_refuses_more_components_than_samples_or_pixels():
    data = digits.load()
    model = pca.build(data.shape, code_dim=65)
    with pytest.raises(UserError) as e:
        pca.fit(model, data.train_x)
    assert e.value.field == "arch.code_dim" and "64" in str(e.value)


def test_arch_pca_run_is_fitted_not_trained(tmp_path):
    from aectl.training.run import train

    cfg = compose(
        "model=pca",
        "arch.code_dim=12",
        "trainer.device=cpu",
        "trainer.max_epochs=5",
        "optim.lr=0.5",
    )
    train(cfg, tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 1  # one evaluation pass, not five epochs
    data = digits.load(test_fraction=None)  # the run's training split
    fresh = pca.build(data.shape, code_dim=12)
    pca.fit(fresh, data.train_x)
    for key, value in fresh.state_dict().items():
        torch.testing.assert_close(state["model"][key], value)  # lr=0.5 would have moved them
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["pca/max_angle_deg"] < 1e-3
    assert metrics["pca/mse_ratio"] == pytest.approx(1.0, abs=1e-5)


# ---------------------------------------------------- principal angles on a known subspace


def orthogonal_data(sigmas, n=500, seed=0) -> torch.Tensor:
    """n samples whose centred columns are orthogonal with energies n·σ_i² (so the principal
    axes are exactly e_1, e_2, ... with variances σ_i², largest first)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.cat([torch.ones(n, 1), torch.randn(n, len(sigmas), generator=g)], 1).double()
    q, _ = torch.linalg.qr(z)
    return (q[:, 1:] * math.sqrt(n) * torch.tensor(sigmas, dtype=torch.float64)).float()


def test_principal_angles_and_mse_ratio_match_closed_form():
    sigmas = [5.0, 4.0, 3.0, 2.0, 1.0, 0.5]
    x = orthogonal_data(sigmas)
    data = split(x, None, val_fraction=0.0, seed=0, shape=(6,), kind=VECTOR, name="t", scaling={})
    theta = math.radians(20.0)
    e = torch.eye(6)
    w = torch.stack(
        [math.cos(theta) * e[0] + math.sin(theta) * e[2], e[1]], 1
    )  # (6, 2) orthonormal
    model = linear.build((6,), code_dim=2)
    with torch.no_grad():  # x̂ = W Wᵀ x: the orthogonal projection onto span(W)
        model.encoder[1].weight.copy_(w.T)
        model.encoder[1].bias.zero_()
        model.decoder[0].weight.copy_(w)
        model.decoder[0].bias.zero_()
    numbers, pics = pca_compare.compare(model, data, data.train_x)
    assert numbers["pca/max_angle_deg"] == pytest.approx(20.0, abs=1e-4)
    assert numbers["pca/mean_angle_deg"] == pytest.approx(10.0, abs=1e-4)
    s2 = np.square(sigmas)
    mse_pca = s2[2:].sum() / 6
    mse_model = (s2.sum() - s2[1] - math.cos(theta) ** 2 * s2[0] - math.sin(theta) ** 2 * s2[2]) / 6
    assert numbers["pca/mse"] == pytest.approx(mse_pca, rel=1e-4)
    assert numbers["pca/mse_ratio"] == pytest.approx(mse_model / mse_pca, rel=1e-4)
    assert pics["pca_compare"].shape[0] == 3


def test_decoder_matrix_reads_tied_and_untied_linear_decoders():
    for tied in (False, True):
        model = linear.build((1, 8, 8), code_dim=5, tied=tied)
        want = model.encoder[1].weight.T if tied else model.decoder[0].weight
        torch.testing.assert_close(pca_compare.decoder_matrix(model), want.detach())


def test_pca_comparison_refuses_nonlinear_models():
    model = mlp.build((1, 8, 8), code_dim=4, hidden=[8])
    with pytest.raises(UserError) as e:
        pca_compare.decoder_matrix(model)
    assert e.value.field == "arch" and "mlp" in str(e.value)


# ------------------------------------------------------------ vector field: known fields


@pytest.fixture(scope="module")
def circle():
    return manifold.load(curve="circle", n=2000, noise=0.05)


def test_noise_scale_is_the_datas_noise(circle):
    assert vector_field.noise_scale(circle, circle.extras["curve"]) == pytest.approx(0.05, rel=0.15)


@pytest.mark.parametrize(
    "name,r,lo,hi",
    [
        ("to the nearest point", lambda x: x / x.norm(dim=1, keepdim=True), 0.999, 1.0),
        ("along the tangent", lambda x: x + x.flip(1) * torch.tensor([-1.0, 1.0]), -0.05, 0.05),
        ("away from the curve", lambda x: 2 * x - x / x.norm(dim=1, keepdim=True), -1.0, -0.999),
    ],
)
def test_vector_field_cosine_measures_direction_to_the_curve(circle, name, r, lo, hi):
    numbers, pics = vector_field.vector_field(fn_model(r), circle, circle.extras["curve"])
    assert lo <= numbers["vector_field/mean_cos"] <= hi, name
    assert numbers["vector_field/n_points"] > 50
    assert pics["vector_field"].shape[0] == 3


def test_denoising_run_learns_a_field_pointing_to_the_curve(tmp_path):
    from aectl.training.run import train

    train(compose("experiment=dae_vector_field", "trainer.device=cpu"), tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["vector_field/mean_cos"] > 0.8
    assert read_png(tmp_path / "analysis" / "vector_field.png").std() > 10


# -------------------------------------------------------------- tangents: known encoders


def test_jacobian_tangent_is_exact_for_encoders_of_known_geometry(circle):
    curve = circle.extras["curve"]
    # h = x/|x|: J = (I - uuᵀ)/|x| has rank 1, along the tangent.
    along, _ = tangents.tangents(fn_model(lambda x: x / x.norm(dim=1, keepdim=True)), circle, curve)
    assert along["tangents/jacobian_abs_cos"] > 0.999
    assert along["tangents/singular_value_ratio"] < 1e-4
    # h = |x|: J = uᵀ, along the normal.
    across, _ = tangents.tangents(
        fn_model(lambda x: x.norm(dim=1, keepdim=True), code_dim=1), circle, curve
    )
    assert across["tangents/jacobian_abs_cos"] < 1e-3
    # h = A x: J = A at every point, singular values 3 and 0.5 (numpy's SVD agrees).
    a = torch.tensor([[1.8, 2.4], [-0.4, 0.3], [0.0, 0.0]])
    s = np.linalg.svd(a.double().numpy(), compute_uv=False)
    linear_map, _ = tangents.tangents(fn_model(lambda x: x @ a.T, code_dim=3), circle, curve)
    assert s[:2] == pytest.approx([3.0, 0.5])
    assert linear_map["tangents/singular_value_ratio"] == pytest.approx(s[1] / s[0], rel=1e-5)
    assert linear_map["tangents/jacobian_fro_on_curve"] == pytest.approx(
        np.linalg.norm(a.numpy()), rel=1e-5
    )


def test_local_pca_recovers_the_tangent_of_clean_data():
    clean = manifold.load(curve="circle", n=2000, noise=0.0)
    numbers, _ = tangents.tangents(fn_model(lambda x: x), clean, clean.extras["curve"])
    assert numbers["tangents/local_pca_abs_cos"] > 0.99


def test_the_contractive_penalty_flattens_the_jacobian_off_the_curve(tmp_path):
    """experiment=cae_tangents against the same network at regularizer.weight=0. Both find
    the tangent (|cos| near 1 needs no penalty: reconstruction makes the code follow the
    curve); the penalty is what makes the encoder ignore the normal direction (s₂/s₁) and
    shrinks the Jacobian (‖J‖_F on the curve)."""
    from aectl.training.run import train

    runs = {}
    for name, weight in (("cae", []), ("plain", ["regularizer.weight=0"])):
        (tmp_path / name).mkdir()
        train(compose("experiment=cae_tangents", "trainer.device=cpu", *weight), tmp_path / name)
        runs[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    cae, plain = runs["cae"], runs["plain"]
    assert cae["tangents/jacobian_abs_cos"] > 0.9 and plain["tangents/jacobian_abs_cos"] > 0.9
    ratio = "tangents/singular_value_ratio"
    assert cae[ratio] < 0.5 * plain[ratio], (cae[ratio], plain[ratio])
    fro = "tangents/jacobian_fro_on_curve"
    assert cae[fro] < 0.5 * plain[fro], (cae[fro], plain[fro])
    assert read_png(tmp_path / "cae" / "analysis" / "tangents.png").std() > 10


# ---------------------------------------------------------------------------- sparsity


def test_sparsity_numbers_count_near_zero_codes():
    g = torch.Generator().manual_seed(0)
    h = torch.rand(400, 10, generator=g) + 0.1
    h[torch.rand(400, 10, generator=g) < 0.7] = 0.0
    h[:, 3] = 1e-4  # far below 1% of the code's RMS (about 0.4): a dead unit
    data = split(h, None, val_fraction=0.0, seed=0, shape=(10,), kind=VECTOR, name="t", scaling={})
    numbers, pics = sparsity.sparsity(
        fn_model(lambda x: x, code_dim=10, input_shape=(10,)), data, data.train_x
    )()
    a = h.double().numpy()
    below = 0.01 * np.sqrt((a**2).mean())
    assert numbers["sparsity/near_zero_below"] == pytest.approx(below, rel=1e-6)
    assert numbers["sparsity/frac_near_zero"] == pytest.approx((np.abs(a) < below).mean())
    assert numbers["sparsity/frac_exact_zero"] == pytest.approx((a == 0).mean())
    assert numbers["sparsity/active_units_per_sample"] == pytest.approx(
        (np.abs(a) >= below).sum(1).mean()
    )
    assert numbers["sparsity/frac_dead_units"] == pytest.approx(0.1)
    assert numbers["sparsity/mean_activation"] == pytest.approx(a.mean(), rel=1e-5)
    assert set(pics) == {"code_histogram"}  # not image data: no filters


def test_an_all_zero_code_is_all_off():
    """Every unit switched off (an L1 weight too strong): the threshold is 0 too, and the
    numbers once read 256 active units per sample, none near zero and none dead."""
    from aectl.analysis.codes import code_stats

    h = torch.zeros(50, 8)
    data = split(h, None, val_fraction=0.0, seed=0, shape=(8,), kind=VECTOR, name="t", scaling={})
    numbers, _ = sparsity.sparsity(
        fn_model(lambda x: x, code_dim=8, input_shape=(8,)), data, data.train_x
    )()
    assert numbers["sparsity/frac_exact_zero"] == numbers["sparsity/frac_near_zero"] == 1.0
    assert numbers["sparsity/active_units_per_sample"] == 0.0
    assert numbers["sparsity/frac_dead_units"] == 1.0
    assert code_stats(h)["code/frac_near_zero"].item() == 1.0


@pytest.mark.parametrize("weight, warned", [("1", True), ("1e-4", False)])
def test_a_code_switched_off_is_said_once_and_again_at_the_end(tmp_path, capsys, weight, warned):
    from aectl.training.member import DEAD_CODE
    from aectl.training.run import train

    overrides = ("model=sparse", f"regularizer.weight={weight}", "trainer.max_epochs=3")
    train(compose(*overrides, "trainer.device=cpu"), tmp_path)
    out = " ".join(capsys.readouterr().out.split())
    assert out.count(DEAD_CODE) == (2 if warned else 0), out[-1500:]
    if warned:
        assert f"still at the end (epoch 3): {DEAD_CODE}" in out


def _hoyer(a: np.ndarray) -> float:
    """Hoyer (2004), per row, averaged: (√n − ‖a‖₁/‖a‖₂) / (√n − 1)."""
    n = a.shape[1]
    ratio = np.abs(a).sum(1) / np.linalg.norm(a, axis=1)
    return float(((np.sqrt(n) - ratio) / (np.sqrt(n) - 1)).mean())


def test_sparsity_does_not_depend_on_the_codes_scale():
    """A code with exactly half its values 0 scores the same whatever it is multiplied by
    (a fixed |h| < 0.01 gave 0.505, 0.542, 0.842, 1.000 at x1, x0.1, x0.01, x0.001)."""
    g = torch.Generator().manual_seed(1)
    h = torch.randn(500, 16, generator=g, dtype=torch.float64).abs() + 0.05
    off = torch.rand(500, 16, generator=g).argsort(1)[:, :8]  # 8 of the 16 units off per row
    h.scatter_(1, off, 0.0)
    h[:250, 0] = 0.2 * h[:250, 0] * torch.rand(250, generator=g)  # small, not zero, values too
    model = fn_model(lambda x: x, code_dim=16, input_shape=(16,))
    seen = []
    for scale in (1.0, 0.1, 0.01, 0.001):
        x = (h * scale).float()
        data = split(
            x, None, val_fraction=0.0, seed=0, shape=(16,), kind=VECTOR, name="t", scaling={}
        )
        numbers, _ = sparsity.sparsity(model, data, data.train_x)()
        a = x.double().numpy()
        assert numbers["sparsity/frac_exact_zero"] == 0.5
        below = 0.01 * np.sqrt((a**2).mean())
        assert numbers["sparsity/frac_near_zero"] == pytest.approx((np.abs(a) < below).mean())
        assert numbers["sparsity/hoyer"] == pytest.approx(_hoyer(a), rel=1e-6)
        seen.append((numbers["sparsity/frac_near_zero"], numbers["sparsity/hoyer"]))
    assert all(s[0] == seen[0][0] for s in seen) and seen[0][0] > 0.5  # the small values count
    assert all(s[1] == pytest.approx(seen[0][1], rel=1e-6) for s in seen)


@pytest.mark.parametrize("k", [1, 4, 16])
def test_hoyer_of_k_equal_active_units_of_16(k):
    from aectl.analysis.codes import hoyer

    h = torch.zeros(3, 16)
    h[:, :k] = 2.5
    assert hoyer(h).item() == pytest.approx((4 - math.sqrt(k)) / 3)  # (√n − √k)/(√n − 1)
    assert hoyer(torch.zeros(2, 16)).item() == 1.0 and hoyer(torch.ones(4, 1)) is None


def test_filters_are_the_first_layer_weights_as_tiles_most_active_first():
    data = digits.load()
    model = mlp.build(data.shape, code_dim=16, hidden=[], code_activation="relu")
    numbers, pics = sparsity.sparsity(model, data, data.val_x)()
    grid = pics["filters"]
    k, pad, side = 4, 2, 32  # 8x8 digits are enlarged 4x; 16 tiles in a 4x4 grid
    assert tuple(grid.shape) == (3, 4 * (side + pad) + pad, 4 * (side + pad) + pad)
    with torch.no_grad():
        activity = model.encode(data.val_x).abs().mean(0)
    w = model.encoder[1].weight.detach()
    for pos, unit in enumerate(activity.argsort(descending=True)[:3].tolist()):
        r, c = divmod(pos, 4)
        tile = grid[
            0,
            pad + r * (side + pad) : pad + r * (side + pad) + side,
            pad + c * (side + pad) : pad + c * (side + pad) + side,
        ]
        wu = w[unit].reshape(8, 8).numpy()
        want = np.kron((wu - wu.min()) / (wu.max() - wu.min()), np.ones((k, k)))
        np.testing.assert_allclose(tile.numpy(), want, atol=1e-5)


# ------------------------------------------------------------------------------- probe


def labelled(x, y):
    return split(
        x, y, val_fraction=0.2, seed=0, shape=(x.shape[1],), kind=VECTOR, name="t", scaling={}
    )


def test_probe_reads_linearly_separable_codes_and_not_random_labels():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (1500,), generator=g)
    x = 3 * nn.functional.one_hot(y, 5).float() + 0.3 * torch.randn(1500, 5, generator=g)
    ident = fn_model(lambda v: v, code_dim=5, input_shape=(5,))
    d = labelled(x, y)
    separable, pics = probe.probe(ident, d, d.val_x, d.val_y)()
    assert separable["probe/accuracy"] > 0.99
    shuffled = y[torch.randperm(1500, generator=g)]
    d = labelled(x, shuffled)
    noise, _ = probe.probe(ident, d, d.val_x, d.val_y)()
    assert noise["probe/accuracy"] < noise["probe/majority_rate"] + 0.12
    assert pics["probe_confusion"].shape[0] == 3


@pytest.mark.parametrize(
    "classes,spread,constant_unit",
    [(10, 1.0, False), (5, 0.3, True), (2, 1.5, False), (3, 0.05, True)],
)
def test_probe_is_scikit_learns_default_logistic_regression(classes, spread, constant_unit):
    """The same weights as make_pipeline(StandardScaler(), LogisticRegression()) on the same
    codes in float64 (its objective, solver and stopping rule), the same predictions; two classes take scikit-learn's binomial form, a constant unit its scale 1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    g = torch.Generator().manual_seed(classes)
    y = 3 + 2 * torch.randint(0, classes, (1200,), generator=g)  # labels 3, 5, 7, ...
    h = (torch.randn(classes, 6, generator=g) * spread)[(y - 3) // 2]
    h = h + torch.randn(1200, 6, generator=g)
    if constant_unit:
        h[:, 2] = 0.5
    fitted = probe.Probe(h, y)
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=probe.MAX_ITER))
    ref.fit(h.double().numpy(), y.numpy())  # (float32 codes: scikit-learn would fit in float32)
    lr = ref[-1]
    np.testing.assert_allclose(fitted.w.numpy(), lr.coef_, atol=1e-7 * np.abs(lr.coef_).max())
    np.testing.assert_allclose(fitted.b.numpy(), lr.intercept_, atol=1e-7 * np.abs(lr.coef_).max())
    x = h + 0.3 * torch.randn(1200, 6, generator=g)
    assert torch.equal(fitted.predict(x), torch.from_numpy(ref.predict(x.double().numpy())))


def test_probe_confusion_matrix_is_scikit_learns_normalised_by_row():
    from sklearn.metrics import confusion_matrix

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 6, (300,), generator=g)
    pred = torch.where(
        torch.rand(300, generator=g) < 0.7, y, torch.randint(1, 8, (300,), generator=g)
    )
    y = y[y != 4]  # a label predicted but never true: a row of zeros
    pred = pred[: len(y)]
    labels, m = probe.confusion_matrix(y, pred)
    want = confusion_matrix(y.numpy(), pred.numpy(), normalize="true")
    assert labels.tolist() == sorted(set(y.tolist()) | set(pred.tolist()))
    np.testing.assert_allclose(m.numpy(), want, atol=1e-12)
    assert m[labels.tolist().index(4)].sum() == 0


def test_a_probe_on_one_label_predicts_it():
    ident = fn_model(lambda v: v, code_dim=2, input_shape=(2,))
    x = torch.randn(100, 2)
    d = labelled(x, torch.full((100,), 7))
    numbers, pics = probe.probe(ident, d, d.val_x, d.val_y)()
    assert numbers["probe/accuracy"] == numbers["probe/majority_rate"] == 1.0
    assert pics["probe_confusion"].shape[0] == 3


# ------------------------------------------------------- analyze(): files, TensorBoard


def image_tags(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    acc.Reload()
    return set(acc.Tags()["images"])


@pytest.mark.parametrize(
    "make,want",
    [
        (
            lambda: (linear.build((1, 8, 8), code_dim=6), digits.load()),
            {"pca_compare", "code_histogram", "filters", "probe_confusion"},
        ),
        (
            lambda: (
                mlp.build((2,), code_dim=8, hidden=[], output_activation="identity"),
                manifold.load(n=300),
            ),
            {"vector_field", "tangents", "code_histogram"},
        ),
        (
            lambda: (
                mlp.build((8,), code_dim=3, hidden=[], code_activation="sigmoid"),
                onehot8.load(),
            ),
            {"code_table", "code_histogram", "probe_confusion"},
        ),
        (  # as wide as the input: PCA would reconstruct exactly, nothing to compare
            lambda: (linear.build((1, 8, 8), code_dim=64), digits.load()),
            {"code_histogram", "filters", "probe_confusion"},
        ),
        (  # wider than the manifold's 2 coordinates: trains, and is analysed without PCA
            lambda: (linear.build((2,), code_dim=16), manifold.load(n=300)),
            {"vector_field", "tangents", "code_histogram"},
        ),
    ],
    ids=["linear-digits", "manifold", "onehot8", "linear-full-rank", "linear-overcomplete"],
)
def test_analyze_writes_each_picture_as_png_and_to_tensorboard(tmp_path, make, want, capsys):
    from torch.utils.tensorboard import SummaryWriter

    model, data = make()
    writer = SummaryWriter(str(tmp_path))
    numbers = analysis.analyze(tmp_path, model, data, writer, step=7)
    writer.close()
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("analysis: ")]
    want_shown = numbers["sparsity/active_units_per_sample"]  # (a VAE's line leaves it out)
    assert f"sparsity/active_units_per_sample {want_shown:.4g}" in line, line
    assert {p.stem for p in (tmp_path / "analysis").glob("*.png")} == want
    for name in want:
        img = read_png(tmp_path / "analysis" / f"{name}.png")
        assert min(img.shape[:2]) >= 64 and img.std() > 5, name
    assert image_tags(tmp_path) == {f"analysis/{n}" for n in want}
    assert all(isinstance(v, float) for v in numbers.values())
    if "code_table" in want:
        assert numbers["onehot/patterns"] == 8.0
    # every number is a scalar `whole_run/analysis/<key>`, declared up front as an HParams metric
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from aectl.config.metrics import ANALYSIS

    assert set(numbers) <= set(ANALYSIS), set(numbers) - set(ANALYSIS)
    acc = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {f"whole_run/analysis/{k}" for k in numbers}
    for key, value in numbers.items():
        (event,) = acc.Scalars(f"whole_run/analysis/{key}")
        assert event.step == 7 and (event.value == pytest.approx(value, rel=1e-6) or value != value)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_reconstruction_grid_is_rgb_with_each_odd_channel_as_a_gray_tile(tmp_path, channels):
    """A PNG of 2 or 4 channels would be read as gray+alpha or RGBA; such images are shown
    one gray tile per channel instead, and the PNG decodes to exactly those pixel values."""
    from aectl.data.base import IMAGE
    from aectl.record import pictures

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, channels, 64, 64), generator=g).float() / 255  # no enlarging
    grid = pictures.reconstruction_picture(IMAGE, x, None, 1 - x, torch.zeros(3, 4))
    path = pictures.save_png(grid, tmp_path / "r.png")
    assert Image.open(path).mode == "RGB"  # not LA / RGBA: nothing became transparency
    img = read_png(path)
    tiles_per_row = 3 * (1 if channels in (1, 3) else channels)
    assert img.shape[:2] == (2 * 66 + 2, tiles_per_row * 66 + 2)
    tile = img[2 : 2 + 64, 2 : 2 + 64]  # first sample, first channel (or its colours)
    want = (x[0] * 255).round().byte().permute(1, 2, 0).numpy()
    if channels in (1, 3):
        assert np.array_equal(tile, np.broadcast_to(want, tile.shape))
    else:
        assert np.array_equal(tile, np.repeat(want[..., :1], 3, axis=2))
        second = img[2 : 2 + 64, 68 : 68 + 64]  # the same sample's 2nd channel, next tile
        assert np.array_equal(second, np.repeat(want[..., 1:2], 3, axis=2))
