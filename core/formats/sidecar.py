"""The JSON sidecar beside a heatmap txt (``cam.txt`` → ``cam.json``): an :class:`~core.result.ExplainResult`
without its arrays, written by :func:`to_sidecar` and read back, checked against one schema, by
:func:`from_sidecar`; :func:`read_sidecar` is the one (size-capped) reader of the file, :func:`peek` the cheap
checked look for listings.

Schema version :data:`SCHEMA` (the ``schema`` field). Files written before the field existed (version 1) hold
the same fields and are read alike. Fields (all optional when read; an unknown field is kept in ``extra``):

- ``video``, ``config``, ``checkpoint``, ``layer``, ``method``, ``views``: text (``checkpoint`` null for
  random weights);
- ``target_class`` / ``target_label``, ``predicted_class`` / ``predicted_label``, ``top5``
  (``[{"class", "label", "score"}]``): the explained class, the prediction and the five most probable classes;
- ``shape`` ``[V, T, H, W]`` of the heatmaps, ``frame_indices`` ``[V][T]`` (0-based source frames);
- ``source_size`` ``[width, height]``, ``view_boxes`` (per view, its window ``[x0, y0, x1, y1]`` in source
  pixels), ``view_flips`` (views seen mirrored: TenCrop), ``crop_box`` (the window all views cover together);
  sidecars older than per-view windows give ``crop_box`` alone, which every view saw unless the views repeat
  the same frames (multi-crop): then the windows are unknown;
- ``constant_frames`` ``[V][T]`` (bools): which heatmap frames are constant (all zero or flat: Grad-CAM found no
  positive evidence; :func:`core.result.constant_maps`); written for people and other tools, recomputed from the
  heatmaps when read;
- ``fps`` of the source video (null when unknown), ``notes``; a batch adds ``batch`` and ``batch_key``.

Sidecars come from anywhere (a results folder copied from a colleague): a field of the wrong type or out of
range is refused with one sentence naming it, never a Python exception from deep inside a reader.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from core.errors import CamError
from core.geometry import Box, Views, Windows, check_box
from core.methods import Method
from core.result import ExplainResult, topk

SCHEMA = 2
"""Version of the sidecar written by :func:`to_sidecar` (files without a ``schema`` field are version 1)."""

MAX_SIDECAR_BYTES = 64 * 2**20  # far above any real sidecar (a few kB per thousand frames)

_FIELDS = ("schema", "video", "config", "checkpoint", "layer", "method", "views", "target_class", "target_label",
           "predicted_class", "predicted_label", "top5", "frame_indices", "shape", "source_size", "crop_box",
           "view_boxes", "view_flips", "fps", "notes", "constant_frames")
_RECORDED = ("predicted_class", "predicted_label", "top5")  # kept as recorded when the scores are not known

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


def sidecar_path(txt_path: str | Path) -> Path:
    """``cam.txt`` → ``cam.json``."""
    return Path(txt_path).with_suffix(".json")


def to_sidecar(result: ExplainResult, **extra: Any) -> dict:
    """The JSON sidecar describing ``result`` (everything but the pixel arrays), plus ``extra`` fields."""
    payload: dict[str, Any] = {
        "schema": SCHEMA, "video": result.video, "config": result.config, "checkpoint": result.checkpoint,
        "layer": result.layer, "method": result.method, "views": result.views,
        "target_class": result.target_class, "target_label": result.target_label,
    }
    if result.scores is not None:
        payload["predicted_class"] = result.predicted_class
        payload["predicted_label"] = result.predicted_label
    if result.probs is not None:
        payload["top5"] = [{"class": i, "label": name, "score": p} for i, name, p in topk(result, 5)]
    if not result.legacy:
        payload["frame_indices"] = np.asarray(result.frame_indices).tolist()
    payload["shape"] = list(result.heatmaps.shape)
    if result.windows is not None:
        payload.update(source_size=list(result.windows.source_size), crop_box=list(result.windows.crop_box),
                       view_boxes=[list(box) for box in result.windows.boxes], view_flips=list(result.windows.flips))
    payload["constant_frames"] = result.constant_frames().tolist()
    payload.update(fps=result.fps, notes=list(result.notes))
    return {**payload, **result.extra, **extra}


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The JSON object in a sidecar file (not yet checked: see :func:`from_sidecar`), or a CamError."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            raise CamError(f"Sidecar {path} is larger than {MAX_SIDECAR_BYTES // 2**20} MiB; it is not a heatmap "
                           "sidecar.")
        meta = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError as err:
        raise CamError(f"Sidecar {path} is nested too deeply to be a heatmap sidecar.") from err
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CamError(f"Sidecar {path} is not readable JSON ({type(err).__name__}: {err}).") from err
    if not isinstance(meta, dict):
        raise CamError(f"Sidecar {path} holds a JSON {type(meta).__name__}, not an object; it is not a heatmap "
                       "sidecar.")
    return meta


# -- the schema: one checker per kind of value; each returns the value or raises ValueError --

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value


def _index(value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise ValueError
    return int(value)


def _positive(value: Any) -> float:
    if not (_is_int(value) or isinstance(value, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError
    return float(value)


def _numbers(value: Any, count: int) -> list[float]:
    if not isinstance(value, list) or len(value) != count:
        raise ValueError
    if not all((_is_int(v) or isinstance(v, float)) and math.isfinite(v) for v in value):
        raise ValueError
    return [float(v) for v in value]


def _size(value: Any) -> tuple[int, int]:
    width, height = _numbers(value, 2)
    if width < 1 or height < 1 or width != int(width) or height != int(height):
        raise ValueError
    return int(width), int(height)


def _shape(value: Any) -> tuple[int, int, int, int]:
    if not isinstance(value, list) or len(value) != 4 or not all(_is_int(v) and v >= 1 for v in value):
        raise ValueError
    return tuple(value)


def _box(value: Any) -> Box:
    x0, y0, x1, y1 = _numbers(value, 4)
    if not (x1 > x0 and y1 > y0):
        raise ValueError
    return x0, y0, x1, y1


def _boxes(value: Any) -> list[Box]:
    if not isinstance(value, list) or not value:
        raise ValueError
    return [_box(box) for box in value]


def _flags(value: Any) -> list[bool]:
    if not isinstance(value, list) or not all(isinstance(v, bool) for v in value):
        raise ValueError
    return list(value)


def _texts(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError
    return [_text(v) for v in value]


def _indices(value: Any) -> np.ndarray:
    """``[V][T]`` non-negative integers."""
    if not isinstance(value, list) or not value or not all(isinstance(row, list) for row in value):
        raise ValueError
    if len({len(row) for row in value}) != 1 or not value[0]:
        raise ValueError
    if not all(_is_int(v) and v >= 0 for row in value for v in row):
        raise ValueError
    return np.asarray(value, dtype=np.int64)


def _top(value: Any) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise ValueError
    for row in value:
        _index(row.get("class"))
        _text(row.get("label"))
    return value


_EXPECTED: dict[Callable[[Any], Any], str] = {
    _text: "text", _index: "a whole number >= 0", _positive: "a positive number", _size: "[width, height] >= 1",
    _shape: "[views, frames, height, width] of whole numbers >= 1", _box: "[x0, y0, x1, y1] with x1 > x0, y1 > y0",
    _boxes: "a list of [x0, y0, x1, y1] windows", _flags: "a list of true/false", _texts: "a list of texts",
    _indices: "a [views][frames] table of frame numbers >= 0", _top: "a list of {class, label, score}",
}


class _Reader:
    """Reads the fields of one sidecar, each checked; the first bad one ends in a CamError that names it."""

    def __init__(self, meta: dict[str, Any], where: str) -> None:
        self.meta, self.where = meta, where

    def bad(self, name: str, what: str) -> CamError:
        shown = json.dumps(self.meta[name]) if name in self.meta else "missing"
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return CamError(f"{self.where}: \"{name}\" must be {what}, not {shown}; the sidecar is damaged.")

    def get(self, name: str, check: Callable[[Any], T]) -> T | None:
        value = self.meta.get(name)
        if value is None:
            return None
        try:
            return check(value)
        except (ValueError, TypeError, OverflowError):
            raise self.bad(name, _EXPECTED[check]) from None


@dataclass(frozen=True)
class Peek:
    """What a listing needs of a sidecar, each field checked as :func:`from_sidecar` checks it (None when the
    sidecar lacks it), without the heatmaps."""

    video: str | None
    frame_indices: np.ndarray | None  # [V, T] source frames, 0-based
    target_label: str | None
    method: str | None
    layer: str | None


def peek(path: str | Path) -> Peek:
    """The cheap look at a sidecar file for listings (the study's matching of videos, tables): read by
    :func:`read_sidecar` (size-capped), the fields of :class:`Peek` checked; a CamError names a bad one."""
    fields = _Reader(read_sidecar(path), f"Sidecar {path}")
    return Peek(video=fields.get("video", _text), frame_indices=fields.get("frame_indices", _indices),
                target_label=fields.get("target_label", _text), method=fields.get("method", _text),
                layer=fields.get("layer", _text))


def _windows(fields: _Reader, indices: np.ndarray | None, num_views: int, notes: list[str]) -> Windows | None:
    """The views' windows a sidecar records (None when it records none, or only an old multi-crop union)."""
    source = fields.get("source_size", _size)
    crop = fields.get("crop_box", _box)
    boxes = fields.get("view_boxes", _boxes)
    flips = fields.get("view_flips", _flags)
    if source is None:
        return None
    for name, box in [("crop_box", crop), *(("view_boxes", b) for b in boxes or [])]:
        if box is not None:
            try:
                check_box(box, source)
            except CamError as err:
                raise CamError(f"{fields.where}: \"{name}\" is wrong ({err}); the sidecar is damaged.") from err
    if boxes is not None:
        flips = flips if flips is not None else [False] * len(boxes)
        if len(boxes) != num_views or len(flips) != num_views:
            raise CamError(f"{fields.where} gives {len(boxes)} view windows and {len(flips)} mirror flags for "
                           f"{num_views} views; the sidecar is damaged.")
        return Windows(source, tuple(boxes), tuple(flips))
    if crop is None:
        return None
    if indices is not None and len({tuple(row) for row in indices.tolist()}) < len(indices):
        notes.append("The file holds several crops of the same frames (all views) but its sidecar records one "
                     "window (it predates per-view windows); the heatmaps are shown alone.")
        return None
    return Windows.single(source, crop, num_views)


def _known(kind: type[E], text: str) -> E | str:
    """``text`` as the member of ``kind`` it names, else unchanged: a file of another version keeps its name."""
    try:
        return kind(text)
    except ValueError:
        return text


def _classes(meta: dict[str, Any], count: int) -> list[str]:
    """Class names a sidecar records (top-5, target, prediction); ``class_i`` for the others."""
    names = [f"class_{i}" for i in range(count)]
    known = [(row.get("class"), row.get("label")) for row in meta.get("top5") or []]
    known += [(meta.get("target_class"), meta.get("target_label")),
              (meta.get("predicted_class"), meta.get("predicted_label"))]
    for index, label in known:
        if _is_int(index) and 0 <= index < count and label:
            names[index] = str(label)
    return names


def _laid_out(fields: _Reader, maps: np.ndarray, heatmap_file: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The heatmaps as ``[V, T, H, W]`` by the sidecar's ``shape`` (else its ``frame_indices``, else one view),
    and the frame indices; a CamError when the file's heatmaps and the sidecar do not belong together."""
    shape = fields.get("shape", _shape)
    indices = fields.get("frame_indices", _indices)
    count, size = int(np.prod(maps.shape[:-2])), tuple(maps.shape[-2:])
    layout = shape[:2] if shape is not None else indices.shape if indices is not None else (1, count)
    shape_fits = shape is None or (math.prod(shape[:2]) == count and tuple(shape[2:]) == size)
    indices_fit = indices is None or tuple(indices.shape) == tuple(layout)
    if not (shape_fits and indices_fit and math.prod(layout) == count):
        told = f"shape {list(shape)}" if shape is not None else "no shape"
        raise CamError(f"{heatmap_file or 'The file'} holds {count} heatmaps of {size[0]}×{size[1]}, but its sidecar "
                       f"says {told} with {0 if indices is None else indices.size} frame indices; they do not "
                       "belong together.")
    return maps.reshape(*layout, *size), indices


def _target_class(fields: _Reader, count_classes: int) -> int | None:
    """The recorded target class (checked against the npz's class count when there is one, non-zero); the
    prediction and the top-5 are checked on the way."""
    target = fields.get("target_class", _index)
    fields.get("predicted_class", _index)
    fields.get("top5", _top)
    if target is not None and count_classes and target >= count_classes:
        raise fields.bad("target_class", f"a class index below {count_classes}")
    return target


def from_sidecar(meta: dict[str, Any], heatmaps: np.ndarray, *, where: str = "The sidecar", heatmap_file: str = "",
                 frames: np.ndarray | None = None, scores: np.ndarray | None = None, probs: np.ndarray | None = None,
                 name: str = "heatmaps") -> ExplainResult:
    """The result a sidecar ``meta`` describes, with its ``heatmaps`` (``[V, T, H, W]``, or ``[N, H, W]`` in
    the txt's order) and, when known, the model's input ``frames`` and the npz's ``scores`` and ``probs``.

    Every field is checked (module docstring); ``where`` names the sidecar and ``heatmap_file`` the file the
    heatmaps came from in error messages.
    """
    fields = _Reader(meta, where)
    schema = fields.get("schema", _index)
    if schema is not None and not 1 <= schema <= SCHEMA:
        raise CamError(f"{where} has schema version {schema}; this version reads up to {SCHEMA}: update it.")
    maps, indices = _laid_out(fields, np.asarray(heatmaps, np.float32), heatmap_file)
    file_notes: list[str] = []
    windows = _windows(fields, indices, int(maps.shape[0]), file_notes)
    fps = fields.get("fps", _positive)
    class_values = probs if probs is not None else scores
    count_classes = len(class_values) if class_values is not None else 0
    target = _target_class(fields, count_classes)
    texts = {key: fields.get(key, _text) for key in ("video", "config", "checkpoint", "layer", "method", "views",
                                                     "target_label", "predicted_label")}
    extra = {key: value for key, value in meta.items() if key not in _FIELDS}
    if scores is None:
        extra.update({key: meta[key] for key in _RECORDED if key in meta})
    return ExplainResult(
        heatmaps=maps, frames=frames, frame_indices=indices if indices is not None else np.empty((0, 0), np.int64),
        scores=scores, probs=probs, target_class=target,
        target_label=texts["target_label"] or "", layer=texts["layer"] or "",
        method=_known(Method, texts["method"] or ""), classes=_classes(meta, count_classes) if count_classes else [],
        video=texts["video"] or "", config=texts["config"] or "", checkpoint=texts["checkpoint"],
        views=_known(Views, texts["views"] or Views.CENTER),
        windows=windows, fps=fps, notes=fields.get("notes", _texts) or [], extra=extra, name=name,
        legacy=indices is None, file_notes=file_notes,
    )
