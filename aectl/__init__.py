"""aectl: a command-line experiment runner for autoencoders, driven by Hydra configs."""

__version__ = "0.1.0"
