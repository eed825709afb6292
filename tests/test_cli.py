"""End to end: the real `aectl` in a subprocess, on tiny settings, and what it leaves behind."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, TAXONOMY, aectl, aectl_here
from PIL import Image

PRESETS = TAXONOMY
TINY = ["trainer.max_epochs=1", "trainer.log_every_n_steps=5", "trainer.device=cpu"]


def read_events(run: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(
        str(run), size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0}
    )
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def every_preset(tmp_path_factory) -> Path:
    """Every preset trained for one epoch by ONE `aectl train -m model=...` (in-process: each
    job the CLI's own run, no interpreter start)."""
    root = tmp_path_factory.mktemp("presets")
    r = aectl_here(
        "train", "-m", f"model={','.join(PRESETS)}", *TINY, "trainer.analyze=none",
        f"hydra.sweep.dir={root}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("overcomplete") and r.stdout.count("undercomplete")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_trains_through_the_cli(preset, every_preset):
    run = every_preset / f"model={preset}" / "seed=0"
    overcomplete = preset in {"sparse", "sparse_kl", "denoising", "contractive", "dropout"}
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed", status
    completeness = json.loads((run / "metrics.json").read_text())["completeness"]
    assert completeness == ("overcomplete" if overcomplete else "undercomplete")

    # the run folder
    for name in [
        ".hydra/config.yaml",
        "config.yaml",
        "metrics.json",
        "checkpoints/last.pt",
        "checkpoints/best.pt",
    ]:
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for key in [
        "train/loss",
        "train/recon",
        "train/penalty",
        "val/recon",
        "best_epoch",
        "train_time_s",
        "samples_per_s",
        "epoch_samples_per_s",
    ]:
        assert math.isfinite(metrics[key]), key
    assert metrics["best_epoch"] == 1

    # the picture: 16 enlarged 8x8 digits per row (8*8 = 64 px + 2 px padding), rows as documented
    png = run / "reconstructions" / "epoch_001.png"
    img = np.asarray(Image.open(png).convert("RGB"))
    rows = 3 if preset == "denoising" else 2
    assert img.shape == (rows * 66 + 2, 16 * 66 + 2, 3)

    # TensorBoard, read back with TensorBoard's own reader
    acc = read_events(run)
    tags = acc.Tags()
    for tag in [
        "train/loss",
        "train/recon",
        "train/penalty",
        "train/lr",
        "train/samples_per_s",
        "val/recon",
        "code/mean_activation",
        "code/frac_near_zero",
    ]:
        assert tag in tags["scalars"], tag
    if preset == "contractive":
        assert "train/jacobian_fro2" in tags["scalars"]
    assert "reconstructions" in tags["images"]
    assert "code/activations" in tags["histograms"]
    assert acc.Scalars("val/recon")[-1].value == pytest.approx(metrics["val/recon"], rel=1e-6)

    # the checkpoint reloads (weights_only) and reconstructs what the picture shows
    from hydra.utils import instantiate

    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    cfg = state["config"]
    data = instantiate(cfg["dataset"])
    model = instantiate(cfg["arch"], input_shape=data.shape)
    model.load_state_dict(state["model"])
    model.eval()
    if preset != "denoising":
        with torch.no_grad():
            x_hat = model(data.val_x[:16])
        bottom = img[66 + 2 : 66 + 2 + 64, :, 0].astype(np.float64)  # red channel of row 2
        tiles = np.stack([bottom[::8, 2 + 66 * i : 2 + 66 * i + 64 : 8] for i in range(16)])
        expected = np.round(x_hat.squeeze(1).clamp(0, 1).numpy() * 255)
        assert np.abs(tiles - expected).max() <= 1


def test_help_does_not_import_torch():
    code = (
        "import sys, io, contextlib\n"
        "from aectl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0\n"
        "assert 'train' in out.getvalue()\n"
        "print('torch' in sys.modules, 'hydra' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_train_help_lists_the_option_groups_not_the_schemas():
    r = aectl("train", "--help", "model=contractive")
    assert r.returncode == 0, r.stderr
    groups = dict(
        line.split(": ", 1)
        for line in r.stdout.split("== Config groups")[1].split("==")[1].splitlines()
        if ": " in line
    )
    assert (
        groups["regularizer"] == "contractive, denoising, dropout, kl, none, sparse_kl, sparse_l1"
    )
    assert {"arch", "dataset", "model", "optim", "trainer", "experiment"} <= set(groups)
    assert not any(g.startswith("schema") for g in groups)
    # the launchers the help names are the presets in configs/hydra/launcher/, all of them
    named = groups["hydra/launcher (for -m)"].replace(" (all jobs as one stacked model)", "")
    presets = sorted(p.stem for p in (ROOT / "configs" / "hydra" / "launcher").glob("*.yaml"))
    assert sorted(named.split(", ")) == presets
    assert "method: analytic" in r.stdout  # the configuration below reflects the overrides


@pytest.mark.parametrize(
    "args, code, says",
    [
        (["train", "--cfg", "job"], 0, "regularizer:"),
        (["train", "regularizer.weight=-1"], 2, "regularizer.weight: got -1.0"),
        (["train", "dataset=idx"], 2, "dataset.images: required"),
        (["train", "arch.activation=swish"], 2, "arch.activation: got 'swish'"),
        (["eval", "nowhere"], 2, "RUN_DIR: 'nowhere' does not exist"),
        (["eval", "--help"], 0, "RUN_DIR"),
        (["eval"], 2, "aectl eval: the following arguments are required: RUN_DIR"),
        (["bench", "--help"], 0, "--sections"),
        (["bench", "--steps", "0"], 2, "aectl bench: --steps: got 0; allowed: >= 1"),
        (["summarize", "--nope", "x"], 2, "aectl summarize: unrecognized arguments: --nope"),
        (["completion", "fish"], 2, "aectl completion: argument shell: invalid choice: 'fish'"),
        (["frobnicate"], 2, "argument COMMAND: invalid choice: 'frobnicate'"),
        (["--version"], 0, "aectl 0.1.0"),
        (["train", "--cfg", "job", "--nope"], 2, "aectl train: unrecognized arguments: --nope"),
        (["train", "--cfg", "jobb"], 2, "aectl train: --cfg/-c: invalid choice: 'jobb'"),
    ],
    ids=[
        *("cfg-job", "bad-range", "missing-value", "bad-activation", "eval-no-run", "eval-help"),
        *("eval-no-args", "bench-help", "bench-bad-steps", "summarize-bad-flag"),
        *("completion-bad-shell", "unknown-command", "version", "train-bad-flag"),
        "train-bad-cfg-value",
    ],
)
def test_composing_and_refusing_configs_does_not_import_torch(args, code, says, tmp_path):
    """Schemas, checks and the run-folder pre-checks are torch-free: printing a config or
    refusing a bad value never waits for torch to load (issue 6: `--cfg job` < 3 s)."""
    script = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('TORCH', 'torch' in sys.modules, file=sys.stderr))\n"
        "from aectl.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert says in (r.stdout + r.stderr)
    assert "TORCH False" in r.stderr, r.stderr
    if code:
        assert len([x for x in r.stderr.splitlines() if x.startswith("aectl:")]) == 1
        assert "Traceback" not in r.stderr and "Error executing job" not in r.stderr
        assert "usage:" not in r.stderr, r.stderr


@pytest.mark.slow
def test_installed_wheel_finds_its_configs(tmp_path):
    dist = tmp_path / "dist"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = dist.glob("aectl-*.whl")
    site = tmp_path / "site"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert (site / "aectl" / "configs" / "train.yaml").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(site)}
    r = aectl("train", "--cfg", "job", cwd=elsewhere, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "aectl.data.digits.load" in r.stdout
    check = "import aectl, aectl.paths; print(aectl.__file__); print(aectl.paths.configs_dir())"
    r = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env={**__import__("os").environ, **env},
    )
    mod, cfgdir = r.stdout.split()
    assert mod.startswith(str(site)) and cfgdir.startswith(str(site))
    r = aectl("train", *TINY, cwd=elsewhere, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    (run,) = (elsewhere / "outputs" / "runs").iterdir()
    assert (run / "checkpoints" / "last.pt").is_file()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_subcommands_groups_options_and_keys(tmp_path):
    """The script `aectl completion bash` prints, sourced in a real bash, answers TABs."""
    script = aectl("completion", "bash")
    assert script.returncode == 0, script.stderr
    (tmp_path / "aectl.bash").write_text(script.stdout)
    driver = (
        f"source {tmp_path / 'aectl.bash'}\n"
        't() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1));\n'
        '      COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE};\n'
        '      _aectl_complete; echo "${COMPREPLY[*]}"; }\n'
        "t aectl su\n"
        "t aectl train model=con\n"
        "t aectl train model=contractive regularizer.me\n"
        "t aectl train ''\n"
        "t aectl train regularizer.\n"
    )
    # the `aectl` this interpreter installed, first on PATH
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run(["bash", "-c", driver], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "summarize"
    assert lines[1].split() == ["model=contractive", "model=conv"]
    assert lines[2] == "regularizer.method="
    assert "model=" in lines[3].split() and "regularizer=" in lines[3].split()
    assert not any(w.startswith("schema") for w in lines[3].split())
    keys = lines[4].split()  # the keys, not what builds the option (`_target_`)
    assert "regularizer.weight=" in keys and not any("_target_" in k for k in keys), keys


def test_completion_refuses_an_unknown_shell():
    r = aectl("completion", "fish")
    assert r.returncode == 2 and "invalid choice: 'fish'" in r.stderr


RUN_DIRS = [
    "/tmp/runs/plain",
    "/tmp/s/model=contractive,regularizer.weight=0.1/seed=0",
    "/tmp/it's here",
    "/home/jörg/outputs/run~2",
    "/tmp/back\\slash\\",
]


@pytest.mark.parametrize("path", RUN_DIRS)
def test_resume_hint_quotes_the_run_folder_for_hydra_and_the_shell(path):
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from aectl.commands.train import resume_command

    task = ["model=contractive", "trainer.resume=auto"]
    hydra = [f"hydra.run.dir={path}", "hydra.mode=RUN", "hydra.job.name=x"]
    argv = shlex.split(resume_command(path, task, hydra))
    assert argv[:3] == ["aectl", "train", "model=contractive"] and argv[-1] == "trainer.resume=auto"
    parsed = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(argv[2:])}
    assert parsed["hydra.run.dir"] == path and parsed["hydra.job.name"] == "x"
    assert "hydra.mode" not in parsed and argv.count("trainer.resume=auto") == 1


def test_sweep_resume_hint_keeps_the_launcher_and_sweeper_settings(tmp_path):
    """Hydra files hydra/launcher=... and hydra.launcher.* under overrides.hydra, not task."""
    import shlex

    import yaml

    from aectl.commands.train import resume_command

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    filed = {
        "task": ["regularizer.weight=1e-3,1e-2", "trainer.seed=0,1"],
        "hydra": [
            "hydra/launcher=parallel",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={sweep}",
            "hydra.mode=MULTIRUN",
        ],
    }
    (sweep / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": filed}}))
    argv = shlex.split(resume_command(str(sweep / "x" / "seed=0"), [], [], str(sweep)))
    assert argv == [
        "aectl",
        "train",
        "-m",
        "regularizer.weight=1e-3,1e-2",
        "trainer.seed=0,1",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep}",
    ]


def test_a_resume_command_names_its_folders_absolutely(tmp_path, monkeypatch):
    """Hydra's default folders are relative to where the command ran: the printed command
    resumes from any folder."""
    import shlex

    from aectl.training.resume import resume_command

    monkeypatch.chdir(tmp_path)
    run = shlex.split(resume_command("outputs/runs/r", ["model=pca"], []))
    assert run[-2:] == [f"hydra.run.dir={tmp_path}/outputs/runs/r", "trainer.resume=auto"]
    sweep = shlex.split(
        resume_command("outputs/sweeps/s/x", ["trainer.seed=0"], [], "outputs/sweeps/s")
    )
    assert sweep[-1] == f"hydra.sweep.dir={tmp_path}/outputs/sweeps/s"


@pytest.mark.parametrize(
    "value",
    ["/tmp/a=b.npz", "/tmp/données.npz", "/tmp/数据/x.npz", "/tmp/a(1).npz", "/tmp/it's=1.npz"],
)
def test_a_value_hydra_cannot_read_unquoted_is_refused_with_its_quoted_form(value):
    """The suggested override, split as a shell splits it, is read by Hydra's own parser as
    exactly the value the user meant, and passes."""
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from aectl.commands.train import check_command_line
    from aectl.errors import UserError

    with pytest.raises(Exception):  # noqa: B017 (the reference: Hydra's grammar refuses it)
        OverridesParser.create().parse_override(f"dataset.path={value}")
    with pytest.raises(UserError) as e:
        check_command_line(["dataset=npz", f"dataset.path={value}"])
    assert e.value.field == "dataset.path" and "cannot read unquoted" in e.value.message
    (word,) = shlex.split(e.value.message.split("in quotes, ", 1)[1])
    assert OverridesParser.create().parse_override(word).value() == value
    check_command_line(["dataset=npz", word])


@pytest.mark.parametrize(
    "args,field,says",
    [
        (["dataset.path=/tmp/a,b.npz"], "dataset.path", "a list of values; allowed: -m"),
        (["regularizer.weight=0.1,0.2"], "regularizer.weight", "a list of values"),
        (["hydra.run.dir="], "hydra.run.dir", "got ''; allowed: a folder path"),
        (["hydra.run.dir=null"], "hydra.run.dir", "allowed: a folder path"),
        (["hydra.run.dir=''"], "hydra.run.dir", "allowed: a folder path"),
        (["-m", "hydra.sweep.dir=", "trainer.seed=0,1"], "hydra.sweep.dir", "a folder path"),
        (["-m", "hydra.sweep.subdir=", "trainer.seed=0,1"], "hydra.sweep.subdir", "folder"),
        (["-m", "trainer.seed=0,1"], None, None),
        (["hydra.run.dir=.", "dataset.path='/tmp/a,b=c.npz'"], None, None),
        (["trainer.seed=range(1,"], None, None),  # Hydra's own message follows
    ],
)
def test_command_line_checks_before_hydra(args, field, says):
    from aectl.commands.train import check_command_line
    from aectl.errors import UserError

    if field is None:
        check_command_line(args)
        return
    with pytest.raises(UserError) as e:
        check_command_line(args)
    assert e.value.field == field and says in e.value.message, str(e.value)


@pytest.mark.parametrize(
    "code, status, stderr",
    [("None", 0, ""), ("3", 3, ""), ("'aectl: error: x: y'", 1, "aectl: error: x: y\n")],
)
def test_leaving_without_finalising_keeps_what_finalising_would_do(tmp_path, code, status, stderr):
    """`aectl.cli.leave` (the console command's exit): the status sys.exit gives, buffered output
    flushed, atexit handlers run and non-daemon threads finished first; an executor left
    open (its idle workers stop through threading's exit hook, as joblib's do) does not
    hang it."""
    script = f"""
import atexit, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from aectl.cli import leave
out = Path({str(tmp_path)!r})
pool = ThreadPoolExecutor(2)  # kept, never shut down: its worker waits
pool.submit(lambda: None).result()
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("done")
threading.Thread(target=late).start()
sys.stdout.write("buffered, no newline")
leave({code})
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (status, "buffered, no newline", stderr)
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"


def test_a_reader_that_leaves_does_not_stop_the_command(tmp_path):
    """`aectl train | head -1`: the run goes on when its stdout's reader has gone and
    finishes with its files; `aectl eval RUN | head -1` still writes eval.json. Both exit 0.
    (A process: only a real pipe closes.)"""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    for args in (
        ["train", "trainer.max_epochs=4", "trainer.device=cpu", f"hydra.run.dir={run}"],
        ["eval", str(run)],
    ):
        proc = subprocess.Popen(
            [sys.executable, "-m", "aectl", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().startswith(f"aectl {args[0]} ")
        proc.stdout.close()  # what `head -1` does once it has its line
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "Error" not in err, err
    metrics = json.loads((run / "metrics.json").read_text())  # written once a run ends
    assert metrics["epoch"] == 4 and "test/last/recon/mse" in metrics
    assert (run / "eval.json").is_file()


def test_the_epoch_line_sets_train_recon_beside_val_recon_and_the_penalty_apart(capsys):
    """train/loss holds the penalty and val/recon does not: side by side they read as
    overfitting under a large λ. The line compares recon with recon."""
    from aectl.record.progress import TrainProgress

    with TrainProgress(20, 2) as bar:
        bar.epoch_done(1, 10, [0.25, 0.0625, 1.875], 0.07, 1234.0)
        bar.epoch_done(2, 20, [0.05, 0.05, 0.0], 0.06, 1234.0, members=3, shown="a=1/seed=0")
        bar.epoch_done(2, 20, [40.5, 37.0, 3.5], 36.5, 1234.0, extra={"val/elbo": -40.123456})
    one, two, three = capsys.readouterr().out.splitlines()
    assert one == (
        "epoch 1/2  step 10  train/recon 0.0625  val/recon 0.07  train/penalty 0.1875  "
        "1,234 samples/s"
    )
    assert two == (
        "epoch 2/2  step 20  train/recon 0.05  val/recon 0.06  1,234 samples/s  "
        "(3 jobs training; shown: a=1/seed=0)"
    )
    assert three == (  # what the regularizer names (a VAE's ELBO) follows val/recon
        "epoch 2/2  step 20  train/recon 37  val/recon 36.5  val/elbo -40.123  "
        "train/penalty 3.5  1,234 samples/s"
    )


def test_a_launcher_given_to_a_single_run_is_noted(tmp_path):
    """`hydra/launcher=vmap` without -m: Hydra ignores it silently; aectl says so."""
    r = aectl_here(
        "train", "hydra/launcher=vmap", "trainer.max_epochs=1", "trainer.analyze=none",
        "trainer.device=cpu", f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert (
        "aectl: note: hydra/launcher=vmap applies to sweeps (-m); this single run does not "
        "use it" in r.stderr
    ), r.stderr


def test_ctrl_c_before_the_first_step_leaves_no_folder(tmp_path, monkeypatch):
    """A Ctrl-C while a run starts (imports, data) stops it (status 130) and takes away
    the folder Hydra made for it; a run that has logged something keeps its folder."""
    from aectl.training import run as training_run

    def stopped(cfg, run_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(training_run, "train", stopped)
    r = aectl_here("train", cwd=tmp_path)
    assert r.returncode == 130 and r.stderr.strip() == "aectl: stopped", r.stderr
    assert not list(tmp_path.iterdir())  # Hydra made outputs/runs/<run>/: all of it went

    def logged_then_stopped(cfg, run_dir):
        (Path(run_dir) / "events.out.tfevents.1.host.1.0").write_bytes(b"")
        raise KeyboardInterrupt

    monkeypatch.setattr(training_run, "train", logged_then_stopped)
    r = aectl_here("train", cwd=tmp_path)
    assert r.returncode == 130
    (kept,) = (tmp_path / "outputs" / "runs").iterdir()
    assert (kept / ".hydra").is_dir()


def test_the_header_says_when_the_step_runs_in_bf16(tmp_path):
    """A bf16 (or compiled) run's numbers differ a little from float32's: its first line
    says which fast path it took; a plain run's says nothing of it."""
    r = aectl_here(
        "train", "trainer.precision=bf16", "trainer.max_epochs=1", "trainer.device=cpu",
        "trainer.analyze=none",
        f"hydra.run.dir={tmp_path / 'bf16'}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("aectl train  device=cpu precision=bf16  data=digits"), r.stdout
    r = aectl_here(
        "train",
        "trainer.max_epochs=1",
        "trainer.device=cpu",
        "trainer.analyze=none",
        f"hydra.run.dir={tmp_path / 'f'}",
    )
    assert r.stdout.startswith("aectl train  device=cpu  data=digits"), r.stdout


CTRL_C_IN_TORCH = """
import os, signal, sys
class CtrlCAtNumpy:  # a real SIGINT, at the instant torch's C extension imports NumPy
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            assert "torch" in sys.modules, "NumPy loads before torch: this test tests nothing"
            os.kill(os.getpid(), signal.SIGINT)
sys.meta_path.insert(0, CtrlCAtNumpy())
sys.argv = ["aectl", *sys.argv[1:]]
from aectl.cli import run
run()
"""


def test_ctrl_c_while_torch_loads_stops_the_run(tmp_path):
    """torch's import runs Python code from C++ and swallowed a KeyboardInterrupt raised
    in it (the NumPy it imports): a Ctrl-C in that instant was lost, the run trained on and
    then failed on a half-imported NumPy. aectl loads torch with SIGINT held
    (`aectl.training.stopping.load_torch`): `aectl: stopped`, 130, and no run folder."""
    r = subprocess.run(
        [sys.executable, "-c", CTRL_C_IN_TORCH, "train", "trainer.max_epochs=1",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 130, (r.stdout[-1500:], r.stderr[-1500:])
    assert r.stderr.strip() == "aectl: stopped", r.stderr[-1500:]
    assert not (tmp_path / "run").exists()
