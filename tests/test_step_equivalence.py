"""The fast paths do not change results (issue 6).

The independent reference is the tutorial loop in `aectl.bench.reference` (torchvision's
MNIST dataset or tensor items, a DataLoader, `F.mse_loss(model(x), x)`, torch's default
Adam) and, for the regularizers, the step sequence train.py ran inline before
`aectl.training.fast_step` existed. Same seed, same batches, a few steps: aectl's losses and weights
must come out the same (to float rounding where aectl's fused Adam replaces torch's loop).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from aectl.bench import reference as bench_reference
from aectl.bench.run import read_idx_images
from aectl.models.mlp import build
from aectl.regularizers.contractive import Contractive
from aectl.regularizers.denoising import Denoising
from aectl.regularizers.dropout import Dropout
from aectl.regularizers.none import NoRegularizer
from aectl.regularizers.sparse_kl import SparseKL
from aectl.regularizers.sparse_l1 import SparseL1
from aectl.training.fast_step import WARMUP_STEPS, make_step
from aectl.training.step import losses

MNIST_IMAGES = (
    Path(__file__).resolve().parents[2] / "shared/data/mnist-t10k/t10k-images-idx3-ubyte.gz"
)
STEPS, BATCH = 5, 64


def images(n: int = 512) -> torch.Tensor:
    """(n, 28, 28) uint8: the real MNIST test split when present, else random pixels."""
    if MNIST_IMAGES.exists():
        return read_idx_images(MNIST_IMAGES)[:n].clone()
    return torch.randint(
        0, 256, (n, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def model_and_opt(seed: int = 0, device: str = "cpu", **arch):
    torch.manual_seed(seed)
    arch = {"code_dim": 32, "hidden": [512, 256], **arch}
    model = build((1, 28, 28), **arch).to(device)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, atol: float = 0.0) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=0, atol=atol), (
            f"{name} differs by {(p - q).abs().max():.3g}"
        )


@pytest.mark.parametrize("items", bench_reference.ITEMS)
def test_aectl_step_matches_the_tutorial_loop(items):
    """aectl's step with the optimizer `aectl train` builds (fused Adam) against the tutorial
    loop with torch's default Adam, fed the same batches."""
    # Imported here: scripts/gpu_check.sh runs this file's GPU tests with torch alone.
    hydra_utils = pytest.importorskip("hydra.utils")
    conftest = pytest.importorskip("conftest")
    if items == "torchvision":
        pytest.importorskip("torchvision")
    imgs = images()
    order = torch.randperm(len(imgs), generator=torch.Generator().manual_seed(1))[: STEPS * BATCH]

    ref_model, ref_opt = model_and_opt()
    loader = bench_reference.tutorial_loader(
        imgs, batch_size=BATCH, order=order.tolist(), items=items
    )
    seen, ref_losses = bench_reference.train_steps(
        ref_model, ref_opt, bench_reference.batches_forever(loader), STEPS, "cpu"
    )
    assert seen == STEPS * BATCH

    model, _ = model_and_opt()
    opt = hydra_utils.instantiate(
        conftest.compose("optim.lr=1e-3").optim, params=model.parameters()
    )
    assert opt.param_groups[0]["fused"] is True  # aectl's Adam: torch's fused kernel
    step = make_step(model, NoRegularizer(), opt, "mse")
    x = imgs.unsqueeze(1).float().div_(255)  # on the device once, as aectl's loaders do
    parts = torch.stack([step(x[idx]) for idx in order.split(BATCH)])

    assert parts[:, 0].tolist() == pytest.approx(ref_losses, abs=1e-6, rel=0)
    assert torch.equal(parts[:, 0], parts[:, 1])  # no regularizer: total is the reconstruction
    assert torch.all(parts[:, 2] == 0)
    assert_same_weights(model, ref_model, atol=1e-6)


