"""Dataset loaders, checked against independent references (torchvision's IDX reader, the
real MNIST test split, brute-force geometry, closed-form pixel values)."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import math
import os
import pickle
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import aectl_here, npz_header_only

from aectl.config import dataset as schemas
from aectl.data import (
    cifar10,
    fashion_mnist,
    idx,
    image_folder,
    manifold,
    mnist,
    npz,
    onehot8,
    paths,
)
from aectl.data.base import IMAGE, MANIFOLD, ONEHOT, VECTOR
from aectl.errors import UserError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
MNIST_T10K = REPO.parent / "shared/data/mnist-t10k"
MNIST_T10K_MD5 = {
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
# Published per-digit counts of the MNIST test split.
MNIST_T10K_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def raises_user_error(field: str, *needles: str):
    """Context manager: a one-line UserError for `field` whose message holds `needles`."""

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(UserError)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            suppressed = self._ctx.__exit__(*exc)
            msg = str(self.info.value)
            assert self.info.value.field == field, msg
            assert msg.startswith(f"{field}: "), msg
            assert "\n" not in msg, msg
            for n in needles:
                assert str(n) in msg, f"{n!r} not in {msg!r}"
            return suppressed

    return _Check()


def everything(data):
    """All samples (train + val, each once) ordered by label; needs unique labels."""
    if data.val_x.data_ptr() == data.train_x.data_ptr() or torch.equal(data.train_y, data.val_y):
        x, y = data.train_x, data.train_y
    else:
        x, y = torch.cat([data.train_x, data.val_x]), torch.cat([data.train_y, data.val_y])
    order = torch.argsort(y)
    return x[order], y[order]


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """An independent IDX writer: struct-packed big-endian header + raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    blob = head + array.tobytes()
    path.write_bytes(gzip.compress(blob) if compress else blob)
    return path


# --------------------------------------------------------------------------- onehot8


def test_onehot8_patterns_labels_and_repeat():
    d = onehot8.load()
    assert d.kind == ONEHOT and d.shape == (8,) and d.input_size == 8
    assert d.train_x.dtype == torch.float32
    x, y = everything(d)
    assert torch.equal(x, torch.eye(8)) and torch.equal(y, torch.arange(8))
    assert torch.equal(d.val_x, d.train_x)  # val_fraction 0: validate on the same patterns

    d = onehot8.load(repeat=4)
    assert d.train_x.shape == (32, 8)
    assert torch.equal(d.train_x.argmax(1), d.train_y)
    assert torch.equal(torch.bincount(d.train_y), torch.full((8,), 4))
    assert torch.equal(d.train_x.sum(1), torch.ones(32))

    with raises_user_error("dataset.repeat", "0"):
        schemas.Onehot8Config(repeat=0)


# --------------------------------------------------------------------------- manifold


@pytest.mark.parametrize("name", manifold.CURVES)
def test_manifold_data_lies_near_its_curve(name):
    d = manifold.load(curve=name, n=500, noise=0.0, seed=3, val_fraction=0.2)
    assert d.kind == MANIFOLD and d.shape == (2,) and d.train_y is None and d.val_y is None
    assert d.train_x.shape == (400, 2) and d.val_x.shape == (100, 2)
    assert "not rescaled" in d.scaling["none"] and d.scaling["divide_by"] == 1.0
    curve = d.extras["curve"]
    assert curve.distance(torch.cat([d.train_x, d.val_x])).max() < 1e-5

    noisy = manifold.load(curve=name, n=4000, noise=0.05, seed=1, val_fraction=0.0)
    dist = curve.distance(noisy.train_x)
    # |N(0, 0.05^2 I) projected on the normal| has mean 0.05 * sqrt(2/pi) ~ 0.040
    assert 0.034 < dist.mean().item() < 0.046


def test_manifold_curves_known_geometry():
    circle = manifold.Curve("circle")
    t = torch.linspace(0, 6, 50, dtype=torch.float64)
    assert torch.allclose(circle.points(t).norm(dim=1), torch.ones(50, dtype=torch.float64))
    swiss = manifold.Curve("swiss_roll")
    assert swiss.t_range == pytest.approx((1.5 * math.pi, 4.5 * math.pi))
    t = torch.linspace(*swiss.t_range, 50, dtype=torch.float64)
    assert torch.allclose(swiss.points(t).norm(dim=1), t)  # |t (cos t, sin t)| = t
    spiral = manifold.Curve("spiral")
    r = spiral.points(torch.linspace(*spiral.t_range, 50, dtype=torch.float64)).norm(dim=1)
    assert torch.all(r.diff() > 0) and r[-1] == pytest.approx(1.0)  # Archimedean: r grows ~ t


