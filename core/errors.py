"""The one exception type ``core`` raises for problems with the user's input, and how command lines report it."""

from __future__ import annotations

import argparse
import enum
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar


class CamError(Exception):
    """A problem with the user's input, said in one sentence (what is wrong, what to do)."""


E = TypeVar("E", bound=enum.Enum)


def parse_choice(kind: type[E], value: object, error: str) -> E:
    """The member of ``kind`` that ``value`` names (a member, or its text from a command line, a widget or a
    file); a CamError saying ``error`` (``{value!r}`` in it is filled in) for anything else."""
    try:
        return kind(value)
    except ValueError:
        raise CamError(error.format(value=value)) from None


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (at most ``limit`` characters), or its type's name."""
    lines = str(err).strip().splitlines()
    return lines[0][:limit] if lines else type(err).__name__


def describe_error(err: BaseException) -> str:
    """One line for a report (a summary's error column, a page): a CamError's sentence, else the
    exception's type and first line."""
    if isinstance(err, CamError):
        return str(err)
    text = first_line(err, 300)
    return f"{type(err).__name__}: {text}" if text != type(err).__name__ else text


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose errors are CamErrors, so :func:`run_command` prints them as one ``error:``
    line and exits 2."""

    def error(self, message: str) -> NoReturn:
        raise CamError(f"{message} (see --help).")


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
