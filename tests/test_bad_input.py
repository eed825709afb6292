"""Every bad input gets one line naming the field or path, exit code 2, and no traceback.

One table, through the real CLI. Cases that need a file make it in tmp_path first; cases
that point at an existing run check that its files are byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import MNIST_DIR, aectl, aectl_here, npz_header_only, trained_run

pytestmark = pytest.mark.slow
TINY = ["trainer.max_epochs=1", "trainer.device=cpu"]


def idx_images(path: Path, n: int, truncate: int = 0) -> Path:
    data = struct.pack(">IIII", 0x00000803, n, 4, 4) + bytes(16 * n)
    path.write_bytes(data[: len(data) - truncate])
    return path


def idx_labels(path: Path, n: int) -> Path:
    path.write_bytes(struct.pack(">II", 0x00000801, n) + bytes(n))
    return path


def one_class_empty(t: Path) -> Path:
    """Two class folders with images and one (bird/) without."""
    from PIL import Image

    for rel in ("a/0.png", "a/1.png", "b/2.png"):
        (t / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (6, 6), len(rel)).save(t / "images" / rel)
    (t / "images" / "bird").mkdir()
    return t / "images"


def one_image_twice(t: Path) -> Path:
    """Class folders where b/copy.png is a link to a/0.png: one image under two paths."""
    from PIL import Image

    for rel in ("a/0.png", "a/1.png", "b/2.png"):
        (t / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (6, 6), len(rel)).save(t / "images" / rel)
    (t / "images" / "b" / "copy.png").symlink_to(t / "images" / "a" / "0.png")
    return t / "images"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished run to point checkpoints and resumes at."""
    return trained_run(tmp_path_factory.mktemp("trained") / "run", *TINY)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes but the run-folder lock's (it names its latest holder)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".aectl.lock"
    }


