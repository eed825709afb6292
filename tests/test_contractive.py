"""The contractive penalty against autograd on its definition, ‖∂h/∂x‖²_F."""

from __future__ import annotations

import pytest
import torch

from aectl.models import mlp
from aectl.regularizers.contractive import Contractive, analytic, exact, hutchinson


def reference_fro2(model, x: torch.Tensor) -> torch.Tensor:
    """Per-sample ‖J‖²_F from torch.autograd.functional.jacobian, one sample at a time."""
    out = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(
            lambda v: model.encode(v.unsqueeze(0)).squeeze(0), xi, create_graph=True
        )
        out.append(jac.pow(2).sum())
    return torch.stack(out)


def one_layer(act: str, n_in=7, code=5, seed=0):
    torch.manual_seed(seed)
    return mlp.build((n_in,), code_dim=code, hidden=[], code_activation=act).double()


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "softplus", "elu"])
def test_analytic_equals_autograd_definition(act):
    model = one_layer(act)
    x = torch.randn(6, 7, dtype=torch.float64)
    ref = reference_fro2(model, x)
    got = analytic(model, x, model.encode(x))
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=0)
    # and without the code handed in (the pre-activation path)
    torch.testing.assert_close(analytic(model, x), ref, rtol=1e-5, atol=0)


@pytest.mark.parametrize("code", [3, 11])  # reverse mode and forward mode
def test_exact_equals_autograd_for_deep_encoder(code):
    torch.manual_seed(1)
    model = mlp.build(
        (6,), code_dim=code, hidden=[9, 8], activation="tanh", code_activation="sigmoid"
    ).double()
    x = torch.randn(5, 6, dtype=torch.float64)
    torch.testing.assert_close(exact(model, x), reference_fro2(model, x), rtol=1e-8, atol=1e-12)


def test_hutchinson_is_unbiased():
    torch.manual_seed(2)
    model = mlp.build(
        (10,), code_dim=8, hidden=[12], activation="tanh", code_activation="sigmoid"
    ).double()
    x = torch.randn(4, 10, dtype=torch.float64)
    ref = reference_fro2(model, x).mean()
    est = torch.stack([hutchinson(model, x, k=1).mean() for _ in range(20000 // 4)]).mean()
    assert abs(est.item() - ref.item()) / ref.item() < 0.02


@pytest.mark.parametrize("method", ["analytic", "exact", "hutchinson"])
@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_penalty_gradient_reaches_encoder_weights(method, act):
    model = one_layer(act, n_in=6, code=4, seed=3)
    x = torch.randn(5, 6, dtype=torch.float64)
    reg = Contractive(
        weight=1.0, method=method, num_projections=4096 if method == "hutchinson" else 1
    )
    torch.manual_seed(4)
    term = reg.term(model, x, model.encode(x))
    (got,) = torch.autograd.grad(term, model.single_layer()[0].weight)
    (ref,) = torch.autograd.grad(reference_fro2(model, x).mean(), model.single_layer()[0].weight)
    assert got.abs().sum() > 0
    tol = (
        dict(rtol=0.15, atol=0.05 * ref.abs().max().item())
        if method == "hutchinson"
        else dict(rtol=1e-6, atol=1e-10)
    )
    torch.testing.assert_close(got, ref, **tol)


def test_analytic_refuses_deep_encoder():
    from aectl.errors import UserError

    model = mlp.build((6,), code_dim=3, hidden=[4])
    with pytest.raises(UserError, match="regularizer.method"):
        Contractive(method="analytic").check(model, None)


def test_tied_contractive_analytic_matches_definition():
    torch.manual_seed(5)
    model = mlp.build((6,), code_dim=9, hidden=[], code_activation="sigmoid", tied=True).double()
    x = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(
        analytic(model, x, model.encode(x)), reference_fro2(model, x), rtol=1e-10, atol=0
    )


def test_hutchinson_shares_the_steps_forward_pass():
    from aectl.regularizers.contractive import encode_hutchinson

    torch.manual_seed(6)
    model = mlp.build(
        (5,), code_dim=7, hidden=[6], activation="tanh", code_activation="sigmoid"
    ).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    h, est = encode_hutchinson(model, x, k=3)
    torch.testing.assert_close(h, model.encode(x))  # the code is the plain encoder output
    assert est.shape == (4,) and torch.all(est > 0)
