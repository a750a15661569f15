"""A result's files, written by :func:`write_result` and read back by :func:`read_result` (ours or legacy),
with the source video's frames for the overlay. Each file format has its module in :mod:`core.formats`, its
writer beside its reader: the heatmap txt (:mod:`core.formats.txt`), the npz (:mod:`core.formats.npz`) and the
JSON sidecar (:mod:`core.formats.sidecar`); this module puts them together.

Ours: ``cam.txt`` with ``cam.json`` (the sidecar) and, optionally, ``cam.npz``
(full-precision heatmaps, scores, probabilities) beside it. Legacy files, written by the thesis' patched
``vis_cam.py``, are a txt alone (numpy/torch-printed values are fine): their heatmap frames are shown in file
order, with no timing and no overlay.

Files are data, never instructions: reading a result never loads a config or a model. The overlay frames
come from the source video itself: view ``v`` of the model saw window ``view_boxes[v]`` of source frames
``frame_indices[v]`` resized to the heatmap size (mirrored when ``view_flips[v]``: TenCrop), so
:func:`source_frames` decodes those frames and cuts the windows out of them (rounded to whole source pixels,
then area-resized to the heatmap size). That matches the model's input within about a source pixel and needs
only the sidecar.

A legacy file records neither its frames nor its window; :func:`place_legacy` places it on a video the user
names under stated assumptions (frames sampled as MMAction2's test pipelines sample them, a centred window),
so that its heatmaps can be seen over the frames they most likely show.

Sizes are checked before anything is allocated (:mod:`core.limits`): an npz member's declared shape must fit
the member, the heatmaps beside it and the cap.

Every writer goes through :func:`core.outputs.atomic_path`: data lands in a temporary file in the same folder
and is renamed into place, so no reader ever sees half a file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CamError
from core.formats.npz import read_result_npz, write_npz
from core.formats.sidecar import from_sidecar, read_sidecar, sidecar_path, to_sidecar
from core.formats.txt import read_heatmap_txt, write_heatmap_txt
from core.geometry import Box, Windows, check_box
from core.outputs import write_json
from core.result import ExplainResult
from core.video import probe_video, read_frames

RESULT_SUFFIXES = (".txt", ".json", ".npz")


def check_heatmap_values(heatmaps: np.ndarray, where: str) -> list[str]:
    """The one check of heatmap values read from a file: NaN or infinite values are refused (naming the first
    frame that holds one); values outside [0, 1] (ours are min-max normalised) give a note, as they are
    shown and scored as they are."""
    flat = np.asarray(heatmaps).reshape(-1, *np.shape(heatmaps)[-2:])
    finite = np.isfinite(flat).all(axis=(1, 2))
    if not finite.all():
        frame = int(np.argmin(finite))
        raise CamError(f"{where}: heatmap frame {frame} holds NaN or infinite values; the file is damaged.")
    low, high = float(flat.min(initial=0.0)), float(flat.max(initial=0.0))
    if low < 0 or high > 1:
        return [f"{where} holds values from {low:.3g} to {high:.3g}, outside [0, 1]: these heatmaps were not "
                "min-max normalised, so colours and scores use them as they are."]
    return []


def crop_to_heatmap(frames: np.ndarray, crop_box: Box, size: tuple[int, int]) -> np.ndarray:
    """Frames ``[N, h, w, 3]`` cut to ``crop_box`` (rounded to whole pixels) and area-resized to ``size = (W, H)``."""
    import cv2

    height, width = frames.shape[1:3]
    x0, y0, x1, y1 = check_box(crop_box, (width, height))
    left, top = max(0, round(x0)), max(0, round(y0))
    right, bottom = min(width, max(left + 1, round(x1))), min(height, max(top + 1, round(y1)))
    return np.stack([cv2.resize(np.ascontiguousarray(f[top:bottom, left:right]), size, interpolation=cv2.INTER_AREA)
                     for f in frames])


def source_frames(video: str | Path, frame_indices: np.ndarray, windows: Windows,
                  size: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """The windows the model saw of source frames ``frame_indices`` ``[V, T]`` (view ``v`` through its window,
    mirrored when flipped) at heatmap ``size = (W, H)``: uint8 ``[V, T, H, W, 3]``, and notes. A video of another
    resolution than the windows' source is taken to show the whole source frame rescaled (the windows are
    scaled with it)."""
    path = Path(video)
    if not path.exists():
        raise CamError(f"Video {path} does not exist; give the video the heatmaps were made from.")
    indices = np.asarray(frame_indices, dtype=np.int64)
    wanted = sorted(set(indices.reshape(-1).tolist()))
    decoded = read_frames(path, wanted)
    notes = []
    actual = (decoded.shape[2], decoded.shape[1])
    if actual != windows.source_size:
        source = windows.source_size
        windows = windows.scaled(actual)
        notes.append(f"{path.name} is {actual[0]}×{actual[1]} but the heatmaps were made from a "
                     f"{source[0]}×{source[1]} video; the window was scaled to it.")
    position = {index: i for i, index in enumerate(wanted)}
    views = []
    for row, box, flip in zip(indices, windows.boxes, windows.flips, strict=True):
        cropped = crop_to_heatmap(decoded[[position[i] for i in row.tolist()]], box, size)
        views.append(cropped[:, :, ::-1] if flip else cropped)
    return np.ascontiguousarray(np.stack(views)), notes


def _result_files(path: Path) -> tuple[Path, Path, Path]:
    if path.suffix.lower() not in RESULT_SUFFIXES:
        raise CamError(f"{path} is not a result file; give its heatmap .txt, its .json sidecar or its .npz.")
    if not path.is_file():
        raise CamError(f"Heatmap file {path} does not exist.")
    return path.with_suffix(".txt"), sidecar_path(path), path.with_suffix(".npz")


def write_result(txt_path: str | Path, result: ExplainResult, *, npz: bool = False, **extra: Any) -> Path:
    """The txt, then (optionally) the npz, then the JSON sidecar (:func:`core.formats.sidecar.to_sidecar` with
    ``extra`` fields) last: its presence marks completion."""
    write_heatmap_txt(txt_path, result.heatmaps)
    if npz:
        write_npz(Path(txt_path).with_suffix(".npz"), result)
    return write_json(sidecar_path(txt_path), to_sidecar(result, **extra))


def _overlay_frames(result: ExplainResult, video: str | Path | None, sidecar: bool) -> np.ndarray | None:
    """Frames of the source video (``video``, else the sidecar's when it is here) through the result's
    windows (None, with a note in ``result.file_notes`` saying why, when there are none; a file without
    ``sidecar`` has one already)."""
    recorded = result.video if result.video and not result.video.startswith("<") else None
    source = Path(video) if video else Path(recorded) if recorded and Path(recorded).exists() else None
    notes = result.file_notes
    if source is None:
        if recorded:
            notes.append(f"The source video {recorded} is not here; give its path to see the overlay.")
        return None
    if result.windows is None or result.legacy:
        if video and sidecar and not any("predates per-view windows" in note for note in notes):
            notes.append("The sidecar records no frame indices or no windows, so the heatmaps cannot be placed on "
                         "the video; they are shown alone.")
        return None
    size = (result.heatmaps.shape[-1], result.heatmaps.shape[-2])
    try:
        frames, more = source_frames(source, np.asarray(result.frame_indices), result.windows, size)
    except CamError as err:
        if video:  # the user's choice: say what is wrong with it
            raise
        notes.append(f"{err} The heatmaps are shown alone.")
        return None
    notes.extend(more)
    return frames


def read_result(path: str | Path, *, video: str | Path | None = None, frames: bool = True) -> ExplainResult:
    """The result whose txt, JSON sidecar or npz ``path`` is (the others are found beside it), read without
    running any config or model.

    The sidecar gives frame indices, windows, fps and what it records about classes; the npz (when its
    heatmaps are the txt's) full-precision heatmaps, scores and probabilities. With ``frames``, the overlay
    frames come from ``video``, else from the sidecar's video when that path exists here; the result's
    ``file_notes`` say why they are missing (and anything else the reader noticed). Heatmap values are checked
    by :func:`check_heatmap_values`.
    """
    path = Path(path)
    txt, side, npz = _result_files(path)
    notes: list[str] = []
    # A result's npz is written after its txt: when it is not older, its full-precision heatmaps are the txt's
    # and parsing the text (about 0.5 s a clip) is skipped; an older npz is checked against the txt.
    fresh_npz = npz.is_file() and (not txt.is_file() or npz.stat().st_mtime_ns >= txt.stat().st_mtime_ns)
    maps = read_heatmap_txt(txt) if txt.is_file() and not fresh_npz else None
    arrays = read_result_npz(npz, maps, notes) if npz.is_file() else {}
    if fresh_npz and "heatmaps" not in arrays and txt.is_file():
        maps = read_heatmap_txt(txt)
    heatmaps = arrays["heatmaps"] if "heatmaps" in arrays else maps
    if heatmaps is None:
        raise CamError(f"{path} has no heatmaps beside it: neither {txt.name} nor {npz.name} exists.")
    where = (txt if maps is not None and "heatmaps" not in arrays else npz).name
    scores, probs = arrays.get("scores"), arrays.get("probs")
    if side.is_file():
        meta = read_sidecar(side)
        result = from_sidecar(meta, heatmaps, where=f"Sidecar {side}", scores=scores, probs=probs, name=txt.stem,
                              heatmap_file=str(txt if txt.is_file() else npz))
        if result.target_class is None and "target_class" in arrays:
            result = replace(result, target_class=int(arrays["target_class"]))
    else:
        target = int(arrays["target_class"]) if "target_class" in arrays else None
        result = ExplainResult(heatmaps, scores=scores, probs=probs, target_class=target, name=txt.stem, legacy=True)
        notes.append(f"{txt.name} has no sidecar {side.name}: its heatmap frames are numbered by their position in "
                     "the file, with no timing, classes or window on the video.")
    result.file_notes[:0] = notes + check_heatmap_values(result.heatmaps, where)
    if frames and (overlaid := _overlay_frames(result, video, side.is_file())) is not None:
        result = replace(result, frames=overlaid)
    return result


WINDOWS = ("center", "frame")
"""Where :func:`place_legacy` puts a legacy file's heatmaps: the centred window with the heatmaps' shape
(MMAction2's ``Resize`` of the short side then ``CenterCrop``, the usual test pipeline), or the whole frame
(a ``Resize`` to a fixed size that ignores the aspect ratio)."""


def legacy_frame_indices(count: int, total: int, stride: int | None = None) -> np.ndarray:
    """Source frames (0-based) of a legacy file's ``count`` heatmap frames in a video of ``total`` frames.

    Without ``stride``: sampled evenly, the middle frame of each of ``count`` equal segments, as MMAction2's
    ``SampleFrames(clip_len=1, num_clips=count, test_mode=True)`` (TSN-style test sampling) picks them. With
    ``stride``: ``count`` frames ``stride`` apart, the clip centred in the video, as
    ``SampleFrames(clip_len=count, frame_interval=stride, num_clips=1, test_mode=True)`` does; frames past
    the end wrap around to the start, as MMAction2's default ``out_of_bound_opt="loop"`` does.
    """
    if count < 1 or total < 1:
        raise CamError(f"Cannot place {count} heatmap frames on a video of {total} frames.")
    if stride is None:
        interval = total / count
        return (np.arange(count) * interval + interval / 2).astype(np.int64)
    if stride < 1:
        raise CamError(f"The stride must be a whole number of frames from 1 up, not {stride}.")
    start = max(total - ((count - 1) * stride + 1), 0) // 2  # the clip spans (count - 1) * stride + 1 frames
    return (start + np.arange(count, dtype=np.int64) * stride) % total


def centered_window(source_size: tuple[int, int], shape: tuple[int, int]) -> Box:
    """The largest window of a ``source_size`` (w, h) frame, centred, with the proportions of heatmaps of
    ``shape`` (h, w)."""
    width, height = source_size
    rows, cols = shape
    if width * rows > height * cols:  # the frame is wider than the heatmaps: cut the sides
        inner = height * cols / rows
        return ((width - inner) / 2, 0.0, (width + inner) / 2, float(height))
    inner = width * rows / cols
    return (0.0, (height - inner) / 2, float(width), (height + inner) / 2)


def place_legacy(result: ExplainResult, video: str | Path, *, stride: int | None = None,
                 window: str = "center") -> ExplainResult:
    """A legacy result (a txt without sidecar) placed on ``video``: its heatmap frames taken to show the
    source frames :func:`legacy_frame_indices` gives, through the ``window`` (:data:`WINDOWS`) of each, and
    the overlay frames cut from the video there. The result stays ``legacy`` (what it shows is assumed, not
    recorded: labels say "assumed", no sidecar is offered) and its ``file_notes`` say what was assumed."""
    if not result.legacy:
        raise CamError(f"{result.name} has a sidecar that records its frames; it needs no placing.")
    if window not in WINDOWS:
        raise CamError(f"window must be one of {', '.join(WINDOWS)}, not {window!r}.")
    info = probe_video(video)
    if info.is_rawframes:
        raise CamError(f"{video} is a rawframes folder; give the video file the heatmaps were made from.")
    size = (info.width, info.height)
    shape = result.heatmaps.shape[-2:]
    count = result.num_frames
    indices = legacy_frame_indices(count, info.frames, stride)
    box = centered_window(size, shape) if window == "center" else (0.0, 0.0, float(size[0]), float(size[1]))
    windows = Windows.single(size, box, result.num_views)
    frames, _ = source_frames(video, indices.reshape(result.heatmaps.shape[:2]), windows,
                              (int(shape[1]), int(shape[0])))
    sampled = (f"sampled evenly over its {info.frames} frames" if stride is None
               else f"{stride} apart, centred in its {info.frames} frames")
    where = (f"the centred {box[2] - box[0]:.0f}×{box[3] - box[1]:.0f} window with the heatmaps' proportions"
             if window == "center" else f"the whole {size[0]}×{size[1]} frame")
    shown = ", ".join(str(int(i)) for i in indices[:6]) + (", …" if count > 6 else "")
    note = (f"Placed on {Path(video).name} by assumption (the file records neither): its {count} heatmap frames "
            f"are taken as {sampled} (source frames {shown}), each over {where}.")
    return replace(result, frame_indices=indices.reshape(result.heatmaps.shape[:2]), windows=windows,
                   frames=frames, video=str(video), fps=info.fps, file_notes=[*result.file_notes, note])
