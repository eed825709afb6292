"""`python -m aectl` = `aectl`."""

import sys

from aectl.cli import main

sys.exit(main())
