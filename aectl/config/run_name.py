"""The `aectl_run_name` resolver: what a single run's folder is named after.

`outputs/runs/<date>_<time>_<name>`: the model preset (`deep`, `contractive`), and the
architecture too when the command line chose another than the preset's own, so that
`aectl train arch=conv` runs in `..._deep+conv`, not in a folder that says `deep` (an MLP).
"""

from __future__ import annotations

from omegaconf import OmegaConf

NAME = "aectl_run_name"


def preset_picks(model: str) -> dict[str, str]:
    """The options the preset `configs/model/<model>.yaml` selects, by group (`{"arch":
    "mlp", "regularizer": "contractive"}`); empty for no such preset."""
    import yaml

    from aectl.paths import configs_dir

    path = configs_dir() / "model" / f"{model}.yaml"
    try:
        defaults = (yaml.safe_load(path.read_text()) or {}).get("defaults") or []
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    found = [d for d in defaults if isinstance(d, dict)]
    return {str(k).split("/")[-1]: str(v) for d in found for k, v in d.items()}


def preset_arch(model: str) -> str | None:
    """The architecture the preset selects (None: none, or no such preset)."""
    return preset_picks(model).get("arch")


def run_name(model: str | None, arch: str | None) -> str:
    if model in (None, "null"):
        return str(arch)
    own = preset_arch(str(model))
    return str(model) if own is None or arch in (None, own) else f"{model}+{arch}"


if not OmegaConf.has_resolver(NAME):
    OmegaConf.register_new_resolver(NAME, run_name)