@pytest.mark.parametrize("name", manifold.CURVES)
def test_manifold_tangent_matches_finite_differences(name):
    curve = manifold.Curve(name)
    lo, hi = curve.t_range
    t = torch.linspace(lo + 1e-3, hi - 1e-3, 200, dtype=torch.float64)
    h = 1e-6
    fd = (curve.points(t + h) - curve.points(t - h)) / (2 * h)
    assert torch.allclose(curve.derivative(t), fd, atol=1e-6)
    tan = curve.tangent(t)
    assert torch.allclose(tan.norm(dim=1), torch.ones(200, dtype=torch.float64))
    assert torch.allclose(tan, fd / fd.norm(dim=1, keepdim=True), atol=1e-6)


@pytest.mark.parametrize("name", manifold.CURVES)
def test_manifold_nearest_matches_brute_force(name):
    curve = manifold.Curve(name)
    lo, hi = curve.t_range
    g = torch.Generator().manual_seed(0)
    # points around the curve's bounding box, plus noisy points close to it
    box = curve.points(torch.linspace(lo, hi, 1000, dtype=torch.float64))
    mn, mx = box.min(0).values - 0.3, box.max(0).values + 0.3
    far = mn + (mx - mn) * torch.rand(300, 2, generator=g, dtype=torch.float64)
    near, _ = curve.sample(300, 0.1, g)
    x = torch.cat([far, near.double()])

    p, t = curve.nearest(x)
    assert p.shape == (600, 2) and t.shape == (600,) and p.dtype == torch.float64
    assert torch.all((t >= lo) & (t <= hi))
    assert torch.allclose(curve.points(t), p)

    # brute force: the closest of 100k dense samples, and the closest one on another
    # stretch of the curve (to tell clear-cut points from near-ties between arms)
    dense_t = torch.linspace(lo, hi, 100_001, dtype=torch.float64)
    dense = curve.points(dense_t)
    d_bf, i_bf, d_other = [], [], []
    for xi in x.split(100):
        dist = torch.cdist(xi, dense)
        m, i = dist.min(dim=1)
        far_off = (dense_t[None, :] - dense_t[i][:, None]).abs() > 0.5
        d_bf.append(m)
        i_bf.append(i)
        d_other.append(dist.masked_fill(~far_off, math.inf).min(1).values)
    d_bf, i_bf, d_other = torch.cat(d_bf), torch.cat(i_bf), torch.cat(d_other)
    d = (x - p).norm(dim=1)
    assert torch.all(d <= d_bf + 1e-9)  # never worse than brute force
    assert (d - d_bf).abs().max() < 1e-3
    clear = d_other > d_bf + 0.05
    assert clear.sum() > 300
    assert (p[clear] - dense[i_bf[clear]]).norm(dim=1).max() < 1e-3

    # float32 in, float32 out; a point on the curve projects onto itself
    t0 = torch.tensor([lo + 0.3 * (hi - lo), lo + 0.7 * (hi - lo)])
    p32, t32 = curve.nearest(curve.points(t0))
    assert p32.dtype == torch.float32 and torch.allclose(t32, t0, atol=1e-4)


def test_manifold_seeding_and_checks():
    a = manifold.load(curve="spiral", n=100, seed=5)
    b = manifold.load(curve="spiral", n=100, seed=5)
    c = manifold.load(curve="spiral", n=100, seed=6)
    assert torch.equal(a.train_x, b.train_x) and not torch.equal(a.train_x, c.train_x)
    with raises_user_error("dataset.noise", "-0.1"):
        schemas.ManifoldConfig(noise=-0.1)
    with raises_user_error("dataset.curve", "helix", "circle | spiral | swiss_roll"):
        schemas.ManifoldConfig(curve="helix")
    with raises_user_error("dataset.n"):
        schemas.ManifoldConfig(n=1)
    with raises_user_error("dataset.val_fraction"):
        schemas.ManifoldConfig(val_fraction=1.0)


# --------------------------------------------------------------------------- idx


@pytest.fixture(scope="module")
def mnist_t10k():
    if not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST test split not found at {MNIST_T10K}")
    return MNIST_T10K


