"""Shared loader for the torchvision datasets options (mnist, fashion_mnist, cifar10).

The per-option modules only name the torchvision class (their schemas are in
`aectl.config.dataset`); the whole split is read at once from the dataset's
`.data`/`.targets` (no per-item decoding), and torchvision's "Dataset not found" RuntimeError becomes a UserError saying where we
looked and how to fix it.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from aectl.config.dataset import check_torchvision, held_out_share
from aectl.data.base import EIGHT_BIT, IMAGE, Data, split
from aectl.data.paths import resolve
from aectl.errors import UserError

# torchvision class name -> (folder under root, files it must find there)
_MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
_CIFAR10_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]
LAYOUT = {
    "MNIST": (os.path.join("MNIST", "raw"), _MNIST_FILES),
    "FashionMNIST": (os.path.join("FashionMNIST", "raw"), _MNIST_FILES),
    "CIFAR10": ("cifar-10-batches-py", _CIFAR10_FILES),
}


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _open(cls_name: str, root_abs: str, train: bool, download: bool):
    """torchvision.datasets.<cls_name>(root, train=...), its failures as one-line UserErrors."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    sub, files = LAYOUT[cls_name]
    folder = os.path.join(root_abs, sub)
    try:
        return cls(root_abs, train=train, download=download)
    except Exception as e:  # torchvision signals missing/corrupt files with assorted errors
        missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
        if missing and download:
            raise UserError(
                "dataset.download",
                f"could not download {cls_name} into {root_abs} ({_one_line(e)}); check the internet "
                f"connection, or set dataset.download=false and place the files in {folder}",
            ) from None
        if missing:
            raise UserError(
                "dataset.root",
                f"{cls_name} files not found in {folder} (missing: {', '.join(missing)}); set "
                "dataset.download=true on a machine with internet, or place the files there",
            ) from None
        raise UserError(
            "dataset.root",
            f"{cls_name} files in {folder} could not be read ({_one_line(e)}); delete them and set "
            "dataset.download=true, or replace them with intact copies",
        ) from None


def _tensors(ds, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images scaled to [0, 1] as (N, C, H, W), int64 labels) of a torchvision data set."""
    data = ds.data[:limit]
    targets = ds.targets[:limit]
    if isinstance(data, np.ndarray):  # CIFAR: uint8 (N, H, W, C)
        data = torch.from_numpy(np.ascontiguousarray(data))
    if data.ndim == 3:  # MNIST family: uint8 (N, H, W)
        data = data.unsqueeze(1)
    else:
        data = data.permute(0, 3, 1, 2)
    return data.float().div_(255.0), torch.as_tensor(targets, dtype=torch.int64)


def load_torchvision(
    cls_name: str,
    name: str,
    *,
    root: str,
    download: bool,
    train: bool,
    limit: int | None,
    val_fraction: float,
    split_seed: int,
    test_fraction: float | None = 0.0,
) -> Data:
    """Load torchvision.datasets.<cls_name> whole into a `Data` (images scaled to [0, 1]).

    Training on the official train split (`train=True`) with `test_fraction` null, the
    official test split (`train=False`) is the test split; otherwise `test_fraction` of the
    loaded split is held out."""
    check_torchvision(root, limit)
    root_abs = os.path.abspath(resolve(root))
    folder = os.path.join(root_abs, LAYOUT[cls_name][0])
    ds = _open(cls_name, root_abs, train, download)
    x, y = _tensors(ds, limit)
    which = "train" if train else "test"
    test = None
    if train and test_fraction is None:
        tx, ty = _tensors(_open(cls_name, root_abs, False, download), limit)
        test = (tx, ty, f"official test split: torchvision.datasets.{cls_name}(train=False)")
    return split(
        x,
        y,
        val_fraction=val_fraction,
        seed=split_seed,
        test_fraction=held_out_share(test_fraction, official=test is not None),
        test=test,
        shape=tuple(x.shape[1:]),
        kind=IMAGE,
        name=name,
        scaling={
            "source": f"torchvision.datasets.{cls_name} ({which} split) from {folder}",
            **EIGHT_BIT,
        },
        extras={"classes": list(getattr(ds, "classes", []))},
        limit=limit,
    )


def loader(cls_name: str, name: str):
    """The `load` function of one option: its config's fields, straight to load_torchvision."""

    def load(
        root: str = "data",
        download: bool = False,
        train: bool = True,
        limit: int | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        test_fraction: float | None = 0.0,
    ) -> Data:
        return load_torchvision(
            cls_name,
            name,
            root=root,
            download=download,
            train=train,
            limit=limit,
            val_fraction=val_fraction,
            split_seed=split_seed,
            test_fraction=test_fraction,
        )

    load.__doc__ = f"torchvision.datasets.{cls_name}, whole, as `Data`."
    return load
