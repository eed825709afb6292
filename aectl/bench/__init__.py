"""`aectl bench`: aectl's training step against the tutorial loop, timed in one process.

`cli` parses (no torch), `run` times, `report` prints, `reference` is the tutorial loop.
`python -m aectl.bench` runs it on a machine with torch alone.
"""