def test_idx_reads_real_mnist_test_split(mnist_t10k, tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    for name, md5 in MNIST_T10K_MD5.items():
        raw = gzip.decompress((mnist_t10k / name).read_bytes())
        assert hashlib.md5(raw).hexdigest() == md5, f"{name} differs from the README's md5"
        (tmp_path / name[:-3]).write_bytes(raw)

    images = idx.read_idx(str(mnist_t10k / "t10k-images-idx3-ubyte.gz"), "dataset.images", ndim=3)
    labels = idx.read_idx(str(mnist_t10k / "t10k-labels-idx1-ubyte.gz"), "dataset.labels", ndim=1)
    ref_images = read_image_file(str(tmp_path / "t10k-images-idx3-ubyte"))  # torchvision's reader
    ref_labels = read_label_file(str(tmp_path / "t10k-labels-idx1-ubyte"))
    assert images.shape == (10000, 28, 28) and np.array_equal(images, ref_images.numpy())
    assert np.array_equal(labels, ref_labels.numpy())

    d = idx.load(
        images=str(mnist_t10k / "t10k-images-idx3-ubyte.gz"),
        labels=str(mnist_t10k / "t10k-labels-idx1-ubyte.gz"),
        val_fraction=0.1,
    )
    assert d.kind == IMAGE and d.shape == (1, 28, 28) and d.input_size == 784
    assert d.train_x.shape == (9000, 1, 28, 28) and d.val_x.shape == (1000, 1, 28, 28)
    y = torch.cat([d.train_y, d.val_y])
    assert torch.bincount(y).tolist() == MNIST_T10K_LABEL_COUNTS
    x = torch.cat([d.train_x, d.val_x])
    assert x.min() == 0.0 and x.max() == 1.0
    assert x.double().sum().item() * 255 == pytest.approx(
        float(ref_images.double().sum()), rel=1e-6
    )
    assert d.scaling["divide_by"] == 255.0 and d.scaling["raw_dtype"] == "uint8"

    # the uncompressed copies read the same, and limit takes the first N in file order
    d = idx.load(
        images=str(tmp_path / "t10k-images-idx3-ubyte"),
        labels=str(tmp_path / "t10k-labels-idx1-ubyte"),
        limit=50,
        val_fraction=0.0,
    )
    assert d.train_x.shape == (50, 1, 28, 28)
    assert sorted(d.train_y.tolist()) == sorted(ref_labels[:50].tolist())


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(40, 5, 7), dtype=np.uint8)
    labs = np.arange(40, dtype=np.uint8)
    # misleading names: gzip is detected from the magic bytes, not the extension
    ipath = write_idx(tmp_path / ("imgs.raw" if compress else "imgs.gz"), imgs, compress=compress)
    lpath = write_idx(tmp_path / "labs", labs, compress=compress)
    d = idx.load(images=str(ipath), labels=str(lpath), val_fraction=0.25, split_seed=1)
    assert (
        d.shape == (1, 5, 7) and d.train_x.shape == (30, 1, 5, 7) and d.val_x.shape == (10, 1, 5, 7)
    )
    x, y = everything(d)
    assert torch.equal(y, torch.arange(40))
    assert torch.equal(x, torch.from_numpy(imgs).float().unsqueeze(1) / 255)

    nolab = idx.load(images=str(ipath), limit=7, val_fraction=0.0)
    assert nolab.train_y is None and nolab.train_x.shape == (7, 1, 5, 7)
    first7 = {t.numpy().tobytes() for t in torch.from_numpy(imgs[:7]).float() / 255}
    assert {t[0].numpy().tobytes() for t in nolab.train_x} == first7
    assert nolab.notes == [] and d.notes == []


