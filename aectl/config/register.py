"""Imports every module that declares a config schema, so Hydra can compose against them.

Schemas live next to the code they configure (`aectl/regularizers/contractive.py` holds
ContractiveConfig and Contractive); importing those packages registers them.
"""

from __future__ import annotations

import importlib
import pkgutil

PACKAGES = ("aectl.config", "aectl.data", "aectl.models", "aectl.regularizers")


def register_all() -> None:
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        for info in pkgutil.iter_modules(pkg.__path__, prefix=f"{name}."):
            importlib.import_module(info.name)
