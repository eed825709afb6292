"""Arrays from a NumPy `.npz` archive: bring any data set you can put into an array.

Arrays of ndim 3 (N, H, W) or 4 (N, C, H, W) are taken as images and ndim 2 (N, D) as
vectors, unless `image` says otherwise; uint8 pixels are scaled to [0, 1] by default.
"""

from __future__ import annotations

import math
import os
import zipfile

import numpy as np
import torch

from aectl.config.dataset import check_npz, held_out_share
from aectl.data.base import IMAGE, VECTOR, Data, ram_bytes, split
from aectl.data.paths import resolve
from aectl.errors import UserError


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _open(path: str):
    if not os.path.exists(path):
        raise UserError("dataset.path", f"{path}: no such file")
    if os.path.isdir(path):
        raise UserError("dataset.path", f"{path} is a directory; expected an .npz file")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        # numpy reads a file that is neither zip nor .npy as a pickle, and refuses it with
        # advice to load it unsafely: never the way here
        why = "neither a zip of .npy arrays nor one .npy" if "pickle" in str(e) else _one_line(e)
        raise UserError("dataset.path", f"{path} is not a readable .npz archive ({why})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise UserError(
            "dataset.path",
            f"{path} is a .npy file (one array), not an .npz archive; save it with numpy.savez(path, x=array)",
        )
    return z


def _header(z, key: str) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, dtype) from the .npy header inside the archive, read before the array is;
    None when the header is not one numpy's public readers take (the load then says)."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0}
    readers[(2, 0)] = np.lib.format.read_array_header_2_0
    try:
        with z.zip.open(f"{key}.npy") as f:
            read = readers.get(np.lib.format.read_magic(f))
            if read is None:
                return None
            shape, _, dtype = read(f)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return tuple(shape), dtype


def _fits(z, path: str, key: str, field: str) -> None:
    """Refuse an array that cannot fit in memory as it is read (its own bytes plus the
    float32 copy aectl trains on), from its header, before anything is allocated."""
    header, ram = _header(z, key), ram_bytes()
    if header is None or ram is None:
        return
    shape, dtype = header
    count = math.prod(shape)
    need = count * (dtype.itemsize + 4)
    if need > ram:
        raise UserError(
            field,
            f"array {key!r} in {path} has shape {shape} ({dtype}): {need / 2**30:,.1f} GiB "
            f"to read and convert to float32, more than this machine's {ram / 2**30:,.1f} GiB; "
            f"allowed: an array of at most {ram // (dtype.itemsize + 4):,} values "
            "(save fewer or smaller samples)",
        )


