"""`python -m aectl.bench` = `aectl bench` (works on a machine with torch alone)."""

import sys

from aectl.bench.cli import main

sys.exit(main())
