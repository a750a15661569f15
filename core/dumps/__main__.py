"""``python -m core.dumps``."""

import sys

from core.dumps.cli import main

sys.exit(main())
