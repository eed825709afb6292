"""Sparse, denoising and dropout regularizers against their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from aectl.models import linear, mlp
from aectl.regularizers.denoising import Denoising
from aectl.regularizers.dropout import Dropout
from aectl.regularizers.sparse_kl import SparseKL
from aectl.regularizers.sparse_l1 import SparseL1
from aectl.training.step import losses


def test_sparse_kl_equals_closed_form():
    rho, rho_hat = 0.05, [0.1, 0.5, 0.02]
    # a batch whose column means are exactly rho_hat
    h = torch.tensor([[0.0, 0.0, 0.0], [0.2, 1.0, 0.04]])
    expected = sum(
        rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r)) for r in rho_hat
    )
    got = SparseKL(weight=1.0, target=rho).term(None, None, h)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert SparseKL(target=0.3).term(None, None, torch.full((4, 5), 0.3)).item() == pytest.approx(
        0, abs=1e-6
    )


def test_sparse_l1_total_is_recon_plus_lambda_mean_sum_abs():
    torch.manual_seed(0)
    model = mlp.build((10,), code_dim=6, hidden=[], code_activation="tanh")
    x = torch.rand(8, 10)
    lam = 0.37
    total, recon, term = losses(model, SparseL1(weight=lam), x, "mse")
    h = model.encode(x)
    expected = sum(h[i].abs().sum() for i in range(len(x))) / len(x)
    assert term.item() == pytest.approx(expected.item(), rel=1e-6)
    assert (total - recon).item() == pytest.approx(lam * expected.item(), rel=1e-5)


def _train_kl(weight: float, steps: int = 300) -> float:
    torch.manual_seed(0)
    x = torch.rand(256, 16)
    model = mlp.build((16,), code_dim=32, hidden=[], code_activation="sigmoid")
    reg = SparseKL(weight=weight, target=0.05)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        total, _, _ = losses(model, reg, x, "mse")
        opt.zero_grad()
        total.backward()
        opt.step()
    return model.encode(x).mean().item()


def test_sparse_kl_training_moves_mean_activation_toward_target():
    free, constrained = _train_kl(0.0), _train_kl(0.5)
    assert abs(constrained - 0.05) < 0.02
    assert abs(constrained - 0.05) < abs(free - 0.05) / 3


@pytest.mark.parametrize(
    "noise,level", [("masking", 0.3), ("salt_and_pepper", 0.2), ("gaussian", 0.25)]
)
def test_denoising_corruption_statistics(noise, level):
    torch.manual_seed(0)
    x = torch.full((200, 1000), 0.37)
    y = Denoising(noise=noise, level=level).corrupt(x)
    if noise == "masking":
        assert (y == 0).float().mean().item() == pytest.approx(level, abs=0.005)
        assert torch.all((y == 0) | (y == x))
    elif noise == "salt_and_pepper":
        hit = (y == 0) | (y == 1)
        assert hit.float().mean().item() == pytest.approx(level, abs=0.005)
        assert (y[hit] == 1).float().mean().item() == pytest.approx(0.5, abs=0.02)
        assert torch.all(hit | (y == x))
    else:
        d = y - x
        assert d.std().item() == pytest.approx(level, rel=0.01)
        assert d.mean().item() == pytest.approx(0, abs=0.002)


def test_denoising_loss_targets_the_clean_input():
    # An identity autoencoder reconstructs whatever it sees: its loss is then exactly the
    # distance between the corrupted and the CLEAN input (zero if the target were corrupted).
    model = linear.build((12,), code_dim=12, bias=False)
    with torch.no_grad():
        model.encoder[1].weight.copy_(torch.eye(12))
        model.decoder[0].weight.copy_(torch.eye(12))
    x = torch.rand(64, 12)
    reg = Denoising(noise="gaussian", level=0.5)
    torch.manual_seed(3)
    _, recon, _ = losses(model, reg, x, "mse")
    torch.manual_seed(3)
    x_in = reg.corrupt(x)
    assert recon.item() == pytest.approx(torch.mean((x_in - x) ** 2).item(), rel=1e-6)
    assert recon.item() > 0.2
    _, clean_recon, _ = losses(model, reg, x, "mse", train=False)  # validation: no corruption
    assert clean_recon.item() == pytest.approx(0, abs=1e-10)


def test_dropout_zeroes_code_units_only_in_training():
    torch.manual_seed(0)
    h = torch.rand(400, 500) + 0.1
    out = Dropout(p=0.3).code(h)
    assert (out == 0).float().mean().item() == pytest.approx(0.3, abs=0.005)
    kept = out != 0
    torch.testing.assert_close(out[kept], h[kept] / 0.7)
    model = mlp.build((8,), code_dim=16, hidden=[], code_activation="relu")
    x = torch.rand(5, 8)
    a = losses(model, Dropout(p=0.9), x, "mse", train=False)[1]
    b = losses(model, Dropout(p=0.9), x, "mse", train=False)[1]
    assert a.item() == b.item()


@pytest.mark.parametrize(
    "method, arch",
    [
        ("hutchinson", "hidden=[32]"),
        ("exact", "hidden=[], code_dim=128"),  # a code wider than the input: jacfwd
        ("analytic", "hidden=[], code_activation='elu'"),  # no closed form: jvp
    ],
)
def test_forward_mode_prints_no_torch_deprecation_warning(method, arch):
    """forward-mode AD's first dual number makes torch call the deprecated torch.jit.script;
    its FutureWarning must not reach a user's terminal (a fresh process: it happens once)."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from aectl.models.mlp import build\n"
        "from aectl.regularizers.contractive import Contractive\n"
        f"model = build((1, 8, 8), **{{'code_dim': 16, **dict({arch})}})\n"
        f"reg = Contractive(weight=0.1, method={method!r})\n"
        "h, term = reg.encode_and_term(model, torch.rand(4, 1, 8, 8))\n"
        "term.sum().backward()\n"
    )
    r = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c", code], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]


