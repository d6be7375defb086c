"""``python -m diffproxy ...`` is the ``diffproxy`` command line."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a worker process (optimize.workers) imports it
    sys.exit(main())
