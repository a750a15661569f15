"""``python -m core.batch``: see :mod:`core.batch.cli`."""

import sys

from core.batch.cli import main

if __name__ == "__main__":
    sys.exit(main())
