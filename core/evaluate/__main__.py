import sys

from core.evaluate.cli import main

sys.exit(main())
