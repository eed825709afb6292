"""`python -m aectl` = `aectl`."""

from aectl.cli import run

run()
