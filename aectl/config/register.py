"""Imports every module that declares a config schema (or a resolver the configs use), so
Hydra can compose against them.

The schemas of a group live in `aectl/config/<group>.py` (`configs/regularizer/
contractive.yaml` extends `ContractiveConfig` there, whose `_target_` is the code in
`aectl/regularizers/contractive.py`). None of these modules imports torch, so composing a
config, printing it and refusing a bad override all happen before torch is loaded.
"""

from __future__ import annotations

import importlib
import pkgutil

PACKAGES = ("aectl.config",)


def register_all() -> None:
    for name in PACKAGES:
        pkg = importlib.import_module(name)
        for info in pkgutil.iter_modules(pkg.__path__, prefix=f"{name}."):
            importlib.import_module(info.name)
