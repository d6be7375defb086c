"""``python -m diffproxy ...`` is the ``diffproxy`` command line."""

import sys

from .cli import main

sys.exit(main())
