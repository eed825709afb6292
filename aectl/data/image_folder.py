"""Your own images in class folders (`root/<class>/<image>`), in torchvision ImageFolder's order.

For training on pictures that are not a packaged dataset: every image is decoded once,
converted to grayscale or RGB, resized to size x size, and kept as one tensor in [0, 1];
labels are the class folders' indices in sorted order. 8-bit images are divided by 255 and
16-bit ones (PIL modes I;16 and I) by 65535, each by its own depth, so a folder may mix them;
PIL's own conversion to 8 bits would clip 16-bit values at 255 (almost all white). The
listing is torchvision's (its classes, its order) but for links: a symlink loop is read once,
and an image reachable under two paths is refused (it would be in both splits).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from aectl.config.dataset import check_image_folder, held_out_share
from aectl.data.base import EIGHT_BIT, IMAGE, Data, split
from aectl.data.paths import resolve
from aectl.errors import UserError

WIDE = ("I;16", "I;16B", "I;16L", "I")  # 16-bit grayscale as PIL opens it
WIDE_MAX = 65535.0
DEPTHS = {  # (any 16-bit image, any 8-bit image) -> how the folder's pixels were scaled
    (False, True): EIGHT_BIT,
    (True, False): {"raw_dtype": "uint16", "raw_range": [0, 65535], "divide_by": WIDE_MAX},
    (True, True): {
        "raw_dtype": "uint8 and uint16",
        "raw_range": [0, 65535],
        "divide_by": "255 or 65535, by each image's depth",
    },
}


def _decode(path: str, mode: str, size: int) -> tuple[np.ndarray, bool]:
    """(size, size) or (size, size, 3) float32 in [0, 1], and whether the file is 16-bit."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode == "F":
                raise UserError(
                    "dataset.root",
                    f"{path} is a floating-point image, which has no fixed range; allowed: "
                    "8- or 16-bit images (or dataset=npz with dataset.scale=minmax)",
                )
            if im.mode in WIDE:
                raw = np.asarray(im).astype(np.float32)
                if raw.min() < 0 or raw.max() > WIDE_MAX:
                    raise UserError(
                        "dataset.root",
                        f"{path} is a 32-bit integer image with values outside 0..65535; "
                        "allowed: 8- or 16-bit images",
                    )
                gray = Image.fromarray(raw / WIDE_MAX, "F")
                out = np.asarray(gray.resize((size, size), Image.Resampling.BILINEAR))
                return (out if mode == "L" else np.repeat(out[..., None], 3, axis=-1)), True
            im = im.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.float32) / 255.0, False
    except (OSError, ValueError) as e:
        raise UserError(
            "dataset.root", f"cannot decode image {path} ({' '.join(str(e).split())})"
        ) from None


def _walk(folder: str, above: frozenset[str], out: list[tuple[str, list[str]]]) -> None:
    """(folder, file names) for `folder` and every folder below it, following links as
    torchvision's listing does (`os.walk(followlinks=True)`), except a link back to a folder
    on the way down (a loop), which that walk follows until the path is too long."""
    real = os.path.realpath(folder)
    if real in above:
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return  # unreadable: skipped, as os.walk skips it
    files, subfolders = [], []
    for e in entries:
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        (subfolders if is_dir else files).append(e.name)
    out.append((folder, files))
    for name in subfolders:
        _walk(os.path.join(folder, name), above | {real}, out)


def samples(path: str) -> tuple[list[str], list[tuple[str, int]]]:
    """(classes, [(image path, class index)]) in torchvision ImageFolder's order, each file
    once: a symlink loop is read once, and an image reachable under two paths (a link to a
    file or folder also listed elsewhere) is refused, since its copies would land on both
    sides of the train/validation split."""
    from torchvision.datasets.folder import (
        IMG_EXTENSIONS,
        find_classes,
        has_file_allowed_extension,
    )

    classes, class_to_idx = find_classes(path)
    seen: dict[tuple[int, int], str] = {}
    out, empty = [], []
    for cls in sorted(class_to_idx):
        folders: list[tuple[str, list[str]]] = []
        _walk(os.path.join(path, cls), frozenset(), folders)
        found = 0
        for folder, names in sorted(folders):
            for name in names:
                file = os.path.join(folder, name)
                if not has_file_allowed_extension(file, IMG_EXTENSIONS):
                    continue
                try:
                    st = os.stat(file)
                except OSError:  # a dangling link: decoding it says so
                    st = None
                if st is not None and (st.st_dev, st.st_ino) in seen:
                    raise UserError(
                        "dataset.root",
                        f"{seen[st.st_dev, st.st_ino]} and {file} are one image (a link), which "
                        "would land in both the training and the validation split; allowed: "
                        f"each image once under {path}",
                    )
                if st is not None:
                    seen[st.st_dev, st.st_ino] = file
                out.append((file, class_to_idx[cls]))
                found += 1
        if not found:
            empty.append(cls)
    if empty and len(empty) < len(class_to_idx):  # some classes have images: say which not
        s = "s" if len(empty) > 1 else ""
        raise UserError(
            "dataset.root",
            f"class folder{s} {', '.join(empty)} in {path} hold{'' if s else 's'} no image "
            f"({', '.join(IMG_EXTENSIONS)}); allowed: images in every class folder (each "
            "folder is a class), or remove the empty one",
        )
    if empty:  # torchvision's own refusal, in its words
        raise FileNotFoundError(
            f"Found no valid file for the classes {', '.join(empty)}. "
            f"Supported extensions are: {', '.join(IMG_EXTENSIONS)}"
        )
    return classes, out


def load(
    root: str,
    size: int = 28,
    grayscale: bool = True,
    limit: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    test_fraction: float | None = 0.0,
) -> Data:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    check_image_folder(root, size, limit)
    path = os.path.abspath(resolve(root))
    if not os.path.exists(path):
        raise UserError("dataset.root", f"{path}: no such folder")
    if not os.path.isdir(path):
        raise UserError("dataset.root", f"{path} is not a folder")
    try:
        classes, listed = samples(path)
    except (FileNotFoundError, PermissionError) as e:
        raise UserError(
            "dataset.root",
            f"no images found in {path} ({' '.join(str(e).split())}); expected "
            f"{path}/<class>/<image> with extensions {', '.join(IMG_EXTENSIONS)}",
        ) from None
    listed = listed[:limit]
    mode = "L" if grayscale else "RGB"
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while decoding
        decoded = list(pool.map(lambda s: _decode(s[0], mode, size), listed))
    arrays, wide = [a for a, _ in decoded], sum(w for _, w in decoded)
    x = torch.from_numpy(np.stack(arrays))  # (N, H, W) or (N, H, W, 3) float32 in [0, 1]
    x = (x.unsqueeze(1) if grayscale else x.permute(0, 3, 1, 2)).contiguous()
    y = torch.tensor([label for _, label in listed], dtype=torch.int64)
    return split(
        x,
        y,
        val_fraction=val_fraction,
        seed=split_seed,
        test_fraction=held_out_share(test_fraction, official=False),
        shape=tuple(x.shape[1:]),
        kind=IMAGE,
        name="image_folder",
        scaling={
            "source": f"images in {path}, decoded to {mode} and resized to {size}x{size}",
            **DEPTHS[(wide > 0, wide < len(listed))],
        },
        extras={"classes": list(classes)},
        limit=limit,
    )
