"""Heatmap files read back for viewing: a txt (ours or legacy), its JSON sidecar and npz, and the source
video's frames for the overlay.

Ours: ``cam.txt`` with ``cam.json`` (the sidecar: shape, frame indices, crop window, fps, classes...) and,
optionally, ``cam.npz`` (full-precision heatmaps, scores, probabilities) beside it. Legacy files, written by
the thesis' patched ``vis_cam.py``, are a txt alone (numpy/torch-printed values are fine): their heatmap
frames are shown in file order, with no timing and no overlay.

Overlay frames: view ``v`` of the model saw window ``view_boxes[v]`` of source frames ``frame_indices[v]``
resized to the heatmap size (mirrored when ``view_flips[v]``: TenCrop); one-view files and sidecars written
before views had windows of their own use ``crop_box``. Without the model's config the test pipeline cannot
be rebuilt, so :func:`source_frames` decodes those frames from the source video and cuts the windows out of
them itself (rounded to whole source pixels, then area-resized to the heatmap size). That matches the
model's input within about a source pixel and needs only the sidecar.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core.errors import CamError
from core.export import read_heatmap_txt, sidecar_path
from core.geometry import Box, check_box, scale_box
from core.video import read_frames
from core.views import CamView


@dataclass
class HeatmapFile:
    """Heatmaps read from a txt, with the geometry of its sidecar (None for a legacy txt without one)."""

    txt: str
    heatmaps: np.ndarray  # float32 [V, T, H, W]
    meta: dict
    frame_indices: np.ndarray | None  # int64 [V, T]
    source_size: tuple[int, int] | None
    crop_box: Box | None
    notes: list[str] = field(default_factory=list)
    view_boxes: list[Box] | None = None  # each view's window; None when unknown (no sidecar, old multi-crop)
    view_flips: list[bool] | None = None

    @property
    def name(self) -> str:
        """The video's stem (the txt's stem when the sidecar names no video file)."""
        video = self.meta.get("video")
        return Path(video).stem if video and not str(video).startswith("<") else Path(self.txt).stem

    @property
    def repeats_frames(self) -> bool:
        """True when several views show the same frames (multi-crop: each needs its own window)."""
        if self.frame_indices is None:
            return False
        return len({tuple(row) for row in self.frame_indices.tolist()}) < len(self.frame_indices)


def read_heatmap_file(txt: str | Path) -> HeatmapFile:
    """A heatmap txt and its JSON sidecar (when there is one), checked against each other."""
    txt = Path(txt)
    maps = read_heatmap_txt(txt)
    side = sidecar_path(txt)
    if not side.is_file():
        return HeatmapFile(str(txt), maps[None], {}, None, None, None)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        shape = [int(v) for v in meta["shape"]]
        indices = np.asarray(meta["frame_indices"], dtype=np.int64)
        source = (int(meta["source_size"][0]), int(meta["source_size"][1]))
        crop = tuple(float(v) for v in meta["crop_box"])
        boxes = [tuple(float(v) for v in box) for box in meta.get("view_boxes") or []]
        flips = [bool(v) for v in meta.get("view_flips") or [False] * len(boxes)]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise CamError(f"Sidecar {side} is damaged or not a heatmap sidecar ({type(err).__name__}: {err}).") from None
    if len(shape) != 4 or int(np.prod(shape[:-2])) != len(maps) or tuple(shape[-2:]) != maps.shape[1:] \
            or indices.shape != tuple(shape[:-2]):
        raise CamError(f"{txt} holds {len(maps)} heatmaps of {maps.shape[1]}×{maps.shape[2]}, but its sidecar says "
                       f"shape {shape} with {indices.size} frame indices; they do not belong together.")
    if boxes and (len(boxes) != shape[0] or len(flips) != shape[0] or any(len(box) != 4 for box in boxes)):
        raise CamError(f"Sidecar {side} gives {len(boxes)} view windows for {shape[0]} views; it is damaged.")
    file = HeatmapFile(str(txt), maps.reshape(shape), meta, indices, source, crop)  # type: ignore[arg-type]
    if boxes:
        file.view_boxes, file.view_flips = boxes, flips  # type: ignore[assignment]
    elif not file.repeats_frames:  # one view, or views of other frames: all saw crop_box
        file.view_boxes, file.view_flips = [crop] * shape[0], [False] * shape[0]  # type: ignore[list-item]
    return file


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a result npz (``heatmaps``, ``frame_indices``, ``scores``, ``probs``, ``target_class``)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise CamError(f"{path} is not a readable npz ({type(err).__name__}).") from None


def crop_to_heatmap(frames: np.ndarray, crop_box: Box, size: tuple[int, int]) -> np.ndarray:
    """Frames ``[N, h, w, 3]`` cut to ``crop_box`` (rounded to whole pixels) and area-resized to ``size = (W, H)``."""
    import cv2

    height, width = frames.shape[1:3]
    x0, y0, x1, y1 = check_box(crop_box, (width, height))
    left, top = max(0, round(x0)), max(0, round(y0))
    right, bottom = min(width, max(left + 1, round(x1))), min(height, max(top + 1, round(y1)))
    return np.stack([cv2.resize(np.ascontiguousarray(f[top:bottom, left:right]), size, interpolation=cv2.INTER_AREA)
                     for f in frames])


def source_frames(video: str | Path, frame_indices: np.ndarray, view_boxes: list[Box], source_size: tuple[int, int],
                  size: tuple[int, int], view_flips: list[bool] | None = None) -> tuple[np.ndarray, list[str]]:
    """The windows the model saw of source frames ``frame_indices`` ``[V, T]`` (view ``v`` through
    ``view_boxes[v]``, mirrored when ``view_flips[v]``) at heatmap ``size = (W, H)``: uint8
    ``[V, T, H, W, 3]``, and notes. A video of another resolution than ``source_size`` (w, h) is taken to
    show the whole source frame rescaled (the windows are scaled with it)."""
    path = Path(video)
    if not path.exists():
        raise CamError(f"Video {path} does not exist; give the video the heatmaps were made from.")
    indices = np.asarray(frame_indices, dtype=np.int64)
    wanted = sorted(set(indices.reshape(-1).tolist()))
    decoded = read_frames(path, wanted)
    notes = []
    actual = (decoded.shape[2], decoded.shape[1])
    if actual != tuple(source_size):
        view_boxes = [scale_box(box, source_size, actual) for box in view_boxes]
        notes.append(f"{path.name} is {actual[0]}×{actual[1]} but the heatmaps were made from a "
                     f"{source_size[0]}×{source_size[1]} video; the window was scaled to it.")
    position = {index: i for i, index in enumerate(wanted)}
    views = []
    for view, (row, box) in enumerate(zip(indices, view_boxes, strict=True)):
        cropped = crop_to_heatmap(decoded[[position[i] for i in row.tolist()]], box, size)
        views.append(cropped[:, :, ::-1] if view_flips and view_flips[view] else cropped)
    return np.ascontiguousarray(np.stack(views)), notes


def _video_of(meta: dict) -> Path | None:
    video = meta.get("video")
    return Path(video) if video and not str(video).startswith("<") and Path(video).exists() else None


class OpenedFile(NamedTuple):
    """A heatmap file ready for the viewer, and what the reader noticed on the way (one sentence each)."""

    view: CamView
    notes: list[str]
    legacy: bool  # a txt without sidecar


def open_heatmaps(txt: str | Path, video: str | Path | None = None) -> OpenedFile:
    """A heatmap file as the viewer's :class:`~core.views.CamView`, with notes.

    The sidecar gives frame indices, fps, the crop window and the class names it records; the npz beside
    the txt (when it matches) gives full-precision heatmaps, scores and probabilities. Overlay frames come
    from ``video``, else from the sidecar's video when that path exists here; a legacy txt has none.
    """
    file = read_heatmap_file(txt)
    notes = list(file.notes)
    heatmaps, scores, probs = file.heatmaps, None, None
    target = file.meta.get("target_class")
    npz_path = Path(txt).with_suffix(".npz")
    if npz_path.is_file():
        arrays = read_npz(npz_path)
        stored = arrays.get("heatmaps")
        if stored is not None and stored.size == heatmaps.size \
                and np.abs(stored.reshape(heatmaps.shape) - heatmaps).max() <= 1e-5:
            heatmaps = stored.reshape(heatmaps.shape).astype(np.float32)
            scores, probs = arrays.get("scores"), arrays.get("probs")
            if target is None and "target_class" in arrays:
                target = int(arrays["target_class"])
        else:
            notes.append(f"{npz_path.name} holds other heatmaps than {Path(txt).name}; it was left out.")
    frames = None
    source = Path(video) if video else _video_of(file.meta)
    if source is not None:
        if file.crop_box is None or file.source_size is None:
            notes.append(f"{Path(txt).name} has no sidecar: without its frame indices and crop window the "
                         "heatmaps cannot be placed on the video, so they are shown alone.")
        elif file.view_boxes is None:
            notes.append("The file holds several crops of the same frames (all views) but its sidecar records one "
                         "window (it predates per-view windows); the heatmaps are shown alone.")
        else:
            size = (heatmaps.shape[-1], heatmaps.shape[-2])
            try:
                frames, more = source_frames(source, file.frame_indices, file.view_boxes, file.source_size, size,
                                             file.view_flips)
                notes += more
            except CamError as err:
                if video:  # the user's choice: say what is wrong with it
                    raise
                notes.append(f"{err} The heatmaps are shown alone.")
    elif file.meta.get("video"):
        notes.append(f"The source video {file.meta['video']} is not here; give its path to see the overlay.")
    view = CamView.from_sidecar(file.meta, heatmaps, frames=frames, frame_indices=file.frame_indices,
                                scores=scores, probs=probs, target_class=target if isinstance(target, int) else None,
                                name=Path(txt).stem)
    return OpenedFile(view, notes, file.crop_box is None)