def test_a_limit_above_what_the_data_holds_is_said(tmp_path):
    """dataset.limit=20000 on a file of 40 images trains on the 40, and says so (it once did
    so silently: a sweep over the limit looked like it trained on more)."""
    ipath = write_idx(tmp_path / "imgs", np.zeros((40, 2, 2), np.uint8))
    d = idx.load(images=str(ipath), limit=20000, val_fraction=0.25)
    assert len(d.train_x) + len(d.val_x) == 40
    assert d.notes == [
        f"dataset.limit=20000 is more than the 40 samples of IDX file {ipath}: all 40 are used"
    ]
    assert idx.load(images=str(ipath), limit=40).notes == []
    np.savez(tmp_path / "a.npz", x=np.zeros((30, 3), np.float32))
    (note,) = npz.load(path=str(tmp_path / "a.npz"), limit=31).notes
    assert note.startswith("dataset.limit=31 is more than the 30 samples of ")
    r = aectl_here(  # said under the run's first line
        "train", "dataset=idx", f"dataset.images={ipath}", "dataset.limit=20000",
        "trainer.max_epochs=1", "trainer.batch_size=8", "trainer.analyze=none",
        f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines()[1] == f"note: {d.notes[0]}", r.stdout


def test_idx_split_is_seeded(tmp_path):
    ipath = write_idx(tmp_path / "i", np.zeros((20, 2, 2), np.uint8))
    lpath = write_idx(tmp_path / "l", np.arange(20, dtype=np.uint8))
    a, b, c = (idx.load(str(ipath), str(lpath), split_seed=s, val_fraction=0.3) for s in (0, 0, 1))
    assert torch.equal(a.val_y, b.val_y) and not torch.equal(a.val_y, c.val_y)
    assert sorted(a.train_y.tolist() + a.val_y.tolist()) == list(range(20))


def test_idx_errors(tmp_path, monkeypatch):
    imgs = np.zeros((4, 3, 3), np.uint8)
    good_i = write_idx(tmp_path / "good-images", imgs)
    good_l = write_idx(tmp_path / "good-labels", np.arange(4, dtype=np.uint8))

    def fails(field, images, labels=None, *needles):
        with raises_user_error(field, *needles):
            idx.load(images=str(images), labels=None if labels is None else str(labels))

    fails("dataset.images", tmp_path / "nope", None, "nope", "no such file")
    fails("dataset.labels", good_i, tmp_path / "nope", "nope", "no such file")
    fails("dataset.images", tmp_path, None, str(tmp_path), "is a directory")

    text = tmp_path / "notes.txt"
    text.write_text("hello, not an IDX file\n")
    fails("dataset.images", text, None, str(text), "not an IDX file", "0x00000803")
    fails("dataset.images", good_l, None, str(good_l), "label file", "0x00000801", "0x00000803")
    fails("dataset.labels", good_i, good_i, str(good_i), "image file", "0x00000801")

    floats = tmp_path / "floats"
    floats.write_bytes(struct.pack(">BBBBIII", 0, 0, 0x0D, 3, 1, 1, 1) + b"\0" * 4)
    fails("dataset.images", floats, None, "0x0d", "float32", "uint8")

    blob = good_i.read_bytes()
    short = tmp_path / "short"
    short.write_bytes(blob[:-5])
    fails("dataset.images", short, None, str(short), "truncated", "4x3x3 = 36", "holds 31")
    short_gz = tmp_path / "short.gz"
    short_gz.write_bytes(gzip.compress(blob[:-5]))
    fails("dataset.images", short_gz, None, "truncated", "holds 31")
    header_only = tmp_path / "header"
    header_only.write_bytes(blob[:9])
    fails("dataset.images", header_only, None, "truncated", "header")
    cut_gzip = tmp_path / "cut.gz"
    cut_gzip.write_bytes(gzip.compress(blob)[:20])
    fails("dataset.images", cut_gzip, None, str(cut_gzip), "gzip")
    long = tmp_path / "long"
    long.write_bytes(blob + b"\0\0")
    fails("dataset.images", long, None, "2 bytes after")

    few_labels = write_idx(tmp_path / "few-labels", np.arange(3, dtype=np.uint8))
    fails("dataset.labels", good_i, few_labels, "3 labels", "4 images", str(few_labels))

    empty = write_idx(tmp_path / "empty", np.zeros((0, 3, 3), np.uint8))
    fails("dataset.images", empty, None, "0 images")

    locked = write_idx(tmp_path / "locked", imgs)
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # running as root: simulate the permission error

        def no_read(*a, **k):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(idx, "open", no_read, raising=False)
    fails("dataset.images", locked, None, str(locked), "cannot read", "Permission denied")

    with raises_user_error("dataset.limit", "0"):
        schemas.IdxConfig(images="x", limit=0)


def test_relative_paths_resolve_against_launch_dir(tmp_path, monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    write_idx(tmp_path / "imgs", np.zeros((3, 2, 2), np.uint8))
    elsewhere = tmp_path / "run-dir"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # like hydra.job.chdir=true
    assert paths.resolve("imgs") == "imgs"  # no Hydra: as given
    with raises_user_error("dataset.images", str(elsewhere / "imgs")):
        idx.load(images="imgs")

    monkeypatch.setattr(HydraConfig, "initialized", staticmethod(lambda: True))
    fake = SimpleNamespace(runtime=SimpleNamespace(cwd=str(tmp_path)))
    monkeypatch.setattr(HydraConfig, "get", staticmethod(lambda: fake))
    assert paths.resolve("imgs") == str(tmp_path / "imgs")
    assert paths.resolve(str(tmp_path / "x")) == str(tmp_path / "x")
    assert idx.load(images="imgs", val_fraction=0.0).train_x.shape == (3, 1, 2, 2)


# --------------------------------------------------------------------------- torchvision sets

MNIST_RAW = [
    ("train", "images", (12, 28, 28)),
    ("train", "labels", (12,)),
    ("t10k", "images", (6, 28, 28)),
    ("t10k", "labels", (6,)),
]


def fake_mnist(root: Path, folder: str) -> dict[str, np.ndarray]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(len(folder))
    arrays = {}
    for split_name, what, shape in MNIST_RAW:
        a = (
            rng.integers(0, 256, size=shape, dtype=np.uint8)
            if what == "images"
            else np.arange(shape[0]) % 10
        )
        # unique (image, label) pairs: label i % 10, and pixel [0, 0] = i
        if what == "images":
            a[:, 0, 0] = np.arange(shape[0])
        arrays[f"{split_name}-{what}"] = a
        write_idx(raw / f"{split_name}-{what}-idx{len(shape)}-ubyte", a)
    return arrays


@pytest.mark.parametrize(("module", "folder"), [(mnist, "MNIST"), (fashion_mnist, "FashionMNIST")])
def test_torchvision_mnist_family_from_raw_files(tmp_path, module, folder):
    arrays = fake_mnist(tmp_path, folder)
    for train, prefix, n in [(True, "train", 12), (False, "t10k", 6)]:
        d = module.load(root=str(tmp_path), train=train, val_fraction=0.0)
        assert d.kind == IMAGE and d.shape == (1, 28, 28) and d.train_x.shape == (n, 1, 28, 28)
        assert d.scaling["divide_by"] == 255.0 and folder in d.scaling["source"]
        assert len(d.extras["classes"]) == 10
        order = torch.argsort(torch.round(d.train_x[:, 0, 0, 0] * 255))
        want = torch.from_numpy(arrays[f"{prefix}-images"]).float().unsqueeze(1) / 255
        assert torch.equal(d.train_x[order], want)
        assert torch.equal(d.train_y[order], torch.from_numpy(arrays[f"{prefix}-labels"]).long())

    d = module.load(root=str(tmp_path), limit=5, val_fraction=0.2)
    assert d.train_x.shape == (4, 1, 28, 28) and d.val_x.shape == (1, 1, 28, 28)
    firsts = sorted(torch.round(torch.cat([d.train_x, d.val_x])[:, 0, 0, 0] * 255).tolist())
    assert firsts == [0, 1, 2, 3, 4]


def test_torchvision_cifar10_from_pickled_batches(tmp_path, monkeypatch):
    import torchvision.datasets as tvd
    import torchvision.datasets.cifar as tv_cifar

    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    rows = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        data = rng.integers(0, 256, size=(3, 3072), dtype=np.uint8)  # rows: R plane, G, B
        labels = rng.integers(0, 10, size=3).tolist()
        rows[name] = (data, labels)
        with open(base / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, f)
    names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": names}, f)
    monkeypatch.setattr(tvd.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)  # batches.meta md5

    d = cifar10.load(root=str(tmp_path), train=True, val_fraction=0.0)
    assert d.kind == IMAGE and d.shape == (3, 32, 32) and d.train_x.shape == (15, 3, 32, 32)
    assert d.extras["classes"] == names
    want = np.concatenate([rows[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(15, 3, 32, 32)
    want_y = sum((rows[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    got = {(x.numpy().tobytes(), int(y)) for x, y in zip(d.train_x, d.train_y, strict=True)}
    ref = {((w.astype(np.float32) / 255).tobytes(), y) for w, y in zip(want, want_y, strict=True)}
    assert got == ref

    t = cifar10.load(root=str(tmp_path), train=False, val_fraction=0.0, limit=2)
    assert t.train_x.shape == (2, 3, 32, 32)
    test_rows = rows["test_batch"][0][:2].reshape(2, 3, 32, 32).astype(np.float32) / 255
    assert {x.numpy().tobytes() for x in t.train_x} == {r.tobytes() for r in test_rows}


@pytest.mark.parametrize(
    ("module", "where"),
    [(mnist, "MNIST/raw"), (fashion_mnist, "FashionMNIST/raw"), (cifar10, "cifar-10-batches-py")],
)
def test_torchvision_missing_files_message(tmp_path, monkeypatch, module, where):
    monkeypatch.chdir(tmp_path)
    with raises_user_error("dataset.root", str(tmp_path / "data" / where), "dataset.download=true"):
        module.load(root="data")
    with raises_user_error("dataset.limit"):
        module.load(root="data", limit=0)


def test_torchvision_download_failure_and_corrupt_files(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self):
        raise RuntimeError(
            "Error downloading train-images-idx3-ubyte.gz:\nTried https://x, got:\nno network"
        )

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with raises_user_error(
        "dataset.download", str(tmp_path), "no network", "dataset.download=false"
    ):
        mnist.load(root=str(tmp_path), download=True)

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, what, shape in MNIST_RAW:
        (raw / f"{prefix}-{what}-idx{len(shape)}-ubyte").write_bytes(b"garbage")
    with raises_user_error("dataset.root", str(raw), "could not be read"):
        mnist.load(root=str(tmp_path))


# --------------------------------------------------------------------------- image_folder


def test_image_folder_decodes_resizes_and_labels(tmp_path):
    from PIL import Image

    colors = {"blue": (0, 0, 255), "gray": (120, 120, 120), "red": (255, 0, 0)}
    for i, (cls, rgb) in enumerate(colors.items()):
        (tmp_path / cls).mkdir()
        for j in range(2 + i):
            Image.new("RGB", (10 + 3 * j, 6 + j), rgb).save(tmp_path / cls / f"{j}.png")
    (tmp_path / "red" / "notes.txt").write_text("not an image")

    d = image_folder.load(root=str(tmp_path), size=8, val_fraction=0.0)
    assert d.kind == IMAGE and d.shape == (1, 8, 8) and d.train_x.shape == (9, 1, 8, 8)
    assert d.extras["classes"] == ["blue", "gray", "red"]
    assert torch.bincount(d.train_y).tolist() == [2, 3, 4]
    for cls_i, rgb in enumerate(colors.values()):
        luma = round((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2]) / 1000)  # ITU-R 601-2
        sel = d.train_x[d.train_y == cls_i]
        assert torch.allclose(sel, torch.full_like(sel, luma / 255), atol=1.5 / 255)

    rgb = image_folder.load(root=str(tmp_path), size=5, grayscale=False, val_fraction=0.0)
    assert rgb.shape == (3, 5, 5)
    red = rgb.train_x[rgb.train_y == 2]
    assert torch.equal(red[:, 0], torch.ones_like(red[:, 0])) and red[:, 1:].abs().max() == 0

    assert image_folder.load(root=str(tmp_path), limit=3, val_fraction=0.0).train_x.shape[0] == 3


def test_image_folder_scales_16_bit_images_by_their_own_depth(tmp_path):
    """PIL's convert("L") clips 16-bit values at 255: a 0..65535 ramp would come out almost
    all white. Each image is scaled by its own depth, so 8- and 16-bit files agree."""
    from PIL import Image

    ramp = np.linspace(0, 1, 16 * 16, dtype=np.float64).reshape(16, 16)
    (tmp_path / "a").mkdir()
    Image.fromarray((ramp * 65535).round().astype(np.uint16)).save(tmp_path / "a" / "wide.png")
    assert Image.open(tmp_path / "a" / "wide.png").mode == "I;16"
    Image.fromarray((ramp * 255).round().astype(np.uint8)).save(tmp_path / "a" / "narrow.png")
    for grayscale in (True, False):
        d = image_folder.load(root=str(tmp_path), size=16, grayscale=grayscale, val_fraction=0.0)
        want = torch.from_numpy(ramp).float().expand_as(d.train_x[0])
        errors = sorted((img - want).abs().max().item() for img in d.train_x)  # any order
        assert errors[0] < 1e-4  # the 16-bit file: exact to its depth
        assert errors[1] <= 0.5 / 255 + 1e-6  # the 8-bit file: to 8-bit rounding
    assert d.scaling["raw_dtype"] == "uint8 and uint16"
    Image.fromarray(ramp.astype(np.float32), "F").save(tmp_path / "a" / "float.tif")
    with raises_user_error("dataset.root", "float.tif", "floating-point image"):
        image_folder.load(root=str(tmp_path))


def test_image_folder_errors(tmp_path):
    with raises_user_error("dataset.root", str(tmp_path / "nope"), "no such folder"):
        image_folder.load(root=str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with raises_user_error("dataset.root", str(empty), "no images"):
        image_folder.load(root=str(empty))
    (empty / "cls").mkdir()
    with raises_user_error("dataset.root", str(empty), "no images"):
        image_folder.load(root=str(empty))
    (empty / "cls" / "broken.png").write_bytes(b"not a png")
    with raises_user_error("dataset.root", "broken.png", "cannot decode"):
        image_folder.load(root=str(empty))
    afile = tmp_path / "afile"
    afile.write_text("x")
    with raises_user_error("dataset.root", "not a folder"):
        image_folder.load(root=str(afile))
    with raises_user_error("dataset.size"):
        schemas.ImageFolderConfig(root="x", size=0)


def image_tree(root: Path, files: list[str]) -> Path:
    from PIL import Image

    for i, rel in enumerate(files):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (4 + i, 4), 10 * i).save(root / rel)
    return root


def test_image_folder_lists_as_torchvision_does(tmp_path):
    """The reference: torchvision's ImageFolder listing (classes, order, extensions) of an
    ordinary tree, with nested folders, other files, and a link to an image outside it."""
    from torchvision.datasets import ImageFolder

    root = image_tree(tmp_path / "root", ["b/2.png", "a/x/1.png", "a/0.png", "a/y/z/3.jpg"])
    (root / "a" / "notes.txt").write_text("not an image")
    outside = image_tree(tmp_path / "elsewhere", ["o.png"])
    (root / "b" / "linked.png").symlink_to(outside / "o.png")
    assert image_folder.samples(str(root)) == (
        ImageFolder(str(root)).classes,
        ImageFolder(str(root)).samples,
    )


def test_image_folder_reads_each_file_of_a_symlink_loop_once(tmp_path):
    """Links back up the tree (a loop) are not followed; torchvision's own walk follows them
    until the path is too long, listing each image dozens of times."""
    from torchvision.datasets import ImageFolder

    files = ["a/0.png", "a/sub/1.png", "b/2.png"]
    plain = image_tree(tmp_path / "plain", files)
    looped = image_tree(tmp_path / "looped", files)
    (looped / "a" / "sub" / "back").symlink_to(looped / "a")
    (looped / "b" / "self").symlink_to(".", target_is_directory=True)
    assert len(ImageFolder(str(looped)).samples) > 3  # the bug this fixes
    want = [(os.path.relpath(p, plain), c) for p, c in ImageFolder(str(plain)).samples]
    _, got = image_folder.samples(str(looped))
    assert [(os.path.relpath(p, looped), c) for p, c in got] == want
    d = image_folder.load(root=str(looped), size=4, val_fraction=0.0)
    assert d.train_x.shape[0] == 3


@pytest.mark.parametrize("link", ["file", "folder", "hard link", "root"])
def test_image_folder_refuses_one_image_under_two_paths(tmp_path, link):
    root = image_tree(tmp_path / "root", ["a/0.png", "a/1.png", "b/2.png"])
    if link == "file":
        (root / "b" / "copy.png").symlink_to(root / "a" / "0.png")
    elif link == "folder":
        (root / "b" / "also_a").symlink_to(root / "a")
    elif link == "hard link":
        os.link(root / "a" / "0.png", root / "b" / "copy.png")
    else:
        (root / "c").symlink_to(root)  # a class folder that is the root itself
    with raises_user_error("dataset.root", str(root / "a" / "0.png"), "one image", "both"):
        image_folder.load(root=str(root))


# --------------------------------------------------------------------------- npz


def test_npz_vectors_images_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(30, 5)).astype(np.float64)
    img = rng.integers(0, 256, size=(30, 6, 4), dtype=np.uint8)
    rgb = rng.integers(0, 256, size=(30, 3, 4, 4), dtype=np.uint8)
    nhwc = rng.integers(0, 256, size=(30, 5, 6, 3), dtype=np.uint8)
    labels = np.arange(30)
    path = tmp_path / "arrays.npz"
    np.savez_compressed(path, x=vec, img=img, rgb=rgb, nhwc=nhwc, y=labels, fy=labels.astype(float))

    d = npz.load(path=str(path), labels_key="y", val_fraction=0.2)
    assert d.kind == VECTOR and d.shape == (5,) and d.train_x.shape == (24, 5)
    x, y = everything(d)
    assert torch.equal(y, torch.arange(30))
    assert torch.equal(x, torch.from_numpy(vec).float())  # floats are kept as is
    assert d.scaling["divide_by"] == 1.0 and d.scaling["raw_dtype"] == "float64"

    d = npz.load(path=str(path), key="img", labels_key="fy", val_fraction=0.0)
    assert d.kind == IMAGE and d.shape == (1, 6, 4)
    x, _ = everything(d)
    assert torch.equal(x, torch.from_numpy(img).float().unsqueeze(1) / 255)
    assert d.scaling["divide_by"] == 255.0 and d.scaling["raw_dtype"] == "uint8"

    # (30, 3, 4, 4): 3-channel 4x4 images, or 4-channel 3x4 ones? dataset.layout says which
    with raises_user_error("dataset.layout", "(30, 3, 4, 4)", "allowed: nchw, nhwc"):
        npz.load(path=str(path), key="rgb", labels_key="y", val_fraction=0.0)
    d = npz.load(path=str(path), key="rgb", labels_key="y", val_fraction=0.0, layout="nchw")
    assert d.shape == (3, 4, 4) and torch.equal(
        everything(d)[0], torch.from_numpy(rgb).float() / 255
    )
    d = npz.load(path=str(path), key="rgb", labels_key="y", val_fraction=0.0, layout="nhwc")
    assert d.shape == (4, 3, 4) and torch.equal(
        everything(d)[0], torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255
    )
    d = npz.load(path=str(path), key="nhwc", labels_key="y", val_fraction=0.0)
    assert d.shape == (3, 5, 6) and d.scaling["layout"] == "NHWC -> NCHW"
    assert torch.equal(everything(d)[0], torch.from_numpy(nhwc).permute(0, 3, 1, 2).float() / 255)

    flat = npz.load(
        path=str(path), key="img", image=False, labels_key="y", limit=10, val_fraction=0.0
    )
    assert flat.kind == VECTOR and flat.shape == (24,) and flat.train_x.shape == (10, 24)
    assert sorted(flat.train_y.tolist()) == list(range(10))

    raw = npz.load(path=str(path), key="img", scale="none", val_fraction=0.0)
    assert raw.train_x.max() > 1 and raw.scaling["divide_by"] == 1.0
    mm = npz.load(path=str(path), key="x", scale="minmax", val_fraction=0.0)
    assert mm.train_x.min() == 0.0 and mm.train_x.max() == pytest.approx(1.0)
    d255 = npz.load(path=str(path), key="x", scale="div255", val_fraction=0.0)
    assert torch.allclose(
        torch.sort(d255.train_x.flatten()).values * 255,
        torch.sort(torch.from_numpy(vec).float().flatten()).values,
        atol=1e-4,
    )


def test_npz_errors(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(
        path,
        x=np.zeros((4, 3)),
        other=np.zeros((4, 3)),
        y=np.arange(3),
        vec=np.zeros(4),
        nan=np.full((4, 2), np.nan),
        s=np.array(["a", "b", "c", "d"]),
        neg=-np.arange(4),
    )
    with raises_user_error("dataset.key", "'images'", "keys present", "x, other, y"):
        npz.load(path=str(path), key="images")
    with raises_user_error("dataset.labels_key", "'labels'", "keys present"):
        npz.load(path=str(path), labels_key="labels")
    with raises_user_error("dataset.labels_key", "(3,)", "(4,)"):
        npz.load(path=str(path), labels_key="y")
    with raises_user_error("dataset.labels_key", "negative"):
        npz.load(path=str(path), labels_key="neg")
    with raises_user_error("dataset.key", "(4,)"):
        npz.load(path=str(path), key="vec")
    with raises_user_error("dataset.key", "NaN"):
        npz.load(path=str(path), key="nan")
    with raises_user_error("dataset.key", "dtype"):
        npz.load(path=str(path), key="s")
    with raises_user_error("dataset.image", "(4, 3)"):
        npz.load(path=str(path), image=True)
    with raises_user_error("dataset.scale", "constant"):
        npz.load(path=str(path), scale="minmax")
    with raises_user_error("dataset.path", str(tmp_path / "missing.npz"), "no such file"):
        npz.load(path=str(tmp_path / "missing.npz"))
    text = tmp_path / "t.npz"
    text.write_text("just text")
    with raises_user_error("dataset.path", str(text), "not a readable .npz"):
        npz.load(path=str(text))
    np.save(tmp_path / "single.npy", np.zeros((3, 2)))
    with raises_user_error("dataset.path", ".npy"):
        npz.load(path=str(tmp_path / "single.npy"))
    with raises_user_error("dataset.scale", "auto"):
        schemas.NpzConfig(path="x", scale="zscore")


def test_npz_array_larger_than_memory_is_refused_from_its_header(tmp_path):
    from aectl.data.base import ram_bytes

    wide = npz_header_only(tmp_path / "wide.npz", (10, 10**12))
    with np.load(wide) as z, z.zip.open("x.npy") as f:  # the reference: numpy's own reader
        np.lib.format.read_magic(f)
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    assert shape == (10, 10**12) and 10 * 10**12 * (dtype.itemsize + 4) > ram_bytes()
    with raises_user_error("dataset.key", "(10, 1000000000000)", "float64", "at most"):
        npz.load(path=str(wide))


def test_npz_float64_beyond_float32_is_named(tmp_path):
    big = np.ones((20, 3))
    big[3, 1] = -1e300
    np.savez(tmp_path / "a.npz", x=big, nan=np.where(big > 0, big, np.nan), ok=big / 1e300)
    with np.errstate(over="ignore"):
        assert not np.isfinite(big.astype(np.float32)).all()  # the reference: numpy's cast
    with raises_user_error("dataset.key", "float64", "1e+300", "beyond float32's range"):
        npz.load(path=str(tmp_path / "a.npz"))
    with raises_user_error("dataset.key", "NaN or infinite"):
        npz.load(path=str(tmp_path / "a.npz"), key="nan")
    assert npz.load(path=str(tmp_path / "a.npz"), key="ok", val_fraction=0.0).train_x.shape == (
        20,
        3,
    )


# --------------------------------------------------------------------------- configs

OPTIONS = {
    "onehot8": [],
    "manifold": ["dataset.n=50"],
    "idx": ["dataset.images=x"],
    "mnist": [],
    "fashion_mnist": [],
    "cifar10": [],
    "image_folder": ["dataset.root=x"],
    "npz": ["dataset.path=x"],
}


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_yaml_composes_against_schema_and_matches_load(option):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import get_method
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(overrides=[f"+dataset={option}", *OPTIONS[option]]).dataset
    assert cfg._target_ == f"aectl.data.{option}.load"
    obj = OmegaConf.to_object(cfg)  # runs __post_init__
    fields = {k: v for k, v in vars(obj).items() if k != "_target_"}
    inspect.signature(get_method(cfg._target_)).bind(**fields)  # load() takes every field
    if option in ("onehot8", "manifold"):
        from hydra.utils import instantiate

        assert instantiate(cfg).name == option


def test_yaml_rejects_bad_values():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose(overrides=["+dataset=manifold", "dataset.noise=-1"]).dataset
        with raises_user_error("dataset.noise"):
            OmegaConf.to_object(cfg)
        cfg = compose(overrides=["+dataset=onehot8", "dataset.repeat=0"]).dataset
        with raises_user_error("dataset.repeat"):
            OmegaConf.to_object(cfg)