REGULARIZERS = {
    "none": (NoRegularizer, {}),
    "sparse_l1": (lambda: SparseL1(weight=1e-3), {}),
    "sparse_kl": (lambda: SparseKL(weight=0.1, target=0.05), {"code_activation": "sigmoid"}),
    "denoising": (lambda: Denoising(noise="masking", level=0.25), {}),
    "dropout": (lambda: Dropout(p=0.2), {}),
    "contractive analytic": (
        lambda: Contractive(weight=0.1, method="analytic"),
        {"hidden": [], "code_dim": 64, "code_activation": "sigmoid"},
    ),
    "contractive hutchinson": (lambda: Contractive(weight=0.1, method="hutchinson"), {}),
    "contractive exact": (
        lambda: Contractive(weight=0.1, method="exact"),
        {"hidden": [32], "code_dim": 8},
    ),
}


@pytest.mark.parametrize("name", list(REGULARIZERS))
@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_eager_step_is_bit_identical_to_the_inline_loop(name, loss):
    factory, arch = REGULARIZERS[name]
    x = images(3 * 32).unsqueeze(1).float().div_(255)

    model, opt = model_and_opt(**arch)
    reg = factory()
    torch.manual_seed(7)
    expected = []
    for xb in x.split(32):  # train.py's loop body before fast_step
        total, recon, term = losses(model, reg, xb, loss)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        expected.append(torch.stack([total.detach(), recon.detach(), term.detach()]))

    model2, opt2 = model_and_opt(**arch)
    step = make_step(model2, factory(), opt2, loss)
    torch.manual_seed(7)
    got = [step(xb) for xb in x.split(32)]

    assert torch.equal(torch.stack(got), torch.stack(expected))
    assert_same_weights(model2, model)


def test_bf16_tracks_fp32_and_keeps_losses_in_fp32():
    x = images(4 * 32).unsqueeze(1).float().div_(255)
    runs = {}
    for precision in ("32", "bf16"):
        model, opt = model_and_opt()
        step = make_step(model, NoRegularizer(), opt, "bce", precision=precision)
        runs[precision] = torch.stack([step(xb) for xb in x.split(32)])
    assert runs["bf16"].dtype == torch.float32
    assert torch.allclose(runs["bf16"], runs["32"], rtol=3e-2, atol=1e-3)


@pytest.mark.parametrize("method", ["analytic", "hutchinson", "exact"])
def test_bf16_runs_every_contractive_method(method):
    arch = (
        {"hidden": [], "code_dim": 16, "code_activation": "sigmoid"}
        if method == "analytic"
        else {"hidden": [32], "code_dim": 8}
    )
    x = images(2 * 16).unsqueeze(1).float().div_(255)
    model, opt = model_and_opt(**arch)
    step = make_step(model, Contractive(weight=0.1, method=method), opt, "mse", precision="bf16")
    parts = torch.stack([step(xb) for xb in x.split(16)])
    assert torch.isfinite(parts).all() and (parts[:, 2] > 0).all()


def test_graph_mode_needs_cuda_and_precision_is_checked():
    model, opt = model_and_opt(hidden=[8], code_dim=4)
    with pytest.raises(ValueError, match="precision"):
        make_step(model, NoRegularizer(), opt, "mse", precision="fp16")
    with pytest.raises(ValueError, match="CUDA"):
        make_step(model, NoRegularizer(), opt, "mse", cuda_graph=True)


def test_eager_cpu_step_accepts_an_optimizer_left_capturable_by_a_cuda_graph_run():
    """A checkpoint from a CUDA-graph run holds capturable=True, which torch refuses on the
    CPU; make_step switches it back, and the steps equal a plain Adam's."""
    x = images(2 * 32).unsqueeze(1).float().div_(255)
    plain_model, plain_opt = model_and_opt()
    want = torch.stack(
        [make_step(plain_model, NoRegularizer(), plain_opt, "mse")(xb) for xb in x.split(32)]
    )
    model, _ = model_and_opt()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
    step = make_step(model, NoRegularizer(), opt, "mse")
    got = torch.stack([step(xb) for xb in x.split(32)])
    assert not any(g["capturable"] for g in opt.param_groups)
    assert torch.equal(got, want)


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "fused, mode",
    [(False, "default"), (True, "default"), (True, "max-autotune-no-cudagraphs")],
    ids=["adam", "fused-adam", "fused-adam-max-autotune"],
)
def test_compiled_step_matches_eager_within_float_tolerance(fused, mode):
    """torch.compile of the losses, and of an unfused Adam (CPU: needs a C++ compiler), on a
    tiny model; a fused Adam stays eager. Autotuned matrix products too."""
    torch.manual_seed(0)
    x = torch.rand(3 * 8, 1, 4, 4)

    def fresh():
        torch.manual_seed(0)
        model = build((1, 4, 4), code_dim=4, hidden=[8])
        return model, torch.optim.Adam(model.parameters(), lr=1e-2, fused=fused)

    eager_model, eager_opt = fresh()
    eager = make_step(eager_model, SparseL1(weight=1e-2), eager_opt, "mse")
    want = torch.stack([eager(xb) for xb in x.split(8)])

    model, opt = fresh()
    compiled = make_step(model, SparseL1(weight=1e-2), opt, "mse", compile=True, compile_mode=mode)
    try:
        got = torch.stack([compiled(xb) for xb in x.split(8)])
    except Exception as e:  # no working compiler / inductor backend on this machine
        pytest.skip(f"torch.compile does not work here: {type(e).__name__}: {str(e)[:200]}")
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert_same_weights(model, eager_model, atol=1e-5)


