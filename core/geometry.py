"""Where a heatmap's pixels lie in the source video, and gaze maps moved into the heatmap's frame.

:class:`Windows` is the one record of that geometry (the source size, each view's window, the views seen
mirrored); the model inputs, the result, its sidecar and gaze scoring all carry it. A heatmap covers the
window its view saw, ``crop_box = (x0, y0, x1, y1)`` in source pixels (floats,
after the test pipeline's Resize and CenterCrop), sampled on an ``H × W`` grid. Pixel ``(i, j)`` of a
map covers ``[j, j + 1) × [i, i + 1)``; its centre is ``(j + 0.5, i + 0.5)``. Heatmap pixel ``u`` covers
source ``x ∈ [x0 + u·s, x0 + (u + 1)·s)`` with ``s = (x1 - x0) / W`` (rows likewise).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from core.errors import CamError, parse_choice

Box = tuple[float, float, float, float]


class Views(StrEnum):
    """Which of the test pipeline's views a clip keeps: ``center``, one center crop (multi-crop replaced by
    CenterCrop), or ``all`` of the config's crops and clips (``--all-views``). The values are the sidecar's."""

    CENTER = "center"
    ALL = "all"


VIEWS = tuple(Views)


def parse_views(value: Views | str) -> Views:
    """The :class:`Views` ``value`` names (a page's pick, a ``.batch.json``, a caller's text); a CamError for
    anything else."""
    return parse_choice(Views, value, "views must be 'center' or 'all', not {value!r}.")


@dataclass(frozen=True)
class Windows:
    """Where each view of a clip lies in the source video.

    ``boxes[v]`` is view ``v``'s window ``(x0, y0, x1, y1)`` in source pixels (floats, after the test
    pipeline's Resize and crops); ``flips[v]`` says the model saw it mirrored left-right (TenCrop).
    """

    source_size: tuple[int, int]  # (width, height) of the source video
    boxes: tuple[Box, ...]
    flips: tuple[bool, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_size", (int(self.source_size[0]), int(self.source_size[1])))
        object.__setattr__(self, "boxes", tuple(tuple(float(v) for v in box) for box in self.boxes))
        object.__setattr__(self, "flips", tuple(bool(flip) for flip in self.flips))
        if not self.boxes or len(self.flips) != len(self.boxes) or any(len(box) != 4 for box in self.boxes):
            raise CamError(f"Windows need one (x0, y0, x1, y1) box and one mirror flag per view, not "
                           f"{len(self.boxes)} boxes and {len(self.flips)} flags.")

    @classmethod
    def single(cls, source_size: tuple[int, int], box: Box, views: int = 1) -> Windows:
        """``views`` views that all saw ``box`` unmirrored (center crops, one per clip)."""
        return cls(source_size, (box,) * views, (False,) * views)

    @property
    def crop_box(self) -> Box:
        """The window all views cover together (with one window, that window)."""
        return (min(b[0] for b in self.boxes), min(b[1] for b in self.boxes),
                max(b[2] for b in self.boxes), max(b[3] for b in self.boxes))

    @property
    def num_views(self) -> int:
        return len(self.boxes)

    def groups(self) -> list[tuple[Box, list[int]]]:
        """Views that saw the same window (mirrored or not), as ``(box, views)`` in first-view order: one
        group for center crops (however many clips), one per crop position for ThreeCrop/TenCrop."""
        found: dict[Box, list[int]] = {}
        for view, box in enumerate(self.boxes):
            found.setdefault(box, []).append(view)
        return list(found.items())

    def scaled(self, size: tuple[int, int]) -> Windows:
        """The same windows in a frame of ``size`` (w, h) that shows the whole source at another resolution."""
        return Windows(size, tuple(scale_box(box, self.source_size, size) for box in self.boxes), self.flips)

    def pixel_aspect(self, shape: tuple[int, ...]) -> float:
        """Width / height of one heatmap pixel in source pixels: the first view's window spread over the
        heatmaps' last two dimensions ``shape[-2:]`` (all views of a clip share one window size)."""
        x0, y0, x1, y1 = self.boxes[0]
        height, width = shape[-2:]
        return ((x1 - x0) / width) / ((y1 - y0) / height) if x1 > x0 and y1 > y0 else 1.0


def check_box(crop_box: Box, size: tuple[int, int]) -> Box:
    """``crop_box`` as four floats, or a CamError when it is empty or lies outside a ``size = (w, h)`` frame."""
    x0, y0, x1, y1 = (float(v) for v in crop_box)
    width, height = size
    if not (x1 > x0 and y1 > y0):
        raise CamError(f"The crop box {list(crop_box)} is empty; it must be [x0, y0, x1, y1] with x1 > x0, y1 > y0.")
    if x0 < -1 or y0 < -1 or x1 > width + 1 or y1 > height + 1:
        raise CamError(f"The crop box {list(crop_box)} lies outside the {width}×{height} frame.")
    return x0, y0, x1, y1


