"""Shared test helpers: compose configs the way `aectl train` does, and run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist-t10k"
# the `model=` presets the product promises: the whole autoencoder taxonomy
TAXONOMY = [
    "linear",
    "shallow",
    "deep",
    "conv",
    "sparse",
    "sparse_kl",
    "denoising",
    "contractive",
    "dropout",
]
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(), reason="needs ../shared/data/mnist-t10k"
)


@pytest.fixture(scope="session", autouse=True)
def _schemas():
    from aectl.config.register import register_all

    register_all()


def compose(*overrides: str):
    """The config `aectl train OVERRIDES` would run, composed in-process."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from aectl.paths import configs_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(configs_dir()), version_base="1.3"):
        return hydra_compose("train", overrides=list(overrides))


def aectl(*args: str, cwd: Path | None = None, timeout: int = 300, env: dict | None = None):
    """Run the installed `aectl` in a subprocess; returns CompletedProcess (text)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "aectl", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def trained_run(run: Path, *overrides: str) -> Path:
    """`aectl train OVERRIDES` into the folder `run`, which must succeed; returns `run`."""
    r = aectl("train", *overrides, f"hydra.run.dir={run}")
    assert r.returncode == 0, r.stderr[-3000:]
    return run


def npz_header_only(path: Path, shape: tuple[int, ...], descr: str = "<f8") -> Path:
    """An .npz whose x.npy header declares `shape` but holds almost no data: what the
    archive says, before anything is read."""
    import io
    import zipfile

    import numpy as np

    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    buf.write(bytes(64))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", buf.getvalue())
    return path
