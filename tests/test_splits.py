"""Three splits: train, validation (selection) and test (reporting).

The test split is a data set's official one where it has one (torchvision's `train=False`,
an IDX pair named by `dataset.test_images`), else a seeded share held out like validation.
Checked against the files' own contents, an independent re-implementation of the old
two-way split, and runs saved before the test split existed (their stored config has no
`test_fraction`: they rebuild the train/val split they were trained on).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import MNIST_DIR, compose, needs_mnist
from omegaconf import OmegaConf
from test_data import fake_mnist, raises_user_error, write_idx

from aectl.config import dataset as schemas
from aectl.config.stored import stored_config
from aectl.data import idx, mnist
from aectl.data.base import VECTOR, split


def ids(t: torch.Tensor | None) -> list[int]:
    return [] if t is None else t[:, 0].long().tolist()


def numbered(n: int) -> torch.Tensor:
    """n samples whose first feature is their index."""
    return torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3)


def cut(x, val_fraction, test_fraction, seed=0):
    return split(
        x,
        None,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        seed=seed,
        shape=(3,),
        kind=VECTOR,
        name="t",
        scaling={},
    )


@pytest.mark.parametrize("n", [10, 97, 1797])
def test_the_three_splits_partition_the_samples_and_validation_does_not_move(n):
    x = numbered(n)
    plain = cut(x, 0.1, 0.0)
    for share in (0.05, 0.1, 0.3):
        d = cut(x, 0.1, share)
        train, val, test = ids(d.train_x), ids(d.val_x), ids(d.test_x)
        assert sorted(train + val + test) == list(range(n))  # each sample once
        assert val == ids(plain.val_x)  # selection sees the same samples whatever the test share
        assert len(test) == max(1, round(n * share)) and d.sizes()["test"] == len(test)
        assert set(test) <= set(ids(plain.train_x))


def test_no_test_share_is_the_old_two_way_split():
    """What aectl 0.1 did (re-implemented here): one seeded permutation, the first
    round(n * val_fraction) validate, the rest train."""
    n, seed = 101, 7
    x = numbered(n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = round(n * 0.2)
    d = cut(x, 0.2, 0.0, seed=seed)
    assert ids(d.val_x) == perm[:n_val].tolist() and ids(d.train_x) == perm[n_val:].tolist()
    assert d.test_x is None and d.sizes()["test_source"] == "none"
    same = cut(x, 0.0, 0.0)  # val_fraction 0: validate on the training samples
    assert ids(same.val_x) == ids(same.train_x) and same.test_x is None


def test_shares_that_leave_nothing_to_train_on_are_one_line():
    with raises_user_error(
        "dataset.test_fraction", "allowed: 0 <= value < 1 - dataset.val_fraction"
    ):
        cut(numbered(20), 0.5, 0.5)
    with raises_user_error("dataset.test_fraction", "training split would be empty"):
        cut(numbered(2), 0.4, 0.4)
    with raises_user_error("dataset.test_fraction", "allowed: null"):
        schemas.DigitsConfig(val_fraction=0.3, test_fraction=0.7)
    assert schemas.DigitsConfig().test_fraction is None  # null: official, else 0.1
    assert schemas.held_out_share(None, official=False) == schemas.TEST_FRACTION == 0.1
    assert schemas.held_out_share(None, official=True) == 0.0
    assert schemas.Onehot8Config().test_fraction == 0.0


def test_an_idx_pair_named_as_the_test_split_is_read_whole(tmp_path):
    rng = np.random.default_rng(0)
    train_i = rng.integers(0, 256, (30, 4, 5), dtype=np.uint8)
    test_i = rng.integers(0, 256, (8, 4, 5), dtype=np.uint8)
    paths = {
        "images": write_idx(tmp_path / "tr-i", train_i),
        "labels": write_idx(tmp_path / "tr-l", np.arange(30) % 10),
        "test_images": write_idx(tmp_path / "te-i", test_i),
        "test_labels": write_idx(tmp_path / "te-l", np.arange(8) % 3),
    }
    paths = {k: str(v) for k, v in paths.items()}
    d = idx.load(**paths, val_fraction=0.2, test_fraction=None)
    assert torch.equal(d.test_x, torch.from_numpy(test_i).float().unsqueeze(1) / 255)  # file order
    assert d.test_y.tolist() == [i % 3 for i in range(8)]
    assert len(d.train_x) + len(d.val_x) == 30  # nothing of the training file is held out
    assert "official test split" in d.test_source and paths["test_images"] in d.test_source
    assert len(idx.load(**paths, limit=5, test_fraction=None).test_x) == 5  # limit: each file

    without = {k: v for k, v in paths.items() if k != "test_labels"}
    with raises_user_error("dataset.test_labels", "when dataset.labels is set"):
        idx.load(**without, test_fraction=None)
    with raises_user_error("dataset.test_fraction", "when dataset.test_images is set"):
        idx.load(**paths, test_fraction=0.2)
    with raises_user_error("dataset.test_labels", "null when dataset.test_images is null"):
        idx.load(paths["images"], test_labels=paths["test_labels"], test_fraction=None)
    odd = write_idx(tmp_path / "odd", rng.integers(0, 256, (3, 5, 5), dtype=np.uint8))
    with raises_user_error("dataset.test_images", "allowed: images of one size"):
        idx.load(paths["images"], test_images=str(odd), test_fraction=None)
    held = idx.load(paths["images"], paths["labels"], val_fraction=0.2, test_fraction=None)
    assert len(held.test_x) == 3 and "dataset.test_fraction=0.1" in held.test_source


def test_torchvision_trains_on_train_and_tests_on_the_official_test_split(tmp_path):
    arrays = fake_mnist(tmp_path, "MNIST")
    d = mnist.load(root=str(tmp_path), val_fraction=0.25, test_fraction=None)
    want = torch.from_numpy(arrays["t10k-images"]).float().unsqueeze(1) / 255
    assert torch.equal(d.test_x, want) and d.test_y.tolist() == arrays["t10k-labels"].tolist()
    assert len(d.train_x) + len(d.val_x) == 12
    assert "train=False" in d.test_source
    on_test = mnist.load(root=str(tmp_path), train=False, val_fraction=0.0, test_fraction=None)
    assert len(on_test.train_x) == 5 and len(on_test.test_x) == 1  # 0.1 of the 6 held out
    carved = mnist.load(root=str(tmp_path), val_fraction=0.0, test_fraction=0.25)
    assert len(carved.test_x) == 3 and len(carved.train_x) == 9


def test_a_stored_config_without_test_fraction_has_no_test_split():
    """Runs saved before the test split existed rebuild the split they were trained on."""
    stored = OmegaConf.to_container(compose("trainer.device=cpu"), resolve=True)
    del stored["dataset"]["test_fraction"]
    assert stored_config(stored, "old.pt").dataset.test_fraction == 0.0
    stored["dataset"]["test_fraction"] = None  # a run saved since: today's meaning
    assert stored_config(stored, "new.pt").dataset.test_fraction is None


@needs_mnist
def test_the_mnist_presets_hold_out_a_test_split_of_t10k(monkeypatch):
    from hydra.utils import instantiate

    from aectl.config.validate import validate

    monkeypatch.setenv("AECTL_MNIST", str(MNIST_DIR))
    cfg = validate(compose("experiment=probe_mnist", "dataset.limit=500"))
    d = instantiate(cfg.dataset)
    assert d.sizes() == {
        "train": 400,
        "val": 50,
        "test": 50,
        "test_source": "50 of the 500 samples (dataset.test_fraction=0.1)",
    }


@pytest.mark.parametrize("value", [-1, 2**32])
def test_a_split_seed_outside_what_the_generators_take_is_one_line(value):
    from aectl.config.validate import validate
    from aectl.errors import UserError

    with pytest.raises(UserError) as e:
        validate(compose(f"dataset.split_seed={value}"))
    assert e.value.field == "dataset.split_seed"
    assert f"got {value}; allowed: an integer 0..4294967295" in str(e.value)
