"""``python -m core.gaze``: see :mod:`core.gaze.cli`."""

import sys

from core.gaze.cli import main

sys.exit(main())
