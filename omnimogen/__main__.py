"""``python -m omnimogen``: the same command line as ``omnimogen``."""

import sys

from .cli import main

sys.exit(main())
