"""The VAE family (issue 17): the KL term, the reparameterization trick, the likelihoods,
what a stochastic run logs and how `aectl eval` estimates log p(x).

References are independent of the code under test: torch.distributions' log-densities,
Monte Carlo over many samples, the score-function gradient estimator, scikit-learn's PCA.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import aectl_here, compose

from aectl.config.validate import validate
from aectl.errors import UserError
from aectl.models import conv, mlp
from aectl.regularizers.kl import KL, kl_per_unit, sample
from aectl.training.step import losses

D = torch.distributions


def gaussian_batch(n=3, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, k, generator=g, dtype=torch.float64)
    logvar = torch.randn(n, k, generator=g, dtype=torch.float64).clamp(-2, 2)
    return mu, logvar


def test_kl_closed_form_equals_monte_carlo():
    """KL(q ‖ N(0, I)) in closed form against E_q[log q(h) − log p(h)] over 10⁵ draws."""
    torch.manual_seed(0)
    mu, logvar = gaussian_batch()
    q = D.Independent(D.Normal(mu, (0.5 * logvar).exp()), 1)
    p = D.Independent(D.Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    h = q.sample((100_000,))
    monte_carlo = (q.log_prob(h) - p.log_prob(h)).mean(0)
    closed = kl_per_unit(mu, logvar).sum(1)
    assert torch.allclose(closed, monte_carlo, rtol=0.01)
    assert torch.allclose(closed, D.kl_divergence(q, p), rtol=1e-12)


def test_reparameterized_gradient_equals_score_function_estimate():
    """∇_{μ, log σ²} E_q[f(h)] by the reparameterization trick (the regularizer's `sample`)
    and by the score-function estimator E_q[(f(h) − b) ∇ log q(h)], within Monte Carlo
    error (4 standard errors of the noisier one)."""
    torch.manual_seed(1)
    n = 200_000
    mu0, logvar0 = gaussian_batch(1, 3, seed=3)

    def f(h):
        return torch.sin(h).sum(-1) + 0.3 * h.pow(2).sum(-1)

    mu, logvar = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
    h = sample(mu.expand(n, -1), logvar.expand(n, -1))
    per = torch.autograd.grad(f(h).sum(), (mu, logvar))
    reparam = torch.cat(per).flatten() / n

    mu, logvar = mu0.clone().requires_grad_(), logvar0.clone().requires_grad_()
    q = D.Normal(mu, (0.5 * logvar).exp())
    hs = q.sample((n,)).squeeze(1)  # (n, 3), no gradient through the sample
    fs = f(hs)
    log_q = q.log_prob(hs.unsqueeze(1)).sum(-1).squeeze(1)  # (n,)
    # Σ_i w_i ∇ log q(h_i) = ∇ Σ_i w_i log q(h_i): autograd on torch's log-density
    w = (fs - fs.mean()).detach()
    score = torch.cat(torch.autograd.grad((w * log_q).sum() / n, (mu, logvar))).flatten()
    # its standard error, from the per-sample terms w_i ∇ log q(h_i) (coordinate-wise)
    z = (hs - mu0) / (0.5 * logvar0).exp()
    grad_mu = z / (0.5 * logvar0).exp()
    grad_lv = 0.5 * (z.pow(2) - 1)
    terms = w.unsqueeze(1) * torch.cat([grad_mu, grad_lv], 1)
    se = terms.std(0) / math.sqrt(n)
    assert torch.all((reparam - score).abs() < 4 * se + 1e-6), (reparam, score, se)
    assert torch.allclose(terms.mean(0), score, rtol=1e-6, atol=1e-9)  # the SE is of this


def test_kl_penalty_warmup_and_capacity():
    reg = KL(weight=2.0, warmup_epochs=4, capacity=3.0)
    model = mlp.build((6,), code_dim=2, hidden=[5], stochastic=True)
    reg.check(model, None)
    reg.start_epoch(0)
    assert reg.penalty(5.0) == pytest.approx(2.0 * 0.25 * 2.0)
    assert reg.penalty(1.0) == pytest.approx(2.0 * 0.25 * 2.0)  # |1 − 3|
    reg.start_epoch(3)
    assert reg.penalty(torch.tensor(5.0)).item() == pytest.approx(4.0)
    reg.start_epoch(9)
    assert reg.penalty(5.0) == pytest.approx(4.0)
    plain = KL(weight=0.5)
    assert plain.penalty(6.0) == pytest.approx(3.0)


def test_the_warm_up_follows_the_epoch_through_training_and_resume(tmp_path):
    """β·min(1, epoch/warmup) in the run: after epoch 2 of a 4-epoch warm-up the logged
    penalty is half of β·KL, and a run continued for epoch 3 weighs it 3/4."""
    from aectl.training.run import train

    base = ("model=vae", "regularizer.weight=2", "regularizer.warmup_epochs=4")
    run = tmp_path / "run"
    train(validate(compose(*base, "trainer.max_epochs=2", "trainer.device=cpu")), run)
    m = json.loads((run / "metrics.json").read_text())
    assert m["val/penalty"] == pytest.approx(2 * 0.5 * m["val/kl"], rel=1e-6)
    assert m["train/penalty"] == pytest.approx(2 * 0.5 * m["train/kl"], rel=1e-5)
    more = ("trainer.max_epochs=3", "trainer.device=cpu", "trainer.resume=auto")
    train(validate(compose(*base, *more)), run)
    m = json.loads((run / "metrics.json").read_text())
    assert m["val/penalty"] == pytest.approx(2 * 0.75 * m["val/kl"], rel=1e-6)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_one_override_makes_the_encoder_stochastic(arch):
    """The deterministic network and arch.stochastic=true differ in the encoder's last
    layer only (2·code_dim outputs: μ and a bounded log σ²); encode returns μ; the step's
    term is the KL of the regularizer in closed form, and the code it decodes is μ + σ·ε."""
    build = mlp.build if arch == "mlp" else conv.build
    shape = (6,) if arch == "mlp" else (1, 8, 8)
    det = build(shape, code_dim=3)
    sto = build(shape, code_dim=3, stochastic=True)
    d_keys = {k: v.shape for k, v in det.state_dict().items()}
    s_keys = {k: v.shape for k, v in sto.state_dict().items() if k != "log_sigma"}
    differ = {k for k in d_keys if d_keys[k] != s_keys[k]}
    assert set(d_keys) == set(s_keys) and len(differ) == 2  # last encoder weight and bias
    x = torch.rand(5, *shape)
    mu, logvar = sto.encode_gaussian(x)
    assert torch.equal(sto.encode(x), mu) and mu.shape == logvar.shape == (5, 3)
    big = sto.encoder[-2]  # the last Linear (before the identity code activation)
    with torch.no_grad():
        big.bias.fill_(1e6)
    mu, logvar = sto.encode_gaussian(x)
    assert torch.isfinite(logvar.exp()).all() and logvar.max() <= 20


def test_step_losses_are_nats_per_example():
    """recon: Bernoulli NLL summed over pixels, averaged over examples (torch.distributions
    as the reference, at the code the step sampled); term: the closed-form KL."""
    torch.manual_seed(0)
    model = mlp.build((10,), code_dim=2, hidden=[7], stochastic=True).double()
    x = torch.bernoulli(torch.full((4, 10), 0.4, dtype=torch.float64))
    reg = KL(weight=1.0)
    state = torch.get_rng_state()
    total, recon, term = losses(model, reg, x, "bce")
    torch.set_rng_state(state)
    mu, logvar = model.encode_gaussian(x)
    h = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    ref = -D.Bernoulli(logits=model.decode_logits(h)).log_prob(x).sum(1).mean()
    q = D.Normal(mu, (0.5 * logvar).exp())
    kl = D.kl_divergence(q, D.Normal(0.0, 1.0)).sum(1).mean()
    assert recon.item() == pytest.approx(ref.item(), rel=1e-10)
    assert term.item() == pytest.approx(kl.item(), rel=1e-10)
    assert total.item() == pytest.approx((ref + kl).item(), rel=1e-10)
    # Gaussian pixels with the model's σ
    model.log_sigma.fill_(math.log(0.3))
    torch.set_rng_state(state)
    _, recon, _ = losses(model, reg, x, "gaussian")
    ref = -D.Normal(model.decode(h), 0.3).log_prob(x).sum(1).mean()
    assert recon.item() == pytest.approx(ref.item(), rel=1e-10)


BAD = {
    "contractive analytic": (
        ["model=vae", "regularizer=contractive", "arch.hidden=[]"],
        "regularizer.method",
    ),
    "sparse_kl": (["model=vae", "regularizer=sparse_kl"], "regularizer"),
    "kl on a deterministic code": (["model=deep", "regularizer=kl"], "regularizer"),
    "mse likelihood": (["model=vae", "trainer.loss=mse"], "trainer.loss"),
    "gaussian on a deterministic code": (["model=deep", "trainer.loss=gaussian"], "trainer.loss"),
    "bce on data outside [0, 1]": (
        ["model=vae", "trainer.binarize=false", "dataset=manifold"],
        "trainer.loss",
    ),
    "binarize data outside [0, 1]": (
        ["model=vae", "trainer.loss=gaussian", "dataset=manifold"],
        "trainer.binarize",
    ),
    "negative beta": (["model=vae", "regularizer.weight=-1"], "regularizer.weight"),
    "negative capacity": (["model=vae", "regularizer.capacity=-1"], "regularizer.capacity"),
    "a coded activation": (["model=vae", "arch.code_activation=tanh"], "arch.code_activation"),
    "tied": (["model=vae", "arch.tied=true"], "arch.tied"),
    "layerwise": (["model=vae", "trainer.layerwise=true"], "trainer.layerwise"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_stochastic_input_is_one_line(case, tmp_path):
    from aectl.training.run import train

    overrides, field = BAD[case]
    with pytest.raises(UserError) as e:
        train(validate(compose(*overrides, "trainer.max_epochs=1")), tmp_path / "run")
    assert e.value.field == field
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """model=vae trained 10 epochs (450 steps) on digits, in-process."""
    from aectl.training.run import train

    run = tmp_path_factory.mktemp("vae") / "run"
    overrides = (
        "model=vae",
        "trainer.max_epochs=10",
        "trainer.batch_size=32",
        "trainer.device=cpu",
    )
    train(validate(compose(*overrides)), run)
    return run


def loaded(run):
    from aectl.commands.eval import load_run

    cfg, _, data, model, reg = load_run(run, "last", torch.device("cpu"))
    return cfg, data, model


def test_log_weights_are_torch_distributions_log_densities():
    from aectl.training.measure import log_weights

    torch.manual_seed(0)
    model = mlp.build((10,), code_dim=3, hidden=[7], stochastic=True).double()
    x = torch.bernoulli(torch.full((4, 10), 0.3, dtype=torch.float64))
    state = torch.get_rng_state()
    got = log_weights(model, x, "bce", 5)
    torch.set_rng_state(state)
    mu, logvar = model.encode_gaussian(x)
    q = D.Independent(D.Normal(mu, (0.5 * logvar).exp()), 1)
    h = mu + (0.5 * logvar).exp() * torch.randn(5, *mu.shape, dtype=mu.dtype)
    prior = D.Independent(D.Normal(torch.zeros(3, dtype=h.dtype), 1.0), 1)
    px = D.Independent(D.Bernoulli(logits=model.decode_logits(h.reshape(-1, 3))), 1)
    log_px = px.log_prob(x.repeat(5, 1)).view(5, 4)
    expected = (log_px + prior.log_prob(h) - q.log_prob(h)).T
    assert torch.allclose(got, expected, rtol=1e-10)


def test_importance_sampled_likelihood_bounds_the_elbo_and_grows_with_k(vae_run):
    """On the test split of a trained VAE: log p̂(x) with K = 1000 is at least the ELBO
    (closed-form KL, reconstruction averaged over 200 codes) for every example, and the
    mean estimate grows with K (1, 10, 100, 1000)."""
    from aectl.training.measure import log_weights

    cfg, data, model = loaded(vae_run)
    x = data.test_x
    torch.manual_seed(0)
    with torch.no_grad():
        mu, logvar = model.encode_gaussian(x)
        q = D.Normal(mu, (0.5 * logvar).exp())
        kl = D.kl_divergence(q, D.Normal(0.0, 1.0)).sum(1)
        h = q.sample((200,))
        logits = model.decode_logits(h.reshape(-1, mu.shape[1]))
        px = D.Independent(D.Bernoulli(logits=logits), x.dim() - 1)
        recon = px.log_prob(x.repeat(200, *[1] * (x.dim() - 1))).view(200, -1).mean(0)
    elbo = recon - kl
    lw = log_weights(model, x, "bce", 1000)
    log_p = torch.logsumexp(lw, 1) - math.log(1000)
    assert torch.all(log_p >= elbo), (log_p - elbo).min()
    means = []
    for k in (1, 10, 100, 1000):
        lw = log_weights(model, x, "bce", k)
        means.append((torch.logsumexp(lw, 1) - math.log(k)).mean().item())
    assert means == sorted(means) and means[-1] - means[0] > 0.1, means


# ---- resume, vmap, bf16 and compile ------------------------------------------------------------

RESUME = ["model=vae", "trainer.max_epochs=2", "trainer.device=cpu", "trainer.log_every_n_steps=4"]


def state_of(run, name="last.pt"):
    return torch.load(run / "checkpoints" / name, weights_only=True)["model"]


def scalars(run, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_a_vae_stopped_mid_epoch_resumes_bitwise(tmp_path, monkeypatch):
    """The reparameterization noise and the dynamic binarization come from the global RNG,
    which the mid-epoch checkpoint saves: stopped at step 17 (epoch 2, batch 5) and resumed,
    the run ends with the uninterrupted run's weights and logs the same numbers."""
    from aectl import faults
    from aectl.training.run import train
    from aectl.training.stopping import Interrupted

    train(validate(compose(*RESUME)), tmp_path / "ref")
    monkeypatch.setattr(faults, "_counts", {})
    monkeypatch.setenv("AECTL_FAULT", "step:17:TERM")
    with pytest.raises(Interrupted):
        train(validate(compose(*RESUME)), tmp_path / "run")
    monkeypatch.delenv("AECTL_FAULT")
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.pt")["position"]["batch"] == 5
    train(validate(compose(*RESUME, "trainer.resume=auto")), tmp_path / "run")
    ref, run = state_of(tmp_path / "ref"), state_of(tmp_path / "run")
    assert ref.keys() == run.keys() and all(torch.equal(ref[k], run[k]) for k in ref)
    for tag in ("train/loss", "train/kl", "val/elbo", "latent/active_units"):
        assert scalars(tmp_path / "run", tag) == scalars(tmp_path / "ref", tag), tag


def test_a_beta_sweep_trains_as_one_stacked_model(tmp_path):
    """Two VAE jobs differing in β (a stackable knob) train as one vmapped group, each with
    its own noise; the larger β ends with the smaller KL."""
    from aectl.training.group import Job, train_group

    jobs = [
        Job(
            validate(compose(*RESUME, f"regularizer.weight={b}", "trainer.batch_size=32")),
            tmp_path / b,
        )
        for b in ("0.5", "4")
    ]
    results = train_group(jobs)
    assert all(isinstance(r, float) and math.isfinite(r) for r in results), results

    kl = [json.loads((j.run_dir / "metrics.json").read_text())["val/kl"] for j in jobs]
    assert kl[0] > kl[1] >= 0


def test_the_epoch_line_shows_the_elbo_and_a_collapse_warning_follows_it(tmp_path, capsys):
    """A VAE's epoch line carries val/elbo (metrics.json's, for the job shown); a member
    whose code collapsed (β=200 on digits: every unit's KL under 0.01 nats) is warned about
    once, under the line of the epoch where it starts, by its job's folder, and once more
    after its done line (still collapsed); the β=0.01 member is not."""
    from aectl.training.group import Job, train_group

    base = ("model=vae", "trainer.max_epochs=2", "trainer.device=cpu")
    jobs = [
        Job(validate(compose(*base, f"regularizer.weight={b}")), tmp_path / b)
        for b in ("0.01", "200")
    ]
    train_group(jobs)
    lines = capsys.readouterr().out.splitlines()
    elbo = json.loads((tmp_path / "0.01" / "metrics.json").read_text())["val/elbo"]
    (at,) = [i for i, x in enumerate(lines) if x.startswith("epoch 2/2 ")]
    assert "val/recon " in lines[at] and f"  val/elbo {elbo:.5g}  " in lines[at], lines[at]
    (first,) = [i for i, x in enumerate(lines) if x.startswith("epoch 1/2 ")]
    warned = [i for i, x in enumerate(lines) if "posterior collapse" in x]
    assert len(warned) == 2 and first < warned[0] < at, lines
    assert lines[warned[0]].startswith("epoch 1 (200): posterior collapse: every code unit")
    done = [i for i, x in enumerate(lines) if x.startswith("done: ")]
    assert warned[1] == done[1] + 1 and str(tmp_path / "200") in lines[done[1]], lines
    assert lines[warned[1]].startswith("still at the end (epoch 2, 200): posterior collapse: ")
    # the analyses' line leaves out the sparsity of μ (all units "active" at any scale)
    shown = [x for x in lines if x.startswith("analysis: ")]
    assert len(shown) == 2 and not any("sparsity/" in x for x in shown), shown
    kls = json.loads((tmp_path / "200" / "metrics.json").read_text())
    assert max(v for k, v in kls.items() if k.startswith("latent/kl_unit_")) < 0.01


@pytest.mark.parametrize("precision,compile", [("bf16", False), ("32", True)])
def test_bf16_and_compiled_vae_steps_train(precision, compile):
    """The step's fast paths take a stochastic model: bf16 autocast around encode_gaussian
    and decode (losses in float32), and torch.compile of the losses (its own random
    numbers: finite and decreasing, not bitwise)."""
    from aectl.training.fast_step import make_step

    torch.manual_seed(0)
    model = mlp.build((16,), code_dim=2, hidden=[32], stochastic=True)
    reg = KL(weight=1.0, warmup_epochs=2)
    reg.check(model, None)
    reg.start_epoch(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    step = make_step(model, reg, opt, "bce", compile=compile, precision=precision)
    x = torch.bernoulli(torch.rand(64, 16).round() * 0.8 + 0.1)
    first = step(x)
    for _ in range(30):
        last = step(x)
    assert torch.isfinite(last).all() and last[0] < first[0]
    assert last[0].item() == pytest.approx((last[1] + 0.5 * last[2]).item(), rel=1e-5)


# ---- pictures -----------------------------------------------------------------------------------


def test_a_2d_vae_draws_samples_traversals_interpolations_and_its_manifold(tmp_path):
    """The pictures decode as PNGs of the promised layout, TensorBoard holds them, and the
    manifold's tile (row r, column c) is the decoder at (Φ⁻¹(u_c), Φ⁻¹(v_r)) (scipy's
    quantiles as the reference; 8-bit PNG rounding)."""
    import numpy as np
    from PIL import Image
    from scipy.stats import norm
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from aectl.training.run import train

    run = tmp_path / "run"
    overrides = ("model=vae", "arch.code_dim=2", "trainer.max_epochs=2", "trainer.device=cpu")
    train(validate(compose(*overrides)), run)
    side = 8 * 8 + 2  # an 8x8 digit enlarged 8x, plus the grid's padding
    expect = {
        "prior_samples": (8, 8),
        "traversal": (2, 9),
        "interpolation": (4, 10),
        "latent_manifold": (15, 15),
    }
    for name, (rows, cols) in expect.items():
        img = np.asarray(Image.open(run / "analysis" / f"{name}.png"))
        assert img.shape[:2] == (rows * side + 2, cols * side + 2), name
    assert Image.open(run / "analysis" / "codes_by_label.png").size[0] > 100
    acc = EventAccumulator(str(run), size_guidance={"images": 0})
    acc.Reload()
    assert {f"analysis/{n}" for n in (*expect, "codes_by_label")} <= set(acc.Tags()["images"])

    _, _, model = loaded(run)
    png = np.asarray(Image.open(run / "analysis" / "latent_manifold.png"))[..., 0] / 255.0
    u = (np.arange(15) + 0.5) / 15
    for r, c in ((0, 0), (3, 11), (14, 7)):
        h = torch.tensor([[norm.ppf(u[c]), norm.ppf(u[14 - r])]], dtype=torch.float32)
        want = model.decode(h)[0, 0].detach().numpy()
        tile = png[2 + r * side : 2 + r * side + 64 : 8, 2 + c * side : 2 + c * side + 64 : 8]
        assert np.abs(tile - want).max() <= 1 / 255 + 1e-6, (r, c)


# ---- summarize: the rate-distortion curve -------------------------------------------------------

BETAS = {"0.5": (60.0, 30.0), "1": (70.0, 22.0), "4": (95.0, 9.0)}  # β: (recon, KL) nats


def test_a_beta_sweep_summarizes_as_a_rate_distortion_curve(tmp_path, capsys):
    from test_summarize import metrics, png, run, write_sweep

    from aectl.commands import summarize

    jobs = [
        {
            "folder": f"regularizer.weight={b}",
            "overrides": ["model=vae", f"regularizer.weight={b}"],
            "regularizer": "kl",
            "weight": float(b),
            "metrics": metrics(recon, None, float(b), **{"val/kl": kl, "train/kl": kl}),
        }
        for b, (recon, kl) in BETAS.items()
    ]
    root = write_sweep(tmp_path / "sweep", ["model=vae", "regularizer.weight=0.5,1,4"], jobs)
    code, _, err, _ = run(root, capsys)
    assert code == 0, err
    sweep = summarize.read_sweep(root)
    chosen = summarize.panels(sweep, summarize.rows(sweep))
    (rd,) = [p for p in chosen if p.kind == "path"]
    assert rd.title.startswith("rate-distortion") and rd.symbol == "β"
    assert rd.x_label.startswith("distortion") and rd.y_label.startswith("rate")
    (points,) = rd.series.values()
    assert points == [(recon, kl, b) for b, (recon, kl) in BETAS.items()]
    assert png(root / "summary.png").text["Description"].endswith(rd.title)


# ---- through the real CLI -----------------------------------------------------------------------

CLI_TINY = ["trainer.max_epochs=1", "trainer.device=cpu", "trainer.log_every_n_steps=5"]
PICTURES = ("prior_samples", "traversal", "interpolation")


def decodes(run):
    """Every PNG of the run decodes; TensorBoard's reader reads its events back."""
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    pngs = sorted(run.rglob("*.png"))
    for p in pngs:
        Image.open(p).load()
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return {p.relative_to(run).as_posix() for p in pngs}, acc


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset", [["model=vae"], ["model=beta_vae"], ["experiment=vae_mnist", "arch.code_dim=2"]]
)
def test_every_vae_preset_trains_one_epoch_and_evaluates_through_the_cli(preset, tmp_path):
    from conftest import MNIST_DIR, aectl, aectl_here

    if (
        preset[0].startswith("experiment")
        and not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists()
    ):
        pytest.skip("needs ../shared/data/mnist-t10k")
    run = tmp_path / "run"
    env = {"AECTL_MNIST": str(MNIST_DIR)}
    r = aectl_here("train", *preset, *CLI_TINY, f"hydra.run.dir={run}", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "nats per example" in r.stdout
    # the test split's recon decodes μ, val/recon a sampled code: the line says they differ
    assert "recon/* decode the code mean μ; val/recon and nll/elbo a code sampled" in r.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val/elbo"] == pytest.approx(-(metrics["val/recon"] + metrics["val/kl"]))
    pngs, acc = decodes(run)
    assert {f"analysis/{p}.png" for p in PICTURES} <= pngs
    for tag in ("train/kl", "val/kl", "val/elbo", "latent/active_units", "latent/kl_unit_00"):
        assert tag in acc.Tags()["scalars"], tag
    assert {f"analysis/{p}" for p in PICTURES} <= set(acc.Tags()["images"])

    # a real process for the first preset's eval; the rest in-process (the same CLI)
    run_eval = aectl if preset == ["model=vae"] else aectl_here
    r = run_eval("eval", str(run), "--samples", "20", "--device", "cpu")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((run / "eval.json").read_text())
    assert result["nll/samples"] == 20
    assert "note: recon/* decode the code mean μ" in r.stdout
    assert result["nll/importance_sampled"] <= result["nll/elbo"]  # Jensen, on the same codes
    assert result["nll/importance_sampled"] <= result["nll/iwae_20"] + 1e-3
    if "arch.code_dim=2" in preset:
        assert {"eval/latent_manifold.png", "eval/codes_by_label.png"} <= decodes(run)[0]


@pytest.mark.slow
def test_bad_stochastic_input_through_the_cli_is_one_line_exit_2(tmp_path):
    r = aectl_here(
        "train", "model=vae", "regularizer=sparse_kl", *CLI_TINY, f"hydra.run.dir={tmp_path}/r"
    )
    assert r.returncode == 2 and r.stderr.startswith("aectl: error: regularizer: sparse_kl")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = aectl_here("train", "model=vae", "regularizer.weight=-1", *CLI_TINY)
    assert r.returncode == 2 and r.stderr.startswith("aectl: error: regularizer.weight: got -1.0")


@pytest.mark.slow
def test_a_three_value_beta_sweep_summarizes_with_the_rate_distortion_curve(tmp_path):
    from PIL import Image

    sweep = tmp_path / "sweep"
    r = aectl_here(
        "train", "-m", "model=vae", "regularizer.weight=0.5,1,4", "trainer.batch_size=32",
        *CLI_TINY, "trainer.analyze=none", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    r = aectl_here("summarize", str(sweep))
    assert r.returncode == 0, r.stderr[-3000:]
    description = Image.open(sweep / "summary.png").text["Description"]
    assert "rate-distortion: val/kl against val/recon" in description
    rows = (sweep / "summary.csv").read_text().splitlines()
    assert len(rows) == 4 and "val/kl" in rows[0]


# ---- probabilistic PCA --------------------------------------------------------------------------


@pytest.mark.skipif(
    not (Path(__file__).parents[1].parent / "shared/data/mnist-t10k").exists(),
    reason="needs ../shared/data/mnist-t10k",
)
def test_a_linear_gaussian_vae_is_probabilistic_pca_on_mnist(tmp_path):
    """A linear encoder and decoder with Gaussian pixels of learned σ (Tipping & Bishop's
    model; Lucas et al., 2019): on 1600 MNIST training digits with a 2-unit code, the
    decoder's columns span scikit-learn's top-2 principal subspace (every principal angle
    under 6°) and σ² is probabilistic PCA's maximum-likelihood noise variance, the mean of
    the discarded eigenvalues of the covariance (within 3%)."""
    from conftest import MNIST_DIR
    from scipy.linalg import subspace_angles
    from sklearn.decomposition import PCA

    from aectl.training.run import train

    overrides = [
        "model=vae", "dataset=idx", f"dataset.images={MNIST_DIR}/t10k-images-idx3-ubyte.gz",
        "dataset.limit=2000", "arch.hidden=[]", "arch.activation=identity",
        "arch.output_activation=identity", "arch.code_dim=2", "arch.sigma=null",
        "trainer.loss=gaussian", "trainer.binarize=false", "trainer.max_epochs=60",
        "trainer.batch_size=100", "optim.lr=1e-2", "trainer.device=cpu",
        "trainer.picture_every_n_epochs=60",
    ]  # fmt: skip
    train(validate(compose(*overrides)), tmp_path / "run")
    cfg, data, model = loaded(tmp_path / "run")
    x = data.train_x.flatten(1).double().numpy()
    ref = PCA(n_components=2, svd_solver="full").fit(x)
    w = model.decoder[0].weight.detach().double().numpy()  # (784, 2)
    angles = np.degrees(subspace_angles(w, ref.components_.T))
    assert angles.max() < 6.0, angles
    discarded = (ref.noise_variance_, model.log_sigma.exp().item() ** 2)
    assert discarded[1] == pytest.approx(discarded[0], rel=0.03), discarded
