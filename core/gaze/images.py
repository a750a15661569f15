"""Pictures of a gaze comparison, in the gaze maps' frame: saliency, gaze, and both over a source frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.errors import CamError
from core.gaze.scores import GazeScores
from core.geometry import window_mask
from core.overlay import colorize, overlay
from core.video import video_reader

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


def _window(image: np.ndarray, result: GazeScores) -> np.ndarray:
    thickness = max(1, round(image.shape[1] / 300))
    for x0, y0, x1, y1 in result.windows or [result.crop_box]:
        cv2.rectangle(image, (round(x0), round(y0)), (round(x1) - 1, round(y1) - 1), WINDOW_COLOUR, thickness)
    return image


def _fixation_dots(image: np.ndarray, fixations: np.ndarray) -> np.ndarray:
    radius = max(2, round(image.shape[1] / 150))
    for y, x in zip(*np.nonzero(fixations), strict=True):
        cv2.circle(image, (int(x), int(y)), radius, FIXATION_COLOUR, -1, lineType=cv2.LINE_AA)
    return image


def comparison_images(result: GazeScores, frame: np.ndarray | None = None, *, colormap: str = "viridis",
                      alpha: float = 0.5) -> dict[str, np.ndarray]:
    """uint8 RGB pictures ``saliency``, ``gaze`` and ``overlay``, each with the model's window(s) drawn.

    ``saliency``: the clip saliency placed in the window(s) (black outside); ``gaze``: the density, or the
    fixations as dots; ``overlay``: the saliency blended over ``frame`` (a source frame, resized to the
    gaze maps; grey without one) inside the window, with the fixations as red dots.
    """
    width, height = result.gaze_size
    saliency = result.saliency / result.saliency.max() if result.saliency.max() > 0 else result.saliency
    base: np.ndarray = np.full((height, width, 3), 128, np.uint8)
    if frame is not None:
        base = cv2.resize(np.ascontiguousarray(frame, np.uint8), (width, height), interpolation=cv2.INTER_AREA)
    inside = np.logical_or.reduce([window_mask((width, height), box) for box in result.windows or [result.crop_box]])
    heat = (colorize(saliency, colormap) * 255).astype(np.uint8)
    heat[~inside] = 0
    if result.density is not None:
        density = result.density / result.density.max() if result.density.max() > 0 else result.density
        gaze = (colorize(density, colormap) * 255).astype(np.uint8)
    else:
        gaze = _fixation_dots(np.zeros((height, width, 3), np.uint8), result.fixations)
    blended = base.copy()
    blended[inside] = overlay(base[inside], saliency[inside], alpha=alpha, colormap=colormap)
    blended = _fixation_dots(blended, result.fixations)
    return {"saliency": _window(heat, result), "gaze": _window(gaze, result), "overlay": _window(blended, result)}
