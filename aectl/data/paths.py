"""Where a relative path in a config points: the directory the user launched aectl from.

Hydra may change the working directory to the run's output folder, so a loader must not
open `dataset.path=data/x.npz` relative to the process's current directory.
"""

from __future__ import annotations

import os


def resolve(path: str) -> str:
    """`path` with `~` expanded; relative paths are made absolute against the launch directory
    when Hydra is initialised (`hydra.utils.to_absolute_path`), else returned as given."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import to_absolute_path

    path = os.path.expanduser(str(path))
    if HydraConfig.initialized():
        return to_absolute_path(path)
    return path
