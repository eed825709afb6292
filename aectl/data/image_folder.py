"""Your own images in class folders (`root/<class>/<image>`), via torchvision's ImageFolder.

For training on pictures that are not a packaged dataset: every image is decoded once,
converted to grayscale or RGB, resized to size x size, and kept as one tensor in [0, 1];
labels are the class folders' indices in sorted order.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from aectl.config.dataset import check_image_folder
from aectl.data.base import IMAGE, Data, split
from aectl.data.paths import resolve
from aectl.errors import UserError


def _decode(path: str, mode: str, size: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError) as e:
        raise UserError(
            "dataset.root", f"cannot decode image {path} ({' '.join(str(e).split())})"
        ) from None


def load(
    root: str,
    size: int = 28,
    grayscale: bool = True,
    limit: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
) -> Data:
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    check_image_folder(root, size, limit)
    path = os.path.abspath(resolve(root))
    if not os.path.exists(path):
        raise UserError("dataset.root", f"{path}: no such folder")
    if not os.path.isdir(path):
        raise UserError("dataset.root", f"{path} is not a folder")
    try:
        folder = ImageFolder(path)
    except (FileNotFoundError, PermissionError) as e:
        raise UserError(
            "dataset.root",
            f"no images found in {path} ({' '.join(str(e).split())}); expected {path}/<class>/<image> "
            f"with extensions {', '.join(IMG_EXTENSIONS)}",
        ) from None
    samples = folder.samples[:limit]
    mode = "L" if grayscale else "RGB"
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while decoding
        arrays = list(pool.map(lambda s: _decode(s[0], mode, size), samples))
    x = torch.from_numpy(np.stack(arrays))  # (N, H, W) or (N, H, W, 3) uint8
    x = x.unsqueeze(1) if grayscale else x.permute(0, 3, 1, 2)
    x = x.float().div_(255.0)
    y = torch.tensor([label for _, label in samples], dtype=torch.int64)
    return split(
        x,
        y,
        val_fraction=val_fraction,
        seed=split_seed,
        shape=tuple(x.shape[1:]),
        kind=IMAGE,
        name="image_folder",
        scaling={
            "source": f"images in {path}, decoded to 8-bit {mode} and resized to {size}x{size}",
            "raw_dtype": "uint8",
            "raw_range": [0, 255],
            "divide_by": 255.0,
        },
        extras={"classes": list(folder.classes)},
    )