CASES = {
    "unknown group option": (
        lambda t, run: ["model=transformer"],
        "model=transformer: no such option; available: beta_vae, contractive, conv, deep",
    ),
    "misspelled group option": (
        lambda t, run: ["model=contractiv"],
        "model=contractiv: no such option; did you mean model=contractive? available: beta_vae",
    ),
    "a misspelt option in a sweep": (
        lambda t, run: ["-m", "model=sparse,contrastive"],
        "model=contrastive: no such option; did you mean model=contractive?",
    ),
    "a preset's arch fields under another arch": (
        lambda t, run: ["model=contractive", "arch=conv"],
        "arch.hidden: unknown key (aectl's config has no free-form keys); allowed: code_dim, "
        "channels, kernel_size, activation, code_activation, output_activation, stochastic, "
        "sigma; model=contractive sets arch.hidden for its arch=mlp; for arch=conv, use a model "
        "preset built on it (model=conv) with regularizer=contractive",
    ),
    "a penalty on a model solved in closed form": (
        lambda t, run: ["model=pca", "regularizer=sparse_l1", "regularizer.weight=0.1"],
        "regularizer: got 'sparse_l1'; arch=pca is solved in closed form, not trained, so no "
        "penalty shapes it; allowed: regularizer=none",
    ),
    "a list field given one value": (
        lambda t, run: ["arch.hidden=64"],
        "arch.hidden: got 64, one value; allowed: a list in brackets, arch.hidden=[...]",
    ),
    "unknown key": (
        lambda t, run: ["trainer.epochs=3"],
        "trainer.epochs: unknown key (did you mean trainer.max_epochs? aectl's config has no "
        "free-form keys); allowed: max_epochs",
    ),
    "wrong type": (
        lambda t, run: ["trainer.batch_size=big"],
        "trainer.batch_size: got 'big'; allowed: an integer",
    ),
    "wrong type, a number": (
        lambda t, run: ["regularizer.weight=abc"],
        "regularizer.weight: got 'abc'; allowed: a number",
    ),
    "wrong type, a flag": (
        lambda t, run: ["trainer.compile=maybe"],
        "trainer.compile: got 'maybe'; allowed: true or false",
    ),
    "negative weight": (
        lambda t, run: ["regularizer.weight=-0.1"],
        "regularizer.weight: got -0.1; allowed: a finite number >= 0",
    ),
    "NaN weight": (
        lambda t, run: ["model=sparse", "regularizer.weight=nan"],
        "regularizer.weight: got nan",
    ),
    "dropout p > 1": (
        lambda t, run: ["model=dropout", "regularizer.p=1.2"],
        "regularizer.p: got 1.2",
    ),
    "masking p < 0": (
        lambda t, run: ["model=denoising", "regularizer.level=-0.5"],
        "regularizer.level: got -0.5",
    ),
    "code_dim < 1": (
        lambda t, run: ["arch.code_dim=0"],
        "arch.code_dim: got 0; allowed: an integer >= 1",
    ),
    "code_dim not an integer": (
        lambda t, run: ["arch.code_dim=2.5"],
        "arch.code_dim: got '2.5'; allowed: an integer",
    ),
    "empty channel list": (
        lambda t, run: ["model=conv", "arch.channels=[]"],
        "arch.channels: got []",
    ),
    "batch size < 1": (lambda t, run: ["trainer.batch_size=0"], "trainer.batch_size: got 0"),
    "batch size > data": (
        lambda t, run: ["trainer.batch_size=5000"],
        "trainer.batch_size: got 5000; allowed: 1..1437",
    ),
    "lr <= 0": (lambda t, run: ["optim.lr=-0.01"], "optim.lr: got -0.01; allowed: a number > 0"),
    "max_epochs < 1": (lambda t, run: ["trainer.max_epochs=0"], "trainer.max_epochs: got 0"),
    "missing data file": (
        lambda t, run: ["dataset=idx", f"dataset.images={t}/nope.gz"],
        "dataset.images",
    ),
    "directory for a file": (
        lambda t, run: ["dataset=idx", f"dataset.images={t}"],
        "dataset.images",
    ),
    "wrong format": (
        lambda t, run: [
            "dataset=idx",
            f"dataset.images={(t / 'x.gz').write_text('hello') and t / 'x.gz'}",
        ],
        "dataset.images",
    ),
    "truncated IDX": (
        lambda t, run: ["dataset=idx", f"dataset.images={idx_images(t / 'i.idx', 50, truncate=7)}"],
        "dataset.images",
    ),
    "image/label counts differ": (
        lambda t, run: [
            "dataset=idx",
            f"dataset.images={idx_images(t / 'i.idx', 50)}",
            f"dataset.labels={idx_labels(t / 'l.idx', 49)}",
        ],
        "dataset.labels",
    ),
    "empty image folder": (
        lambda t, run: [
            "dataset=image_folder",
            f"dataset.root={(t / 'empty').mkdir() or t / 'empty'}",
        ],
        "dataset.root",
    ),
    "npz without the array": (
        lambda t, run: [
            "dataset=npz",
            f"dataset.path={np.savez(t / 'a.npz', images=np.zeros((4, 3))) or t / 'a.npz'}",
            "dataset.key=x",
        ],
        "dataset.key",
    ),
    "conv on vectors": (
        lambda t, run: ["model=conv", "dataset=manifold"],
        "arch: arch=conv needs image data",
    ),
    "conv stack too deep for the image": (
        lambda t, run: ["model=conv", "arch.channels=[4,4,4,4]"],
        "arch.channels",
    ),
    "corrupt checkpoint": (
        lambda t, run: [
            f"trainer.resume={(t / 'c.pt').write_bytes(b'PK' + bytes(100)) and t / 'c.pt'}"
        ],
        "trainer.resume: ",
    ),
    "checkpoint of another architecture": (
        lambda t, run: ["arch.code_dim=7", f"trainer.resume={run}/checkpoints/last.pt"],
        "trainer.resume: the checkpoint is of another run (arch.code_dim 16 -> 7)",
    ),
    "not a tensor checkpoint": (
        lambda t, run: [
            f"trainer.resume={(t / 'evil.pt').write_bytes(pickle.dumps({'model': Path('/')})) and t / 'evil.pt'}"
        ],
        "is not a tensor checkpoint (refused by weights_only loading",
    ),
    "text file as checkpoint": (
        lambda t, run: [
            f"trainer.resume={(t / 'notes.txt').write_text('hi there') and t / 'notes.txt'}"
        ],
        "trainer.resume: ",
    ),
    "bce on data outside [0, 1]": (
        lambda t, run: [
            "dataset=npz",
            f"dataset.path={np.savez(t / 'n.npz', x=np.linspace(-2, 2, 600).reshape(200, 3)) or t / 'n.npz'}",
            "trainer.loss=bce",
            "arch.output_activation=identity",
        ],
        "trainer.loss: bce needs targets in [0, 1] and this data's values span [-2, 2]",
    ),
    "bce with an identity output": (
        lambda t, run: ["trainer.loss=bce", "arch.output_activation=identity"],
        "trainer.loss: got 'bce'; BCE needs outputs in (0, 1)",
    ),
    "KL sparsity on a linear code": (
        lambda t, run: ["model=linear", "regularizer=sparse_kl"],
        "regularizer: sparse_kl needs a code in (0, 1) and arch=linear has a linear code",
    ),
    "sigmoid output on coordinates": (
        lambda t, run: ["dataset=manifold"],
        "arch.output_activation: sigmoid outputs lie in [0, 1]",
    ),
    "new run into a used folder": (lambda t, run: [f"hydra.run.dir={run}"], "hydra.run.dir: "),
    "resume another arch in place": (
        lambda t, run: ["arch.hidden=[32]", f"hydra.run.dir={run}", "trainer.resume=auto"],
        "trainer.resume: the checkpoint is of another run (arch.hidden [128, 64] -> [32])",
    ),
    # issue 11: malformed inputs
    "+typo=1": (
        lambda t, run: ["+typo=1"],
        "typo: unknown key (aectl's config has no free-form keys); allowed: dataset, arch",
    ),
    "+trainer.max_epoch=5": (
        lambda t, run: ["+trainer.max_epoch=5"],
        "trainer.max_epoch: unknown key (did you mean trainer.max_epochs?",
    ),
    "seed beyond 2**32-1": (
        lambda t, run: ["trainer.seed=4294967296"],
        "trainer.seed: got 4294967296; allowed: an integer 0..4294967295",
    ),
    "code_dim beyond memory": (
        lambda t, run: ["arch.code_dim=1000000000000"],
        "arch.code_dim: got 1000000000000; the model would hold 129,000,000,033,216 parameters",
    ),
    "image folder with an empty class": (
        lambda t, run: ["dataset=image_folder", f"dataset.root={one_class_empty(t)}"],
        "holds no image (.jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff, .webp); allowed: "
        "images in every class folder (each folder is a class), or remove the empty one",
    ),
    "npz of five axes": (
        lambda t, run: [
            "dataset=npz",
            f"dataset.path={np.savez(t / 'v.npz', x=np.zeros((20, 2, 3, 8, 8))) or t / 'v.npz'}",
        ],
        "has shape (20, 2, 3, 8, 8); expected (N, D) vectors or (N, H, W) / (N, C, H, W) "
        "images; allowed: dataset.image=false to flatten each sample to a vector",
    ),
    "npz that is a text file": (
        lambda t, run: [
            "dataset=npz",
            f"dataset.path={(t / 'g.npz').write_text('hello') and t / 'g.npz'}",
        ],
        "is not a readable .npz archive (neither a zip of .npy arrays nor one .npy)",
    ),
    "npz wider than memory": (
        lambda t, run: [
            "dataset=npz",
            f"dataset.path={npz_header_only(t / 'w.npz', (10, 10**12))}",
        ],
        "dataset.key: array 'x' in ",
    ),
    "float64 npz beyond float32": (
        lambda t, run: [
            "dataset=npz",
            f"dataset.path={np.savez(t / 'f.npz', x=np.full((50, 3), 1e300)) or t / 'f.npz'}",
        ],
        "holds float64 values up to 1e+300 in magnitude, beyond float32's range",
    ),
    "dataset path with '='": (
        lambda t, run: ["dataset=npz", f"dataset.path={t}/a=b.npz"],
        "dataset.path: got '",
    ),
    "dataset path with ','": (
        lambda t, run: ["dataset=npz", f"dataset.path={t}/a,b.npz"],
        "a list of values; allowed: -m to sweep over them, or one value in quotes, ",
    ),
    "dataset path with non-ASCII letters": (
        lambda t, run: ["dataset=npz", f"dataset.path={t}/données.npz"],
        "cannot read unquoted (it holds 'é'); allowed: the value in quotes, ",
    ),
    "image folder: one image under two paths": (
        lambda t, run: ["dataset=image_folder", f"dataset.root={one_image_twice(t)}"],
        "are one image (a link), which would land in both the training and the validation",
    ),
    "sweep: a value listed twice": (
        lambda t, run: ["-m", "model=contractive", "regularizer.weight=0.1,0.1"],
        "regularizer.weight: got 0.1,0.1, which lists 0.1 twice: two jobs would train into one",
    ),
    "sweep: a λ without a penalty": (
        lambda t, run: ["-m", "regularizer.weight=1e-4,1e-2"],
        "regularizer.weight: swept, but regularizer=none has no penalty term, so every job "
        "would train the same model; allowed: a sweep of a penalty's weight (a λ to sweep",
    ),
    "sweep: a λ where the strength is another knob": (
        lambda t, run: ["-m", "model=denoising", "regularizer.weight=1e-4,1e-2"],
        "regularizer=denoising has no penalty term, so every job would train the same model; "
        "allowed: a sweep of a penalty's weight (its strength is regularizer.level)",
    ),
    "sweep: no values": (
        lambda t, run: ["-m", "trainer.seed=range(0,0)"],
        "trainer.seed: got range(0,0), which holds no values, so the sweep would run no job",
    ),
    "sweep: n_jobs=0": (
        lambda t, run: [
            "-m",
            "hydra/launcher=parallel",
            "hydra.launcher.n_jobs=0",
            "trainer.seed=0,1",
        ],
        "hydra.launcher.n_jobs: got 0; allowed: a non-zero integer",
    ),
    "sweep: SLURM launcher without SLURM": (
        lambda t, run: ["-m", "hydra/launcher=slurm", "trainer.seed=0,1"],
        "hydra/launcher=slurm: this machine has no SLURM",
    ),
    "sweep: Optuna n_trials=0": (
        lambda t, run: ["-m", "hparams_search=optuna_lambda", "hydra.sweeper.n_trials=0"],
        "hydra.sweeper.n_trials: got 0; allowed: an integer >= 1",
    ),
    "sweep: +trainer.max_epoch=5": (
        lambda t, run: ["-m", "+trainer.max_epoch=5", "trainer.seed=0,1"],
        "trainer.max_epoch: unknown key (did you mean trainer.max_epochs?",
    ),
    # a bad value among good ones: refused before the first job (the good ones trained first)
    "sweep: a negative λ among good ones": (
        lambda t, run: ["-m", "model=contractive", "regularizer.weight=1e-3,-1e-4"],
        "regularizer.weight: got -0.0001; allowed: a finite number >= 0",
    ),
    "sweep: a level above 1 among good ones, vmap": (
        lambda t, run: [
            "-m",
            "hydra/launcher=vmap",
            "model=denoising",
            "regularizer.level=0.2,1.5",
        ],
        "regularizer.level: got 1.5; allowed: a probability in [0, 1]",
    ),
    "sweep: a negative seed in a range": (
        lambda t, run: ["-m", "trainer.seed=range(-1,2)"],
        "trainer.seed: got -1; allowed: an integer 0..4294967295",
    ),
    "sweep: vmap max_group=0": (
        lambda t, run: [
            "-m",
            "hydra/launcher=vmap",
            "hydra.launcher.max_group=0",
            "trainer.seed=0,1",
        ],
        "hydra.launcher.max_group: got 0; allowed: an integer >= 1",
    ),
    "sweep: vmap executor=bogus": (
        lambda t, run: [
            "-m",
            "hydra/launcher=vmap",
            "hydra.launcher.executor=bogus",
            "trainer.seed=0,1",
        ],
        "hydra.launcher.executor: got 'bogus'; allowed: null (this process), local or slurm",
    ),
    "sweep: vmap executor=slurm without SLURM": (
        lambda t, run: [
            "-m",
            "hydra/launcher=vmap",
            "hydra.launcher.executor=slurm",
            "trainer.seed=0,1",
        ],
        "hydra.launcher.executor: slurm, but this machine has no SLURM",
    ),
    "sweep: a vmap field that does not exist": (
        lambda t, run: ["-m", "hydra/launcher=vmap", "+hydra.launcher.foo=2", "trainer.seed=0,1"],
        "hydra.launcher.foo: the vmap launcher has no such field; allowed: max_group, executor, submitit",
    ),
    "sweep: a vmap setting for the basic launcher": (
        lambda t, run: ["-m", "hydra.launcher.max_group=2", "trainer.seed=0,1"],
        "hydra.launcher.max_group: the basic launcher (the default) has no settings; it is "
        "hydra/launcher=vmap's",
    ),
    "sweep: a joblib setting for the basic launcher": (
        lambda t, run: ["-m", "hydra.launcher.n_jobs=2", "trainer.seed=0,1"],
        "hydra.launcher.n_jobs: the basic launcher (the default) has no settings; it is "
        "hydra/launcher=parallel's",
    ),
    "sweep: vmap max_group=null": (
        lambda t, run: [
            "-m",
            "hydra/launcher=vmap",
            "hydra.launcher.max_group=null",
            "trainer.seed=0,1",
        ],
        "hydra.launcher.max_group: got null; allowed: a value (it cannot be null)",
    ),
    "sweep: a submitit parameter without its +": (
        lambda t, run: [
            "-m",
            "hydra/launcher=vmap",
            "hydra.launcher.submitit.foo=1",
            "trainer.seed=0,1",
        ],
        "hydra.launcher.submitit.foo: unknown key; a key this map does not hold yet is added "
        "with a +: +hydra.launcher.submitit.foo=...",
    ),
    "sweep: --cfg job with -m": (
        lambda t, run: ["-m", "--cfg", "job", "model=contractive", "regularizer.weight=1,2"],
        "--cfg: describes one run, not a sweep (Hydra refuses it with -m); allowed: one value",
    ),
    "sweep: swept +trainer.max_epoch": (
        lambda t, run: ["-m", "+trainer.max_epoch=1,2"],
        "trainer.max_epoch: unknown key (did you mean trainer.max_epochs?",
    ),
}
HAS_SLURM = pytest.mark.skipif(
    bool(shutil.which("srun") or shutil.which("sbatch")), reason="this machine has SLURM"
)
NEEDS = {  # cases that only mean something on some machines
    "sweep: SLURM launcher without SLURM": HAS_SLURM,
    "sweep: vmap executor=slurm without SLURM": HAS_SLURM,
}