def _kl_definition(rho: float, a: torch.Tensor) -> torch.Tensor:
    """Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean_i σ(a_ij), written as defined (1 − σ(a) as σ(−a), the
    same number, so float64 can hold 1 − ρ̂ at a = 40)."""
    rate, rest = torch.sigmoid(a).mean(0), torch.sigmoid(-a).mean(0)
    return (rho * torch.log(rho / rate) + (1 - rho) * torch.log((1 - rho) / rest)).sum()


SATURATED = [  # logits of 4 samples (rows) x 6 sigmoid code units
    [40.0, -40.0, 20.0, -20.0, 40.0, -40.0],
    [40.0, -40.0, 20.0, -20.0, -40.0, -40.0],
    [40.0, -40.0, 20.0, -20.0, 20.0, -40.0],
    [40.0, -40.0, 20.0, -20.0, -20.0, 20.0],
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_kl_from_logits_is_the_definition_at_saturation(dtype):
    """Value and gradient of the trained path (the code's logits through the model) against
    autograd on the definition in float64, at logits ±20 and ±40; the clamped KL of aectl
    0.1 gives a saturated unit no gradient at all."""
    a = torch.tensor(SATURATED, dtype=torch.float64)
    ref_a = a.clone().requires_grad_(True)
    ref = _kl_definition(0.05, ref_a)
    ref.backward()
    model = mlp.build((6,), code_dim=6, hidden=[], code_activation="sigmoid").to(dtype)
    with torch.no_grad():  # encoder = identity: the input is the code's logits
        model.encoder[1].weight.copy_(torch.eye(6))
        model.encoder[1].bias.zero_()
    x = a.to(dtype).requires_grad_(True)
    h, term = SparseKL(weight=1.0, target=0.05).encode_and_term(model, x)
    term.backward()
    torch.testing.assert_close(h, torch.sigmoid(x))
    assert term.item() == pytest.approx(ref.item(), rel=1e-6 if dtype == torch.float32 else 1e-12)
    tol = {"rtol": 1e-5, "atol": 1e-7} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-15}
    torch.testing.assert_close(x.grad.double(), ref_a.grad, **tol)
    assert ref_a.grad[:, 0].abs().min() > 0.2  # a unit stuck at 1 is pulled back toward ρ

    old = SparseKL(weight=1.0, target=0.05, from_logits=False)
    x.grad = None
    old.encode_and_term(model, x)[1].backward()
    assert x.grad[:, :4].abs().max() == 0  # aectl 0.1: saturated units felt nothing
