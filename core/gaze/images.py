"""Pictures of a gaze comparison, in the gaze maps' frame: saliency, gaze, and both over a source frame, for
the clip (:func:`comparison_images`) and frame by frame (:func:`frame_pictures`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.errors import CamError
from core.gaze.inputs import GazeMaps
from core.gaze.scores import GazeScores, gaze_windows, placed_saliency, window_views
from core.geometry import Box, window_mask
from core.overlay import colorize, overlay
from core.video import read_frames, video_reader

WINDOW_COLOUR = (255, 255, 255)
FIXATION_COLOUR = (255, 40, 40)


def shown_frame(result: GazeScores) -> int | None:
    """The source frame to draw the comparison on: the middle one of the frames the model saw."""
    if result.result.legacy:
        return None
    seen = sorted({int(i) for i in np.ravel(result.result.frame_indices)})
    return seen[len(seen) // 2]


def video_frame(video: str | Path | None, index: int | None) -> np.ndarray | None:
    """Frame ``index`` (0-based) of a video file as uint8 RGB, or None when there is no such readable frame."""
    if not video or index is None or not Path(video).is_file():
        return None
    try:
        return video_reader(video)[index].asnumpy()
    except (CamError, IndexError):  # a missing picture is not an error here
        return None


def _panels(saliency: np.ndarray, fixations: np.ndarray | None, density: np.ndarray | None, boxes: list[Box],
            frame: np.ndarray | None, *, colormap: str, alpha: float, peak: float,
            scale: float = 1.0) -> dict[str, np.ndarray]:
    """``saliency``, ``gaze`` and ``overlay`` pictures (uint8 RGB) of maps in the gaze frame, drawn ``scale``
    times the gaze maps' size: the saliency (divided by ``peak``) in its windows, the density or the
    fixations as dots, and the saliency over ``frame`` (grey without one) with the fixations on top; the
    windows outlined on each."""
    height, width = saliency.shape
    size = (max(2, round(width * scale)), max(2, round(height * scale)))

    def resized(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, np.float32)
        return values if size == (width, height) else cv2.resize(values, size, interpolation=cv2.INTER_AREA)

    inside = resized(np.logical_or.reduce([window_mask((width, height), box) for box in boxes]).astype(np.float32))
    inside = inside > 0.5
    shown = np.clip(resized(saliency) / (peak if peak > 0 else 1.0), 0, 1)
    base = np.full((size[1], size[0], 3), 128, np.uint8) if frame is None else \
        cv2.resize(np.ascontiguousarray(frame, np.uint8), size, interpolation=cv2.INTER_AREA)
    heat = (colorize(shown, colormap) * 255).astype(np.uint8)
    heat[~inside] = 0
    if density is not None:
        dens = resized(density)
        gaze = (colorize(dens / dens.max() if dens.max() > 0 else dens, colormap) * 255).astype(np.uint8)
    else:
        gaze = np.zeros((size[1], size[0], 3), np.uint8)
    blended = base.copy()
    blended[inside] = overlay(base[inside], shown[inside], alpha=alpha, colormap=colormap)
    if fixations is not None:
        if density is None:
            gaze = fixation_dots(gaze, fixations, scale)
        blended = fixation_dots(blended, fixations, scale)
    return {name: _windows(image, boxes, scale) for name, image in
            (("saliency", heat), ("gaze", gaze), ("overlay", blended))}


def _windows(image: np.ndarray, boxes: list[Box], scale: float) -> np.ndarray:
    thickness = max(1, round(image.shape[1] / 300))
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(image, (round(x0 * scale), round(y0 * scale)), (round(x1 * scale) - 1, round(y1 * scale) - 1),
                      WINDOW_COLOUR, thickness)
    return image


def fixation_dots(image: np.ndarray, fixations: np.ndarray, scale: float = 1.0, per: float = 150) -> np.ndarray:
    """Fixated pixels drawn on ``image`` (in place, and returned) as dots of radius width / ``per``, at the
    pixel centres scaled by ``scale``."""
    radius = max(2, round(image.shape[1] / per))
    for y, x in zip(*np.nonzero(fixations), strict=True):
        cv2.circle(image, (int((x + 0.5) * scale), int((y + 0.5) * scale)), radius, FIXATION_COLOUR, -1,
                   lineType=cv2.LINE_AA)
    return image


def comparison_images(result: GazeScores, frame: np.ndarray | None = None, *, colormap: str = "viridis",
                      alpha: float = 0.5) -> dict[str, np.ndarray]:
    """uint8 RGB pictures ``saliency``, ``gaze`` and ``overlay`` of the clip, each with the model's window(s) drawn.

    ``saliency``: the clip saliency placed in the window(s) (black outside); ``gaze``: the density, or the
    fixations as dots; ``overlay``: the saliency blended over ``frame`` (a source frame, resized to the
    gaze maps; grey without one) inside the window, with the fixations as red dots.
    """
    return _panels(result.saliency, result.fixations, result.density, result.windows or [result.crop_box], frame,
                   colormap=colormap, alpha=alpha, peak=float(result.saliency.max()))


@dataclass
class FramePictures:
    """The comparison frame by frame: ``images[i]`` is [saliency, gaze, overlay] (uint8 RGB, one size) at
    source frame ``frames[i]``, which ``labels[i]`` names (with its time when the frame rate is known)."""

    frames: list[int]
    images: list[list[np.ndarray]]
    labels: list[str]
    times: list[float] | None
    notes: list[str] = field(default_factory=list)


def frame_pictures(result: GazeScores, *, colormap: str = "viridis", alpha: float = 0.5,
                   width: int = 360) -> FramePictures | None:
    """Every frame the model saw that has a gaze map, drawn ``width`` pixels wide: that frame's saliency (the
    heatmaps that show it, in their windows, on one scale for the clip), its gaze (density, else fixations as
    dots) and the saliency over the source frame with the fixations. None when the gaze is one map for the
    clip or the file records no frames (there is nothing to scrub)."""
    heat = result.result
    gaze = _per_frame_gaze(result)
    if gaze is None:
        return None
    frames, fixations, density = gaze
    notes: list[str] = []
    gaze_size = fixations.size
    views = window_views(heat, gaze_windows(heat, gaze_size, notes))
    boxes = [view.box for view in views]
    saliency = {f: placed_saliency(views, gaze_size, f) for f in frames}
    peak = max(float(s.max()) for s in saliency.values())
    backgrounds = _video_frames(heat.video, frames, notes)
    scale = width / gaze_size[0]
    images = []
    for f in frames:
        panels = _panels(saliency[f], _at(fixations, f), _at(density, f), boxes, backgrounds.get(f),
                         colormap=colormap, alpha=alpha, peak=peak, scale=scale)
        images.append([panels["saliency"], panels["gaze"], panels["overlay"]])
    times = [f / heat.fps for f in frames] if heat.fps else None
    labels = [f"source frame {f}" + (f" · {t:.2f} s" if times else "") for f, t in
              zip(frames, times or [0.0] * len(frames), strict=True)]
    return FramePictures(frames, images, labels, times, notes)


def _per_frame_gaze(result: GazeScores) -> tuple[list[int], GazeMaps, GazeMaps | None] | None:
    """(the frames the model saw that have every gaze map, the fixations, the density) when the gaze is per
    frame and the file records its frames; else None (nothing to scrub)."""
    heat, source = result.result, result.source
    if source is None or heat.legacy:
        return None
    seen = sorted({int(f) for f in np.ravel(heat.frame_indices)})
    fixations, density = source.read(set(seen))
    if not fixations.per_frame and (density is None or not density.per_frame):
        return None
    frames = [f for f in seen if fixations.at(f) is not None and (density is None or density.at(f) is not None)]
    return (frames, fixations, density) if frames else None


def _at(maps: GazeMaps | None, frame: int) -> np.ndarray | None:
    return None if maps is None else maps.at(frame)


def _video_frames(video: str, frames: list[int], notes: list[str]) -> dict[int, np.ndarray]:
    """The source frames by number, or none (with a note) when the video is not here or cannot be read."""
    if not video or video.startswith("<") or not Path(video).is_file():
        notes.append(f"the source video {video or '(none recorded)'} is not here: the overlays have a grey "
                     "background")
        return {}
    try:
        return dict(zip(frames, read_frames(video, frames), strict=True))
    except CamError as err:
        notes.append(f"{err} The overlays have a grey background.")
        return {}
