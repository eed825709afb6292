"""Checks for the people who work on aectl (`python -m aectl.devtools.imports`)."""
