"""``python -m cairnvm`` (``./dev vm``)."""

import sys

from .cli import main

sys.exit(main())