def test_unknown_compile_mode_is_refused():
    model, opt = model_and_opt()
    with pytest.raises(ValueError, match="compile_mode must be one of"):
        make_step(model, NoRegularizer(), opt, "mse", compile=True, compile_mode="reduce-overhead")


# ------------------------------------------------------------------ CUDA

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def cuda_runs(
    variant: dict,
    reg_factory=NoRegularizer,
    arch=None,
    steps: int = 12,
    batch: int = 64,
    loss: str = "mse",
    fused: bool = False,
):
    """Per-step losses and the model after two passes of `steps` steps, each pass with two
    half batches, so both shapes get warmed up, captured and replayed in graph mode."""
    arch = arch or {}
    sizes = ([batch] * (steps - 2) + [batch // 2] * 2) * 2
    x = images(sum(sizes)).unsqueeze(1).float().div_(255).cuda()
    model, opt = model_and_opt(device="cuda", **arch)
    if fused:  # what `aectl train` builds (optim.fused=true)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    for (
        group
    ) in opt.param_groups:  # the graph needs Adam's capturable arithmetic: compare like with like
        group["capturable"] = True
    step = make_step(model, reg_factory(), opt, loss, **variant)
    torch.manual_seed(3)
    out = [step(xb) for xb in x.split(sizes)]
    return torch.stack(out), model


@cuda
@pytest.mark.gpu
def test_cuda_graph_step_matches_eager():
    want, eager_model = cuda_runs({})
    got, model = cuda_runs({"cuda_graph": True})
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert_same_weights(model, eager_model, atol=1e-5)


@cuda
@pytest.mark.gpu
def test_cuda_graph_step_with_fused_adam_matches_eager():
    want, eager_model = cuda_runs({}, fused=True)
    got, model = cuda_runs({"cuda_graph": True}, fused=True)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert_same_weights(model, eager_model, atol=1e-5)
    plain, _ = cuda_runs({})  # and fused Adam tracks torch's default to float rounding
    assert torch.allclose(want, plain, rtol=1e-4, atol=1e-6)


@cuda
@pytest.mark.gpu
def test_cuda_tutorial_loop_matches_aectl_eager():
    imgs = images()
    order = torch.randperm(len(imgs), generator=torch.Generator().manual_seed(1))[: STEPS * BATCH]
    ref_model, ref_opt = model_and_opt(device="cuda")
    loader = bench_reference.tutorial_loader(
        imgs, batch_size=BATCH, order=order.tolist(), items="tensor"
    )
    _, ref_losses = bench_reference.train_steps(
        ref_model, ref_opt, bench_reference.batches_forever(loader), STEPS, "cuda"
    )
    model, opt = model_and_opt(device="cuda")
    step = make_step(model, NoRegularizer(), opt, "mse")
    x = imgs.unsqueeze(1).float().div_(255).cuda()
    got = [step(x[idx.cuda()])[0].item() for idx in order.split(BATCH)]
    assert got == pytest.approx(ref_losses, rel=1e-5, abs=1e-6)


@cuda
@pytest.mark.gpu
@pytest.mark.timeout(600)
def test_compiled_cuda_graph_step_matches_eager():
    want, eager_model = cuda_runs({})
    got, model = cuda_runs({"compile": True, "cuda_graph": True})
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
    assert_same_weights(model, eager_model, atol=1e-4)


@cuda
@pytest.mark.gpu
def test_bf16_cuda_graph_tracks_fp32():
    want, _ = cuda_runs({}, loss="bce")
    got, _ = cuda_runs({"precision": "bf16", "cuda_graph": True}, loss="bce")
    assert torch.allclose(got, want, rtol=3e-2, atol=1e-3)


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("name", list(REGULARIZERS))
def test_every_regularizer_runs_in_a_cuda_graph(name):
    factory, arch = REGULARIZERS[name]
    got, _ = cuda_runs({"cuda_graph": True}, factory, arch, steps=WARMUP_STEPS + 3)
    assert torch.isfinite(got).all()
    if name in ("none", "sparse_l1", "sparse_kl", "contractive analytic", "contractive exact"):
        want, _ = cuda_runs({}, factory, arch, steps=WARMUP_STEPS + 3)  # deterministic ones
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("variant", [{}, {"cuda_graph": True}], ids=["eager", "graph"])
def test_no_host_sync_in_the_hot_loop(variant):
    """After warm-up, a train.py-style loop (randperm batches, losses summed on the device)
    never waits for the GPU: CUDA's sync debug mode turns any wait into an error."""
    x = images(2048).unsqueeze(1).float().div_(255).cuda()
    model, opt = model_and_opt(device="cuda")
    step = make_step(model, NoRegularizer(), opt, "mse", **variant)
    sums = torch.zeros(3, device="cuda")
    for idx in torch.randperm(len(x), device="cuda").split(256):  # warm-up and capture
        sums += step(x[idx])
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(2):
            for idx in torch.randperm(len(x), device="cuda").split(256):
                sums += step(x[idx])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(sums).all()


def test_reference_datasets_are_torchvision_mnist_and_its_tensor_twin():
    datasets = pytest.importorskip("torchvision.datasets")
    imgs = images(4)
    tv = bench_reference.torchvision_mnist(imgs, torch.arange(4))
    assert isinstance(tv, datasets.MNIST)
    assert type(tv).__getitem__ is datasets.MNIST.__getitem__  # torchvision's own item code
    tensor = bench_reference.TensorItemDataset(imgs, torch.arange(4))
    assert len(tv) == len(tensor) == 4
    for ds in (tv, tensor):
        x, y = ds[2]
        assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == 2
        assert torch.equal(x, imgs[2].float().unsqueeze(0) / 255)
    with pytest.raises(ValueError, match="items must be one of"):
        bench_reference.tutorial_loader(imgs, items="pil")


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="glibc's malloc (Linux) keeps freed memory"
)
def test_a_cpu_run_keeps_its_freed_memory_instead_of_faulting_it_in_again():
    """glibc gave the step's freed activations (~1 MiB tensors) back to the OS, so every
    step faulted them in again, page by page: the 16-job vmap sweep's stacked training took
    620k page faults. Counted, not timed: 20 stacked steps of 16 contractive members, before
    and after `trainer.device` picks the CPU (in a fresh process: the setting is the
    process's)."""
    code = textwrap.dedent(
        """
        import resource, torch
        from aectl.models import mlp
        from aectl.regularizers.contractive import Contractive
        from aectl.training import device, stacked
        from aectl.training.optim import StackedAdam

        torch.set_num_threads(1)
        ms = []
        for s in range(16):
            torch.manual_seed(s)
            ms.append(mlp.build((1, 8, 8), code_dim=128, hidden=[], code_activation="sigmoid",
                                tied=True))
        params, buffers, base = stacked.stack(ms)
        step = stacked.StackedStep(
            base, Contractive(weight=1e-3, method="analytic"), "mse", params, buffers,
            {"weight": torch.full((16,), 1e-3)}, StackedAdam(params.values(), [1e-3] * 16),
        )
        x = torch.rand(16, 128, 1, 8, 8)

        def faults():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(20):
                step(x)
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

        faults()  # (warm: first-call allocations)
        print(faults(), device.pick("cpu"), faults())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, cpu, after = out.stdout.split()
    assert cpu == "cpu" and int(before) > 5000, out.stdout  # ~700 a step
    assert int(after) * 5 < int(before), out.stdout
