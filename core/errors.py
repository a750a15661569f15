"""The one exception type ``core`` raises for problems with the user's input, and how command lines report it."""

from __future__ import annotations

import sys
from collections.abc import Callable


class CamError(Exception):
    """A problem with the user's input, said in one sentence (what is wrong, what to do)."""


def run_command(action: Callable[[], int], *, interrupted: str = "interrupted") -> int:
    """Run a command line's ``action`` and return its exit status: a :class:`CamError` prints one
    ``error:`` line and exits 2, Ctrl-C prints ``interrupted`` and exits 130 (no traceback either way)."""
    try:
        return action()
    except CamError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: {interrupted}", file=sys.stderr)
        return 130
