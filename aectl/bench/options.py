"""`aectl bench`'s vocabulary, shared by its command line and its timing code (no torch)."""

from __future__ import annotations

from aectl.config.trainer import COMPILE_MODES, PRECISIONS

SECTIONS = ("throughput", "regularizers", "logging", "run", "sweep")
# what `aectl bench` times without --sections (run and sweep take minutes: whole runs)
DEFAULT_SECTIONS = ("throughput", "regularizers", "logging")
CLOCK_NAMES = ("wall", "cpu")  # elapsed time; this process's CPU time

__all__ = ["CLOCK_NAMES", "COMPILE_MODES", "DEFAULT_SECTIONS", "PRECISIONS", "SECTIONS"]
