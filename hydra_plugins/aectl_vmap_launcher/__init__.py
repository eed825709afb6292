"""aectl's Hydra launcher plugin: `hydra/launcher=vmap` (see `aectl.sweeps.vmap`)."""
