"""`aectl eval RUN_DIR`: its numbers against a numpy recomputation from the checkpoint's
weights, its files (eval.json, a decoded reconstruction PNG, TensorBoard images), the
launch-folder rule for relative dataset paths, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from conftest import MNIST_DIR, aectl, aectl_here, compose, needs_mnist
from omegaconf import OmegaConf
from PIL import Image

from aectl.commands import eval as evaluate
from aectl.data import digits
from aectl.errors import UserError

TINY = ("trainer.device=cpu", "trainer.log_every_n_steps=5")


def trained(path, *overrides):
    from aectl.training.run import train

    path.mkdir(parents=True, exist_ok=True)
    train(compose(*TINY, *overrides), path)
    return path


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory):
    return trained(
        tmp_path_factory.mktemp("eval") / "linear", "model=linear", "trainer.max_epochs=3"
    )


def weights(run, which="best"):
    state = torch.load(run / "checkpoints" / f"{which}.pt", weights_only=True)
    return state, {k: v.double().numpy() for k, v in state["model"].items()}


def one_line_error(capsys, field):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"aectl: error: {field}: "), err
    return err


def test_numbers_match_a_numpy_recomputation_from_the_checkpoint(linear_run):
    assert evaluate.main([str(linear_run)]) == 0  # by default: last.pt on the test split
    out = json.loads((linear_run / "eval.json").read_text())
    state, w = weights(linear_run, "last")
    x = digits.load(test_fraction=None).test_x.flatten(1).double().numpy()  # the run's split
    h = x @ w["encoder.1.weight"].T + w["encoder.1.bias"]
    x_hat = h @ w["encoder.1.weight"] + w["decoder.0.bias"]  # model=linear is tied
    mse = ((x_hat - x) ** 2).mean()
    assert out["recon/mse"] == pytest.approx(mse, rel=1e-5)
    assert out["recon/psnr_db"] == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)
    assert out["recon/bce"] is None  # a linear decoder's outputs are not probabilities
    # a linear encoder's Jacobian is its weight matrix, at every sample
    assert out["jacobian/fro_mean"] == pytest.approx(
        np.linalg.norm(w["encoder.1.weight"]), rel=1e-5
    )
    below = 0.01 * np.sqrt((h**2).mean())  # 1% of the code's RMS over the split
    assert out["sparsity/frac_near_zero"] == pytest.approx((np.abs(h) < below).mean(), abs=1e-6)
    assert out["sparsity/mean_activation"] == pytest.approx(h.mean(), abs=1e-5)
    assert out["penalty"] == 0.0
    assert (out["epoch"], out["checkpoint"], out["split"], out["samples"]) == (
        state["epoch"],
        "last",
        "test",
        len(x),
    )
    assert "note" not in out and out["psnr_peak"]["value"] == 1.0  # digits: divided by 16
    assert out["probe/majority_rate"] < out["probe/accuracy"] <= 1.0
    assert {"pca/max_angle_deg", "pca/mse_ratio"} <= set(
        out
    )  # a linear run gets the PCA comparison


def test_reconstruction_grid_and_pictures_are_written_and_logged(linear_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert evaluate.main([str(linear_run), "--checkpoint", "last"]) == 0
    img = np.asarray(Image.open(linear_run / "eval" / "reconstructions.png").convert("RGB"))
    assert img.shape == (2 * 66 + 2, 16 * 66 + 2, 3)  # 2 rows (input, output) of 16 digits at 64x64
    assert img.std() > 10
    for name in ("pca_compare", "code_histogram", "filters", "probe_confusion"):
        assert (linear_run / "eval" / f"{name}.png").is_file()
    state, _ = weights(linear_run, "last")
    first = json.loads((linear_run / "eval.json").read_text())
    assert first["epoch"] == state["epoch"] == 3 and first["split"] == "test"
    # a second evaluation (best.pt on val) replaces eval.json but keeps its own tags
    assert evaluate.main([str(linear_run), "--checkpoint", "best", "--split", "val"]) == 0
    second = json.loads((linear_run / "eval.json").read_text())
    acc = EventAccumulator(str(linear_run), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    images = set(acc.Tags()["images"])
    for tag in ("eval/last/test", "eval/best/val"):
        assert {f"{tag}/reconstructions", f"{tag}/pca_compare"} <= images, images
    assert "analysis/pca_compare" in images
    for tag, result in (("eval/last/test", first), ("eval/best/val", second)):
        for key in ("recon/mse", "probe/accuracy"):
            event = acc.Scalars(f"whole_run/{tag}/{key}")[-1]  # (other tests evaluate too)
            assert event.value == pytest.approx(result[key], rel=1e-6), (tag, key)


def test_bce_and_train_split(tmp_path):
    run = trained(tmp_path / "run", "arch.hidden=[]", "arch.code_dim=8", "trainer.max_epochs=1")
    assert evaluate.main([str(run), "--split", "train"]) == 0
    out = json.loads((run / "eval.json").read_text())
    _, w = weights(run)
    x = digits.load(test_fraction=None).train_x.flatten(1).double().numpy()
    h = x @ w["encoder.1.weight"].T + w["encoder.1.bias"]  # model=deep: identity code
    p = 1 / (1 + np.exp(-(h @ w["decoder.0.weight"].T + w["decoder.0.bias"])))  # sigmoid output
    p = p.clip(1e-6, 1 - 1e-6)
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).mean()
    assert out["samples"] == len(x) and out["split"] == "train"
    # the probe was fit on these very codes: said, and its accuracy is its training score
    assert "probe/accuracy is scored on the codes the probe was fit on" in out["note"]
    assert out["probe/accuracy"] == out["probe/train_accuracy"]
    assert out["recon/bce"] == pytest.approx(bce, rel=1e-4)
    assert out["recon/mse"] == pytest.approx(((p - x) ** 2).mean(), rel=1e-4)


@needs_mnist
def test_relative_dataset_paths_resolve_from_the_launch_folder(tmp_path, monkeypatch):
    launch = tmp_path / "launch"
    (launch / "data").mkdir(parents=True)
    (launch / "data" / "images.gz").symlink_to(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    monkeypatch.chdir(launch)
    run = trained(
        launch / "outputs" / "run",
        "dataset=idx",
        "dataset.images=data/images.gz",
        "dataset.limit=300",
        "model=linear",
        "trainer.max_epochs=1",
        "trainer.batch_size=64",
    )
    monkeypatch.chdir(tmp_path)  # eval runs from elsewhere
    with pytest.raises(UserError) as e:  # without Hydra's record of the launch folder
        evaluate.load_run(run, "best", torch.device("cpu"))
    assert e.value.field == "dataset.images" and "no such file" in str(e.value)
    (run / ".hydra").mkdir()
    (run / ".hydra" / "hydra.yaml").write_text(
        OmegaConf.to_yaml({"hydra": {"runtime": {"cwd": str(launch)}}})
    )
    assert evaluate.main([str(run)]) == 0
    assert json.loads((run / "eval.json").read_text())["samples"] == 30


@pytest.mark.parametrize(
    "args,field",
    [
        ([], "aectl eval"),
        (["{run}", "--split", "holdout"], "aectl eval"),
        (["{run}", "--checkpoint", "middle"], "aectl eval"),
        (["{tmp}/nowhere"], "RUN_DIR"),
        (["{tmp}"], "RUN_DIR"),  # a folder, but not a run's (a sweep's, the outputs folder)
        pytest.param(
            ["{run}", "--device", "cuda"],
            "--device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_arguments_are_one_line_exit_2(linear_run, tmp_path, capsys, args, field):
    args = [a.format(run=linear_run, tmp=tmp_path) for a in args]
    try:
        code = evaluate.main(args)
    except SystemExit as e:  # argparse's own checks exit, as in any argparse program
        code = e.code
    assert code == 2
    one_line_error(capsys, field)


def test_missing_or_corrupt_checkpoint_is_one_line_exit_2(linear_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(linear_run, run)
    (run / "checkpoints" / "best.pt").unlink()
    assert evaluate.main([str(run), "--checkpoint", "best"]) == 2
    assert "this run holds: last" in one_line_error(capsys, "--checkpoint")
    (run / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    assert evaluate.main([str(run), "--checkpoint", "last"]) == 2
    one_line_error(capsys, "--checkpoint")


@pytest.mark.slow
def test_cli_eval_after_cli_train(tmp_path):
    run = tmp_path / "run"
    r = aectl_here(  # the trained run; eval below is the real process
        "train",
        "model=shallow",
        "dataset=onehot8",
        "dataset.repeat=4",
        "trainer.batch_size=8",
        "trainer.max_epochs=3",
        "trainer.device=cpu",
        "trainer.analyze=none",  # eval runs them
        f"hydra.run.dir={run}",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    r = aectl("eval", str(run), "--checkpoint", "last", "--split", "train")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "recon/bce" in r.stdout and "8-3-8 code table" in r.stdout
    out = json.loads((run / "eval.json").read_text())
    assert out["onehot/patterns"] == 8.0 and out["recon/bce"] is not None
    assert (run / "eval" / "code_table.png").is_file()
    r = aectl_here("eval", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "RUN_DIR" in r.stderr


def test_eval_reads_runs_saved_before_the_newer_checks(tmp_path):
    """A checkpoint from before dataset.layout (its ambiguous npz array was read as NCHW)
    and before the output-range check still evaluates."""
    from aectl.training.run import train

    x = np.random.default_rng(0).random((200, 3, 4, 4), dtype=np.float32)
    np.savez(tmp_path / "a.npz", x=x)
    run = tmp_path / "run"
    run.mkdir()
    overrides = ["dataset=npz", f"dataset.path={tmp_path / 'a.npz'}", "dataset.layout=nchw"]
    train(compose(*overrides, "trainer.max_epochs=1", "trainer.device=cpu"), run)
    for name in ("best.pt", "last.pt"):
        state = torch.load(run / "checkpoints" / name, weights_only=True)
        del state["config"]["dataset"]["layout"]
        state["metrics"].pop("epoch_samples_per_s")
        torch.save(state, run / "checkpoints" / name)
    assert evaluate.main([str(run), "--device", "cpu"]) == 0
    assert json.loads((run / "eval.json").read_text())["samples"] == 20


@pytest.mark.parametrize(
    "text,says",
    [
        (b"hydra: [unclosed\n", "is not readable YAML"),
        (b"hydra:\n  runtime: \x80\x81\n", "is not readable YAML"),
        (b"hydra: 5\n", "holds no hydra.runtime section"),
        (b"- a list\n", "holds no hydra.runtime section"),
        (b"hydra:\n  runtime:\n    cwd: [a, b]\n", "hydra.runtime.cwd is ['a', 'b']"),
    ],
    ids=["cut off", "not text", "wrong type", "a list", "cwd a list"],
)
def test_a_corrupt_hydra_record_is_one_line_exit_2(linear_run, tmp_path, capsys, text, says):
    run = tmp_path / "run"
    shutil.copytree(linear_run, run)
    (run / "eval.json").unlink(missing_ok=True)
    record = run / ".hydra" / "hydra.yaml"
    record.parent.mkdir(exist_ok=True)
    record.write_bytes(text)
    assert evaluate.main([str(run), "--device", "cpu"]) == 2
    err = one_line_error(capsys, "RUN_DIR")
    assert str(record) in err and says in err and "allowed: " in err, err
    assert not (run / "eval.json").exists()


def test_a_sweep_folder_points_to_its_jobs_and_summarize(tmp_path, capsys):
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")
    assert evaluate.main([str(tmp_path)]) == 2
    err = one_line_error(capsys, "RUN_DIR")
    assert "a sweep folder, not a run folder" in err and f"aectl summarize {tmp_path}" in err


def test_a_job_parent_folder_names_the_run_folders_in_it(tmp_path, capsys):
    """`aectl eval SWEEP/regularizer.weight=0.01`: the job's run folder is one level down
    (seed=0/); the error names it (and stops listing after three)."""
    job = tmp_path / "regularizer.weight=0.01"
    for seed in range(5):
        (job / f"seed={seed}" / "checkpoints").mkdir(parents=True)
    (job / "notes").mkdir()
    (job / "seed=0" / ".hydra").mkdir()
    (job / "seed=0" / ".hydra" / "config.yaml").write_text("{}\n")  # Hydra's record: not a run
    assert evaluate.main([str(job)]) == 2
    err = one_line_error(capsys, "RUN_DIR")
    seeds = ", ".join(repr(str(job / f"seed={s}")) for s in range(3))
    assert f"not a run folder; the run folders in it: {seeds} and 2 more" in err, err


def test_a_checkpoint_file_points_to_its_run_folder_and_the_flag(linear_run, capsys):
    assert evaluate.main([str(linear_run / "checkpoints" / "best.pt")]) == 2
    err = one_line_error(capsys, "RUN_DIR")
    assert (
        f"it is a checkpoint: pass its run folder {str(linear_run)!r} with --checkpoint best" in err
    )


def test_the_output_starts_with_what_is_evaluated(linear_run, capsys):
    assert evaluate.main([str(linear_run)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[0].startswith(f"aectl eval {linear_run}: last.pt (epoch ")
    assert lines[0].endswith("on the test split (180 samples)"), lines[0]
    assert sum("180 samples" in line for line in lines) == 1  # said once, not again
    assert [i for i, line in enumerate(lines) if line.startswith("eval: ")] != []


def test_a_mid_epoch_checkpoint_is_named_by_the_epoch_it_stopped_in():
    """An interrupt saves last.pt mid-epoch: its `epoch` counts the epochs finished (2) and
    its position the batches done in the next, so eval says `epoch 3 after 4 batches`, as
    the resume line does, not `epoch 2`."""
    from aectl.commands.eval import checkpoint_epoch

    assert checkpoint_epoch({"epoch": 2, "position": {"batch": 4}}) == "epoch 3 after 4 batches"
    assert checkpoint_epoch({"epoch": 0, "position": {"batch": 1}}) == "epoch 1 after 1 batch"
    assert checkpoint_epoch({"epoch": 5, "position": None}) == "epoch 5"
    assert checkpoint_epoch({"epoch": 5, "position": {"batch": "4"}}) == "epoch 5"  # not ours


def test_samples_on_a_deterministic_run_is_noted_as_ignored(linear_run):
    """--samples sets a VAE's importance samples; given for a deterministic code it changes
    nothing, and eval says so instead of taking it silently."""
    r = aectl_here("eval", str(linear_run), "--samples", "10")
    assert r.returncode == 0, r.stderr
    assert "note: --samples ignored: it sets the codes drawn for a stochastic run's" in r.stdout
    assert "--samples ignored" not in aectl_here("eval", str(linear_run)).stdout