def scale_box(crop_box: Box, source_size: tuple[int, int], target_size: tuple[int, int]) -> Box:
    """The same window in a frame of ``target_size`` (w, h) showing the whole source at another resolution."""
    sx, sy = target_size[0] / source_size[0], target_size[1] / source_size[1]
    x0, y0, x1, y1 = crop_box
    return x0 * sx, y0 * sy, x1 * sx, y1 * sy


def window_mask(size: tuple[int, int], crop_box: Box) -> np.ndarray:
    """Boolean ``[h, w]``: the pixels whose centre lies inside ``crop_box``."""
    width, height = size
    x0, y0, x1, y1 = check_box(crop_box, size)
    xs, ys = np.arange(width) + 0.5, np.arange(height) + 0.5
    return ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]


def heatmap_to_source(heatmap: np.ndarray, source_size: tuple[int, int],
                      crop_box: Box) -> tuple[np.ndarray, np.ndarray]:
    """A heatmap ``[H, W]`` placed in the source frame: (float32 ``[h, w]``, bilinear inside the window and
    zero outside it; boolean ``mask`` of the window's pixels). ``source_size`` is ``(w, h)``."""
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2 or heat.size == 0:
        raise CamError(f"A heatmap must be a 2-D (height, width) array, got shape {heat.shape}.")
    width, height = int(source_size[0]), int(source_size[1])
    if width < 1 or height < 1:
        raise CamError(f"The source size {list(source_size)} is not a frame size (width, height).")
    x0, y0, x1, y1 = check_box(crop_box, (width, height))
    sx, sy = heat.shape[1] / (x1 - x0), heat.shape[0] / (y1 - y0)
    # source pixel centre x + 0.5 lies at heatmap coordinate (x + 0.5 - x0) * sx, i.e. index that - 0.5
    inverse = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5]], dtype=np.float64)
    placed = cv2.warpAffine(heat, inverse, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    mask = window_mask((width, height), (x0, y0, x1, y1))
    placed[~mask] = 0
    return placed, mask


def _area_weights(start: float, stop: float, n_out: int, n_in: int) -> np.ndarray:
    """``[n_out, n_in]``: the share of each output bin of ``[start, stop)`` covered by each input pixel,
    rows normalised over the pixels inside the frame (area averaging with fractional edges)."""
    edges = start + (stop - start) * np.arange(n_out + 1) / n_out
    pixels = np.arange(n_in)
    overlap = np.minimum(edges[1:, None], pixels[None, :] + 1) - np.maximum(edges[:-1, None], pixels[None, :])
    weights = np.clip(overlap, 0, None)
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def points_in_window(xs: np.ndarray, ys: np.ndarray, box: Box, shape: tuple[int, int]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Gaze pixels ``(xs, ys)`` moved into a window's ``(H, W)`` grid by their centres; those outside dropped
    (duplicates kept): the rule :func:`gaze_to_crop` marks fixations by."""
    x0, y0, x1, y1 = box
    us = np.floor((xs + 0.5 - x0) * shape[1] / (x1 - x0)).astype(np.int64)
    vs = np.floor((ys + 0.5 - y0) * shape[0] / (y1 - y0)).astype(np.int64)
    inside = (us >= 0) & (us < shape[1]) & (vs >= 0) & (vs < shape[0])
    return us[inside], vs[inside]


def gaze_to_crop(gaze: np.ndarray, crop_box: Box, heat_shape: tuple[int, int], *, binary: bool) -> np.ndarray:
    """A gaze map ``[h, w]`` (source frame) cut to ``crop_box`` and brought to the heatmap's ``(H, W)``.

    ``binary=True`` (fixation maps): every fixated source pixel (> 0) whose centre lies inside the window
    marks the heatmap pixel that covers that centre (boolean result); a sparse map is never interpolated,
    which would drop or smear fixations. ``binary=False`` (densities): area averaging (float64); a stack
    ``[..., h, w]`` of densities is cut in one go.
    """
    source = np.asarray(gaze)
    if (source.ndim != 2 and (binary or source.ndim < 2)) or source.size == 0:
        raise CamError(f"A gaze map must be a 2-D (height, width) array, got shape {source.shape}.")
    height, width = source.shape[-2:]
    out_h, out_w = int(heat_shape[0]), int(heat_shape[1])
    x0, y0, x1, y1 = check_box(crop_box, (width, height))
    if binary:
        ys, xs = np.nonzero(source > 0)
        us, vs = points_in_window(xs, ys, (x0, y0, x1, y1), (out_h, out_w))
        fixated = np.zeros((out_h, out_w), dtype=bool)
        fixated[vs, us] = True
        return fixated
    from scipy import sparse  # the weights are banded: sparse products cost O(pixels), not a dense matmul's

    rows = sparse.csr_matrix(_area_weights(y0, y1, out_h, height))
    cols = sparse.csr_matrix(_area_weights(x0, x1, out_w, width))
    stack = source.astype(np.float64, copy=False).reshape(-1, height, width)
    count = len(stack)
    across = rows @ stack.transpose(1, 0, 2).reshape(height, count * width)  # [H, N·w]
    across = across.reshape(out_h, count, width).transpose(1, 0, 2).reshape(count * out_h, width)
    return np.ascontiguousarray((cols @ across.T).T).reshape(*source.shape[:-2], out_h, out_w)
