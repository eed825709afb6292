"""Architectures: tied weights, conv shapes, linear = PCA, the 8-3-8 identity network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aectl.models import conv, linear, mlp


def test_tied_weights_share_one_parameter():
    model = mlp.build((20,), code_dim=5, hidden=[10], tied=True)
    untied = mlp.build((20,), code_dim=5, hidden=[10], tied=False)
    weights = [n for n, p in model.named_parameters() if p.dim() == 2]
    assert weights == ["encoder.1.weight", "encoder.3.weight"]  # the decoder owns none
    n_tied = sum(p.numel() for p in model.parameters())
    n_untied = sum(p.numel() for p in untied.parameters())
    assert n_untied - n_tied == 20 * 10 + 10 * 5
    h = torch.rand(3, 5)
    before = model.decode(h).clone()
    with torch.no_grad():
        model.encoder[3].weight.mul_(2.0)  # change the ENCODER's last weight
    assert not torch.allclose(model.decode(h), before)
    # decoder's first layer applies exactly that weight transposed
    lin = model.encoder[3]
    torch.testing.assert_close(model.decoder[0](h), h @ lin.weight + model.decoder[0].bias)
    # gradients from the reconstruction reach the shared weight through both uses
    x = torch.rand(4, 20)
    model(x).sum().backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 7, 9), (2, 13, 6)])
def test_conv_reconstructs_at_input_size(shape):
    model = conv.build(shape, code_dim=4, channels=[3, 5])
    x = torch.rand(2, *shape)
    assert model.encode(x).shape == (2, 4)
    assert model(x).shape == (2, *shape)


def test_conv_refuses_vectors():
    from aectl.errors import UserError

    with pytest.raises(UserError, match="arch"):
        conv.build((64,), code_dim=4)


def test_linear_autoencoder_matches_pca():
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float64) / 16.0
    x = x - x.mean(0)
    k = 8
    # reference: the best rank-k reconstruction, from the SVD
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    pca_mse = np.mean((x - (u[:, :k] * s[:k]) @ vt[:k]) ** 2)

    torch.manual_seed(0)
    xt = torch.tensor(x, dtype=torch.float32)
    model = linear.build((64,), code_dim=k, bias=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for i in range(3000):
        if i == 2000:
            for g in opt.param_groups:
                g["lr"] = 1e-3
        loss = torch.mean((model(xt) - xt) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ae_mse = torch.mean((model(xt) - xt) ** 2).item()
    assert ae_mse >= pca_mse * (1 - 1e-4)  # nothing beats the SVD
    assert ae_mse <= pca_mse * 1.02


def test_onehot8_three_hidden_units_learn_identity(tmp_path):
    from conftest import compose

    from aectl.training.run import train

    cfg = compose(
        "model=shallow",
        "dataset=onehot8",
        "trainer.device=cpu",
        "trainer.batch_size=16",
        "trainer.max_epochs=40",
        "trainer.picture_every_n_epochs=40",
    )
    train(cfg, tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    model = mlp.build(
        (8,), code_dim=3, hidden=[], code_activation="sigmoid", output_activation="sigmoid"
    )
    model.load_state_dict(state["model"])
    x = torch.eye(8)
    assert torch.equal(model(x).argmax(1), torch.arange(8))
    table = (tmp_path / "code_table.txt").read_text()
    assert table.count("✓") == 8 and "✗" not in table


@pytest.mark.parametrize(
    "code_dim, want", [(63, "undercomplete"), (64, "complete"), (65, "overcomplete")]
)
def test_completeness_compares_the_code_with_the_input_size(code_dim, want):
    assert mlp.build((1, 8, 8), code_dim=code_dim, hidden=[]).completeness == want


def mlp_parameters(widths: list[int]) -> int:
    """By the definition: encoder Linear(a, b) and its mirror Linear(b, a), each with a bias."""
    return sum(a * b + b + b * a + a for a, b in zip(widths[:-1], widths[1:]))


def test_a_model_too_big_for_memory_is_refused_before_anything_is_allocated(monkeypatch):
    from conftest import compose

    from aectl.config.validate import validate
    from aectl.errors import UserError
    from aectl.training import build

    cpu = torch.device("cpu")
    huge = validate(compose("arch.code_dim=1000000000000"))  # 2 TB of weights per layer
    with pytest.raises(UserError) as e:
        build.check_fits(huge, (1, 8, 8), cpu)
    n = mlp_parameters([64, 128, 64, 10**12])
    assert e.value.field == "arch.code_dim" and f"{n:,} parameters" in e.value.message
    deep = validate(compose())  # 64-128-64-16: fits in 4 bytes a parameter, and not in one less
    n = mlp_parameters([64, 128, 64, 16])
    monkeypatch.setattr(build, "ram_bytes", lambda: 4 * n)
    build.check_fits(deep, (1, 8, 8), cpu)
    monkeypatch.setattr(build, "ram_bytes", lambda: 4 * n - 1)
    with pytest.raises(UserError) as e:
        build.check_fits(deep, (1, 8, 8), cpu)
    assert e.value.field == "arch.hidden" and f"{n:,} parameters" in e.value.message


@pytest.mark.parametrize("preset", ["deep", "conv", "contractive"])
def test_counting_the_weights_draws_no_random_number(preset):
    """The count is made on torch's meta device: the model built after it has the weights
    a model built without it has (seeded runs keep their numbers)."""
    from conftest import compose

    from aectl.config.validate import validate
    from aectl.training import build

    cfg = validate(compose(f"model={preset}"))
    shape = (1, 8, 8)
    torch.manual_seed(0)
    plain = build.instantiate("arch", cfg.arch, input_shape=shape)
    torch.manual_seed(0)
    build.check_fits(cfg, shape, torch.device("cpu"))
    checked = build.instantiate("arch", cfg.arch, input_shape=shape)
    for (k, a), b in zip(plain.state_dict().items(), checked.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