# Cases also run as a real `aectl` process: the exit code and stderr of the interpreter
# itself (the rest run in-process, the same code without an interpreter start each).
THROUGH_THE_CLI = {"unknown group option", "NaN weight", "new run into a used folder"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=NEEDS.get(c, ())) for c in CASES])
def test_bad_input(case, trained, tmp_path):
    make_args, needle = CASES[case]
    args = make_args(tmp_path, trained)
    fresh = not any(a.startswith("hydra.run.dir=") for a in args)
    if fresh:
        args.append(f"hydra.run.dir={tmp_path / 'run'}")
    if "-m" in args:  # a refused sweep leaves no sweep folder either
        args.append(f"hydra.sweep.dir={tmp_path / 'sweep'}")
    before = snapshot(trained)
    flags = [a for a in args if a == "-m"]  # before the overrides, as argparse wants
    # in this process (the real one's exit code and stderr are THROUGH_THE_CLI's to show)
    run = aectl if case in THROUGH_THE_CLI else aectl_here
    r = run("train", *flags, *TINY, *(a for a in args if a != "-m"))
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("aectl: error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in r.stdout + r.stderr
    after = snapshot(trained)
    changed = [name for name, data in before.items() if after.get(name) != data]
    assert not changed, f"files of the existing run changed: {changed}"
    if fresh:  # a refused run leaves no folder (Hydra's .hydra/ and empty log included)
        assert not (tmp_path / "run").exists(), sorted((tmp_path / "run").rglob("*"))
    assert not (tmp_path / "sweep").exists(), sorted((tmp_path / "sweep").rglob("*"))


@pytest.mark.parametrize("value", ["", "null", "''"])
def test_an_empty_run_folder_is_refused_never_the_current_folder(tmp_path, value):
    here = tmp_path / "here"
    here.mkdir()
    r = aectl_here("train", *TINY, f"hydra.run.dir={value}", cwd=here)
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aectl: error: hydra.run.dir: got "), r.stderr
    assert list(here.iterdir()) == []


def test_eval_with_a_corrupt_hydra_record(trained, tmp_path):
    run = Path(shutil.copytree(trained, tmp_path / "run"))
    record = run / ".hydra" / "hydra.yaml"
    record.write_text(record.read_text()[:200] + "\n  - [unclosed")
    before = snapshot(run)
    r = aectl_here("eval", str(run))
    assert r.returncode == 2, (r.stdout[-2000:], r.stderr[-2000:])
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"aectl: error: RUN_DIR: {record} "), r.stderr
    assert "is not readable YAML" in lines[0] and "Traceback" not in r.stdout + r.stderr
    assert snapshot(run) == before


