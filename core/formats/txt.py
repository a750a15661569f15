"""The heatmap txt: for each heatmap frame (views one after another) a ``Frame N - Heatmap values:`` line, then H
lines of W space-separated ``%.6f`` values, as the thesis' patched ``vis_cam.py`` wrote them. The writer
(:func:`heatmap_text`, :func:`write_heatmap_txt`) and the reader (:func:`read_heatmap_txt`, which also takes the
thesis' numpy/torch-printed files and is held to the size cap of :mod:`core.limits`) live side by side.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.errors import CamError
from core.limits import check_file_size
from core.outputs import atomic_path

HEADER = "Frame {} - Heatmap values:"
HEADER_RE = re.compile(r"^\s*Frame\s+(\d+)\s*-\s*Heatmap values:?\s*$", re.MULTILINE)
"""A frame's header line (ours and the thesis' patched vis_cam.py; group 1 is the frame number)."""
_ROW_RE = re.compile(r"\[([^\[\]]*)\]")


def _lookup(width: int, text: Callable[[int], str], shift: int) -> np.ndarray:
    """uint64 words holding the ASCII of ``text(i)`` for every ``i < width``, little-endian from byte ``shift``."""
    return np.array([int.from_bytes(text(i).encode(), "little") << (8 * shift) for i in range(width)], np.uint64)


_HIGH = _lookup(1001, lambda i: f"{i // 1000}.{i % 1000:03d}", 0)  # "d.ddd": bytes 0-4 of a value's text
_LOW = _lookup(1000, lambda i: f"{i:03d}", 5)  # its last three digits: bytes 5-7
_VALUE = np.dtype([("digits", "<u8"), ("space", "u1")])  # "d.dddddd" and the separator: 9 packed bytes


def _format_unit(block: np.ndarray) -> bytes:
    """``%.6f`` text of values in [0, 1], H lines of W values, built with integer arithmetic (exact for float32
    input: ``x * 1e6`` is exact in float64, and rint rounds half to even as printf does). The millionths are
    split into thousands and units, each turned into its ASCII bytes by one table lookup and packed as one
    8-byte word per value (a few array passes per frame, instead of one per digit)."""
    millionths = np.rint(np.multiply(block, 1e6, dtype=np.float64)).astype(np.int32)
    high = millionths // 1000
    words = np.take(_HIGH, high)
    words |= np.take(_LOW, millionths - high * 1000)
    out = np.empty(millionths.shape, _VALUE)
    out["digits"] = words
    out["space"] = ord(" ")
    out["space"][..., -1] = ord("\n")
    return out.tobytes()


def heatmap_text(heatmaps: np.ndarray) -> bytes:
    """The txt format: for each frame (views one after another) a header line, then H lines of
    W space-separated ``%.6f`` values."""
    maps = np.asarray(heatmaps, dtype=np.float32)
    maps = maps.reshape(-1, *maps.shape[-2:])
    fast = bool(maps.min(initial=0) >= 0 and maps.max(initial=0) <= 1)
    return b"".join(heatmap_block(i, frame, fast=fast) for i, frame in enumerate(maps))


def heatmap_block(number: int, frame: np.ndarray, *, fast: bool | None = None) -> bytes:
    """One frame of the txt format: its ``Frame N - Heatmap values:`` line and H lines of W values (``fast``:
    the values are known to lie in [0, 1])."""
    if fast is None:  # (NaN propagates through min and max and fails both comparisons, as infinities do)
        fast = bool(frame.min(initial=0) >= 0 and frame.max(initial=0) <= 1)
    head = (HEADER.format(number) + "\n").encode()
    if fast:
        return head + _format_unit(frame)
    return head + "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in frame).encode()


def write_heatmap_txt(path: str | Path, heatmaps: np.ndarray) -> Path:
    """Write heatmaps ``[..., H, W]`` in the ``Frame N - Heatmap values:`` format (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(heatmap_text(heatmaps))
    return Path(path)


def is_heatmap_text(head: str) -> bool:
    """Whether text (e.g. a file's first 200 characters) starts with a ``Frame N - Heatmap values`` line."""
    match = HEADER_RE.search(head)
    return match is not None and not head[:match.start()].strip()


def _rows_of_one_width(rows: list[np.ndarray] | list[list[str]], number: int) -> int:
    """The width every row of frame ``number`` shares, or a CamError naming the first row that differs."""
    widths = [len(row) for row in rows]
    for index, width in enumerate(widths):
        if width != widths[0]:
            raise CamError(f"Frame {number} has rows of different lengths: row {index + 1} has {width} "
                           f"value{'' if width == 1 else 's'} and row 1 has {widths[0]}; the file is damaged.")
    return widths[0]


def _parse_block(text: str, number: int) -> np.ndarray:
    cleaned = text.replace("tensor(", "").replace("array(", "")
    if "..." in cleaned:
        raise CamError(f"Frame {number} was printed in summarised form ('...'); the values are incomplete.")
    if "[" not in cleaned and "," not in cleaned:  # our own format: one row a line
        rows = [line.split() for line in cleaned.splitlines()]
        rows = [row for row in rows if row]
        if not rows:
            raise CamError(f"Frame {number} has no values.")
        width = _rows_of_one_width(rows, number)
        return np.array(list(itertools.chain.from_iterable(rows)), dtype=np.float32).reshape(len(rows), width)
    texts = _ROW_RE.findall(cleaned) if "[" in cleaned else cleaned.splitlines()  # numpy wraps long rows
    values = [np.array(r.replace(",", " ").split(), dtype=np.float32) for r in texts]
    values = [v for v in values if v.size]
    if not values:
        raise CamError(f"Frame {number} has no values.")
    _rows_of_one_width(values, number)
    return np.stack(values)


def read_heatmap_txt(path: str | Path) -> np.ndarray:
    """Read a heatmap txt file into float32 ``[N, H, W]`` (frames in file order).

    Accepts our own files and legacy ones: numpy/torch printed blocks (brackets, commas,
    ``tensor(...)``), scientific notation, blank lines. Rows of different lengths are refused with the
    frame and row number (values are never shifted into other rows); so is a file above the size cap of
    :mod:`core.limits`.
    """
    path = Path(path)
    if not path.is_file():
        raise CamError(f"Heatmap file {path} does not exist.")
    check_file_size(path, "Heatmap file")
    text = path.read_text(encoding="utf-8", errors="replace")
    headers = list(HEADER_RE.finditer(text))
    if not headers:
        raise CamError(f"{path} has no 'Frame N - Heatmap values:' lines; it is not a heatmap file.")
    frames = []
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        try:
            frames.append(_parse_block(text[match.end():end], int(match.group(1))))
        except ValueError as err:
            raise CamError(f"{path}: frame {match.group(1)} holds text that is not a number ({err}).") from err
        except CamError as err:
            raise CamError(f"{path}: {err}") from err
        if frames[-1].shape != frames[0].shape:
            raise CamError(f"{path}: frame {match.group(1)} is {frames[-1].shape[1]}×{frames[-1].shape[0]} but "
                           f"frame {headers[0].group(1)} is {frames[0].shape[1]}×{frames[0].shape[0]}; "
                           "the file is damaged.")
    return np.stack(frames)
