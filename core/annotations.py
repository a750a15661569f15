"""Lines of video lists and MMAction2 annotation files, parsed in one place.

MMAction2's ``VideoDataset`` reads ``path label`` lines and ``RawframeDataset`` reads ``path total_frames
label`` lines (space-separated, the path relative to ``data_prefix``); a plain list names one video or
rawframes folder per line. :func:`parse_line` tells them apart; :func:`read_list` reads a whole file. Blank
lines and lines starting with ``#`` are skipped (MMAction2 has no comments, so no real annotation file
holds one), and line numbers count every line, so messages point at the line a user sees in an editor.

Used by the batch (``core.batch.tasks``: lists of inputs, labels as ground truth) and by the test dumps
(``core.dumps.read_annotations``: sample ``i`` of a dump is labelled line ``i``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core import access
from core.errors import CamError


@dataclass(frozen=True)
class ListEntry:
    """One line of a list or annotation file."""

    path: str  # as written (relative to the dataset's root, or absolute)
    label: int | None = None  # the annotated class; None on a plain list line
    total_frames: int | None = None  # the frame count of a rawframes annotation line
    line: int = 0  # 1-based line number in its file

    @property
    def rawframes(self) -> bool:
        """A ``path total_frames label`` line: the path is a folder of frames."""
        return self.total_frames is not None


def parse_line(text: str, line: int = 0) -> ListEntry | None:
    """``path label`` (a video), ``path total_frames label`` (rawframes), or a plain path (the whole line,
    which may hold spaces); None for a blank or ``#`` comment line. Labels and frame counts are
    non-negative integers, as MMAction2 writes them."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    fields = stripped.split()
    if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
        return ListEntry(fields[0], int(fields[2]), int(fields[1]), line)
    if len(fields) == 2 and fields[1].isdigit():
        return ListEntry(fields[0], int(fields[1]), None, line)
    return ListEntry(stripped, None, None, line)


def read_list(path: str | os.PathLike, *, labelled: bool = False, what: str = "list file") -> list[ListEntry]:
    """The entries of a list or annotation file, in file order.

    With ``labelled`` every line must carry a label (an annotation file); CamError names the first line
    that does not. CamError too when the file is missing or not UTF-8 text."""
    try:
        lines = access.check(path, what.capitalize()).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CamError(f"{what.capitalize()} {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CamError(f"Cannot read {what} {path} as text ({type(err).__name__}); pass a UTF-8 text file "
                       "with one path per line.") from err
    entries = []
    for number, text in enumerate(lines, start=1):
        entry = parse_line(text, number)
        if entry is None:
            continue
        if labelled and entry.label is None:
            raise CamError(f"{path} line {number} is neither `path label` nor `path total_frames label`: "
                           f"{text.strip()!r}.")
        entries.append(entry)
    return entries