def test_unwritable_output_folder(tmp_path):
    target = Path("/sys/aectl-test-run")
    try:
        target.mkdir()
    except OSError:
        pass
    else:
        target.rmdir()
        pytest.skip("this machine lets us write under /sys")
    for args in (  # a run, and a sweep (Hydra only warns about its callback's error)
        [f"hydra.run.dir={target}"],
        ["-m", "trainer.seed=0,1", f"hydra.sweep.dir={target}"],
    ):
        with warnings.catch_warnings(record=True) as caught:  # (a real process prints them)
            warnings.simplefilter("always")
            r = aectl_here("train", *args, *TINY)
        assert not [str(w.message) for w in caught if "Callback" in str(w.message)]
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aectl: error: "), r.stderr
        assert str(target) in lines[0] and "cannot write" in lines[0], r.stderr


@pytest.mark.skipif(not MNIST_DIR.exists(), reason="needs ../shared/data/mnist-t10k")
def test_gzip_idx_labels_of_another_split_size(tmp_path):
    labels = tmp_path / "labels.gz"
    labels.write_bytes(gzip.compress(struct.pack(">II", 0x00000801, 3) + bytes(3)))
    r = aectl_here(
        "train",
        *TINY,
        "dataset=idx",
        f"dataset.images={MNIST_DIR}/t10k-images-idx3-ubyte.gz",
        f"dataset.labels={labels}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert r.returncode == 2 and "dataset.labels" in r.stderr and "10000" in r.stderr, r.stderr


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted-for-hydra"])
def test_a_refused_run_keeps_the_users_own_folder_and_records(tmp_path, quoted):
    """Hydra's new record and empty log go; the folder the user made before the command
    stays, and so does an earlier record in .hydra/ (a refused resume writes its own)."""
    mine = tmp_path / "my run"
    (mine / ".hydra").mkdir(parents=True)
    (mine / ".hydra" / "config.yaml").write_text("earlier: 1\n")
    where = f"'{mine}'" if quoted else str(mine)
    r = aectl_here(
        "train", *TINY, "arch.code_dim=0", "trainer.resume=auto", f"hydra.run.dir={where}"
    )
    assert r.returncode == 2 and r.stderr.startswith("aectl: error: arch.code_dim")
    assert sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*")) == [
        ".hydra",
        ".hydra/config.yaml",
    ]
    (mine / ".hydra" / "config.yaml").unlink()
    (mine / ".hydra").rmdir()
    r = aectl_here("train", *TINY, "arch.code_dim=0", f"hydra.run.dir={where}")
    assert r.returncode == 2 and mine.is_dir() and list(mine.iterdir()) == []


