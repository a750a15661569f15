"""Heatmap files: the ``Frame N - Heatmap values:`` txt format, its JSON sidecar, and npz.

Every writer goes through :func:`atomic_path`: data lands in a temporary file in the same folder
and is renamed into place, so no reader ever sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import CamError

if TYPE_CHECKING:
    from core.cam import ExplainResult

HEADER = "Frame {} - Heatmap values:"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_HEADER_RE = re.compile(r"^\s*Frame\s+(\d+)\s*-\s*Heatmap values:?\s*$", re.MULTILINE)
_ROW_RE = re.compile(r"\[([^\[\]]*)\]")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it onto ``path`` on success."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CamError(f"Cannot write {path}: folder {path.parent} does not exist.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    except OSError as err:
        raise CamError(f"Cannot write {path}: {err.strerror}; choose a writable folder.") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def sidecar_path(txt_path: str | Path) -> Path:
    """``cam.txt`` → ``cam.json``."""
    return Path(txt_path).with_suffix(".json")


def _format_unit(block: np.ndarray) -> bytes:
    """``%.6f`` text of values in [0, 1], built with integer arithmetic (exact for float32 input:
    ``x * 1e6`` is exact in float64, and rint rounds half to even as printf does)."""
    q = np.rint(block.astype(np.float64) * 1e6).astype(np.int64)
    digits = np.empty(q.shape + (9,), np.uint8)
    digits[..., 0] = 48 + q // 1_000_000
    digits[..., 1] = ord(".")
    rest = q % 1_000_000
    for pos in range(8, 2, -1):
        digits[..., pos - 1] = 48 + rest % 10
        rest //= 10
    digits[..., 8] = ord(" ")
    digits[..., -1, 8] = ord("\n")
    return digits.tobytes()


def heatmap_text(heatmaps: np.ndarray) -> bytes:
    """The txt format: for each frame (views one after another) a header line, then H lines of
    W space-separated ``%.6f`` values."""
    maps = np.asarray(heatmaps, dtype=np.float32)
    maps = maps.reshape(-1, *maps.shape[-2:])
    fast = bool(np.isfinite(maps).all() and maps.min(initial=0) >= 0 and maps.max(initial=0) <= 1)
    parts = []
    for i, frame in enumerate(maps):
        parts.append((HEADER.format(i) + "\n").encode())
        if fast:
            parts.append(_format_unit(frame))
        else:
            parts.append("".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in frame).encode())
    return b"".join(parts)


def write_heatmap_txt(path: str | Path, heatmaps: np.ndarray) -> Path:
    """Write heatmaps ``[..., H, W]`` in the ``Frame N - Heatmap values:`` format (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(heatmap_text(heatmaps))
    return Path(path)


def _parse_block(text: str, number: int) -> np.ndarray:
    cleaned = text.replace("tensor(", "").replace("array(", "")
    if "..." in cleaned:
        raise CamError(f"Frame {number} was printed in summarised form ('...'); the values are incomplete.")
    if "[" not in cleaned and "," not in cleaned:  # our own format: one fast parse per frame
        lines = [line for line in cleaned.splitlines() if line.strip()]
        flat = np.array(cleaned.split(), dtype=np.float32)
        if lines and flat.size % len(lines) == 0:
            return flat.reshape(len(lines), -1)
    rows = _ROW_RE.findall(cleaned) if "[" in cleaned else cleaned.splitlines()
    values = [np.array(r.replace(",", " ").split(), dtype=np.float32) for r in rows]
    values = [v for v in values if v.size]
    if not values:
        raise CamError(f"Frame {number} has no values.")
    if len({v.size for v in values}) != 1:
        raise CamError(f"Frame {number} has rows of different lengths; the file is damaged.")
    return np.stack(values)


def read_heatmap_txt(path: str | Path) -> np.ndarray:
    """Read a heatmap txt file into float32 ``[N, H, W]`` (frames in file order).

    Accepts our own files and legacy ones: numpy/torch printed blocks (brackets, commas,
    ``tensor(...)``), scientific notation, blank lines.
    """
    path = Path(path)
    if not path.is_file():
        raise CamError(f"Heatmap file {path} does not exist.")
    text = path.read_text(encoding="utf-8", errors="replace")
    headers = list(_HEADER_RE.finditer(text))
    if not headers:
        raise CamError(f"{path} has no 'Frame N - Heatmap values:' lines; it is not a heatmap file.")
    frames = []
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        try:
            frames.append(_parse_block(text[match.end():end], int(match.group(1))))
        except ValueError as err:
            raise CamError(f"{path}: frame {match.group(1)} holds text that is not a number ({err}).") from None
    if len({f.shape for f in frames}) != 1:
        raise CamError(f"{path}: frames have different sizes; the file is damaged.")
    return np.stack(frames)


def sidecar(result: ExplainResult, **extra: Any) -> dict:
    """The JSON sidecar describing a result (everything but the pixel arrays)."""
    return {
        "video": result.video,
        "config": result.config,
        "checkpoint": result.checkpoint,
        "layer": result.layer,
        "method": result.method,
        "views": result.views,
        "target_class": result.target_class,
        "target_label": result.target_label,
        "predicted_class": result.predicted_class,
        "predicted_label": result.classes[result.predicted_class],
        "top5": [{"class": i, "label": name, "score": p} for i, name, p in result.topk(5)],
        "frame_indices": result.frame_indices.tolist(),
        "shape": list(result.heatmaps.shape),
        "source_size": list(result.source_size),
        "crop_box": list(result.crop_box),
        "view_boxes": [list(box) for box in result.view_boxes],
        "view_flips": list(result.view_flips),
        "fps": result.fps,
        "notes": list(result.notes),
        **extra,
    }


def write_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return Path(path)


def write_npz(path: str | Path, result: ExplainResult) -> Path:
    """Heatmaps, frame indices and scores in one uncompressed npz (fast to write in a batch), atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, heatmaps=result.heatmaps, frame_indices=result.frame_indices,
                                scores=result.scores, probs=result.probs,
                                target_class=np.int64(result.target_class))
    return Path(path)


def write_result(txt_path: str | Path, result: ExplainResult, *, npz: bool = False, **extra: Any) -> Path:
    """The txt, then (optionally) the npz, then the JSON sidecar last: its presence marks completion."""
    write_heatmap_txt(txt_path, result.heatmaps)
    if npz:
        write_npz(Path(txt_path).with_suffix(".npz"), result)
    return write_json(sidecar_path(txt_path), sidecar(result, **extra))
