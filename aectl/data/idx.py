"""MNIST-format IDX files read from paths in the config, gzip-compressed or raw.

For any MNIST-like set already on disk (the official files, EMNIST, a private set written
in the same format) without going through torchvision's fixed folder layout or a download.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np
import torch

from aectl.config.dataset import check_idx, check_idx_test, held_out_share
from aectl.data.base import EIGHT_BIT, IMAGE, Data, split
from aectl.data.paths import resolve
from aectl.errors import UserError

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
_TYPE_NAMES = {
    0x08: "uint8",
    0x09: "int8",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_GZIP_MAGIC = b"\x1f\x8b"


MNIST_ENV, MNIST_DEFAULT = "AECTL_MNIST", "../shared/data/mnist-t10k"  # configs/experiment


def _mnist_hint(path: str) -> str:
    """The MNIST presets find their files through $AECTL_MNIST (configs/experiment/*.yaml):
    a missing one says so, since the user typed no path."""
    folder = os.environ.get(MNIST_ENV)
    here = os.path.abspath(os.path.dirname(path))
    if folder is not None and here == os.path.abspath(folder):
        return f" (the folder is ${MNIST_ENV}={folder})"
    if folder is None and here == os.path.abspath(MNIST_DEFAULT):
        return (
            f" (the MNIST presets read their folder from ${MNIST_ENV}, unset here, so "
            f"{MNIST_DEFAULT} from {os.getcwd()}; allowed: {MNIST_ENV}=/path/to/the/idx/files "
            "or dataset.images=PATH dataset.labels=PATH)"
        )
    return ""


def read_bytes(path: str, field: str) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic; UserError otherwise."""
    if not os.path.exists(path):
        raise UserError(field, f"{path}: no such file{_mnist_hint(path)}")
    if os.path.isdir(path):
        raise UserError(field, f"{path} is a directory; expected a file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise UserError(field, f"{path}: cannot read the file ({e.strerror or e})") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(field, f"{path}: corrupt or truncated gzip data ({e})") from None


def parse_idx(data: bytes, path: str, field: str, *, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes with `ndim` dimensions (big-endian header)."""
    want = IMAGES_MAGIC if ndim == 3 else LABELS_MAGIC
    what = "images" if ndim == 3 else "labels"
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        got = data[:4].hex() or "empty"
        raise UserError(
            field,
            f"{path} is not an IDX file (starts with 0x{got}); expected IDX {what}, magic 0x{want:08x}",
        )
    code, nd = data[2], data[3]
    if code != 0x08:
        name = _TYPE_NAMES.get(code, "unknown")
        raise UserError(
            field,
            f"{path}: IDX data type 0x{code:02x} ({name}) is not supported; expected uint8 (0x08)",
        )
    if nd != ndim:
        kind = {1: "an IDX label file", 3: "an IDX image file"}.get(
            nd, f"an IDX file with {nd} dimensions"
        )
        raise UserError(
            field,
            f"{path} is {kind} (magic 0x{0x800 + nd:08x}); expected IDX {what}, magic 0x{want:08x}",
        )
    header = 4 + 4 * nd
    if len(data) < header:
        raise UserError(
            field, f"{path} is truncated: {len(data)} bytes, shorter than its {header}-byte header"
        )
    dims = [int(d) for d in np.frombuffer(data, dtype=">u4", count=nd, offset=4)]
    promised = int(np.prod(dims, dtype=np.int64))
    held = len(data) - header
    shape = "x".join(map(str, dims))
    if held < promised:
        raise UserError(
            field,
            f"{path} is truncated: its header promises {shape} = {promised} bytes of data, the file holds {held}",
        )
    if held > promised:
        raise UserError(
            field,
            f"{path} has {held - promised} bytes after the {shape} = {promised} its header promises; not a well-formed IDX file",
        )
    return np.frombuffer(data, dtype=np.uint8, count=promised, offset=header).reshape(dims)


def read_idx(path: str, field: str, *, ndim: int) -> np.ndarray:
    """Read an IDX uint8 file (gzip detected by magic bytes) into a read-only array."""
    return parse_idx(read_bytes(path, field), path, field, ndim=ndim)


def read_pair(
    images: str, labels: str | None, limit: int | None, prefix: str = ""
) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """(images scaled to [0, 1] as (N, 1, H, W), labels or None, the image file's path) of
    one IDX pair; `prefix` names the fields ("test_" for dataset.test_images/test_labels)."""
    images_field, labels_field = f"dataset.{prefix}images", f"dataset.{prefix}labels"
    images_path = os.path.abspath(resolve(images))
    imgs = read_idx(images_path, images_field, ndim=3)
    n = imgs.shape[0]
    if n == 0:
        raise UserError(images_field, f"{images_path} holds 0 images")
    y = None
    if labels is not None:
        labels_path = os.path.abspath(resolve(labels))
        lab = read_idx(labels_path, labels_field, ndim=1)
        if lab.shape[0] != n:
            raise UserError(
                labels_field,
                f"{labels_path} holds {lab.shape[0]} labels but {images_field} ({images_path}) holds {n} images",
            )
        y = torch.from_numpy(lab[:limit].astype(np.int64))
    x = torch.from_numpy(imgs[:limit].copy()).unsqueeze(1).float().div_(255.0)  # (N,1,H,W)
    return x, y, images_path


def load(
    images: str,
    labels: str | None = None,
    limit: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    test_images: str | None = None,
    test_labels: str | None = None,
    test_fraction: float | None = 0.0,
) -> Data:
    check_idx(images, labels, limit)
    check_idx_test(labels, test_images, test_labels, test_fraction)
    x, y, images_path = read_pair(images, labels, limit)
    test = None
    if test_images is not None:
        tx, ty, test_path = read_pair(test_images, test_labels, limit, "test_")
        if tx.shape[1:] != x.shape[1:]:
            raise UserError(
                "dataset.test_images",
                f"{test_path} holds {tuple(tx.shape[2:])} images and dataset.images "
                f"({images_path}) {tuple(x.shape[2:])}; allowed: images of one size",
            )
        test = (tx, ty, f"official test split: IDX file {test_path}")
    return split(
        x,
        y,
        val_fraction=val_fraction,
        seed=split_seed,
        test_fraction=held_out_share(test_fraction, official=test is not None),
        test=test,
        shape=tuple(x.shape[1:]),
        kind=IMAGE,
        name="idx",
        scaling={"source": f"IDX file {images_path}", **EIGHT_BIT},
        limit=limit,
    )