def test_a_missing_mnist_file_of_a_preset_names_the_variable_it_came_from(tmp_path, monkeypatch):
    """The MNIST presets take their folder from $AECTL_MNIST (default
    ../shared/data/mnist-t10k from where aectl runs): a user who typed no path is told where
    the path came from and what to set."""
    monkeypatch.delenv("AECTL_MNIST", raising=False)
    run = f"hydra.run.dir={tmp_path / 'run'}"
    r = aectl_here("train", "experiment=vae_mnist", run, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert (
        f"{tmp_path.parent}/shared/data/mnist-t10k/t10k-images-idx3-ubyte.gz: no such file (the "
        f"MNIST presets read their folder from $AECTL_MNIST, unset here, so "
        f"../shared/data/mnist-t10k from {tmp_path}; allowed: AECTL_MNIST=" in r.stderr
    ), r.stderr
    monkeypatch.setenv("AECTL_MNIST", str(tmp_path / "nope"))
    r = aectl_here("train", "experiment=vae_mnist", run, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().endswith(
        f"no such file (the folder is $AECTL_MNIST={tmp_path / 'nope'})"
    ), r.stderr
    r = aectl_here("train", "dataset=idx", f"dataset.images={tmp_path / 'x.gz'}", run)
    assert r.returncode == 2 and r.stderr.strip().endswith("x.gz: no such file"), r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["trainer.max_epochs=0"],
        ["hydra.run.dir=a/b/run", "optim.lr=-1"],
        ["-m", "model=contractive,contrctive"],
        ["-m", "model=contractive", "regularizer.weight=1e-3,abc"],
    ],
    ids=["run", "nested run folder", "sweep, an option", "sweep, a value"],
)
def test_a_refused_command_in_a_fresh_folder_leaves_it_empty(tmp_path, args):
    """Not even the `outputs/runs/` (`outputs/sweeps/`, `a/b/`) Hydra made on the way to
    the folder it was refused in."""
    r = aectl_here("train", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == [], sorted(tmp_path.rglob("*"))
