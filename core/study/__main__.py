"""``python -m core.study``: see :mod:`core.study.cli`."""

import sys

from core.study.cli import main

if __name__ == "__main__":
    sys.exit(main())
