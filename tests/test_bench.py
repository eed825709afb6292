"""`aectl bench` on tiny settings: every row is there, every rate is a real number, and every
ratio is the quotient of the rates it reports. No timing assertions: speed is the
benchmark's business, not the tests'."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from aectl.bench import cli as bench_cli
from aectl.bench import report
from aectl.bench import run as bench

REPO = Path(__file__).resolve().parents[1]
MNIST_IMAGES = REPO.parent / "shared/data/mnist-t10k/t10k-images-idx3-ubyte.gz"


def positive(v) -> bool:
    return isinstance(v, float) and math.isfinite(v) and v > 0


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    assert bench_cli.main(["--quick", "--device", "cpu", "--out", str(out)]) == 0
    return json.loads(out.read_text())


ROWS = ["reference", "reference, tensor items", "aectl", "aectl unfused Adam"]
REFS = {"": "reference", "_tensor": "reference, tensor items"}  # ratio key -> reference row


def test_quick_bench_has_every_row(quick):
    assert [r["name"] for r in quick["throughput"]] == ROWS
    assert [r["regularizer"] for r in quick["regularizers"]] == [
        r for r, _, _ in bench.REGULARIZERS
    ]
    assert {r["regularizer"] for r in quick["regularizers"]} >= {
        "none",
        "sparse_l1",
        "sparse_kl",
        "denoising",
        "dropout",
        "contractive analytic",
        "contractive exact",
        "contractive hutchinson k=1",
    }
    models = {
        r["regularizer"]: r["model"] for r in quick["regularizers"] if r["regularizer"] != "none"
    }
    assert models["contractive analytic"] == bench.ONE_LAYER
    assert models["contractive exact"] == models["contractive hutchinson k=1"] == bench.DEEP
    assert quick["errors"] == {}
    assert quick["settings"]["quick"] is True and quick["settings"]["device"] == "cpu"
    for key in ("cpu", "cpu_cores", "torch_threads", "torch", "gpu"):
        assert key in quick["machine"]


def test_rates_are_positive_medians_of_their_runs(quick):
    repeats = quick["settings"]["repeats"]
    for row in quick["throughput"] + quick["regularizers"]:
        assert len(row["runs"]) == repeats and all(positive(v) for v in row["runs"]), row["name"]
        assert row["samples_per_s"] == statistics.median(row["runs"]), row["name"]
    lg = quick["logging"]
    assert positive(lg["samples_per_s_logging"]) and positive(lg["samples_per_s_no_logging"])
    assert lg["samples_per_s_logging"] == statistics.median(lg["runs_logging"])
    # every timed chunk holds whole logging windows, so the same number of read-backs
    assert lg["steps_per_chunk"] % lg["every_n_steps"] == 0
    assert lg["steps_per_chunk"] >= quick["settings"]["steps"]


def test_ratios_are_quotients_of_the_reported_rates(quick):
    rate = {r["name"]: r["samples_per_s"] for r in quick["throughput"]}
    for key, ref in REFS.items():
        for row in quick["throughput"]:
            assert row[f"ratio_vs{key}_reference"] == pytest.approx(
                rate[row["name"]] / rate[ref], rel=1e-12
            )
        assert next(r for r in quick["throughput"] if r["name"] == ref)[
            f"ratio_vs{key}_reference"
        ] == pytest.approx(1.0, rel=1e-12)
    reg_rate = {r["name"]: r["samples_per_s"] for r in quick["regularizers"]}
    for row in quick["regularizers"]:
        base = reg_rate[row["baseline"]]
        assert row["baseline"] == f"none ({row['model']})"
        assert row["baseline_samples_per_s"] == base
        assert row["cost_vs_none"] == pytest.approx(base / row["samples_per_s"], rel=1e-12)
    lg = quick["logging"]
    want = lg["samples_per_s_no_logging"] / lg["samples_per_s_logging"] - 1
    assert lg["overhead"] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_paired_ratios_are_medians_of_same_repeat_quotients(quick):
    for key, name in REFS.items():
        ref = next(r for r in quick["throughput"] if r["name"] == name)["runs"]
        for row in quick["throughput"]:
            want = statistics.median(b / a for a, b in zip(ref, row["runs"]))
            assert row[f"ratio{key}_paired_median"] == pytest.approx(want, rel=1e-12)
    runs = {r["name"]: r["runs"] for r in quick["regularizers"]}
    for row in quick["regularizers"]:
        want = statistics.median(b / a for a, b in zip(row["runs"], runs[row["baseline"]]))
        assert row["cost_paired_median"] == pytest.approx(want, rel=1e-12)
    lg = quick["logging"]
    want = statistics.median(b / a for a, b in zip(lg["runs_logging"], lg["runs_no_logging"])) - 1
    assert lg["overhead_paired_median"] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_targets_restate_the_measured_numbers(quick):
    t = quick["targets"]
    aectl = next(r for r in quick["throughput"] if r["name"] == "aectl")
    assert t["cpu_speedup_vs_reference"]["value"] == aectl["ratio_vs_reference"]
    assert t["cpu_speedup_vs_reference"]["row"] == "aectl"
    assert t["cpu_speedup_vs_reference"]["met"] == (aectl["ratio_vs_reference"] >= 2.0)
    tensor = t["cpu_speedup_vs_tensor_reference"]
    assert tensor["value"] == aectl["ratio_vs_tensor_reference"] and tensor["row"] == "aectl"
    assert tensor["met"] == (aectl["ratio_vs_tensor_reference"] >= 2.0)
    analytic = next(r for r in quick["regularizers"] if r["regularizer"] == "contractive analytic")
    assert t["contractive_analytic_cost"]["value"] == analytic["cost_vs_none"]
    assert t["contractive_analytic_cost"]["met"] == (analytic["cost_vs_none"] <= 1.3)
    # on the CPU, the time inside the read-backs: every op has finished when one starts
    assert t["logging_overhead"]["value"] == quick["logging"]["read_back_share"]
    assert 0 < quick["logging"]["read_back_share"] < 1


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_compile_mode_reaches_every_compiled_row(device):
    from aectl.training.fast_step import COMPILE_MODES

    assert bench_cli.COMPILE_MODES == COMPILE_MODES  # the flag's choices are the step's
    mode = "max-autotune-no-cudagraphs"
    rows = bench.throughput_variants(torch.device(device), True, "bf16", mode)
    compiled = {name: v for name, v in rows.items() if v.compile}
    assert set(compiled) == {"aectl compile", "aectl bf16 compile"}
    assert all(v.compile_mode == mode and mode in v.mode for v in compiled.values())
    assert all(v.compile_mode == "default" for v in rows.values() if not v.compile)


def test_cpu_clock_and_thread_count_are_recorded():
    before = torch.get_num_threads()
    try:
        result = bench.run_bench(
            device="cpu", quick=True, sections=("logging",), clock="cpu", threads=1
        )
    finally:
        torch.set_num_threads(before)
    assert result["settings"]["clock"] == "cpu" and result["machine"]["torch_threads"] == 1
    lg = result["logging"]
    assert positive(lg["samples_per_s_logging"]) and positive(lg["samples_per_s_no_logging"])
    assert result["targets"]["logging_overhead"]["value"] == lg["read_back_share"]


@pytest.mark.skipif(not MNIST_IMAGES.exists(), reason="the shared MNIST test split is not here")
def test_idx_reader_matches_aectl_data_idx():
    from aectl.data.idx import read_idx

    want = read_idx(str(MNIST_IMAGES), "dataset.images", ndim=3)
    got = bench.read_idx_images(MNIST_IMAGES)
    assert got.shape == (10_000, 28, 28)
    assert np.array_equal(got.numpy(), want)


def test_bench_runs_without_hydra_rich_or_torchvision(tmp_path):
    """On a machine with only torch: the models' Hydra schemas become no-ops, the table plain
    text, and the torchvision reference row an error while the tensor-item one still runs."""
    code = (
        "import sys\n"
        "for m in ('hydra', 'omegaconf', 'rich', 'torchvision'):\n"
        "    sys.modules[m] = None\n"
        "from aectl.bench import cli as bench_cli\n"
        f"sys.exit(bench_cli.main(['--quick', '--device', 'cpu', '--sections', 'throughput', "
        f"'--out', {str(tmp_path / 'b.json')!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "x reference" in proc.stdout and "reference" in proc.stdout
    result = json.loads((tmp_path / "b.json").read_text())
    assert [r["name"] for r in result["throughput"]] == ROWS[1:]
    assert (
        list(result["errors"]) == ["reference"] and "torchvision" in result["errors"]["reference"]
    )
    assert all(r["ratio_vs_reference"] is None for r in result["throughput"])


@pytest.mark.parametrize(
    "args, says",
    [
        (["--sections", "throughput,nope"], "--sections: unknown ['nope']"),
        (["--steps", "0"], "--steps: got 0; allowed: >= 1"),
        (["--nope"], "unrecognized arguments: --nope"),
        (["--data", "{tmp}/missing.idx"], "--data: cannot read"),
        (["--data", "{tmp}/not_idx.bin"], "is not an IDX uint8 image file"),
        (["--device", "cuda"], "no CUDA device is available"),
        (["--out", "{tmp}/bench.json/inside.json"], "--out: cannot write"),
        (["--peer-python", sys.executable], "--peer-python: needs the run section"),
        (["--sections", "run", "--peer-python", "{tmp}/nopython"], "--peer-python: got "),
    ],
    ids=[
        *("sections", "steps", "unknown-flag", "missing-data", "bad-data", "no-cuda", "bad-out"),
        *("peer-without-run", "peer-not-a-python"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(args, says, tmp_path, capsys):
    """Refused before any timing, and the results of an earlier run are left as they were."""
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "not_idx.bin").write_bytes(b"\x00" * 100)
    (tmp_path / "bench.json").write_text("earlier results")
    args = [a.format(tmp=tmp_path) for a in args]
    try:
        code = bench_cli.main(["--quick", "--out", str(tmp_path / "bench.json"), *args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("aectl: error: aectl bench: ") and says in err, err
    assert len(err.strip().splitlines()) == 1 and out == ""
    assert (tmp_path / "bench.json").read_text() == "earlier results"


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_sweep_section_times_valid_commands_and_reports_its_ratio(device, monkeypatch):
    """Without running them: every command the sweep section would time composes to a valid
    config (the GPU's MNIST sweep included), and the ratio is vmap's wall over its peer's."""
    from conftest import compose

    from aectl.bench import whole
    from aectl.config.validate import validate

    images = Path("/data/t10k-images-idx3-ubyte.gz")
    seen = []

    def fake_train(args, cwd, dev):
        seen.append(args)
        root = Path(args[-1].split("=", 1)[1])
        (root / "job").mkdir(parents=True)
        timing = {"first_step_unix": 1.0}
        metrics = {"train_time_s": 2.0, "timing": timing}
        (root / "job" / "metrics.json").write_text(json.dumps(metrics))
        return 0.0, 8.0 if "hydra/launcher=vmap" in args else 4.0

    monkeypatch.setattr(whole, "aectl_train", fake_train)
    out = whole.section_sweep(device, 1, {}, images)
    assert out[{"cpu": "vmap_over_basic", "cuda": "vmap_over_one_job"}[device]] == 2.0
    for args in seen:
        swept = "regularizer.weight="  # one value of the sweep
        one = [a.split(",")[0] if a.startswith(swept) else a for a in args]
        one = [a for a in one if a != "-m" and not a.startswith("hydra")]
        cfg = validate(compose(*one))
        assert cfg.regularizer.weight > 0
        if device == "cuda":
            assert cfg.arch.hidden == [512, 256] and cfg.arch.code_dim == 32
            assert cfg.dataset.limit == 10000 and cfg.dataset.images == str(images)


def test_the_run_section_times_the_peer_in_its_rounds_and_reports_the_ratio(tmp_path, monkeypatch):
    """With --peer-python, every round runs pythae's script after aectl's runs; its row is
    timed from process start like aectl's, and the target is the MNIST job's wall over
    the peer's. A peer that fails is an error entry, and no ratio."""
    from aectl.bench import whole

    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    order = []

    def fake_train(args, cwd, dev):
        order.append("aectl")
        run = Path(args[-1].split("=", 1)[1])
        run.mkdir(parents=True)
        metrics = {"train_time_s": 2.0, "timing": {"first_step_unix": 1.0}}
        (run / "metrics.json").write_text(json.dumps(metrics))
        return 0.0, 3.0

    monkeypatch.setattr(whole, "aectl_train", fake_train)
    zero = dict.fromkeys(("train_s", "outputs_s", "analyses_s", "other_s"), 0.0)
    floor = {"wall_s": 1.5, "startup_s": 1.5, **zero, "overhead_vs_training": None}
    monkeypatch.setattr(whole, "torch_import", lambda cwd: floor)
    peer = tmp_path / "peer-python"
    log = tmp_path / "peer.log"
    peer.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'echo noise; echo "{\\"train_start_unix\\": $(date +%s), \\"pipeline_s\\": 0.5}"\n'
    )
    peer.chmod(0o755)
    errors: dict = {}
    out = whole.section_run(images, "cpu", 2, errors, str(peer))
    assert errors == {}
    assert order == ["aectl"] * 4 and len(log.read_text().splitlines()) == 2
    script, got_images, folder, device = log.read_text().splitlines()[0].split()
    assert script.endswith("aectl/bench/peer_pythae.py") and got_images == str(images)
    assert device == "cpu" and Path(folder).parent.name.startswith("aectl-bench-run-")
    row = out[whole.PEER_ROW]
    assert row["repeats"] == 2 and row["train_s"] == 0.5
    assert row["wall_s"] == statistics.median(row["walls_s"]) and row["wall_s"] > 0
    result = {"run": out}
    got = bench.targets(result, torch.device("cpu"))["run_wall_vs_peer"]
    assert got["value"] == pytest.approx(3.0 / row["wall_s"])
    # the startup target is read against `import torch` alone, timed in the same rounds
    assert out[whole.TORCH_ROW]["repeats"] == 2
    startup = bench.targets(result, torch.device("cpu"))["startup_s"]
    assert startup["value"] == 1.0 and "`import torch` alone 1.50 s" in startup["row"]
    (table,) = report.whole_tables(result)
    assert [whole.TORCH_ROW, "1.50", "1.50", "0.00", "0.00", "0.00", "0.00", "-"] in table[2]

    peer.write_text("#!/bin/sh\necho 'No module named pythae' >&2; exit 1\n")
    errors = {}
    out = whole.section_run(images, "cpu", 1, errors, str(peer))
    assert whole.PEER_ROW not in out and "No module named pythae" in errors[whole.PEER_ROW]
    assert "run_wall_vs_peer" not in bench.targets({"run": out}, torch.device("cpu"))


def test_the_torch_import_floor_is_a_real_process_importing_torch(tmp_path):
    """The floor row times a fresh interpreter importing torch: longer than one that imports
    nothing, in the same interpreter the runs use."""
    from aectl.bench import whole

    row = whole.torch_import(tmp_path)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - t0
    assert row["startup_s"] == row["wall_s"] > bare and row["train_s"] == 0.0


@pytest.mark.skipif(not MNIST_IMAGES.exists(), reason="the shared MNIST test split is not here")
def test_the_peer_trains_on_the_images_aectl_reads():
    from aectl.bench import peer_pythae
    from aectl.data.idx import read_idx

    want = read_idx(str(MNIST_IMAGES), "dataset.images", ndim=3)[:9000]
    got = peer_pythae.read_idx_images(str(MNIST_IMAGES), 9000)
    assert got.shape == (9000, 1, 28, 28) and got.dtype == np.float32
    assert np.array_equal(got[:, 0], want.astype(np.float32) / 255.0)
