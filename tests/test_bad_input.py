"""Every bad input gets one line naming the field or path, exit code 2, and no traceback.

One table, through the real CLI. Cases that need a file make it in tmp_path first; cases
that point at an existing run check that its files are byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import MNIST_DIR, aectl, trained_run

pytestmark = pytest.mark.slow
TINY = ["trainer.max_epochs=1", "trainer.device=cpu"]


def idx_images(path: Path, n: int, truncate: int = 0) -> Path:
    data = struct.pack(">IIII", 0x00000803, n, 4, 4) + bytes(16 * n)
    path.write_bytes(data[: len(data) - truncate])
    return path


def idx_labels(path: Path, n: int) -> Path:
    path.write_bytes(struct.pack(">II", 0x00000801, n) + bytes(n))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished run to point checkpoints and resumes at."""
    return trained_run(tmp_path_factory.mktemp("trained") / "run", *TINY)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


CASES = {
    "unknown group option": (
        lambda t, run: ["model=transformer"],
        "model=transformer: no such option; available: contractive, conv, deep",
    ),
    "unknown key": (
        lambda t, run: ["trainer.epochs=3"],
        "trainer.epochs: unknown key; allowed keys: max_epochs",
    ),
    "wrong type": (lambda t, run: ["trainer.batch_size=big"], "trainer.batch_size: Value 'big'"),
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
    "code_dim not an integer": (lambda t, run: ["arch.code_dim=2.5"], "arch.code_dim: Value '2.5'"),
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
        "trainer.resume: checkpoint is of another architecture: encoder.5.weight: checkpoint (16, 64) vs model (7, 64)",
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
        "trainer.resume: checkpoint is of another architecture",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, trained, tmp_path):
    make_args, needle = CASES[case]
    args = make_args(tmp_path, trained)
    fresh = not any(a.startswith("hydra.run.dir=") for a in args)
    if fresh:
        args.append(f"hydra.run.dir={tmp_path / 'run'}")
    before = snapshot(trained)
    r = aectl("train", *TINY, *args)
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


def test_unwritable_output_folder(tmp_path):
    target = Path("/sys/aectl-test-run")
    try:
        target.mkdir()
    except OSError:
        pass
    else:
        target.rmdir()
        pytest.skip("this machine lets us write under /sys")
    r = aectl("train", *TINY, f"hydra.run.dir={target}")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith(f"aectl: error: {target}")
        and "cannot write" in lines[0]
    ), r.stderr


@pytest.mark.skipif(not MNIST_DIR.exists(), reason="needs ../shared/data/mnist-t10k")
def test_gzip_idx_labels_of_another_split_size(tmp_path):
    labels = tmp_path / "labels.gz"
    labels.write_bytes(gzip.compress(struct.pack(">II", 0x00000801, 3) + bytes(3)))
    r = aectl(
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
    r = aectl("train", *TINY, "arch.code_dim=0", "trainer.resume=auto", f"hydra.run.dir={where}")
    assert r.returncode == 2 and r.stderr.startswith("aectl: error: arch.code_dim")
    assert sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*")) == [
        ".hydra",
        ".hydra/config.yaml",
    ]
    (mine / ".hydra" / "config.yaml").unlink()
    (mine / ".hydra").rmdir()
    r = aectl("train", *TINY, "arch.code_dim=0", f"hydra.run.dir={where}")
    assert r.returncode == 2 and mine.is_dir() and list(mine.iterdir()) == []