def _get(z, path: str, key: str, field: str) -> np.ndarray:
    if key not in z.files:
        present = ", ".join(z.files) or "none"
        raise UserError(field, f"no array {key!r} in {path}; keys present: {present}")
    _fits(z, path, key, field)
    try:
        a = z[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(field, f"cannot read array {key!r} from {path} ({_one_line(e)})") from None
    if not (
        a.dtype == np.bool_
        or np.issubdtype(a.dtype, np.integer)
        or np.issubdtype(a.dtype, np.floating)
    ):
        raise UserError(
            field,
            f"array {key!r} in {path} has dtype {a.dtype}; expected numbers (bool, int, uint, float)",
        )
    return a


CHANNELS = (1, 3, 4)  # gray, RGB, RGBA: what a channel axis of image data usually holds


def _channels_last(shape: tuple[int, ...], layout: str, key: str, full: str) -> bool:
    """Whether a 4-D image array is (N, H, W, C): as `dataset.layout` says, or by which end
    holds a channel count; refused when both ends could (e.g. (N, 4, 4, 3))."""
    if layout != "auto":
        return layout == "nhwc"
    first, last = shape[1] in CHANNELS, shape[3] in CHANNELS
    if first and last:
        raise UserError(
            "dataset.layout",
            f"array {key!r} in {full} has shape {shape}: (N, C, H, W) or (N, H, W, C)? "
            "allowed: nchw, nhwc",
        )
    return last and not first


def _not_finite(a: np.ndarray, key: str, full: str) -> None:
    """Why the float32 samples are not all finite: the array's own NaN or infinities, or
    (float64 and wider) finite values beyond float32's range, which became infinite."""
    if np.isfinite(a).all():
        top, f32 = float(np.abs(a).max()), float(np.finfo(np.float32).max)
        raise UserError(
            "dataset.key",
            f"array {key!r} in {full} holds {a.dtype} values up to {top:.3g} in magnitude, "
            f"beyond float32's range (±{f32:.3g}), which aectl trains in; allowed: values "
            f"within ±{f32:.3g} (rescale the array, e.g. divide it by {top:.3g}, before saving)",
        )
    raise UserError("dataset.key", f"array {key!r} in {full} holds NaN or infinite values")


def load(
    path: str,
    key: str = "x",
    labels_key: str | None = None,
    image: bool | None = None,
    scale: str = "auto",
    limit: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    layout: str = "auto",
    test_fraction: float | None = 0.0,
) -> Data:
    check_npz(path, key, labels_key, scale, limit, layout)
    full = os.path.abspath(resolve(path))
    with _open(full) as z:
        a = _get(z, full, key, "dataset.key")
        lab = None if labels_key is None else _get(z, full, labels_key, "dataset.labels_key")

    n = a.shape[0] if a.ndim else 0
    if a.ndim < 2 or n == 0:
        raise UserError(
            "dataset.key",
            f"array {key!r} in {full} has shape {a.shape}; expected (N, D) vectors or (N, H, W) / (N, C, H, W) images with N >= 1",
        )
    if image is None and a.ndim > 4:  # neither vectors nor images: flatten only if told to
        raise UserError(
            "dataset.key",
            f"array {key!r} in {full} has shape {a.shape}; expected (N, D) vectors or "
            "(N, H, W) / (N, C, H, W) images; allowed: dataset.image=false to flatten each "
            "sample to a vector",
        )
    is_image = a.ndim in (3, 4) if image is None else image
    note = None  # how the array's axes were read, for metrics.json
    if is_image:
        if a.ndim not in (3, 4):
            raise UserError(
                "dataset.image",
                f"array {key!r} in {full} has shape {a.shape}; images need (N, H, W) or (N, C, H, W)",
            )
        if a.ndim == 3:
            a = a[:, None]
        elif _channels_last(a.shape, layout, key, full):
            a, note = a.transpose(0, 3, 1, 2), "NHWC -> NCHW"
    elif a.ndim > 2:
        a, note = (
            a.reshape(n, -1),
            f"{tuple(a.shape[1:])} flattened to ({int(np.prod(a.shape[1:]))},)",
        )

    y = None
    if lab is not None:
        if lab.ndim != 1 or lab.shape[0] != n:
            raise UserError(
                "dataset.labels_key",
                f"array {labels_key!r} in {full} has shape {lab.shape}; expected ({n},), one label per sample of {key!r}",
            )
        if np.issubdtype(lab.dtype, np.floating) and not np.all(lab == np.round(lab)):
            raise UserError(
                "dataset.labels_key", f"array {labels_key!r} in {full} holds non-integer values"
            )
        if lab.size and lab.min() < 0:
            raise UserError(
                "dataset.labels_key", f"array {labels_key!r} in {full} holds negative labels"
            )
        y = torch.from_numpy(lab[:limit].astype(np.int64))

    a = a[:limit]
    raw_dtype = str(a.dtype)
    with np.errstate(over="ignore"):  # values beyond float32: said in one line below
        x = torch.from_numpy(np.ascontiguousarray(a).astype(np.float32, copy=False))
    if not torch.isfinite(x).all():
        _not_finite(a, key, full)
    lo, hi = float(x.min()), float(x.max())
    subtract, divide = 0.0, 1.0
    if scale == "div255" or (scale == "auto" and raw_dtype == "uint8"):
        divide = 255.0
    elif scale == "minmax":
        if hi == lo:
            raise UserError(
                "dataset.scale",
                f"minmax: array {key!r} in {full} is constant ({lo}); use scale=none",
            )
        subtract, divide = lo, hi - lo
    if subtract:
        x = x - subtract
    if divide != 1.0:
        x = x / divide
    scaling = {
        "source": f"{full}[{key}]",
        "scale": scale,
        "raw_dtype": raw_dtype,
        "raw_range": [lo, hi],
        "subtract": subtract,
        "divide_by": divide,
    }
    if note:
        scaling["layout"] = note
    return split(
        x,
        y,
        val_fraction=val_fraction,
        seed=split_seed,
        test_fraction=held_out_share(test_fraction, official=False),
        shape=tuple(x.shape[1:]),
        kind=IMAGE if is_image else VECTOR,
        name="npz",
        scaling=scaling,
        limit=limit,
    )
