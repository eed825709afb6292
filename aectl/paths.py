"""Where the Hydra configs are: inside the installed wheel, or at the top of a checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def configs_dir() -> Path:
    packaged = _HERE / "configs"  # wheel: hatchling force-includes configs/ as aectl/configs
    if (packaged / "train.yaml").is_file():
        return packaged
    return _HERE.parent / "configs"  # editable install / checkout
