"""torchvision's drawing helpers (make_grid, save_image) without the rest of torchvision.

torchvision's package `__init__` imports every subpackage, and `torchvision.ops.roi_align`
imports torch._dynamo at module level: measured on 2 cores, 2.4 of the 2.9 s that
`import torchvision.utils` costs a process, although the two functions a run draws with
need only torch, NumPy and PIL. So when torchvision is not imported yet, its own
`utils.py` (the same file, found where torchvision is installed) is loaded as a module of
its own; if that ever fails (a torchvision whose utils.py needs its package), the package
is imported as usual. Where torchvision is already imported, its module is used.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

NAME = "aectl.record._torchvision_utils"  # where the alone-loaded copy is kept


def utils() -> ModuleType:
    """torchvision.utils, or the same file loaded without its package."""
    for name in ("torchvision.utils", NAME):
        if name in sys.modules:
            return sys.modules[name]
    try:
        return _alone()
    except Exception:  # noqa: BLE001 (any failure: fall back to the package)
        sys.modules.pop(NAME, None)
        import torchvision.utils

        return torchvision.utils


def _alone() -> ModuleType:
    package = importlib.util.find_spec("torchvision")  # finds it; imports nothing
    if package is None or not package.submodule_search_locations:
        raise ImportError("torchvision is not installed")
    path = Path(next(iter(package.submodule_search_locations))) / "utils.py"
    spec = importlib.util.spec_from_file_location(NAME, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    module.make_grid, module.save_image  # noqa: B018 (the two a run uses must be there)
    return module
