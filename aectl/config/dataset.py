"""Schemas of the `dataset` group: one dataclass per option in `configs/dataset/`.

Each `_target_` names the loader that builds the option's data (`aectl/data/<name>.py`).
The schemas live here, apart from the loaders, so composing a config (`aectl train --cfg
job`, a bad override's one-line error) never imports torch. The checks are functions
because the loaders run them too when called directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from aectl.config.schema import require_seed, schema
from aectl.errors import require

TEST_FRACTION = 0.1  # the test split of a data set without an official one


@dataclass
class DatasetConfig:
    """Fields every dataset option shares."""

    # What a stored config that lacks a field meant (runs saved before the field existed):
    # aectl.config.stored fills these in instead of today's defaults.
    OLD_DEFAULTS: ClassVar[dict[str, Any]] = {"test_fraction": 0.0}

    _target_: str = "???"
    val_fraction: float = 0.1  # share of samples held out for validation (0: validate on train)
    split_seed: int = 0  # seed of the train/val/test permutation
    # share of samples held out as the test split; null: the data set's official test split
    # where it has one, else 0.1 (0: no test split)
    test_fraction: float | None = None

    def __post_init__(self) -> None:
        require(
            0.0 <= self.val_fraction < 1.0,
            "dataset.val_fraction",
            self.val_fraction,
            "allowed: 0 <= value < 1",
        )
        check_test_fraction(self.test_fraction, self.val_fraction)
        require_seed("dataset.split_seed", self.split_seed)


def check_test_fraction(test_fraction: float | None, val_fraction: float) -> None:
    require(
        test_fraction is None or 0.0 <= test_fraction < 1.0 - val_fraction,
        "dataset.test_fraction",
        test_fraction,
        f"allowed: null (the official test split, else {TEST_FRACTION:g}), or "
        f"0 <= value < 1 - dataset.val_fraction ({1.0 - val_fraction:g})",
    )


def held_out_share(test_fraction: float | None, official: bool) -> float:
    """The share of samples to hold out as test: `test_fraction`, or for null 0 when the
    data set brings its official test split and TEST_FRACTION when it does not."""
    if test_fraction is None:
        return 0.0 if official else TEST_FRACTION
    return test_fraction


def check_limit(limit: int | None) -> None:
    """`dataset.limit`, shared by the file-backed options: the first N samples, or all."""
    require(
        limit is None or limit >= 1,
        "dataset.limit",
        limit,
        "allowed: an integer >= 1, or null for all",
    )


# ------------------------------------------------------------------ generated in memory


@schema("dataset", "digits")
@dataclass
class DigitsConfig(DatasetConfig):
    _target_: str = "aectl.data.digits.load"


@schema("dataset", "onehot8")
@dataclass
class Onehot8Config(DatasetConfig):
    _target_: str = "aectl.data.onehot8.load"
    val_fraction: float = 0.0  # validate on the same 8 patterns
    test_fraction: float | None = 0.0  # nothing to hold out: the task is the 8 patterns
    repeat: int = 1  # tile the 8 patterns this many times (more than one batch per epoch)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_onehot8(self.repeat)


def check_onehot8(repeat: int) -> None:
    require(repeat >= 1, "dataset.repeat", repeat, "allowed: an integer >= 1")


CURVES = ("circle", "spiral", "swiss_roll")


@schema("dataset", "manifold")
@dataclass
class ManifoldConfig(DatasetConfig):
    _target_: str = "aectl.data.manifold.load"
    curve: str = "circle"  # circle | spiral | swiss_roll
    n: int = 2000  # number of points
    noise: float = 0.05  # std of the isotropic gaussian added to each point
    seed: int = 0  # seed of the sampling (the train/val split has its own split_seed)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_manifold(self.curve, self.n, self.noise)
        require_seed("dataset.seed", self.seed)


def check_manifold(curve: str, n: int, noise: float) -> None:
    require(curve in CURVES, "dataset.curve", curve, "allowed: " + " | ".join(CURVES))
    require(n >= 2, "dataset.n", n, "allowed: an integer >= 2")
    require(
        math.isfinite(noise) and noise >= 0, "dataset.noise", noise, "allowed: a finite value >= 0"
    )


# ------------------------------------------------------------------ read from files


@schema("dataset", "idx")
@dataclass
class IdxConfig(DatasetConfig):
    _target_: str = "aectl.data.idx.load"
    images: str = "???"  # IDX image file (magic 0x00000803), .gz or raw
    labels: str | None = None  # IDX label file (magic 0x00000801), or null for no labels
    limit: int | None = None  # keep only the first N samples of each file (null: all)
    test_images: str | None = None  # the official test split's IDX image file, or null
    test_labels: str | None = None  # its labels (needed when `labels` is set), or null

    def __post_init__(self) -> None:
        super().__post_init__()
        check_idx(self.images, self.labels, self.limit)
        check_idx_test(self.labels, self.test_images, self.test_labels, self.test_fraction)


def check_idx(images: str, labels: str | None, limit: int | None) -> None:
    require(bool(images), "dataset.images", images, "allowed: a path to an IDX image file")
    require(
        labels is None or bool(labels),
        "dataset.labels",
        labels,
        "allowed: a path to an IDX label file, or null",
    )
    check_limit(limit)


def check_idx_test(
    labels: str | None,
    test_images: str | None,
    test_labels: str | None,
    test_fraction: float | None,
) -> None:
    """An official test split (`test_images`) comes with labels exactly when the training
    file does, and is not combined with a share held out of the training file."""
    require(
        test_images is None or bool(test_images),
        "dataset.test_images",
        test_images,
        "allowed: a path to an IDX image file, or null",
    )
    if test_images is None:
        require(
            test_labels is None,
            "dataset.test_labels",
            test_labels,
            "allowed: null when dataset.test_images is null",
        )
        return
    require(
        not test_fraction,
        "dataset.test_fraction",
        test_fraction,
        "allowed: null or 0 when dataset.test_images is set (the test split is that file)",
    )
    require(
        (labels is None) == (test_labels is None),
        "dataset.test_labels",
        test_labels,
        "allowed: a path to an IDX label file when dataset.labels is set, else null",
    )


@dataclass
class TorchvisionConfig(DatasetConfig):
    """Fields shared by the torchvision options (each subclass sets `_target_`)."""

    root: str = "data"  # folder holding torchvision's layout, e.g. <root>/MNIST/raw
    download: bool = False  # fetch the files into root if missing (needs internet)
    # official split to train on: train (true; its official test split is the test split)
    # or test (false; a share of it is held out as test)
    train: bool = True
    limit: int | None = None  # keep only the first N samples of each split (null: all)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_torchvision(self.root, self.limit)


def check_torchvision(root: str, limit: int | None) -> None:
    require(bool(root), "dataset.root", root, "allowed: a folder path")
    check_limit(limit)


@schema("dataset", "mnist")
@dataclass
class MnistConfig(TorchvisionConfig):
    _target_: str = "aectl.data.mnist.load"


@schema("dataset", "fashion_mnist")
@dataclass
class FashionMnistConfig(TorchvisionConfig):
    _target_: str = "aectl.data.fashion_mnist.load"


@schema("dataset", "cifar10")
@dataclass
class Cifar10Config(TorchvisionConfig):
    _target_: str = "aectl.data.cifar10.load"


@schema("dataset", "image_folder")
@dataclass
class ImageFolderConfig(DatasetConfig):
    _target_: str = "aectl.data.image_folder.load"
    root: str = "???"  # folder with one subfolder of images per class
    size: int = 28  # every image is resized to size x size
    grayscale: bool = True  # true: 1 channel, false: 3 (RGB)
    limit: int | None = None  # keep only the first N images in sorted order (null: all)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_image_folder(self.root, self.size, self.limit)


def check_image_folder(root: str, size: int, limit: int | None) -> None:
    require(bool(root), "dataset.root", root, "allowed: a folder of class subfolders")
    require(1 <= size <= 4096, "dataset.size", size, "allowed: 1 <= value <= 4096")
    check_limit(limit)


NPZ_SCALES = ("auto", "none", "div255", "minmax")
NPZ_LAYOUTS = ("auto", "nchw", "nhwc")  # of 4-D image arrays


@schema("dataset", "npz")
@dataclass
class NpzConfig(DatasetConfig):
    _target_: str = "aectl.data.npz.load"
    path: str = "???"  # the .npz archive (numpy.savez / savez_compressed)
    key: str = "x"  # array holding the samples, first axis = sample
    labels_key: str | None = None  # optional 1-D integer array of labels
    image: bool | None = None  # null: ndim 3/4 -> images, ndim 2 -> vectors
    scale: str = "auto"  # auto | none | div255 | minmax
    limit: int | None = None  # keep only the first N samples (null: all)
    layout: str = "auto"  # 4-D images: auto | nchw | nhwc

    def __post_init__(self) -> None:
        super().__post_init__()
        check_npz(self.path, self.key, self.labels_key, self.scale, self.limit, self.layout)


def check_npz(
    path: str,
    key: str,
    labels_key: str | None,
    scale: str,
    limit: int | None,
    layout: str = "auto",
) -> None:
    require(bool(path), "dataset.path", path, "allowed: a path to an .npz file")
    require(bool(key), "dataset.key", key, "allowed: the name of an array in the .npz file")
    require(
        labels_key is None or bool(labels_key),
        "dataset.labels_key",
        labels_key,
        "allowed: an array name, or null",
    )
    require(
        scale in NPZ_SCALES,
        "dataset.scale",
        scale,
        "allowed: auto (uint8 -> /255, other dtypes as is) | none | div255 | minmax (to [0, 1])",
    )
    require(layout in NPZ_LAYOUTS, "dataset.layout", layout, f"allowed: {', '.join(NPZ_LAYOUTS)}")
    check_limit(limit)
