"""One explanation of one video: heatmaps and everything known about them, made by the model or read from files.

:func:`core.explain` returns an :class:`ExplainResult` with every field filled in;
:func:`core.heatmap_files.read_result` reads one back from its files, where some facts may be unknown: the
frames (the source video is not here), the scores (no npz beside the txt), the class names, the windows and
the frame indices (a legacy txt without sidecar). The viewer, the downloads, the comparison of two results
and gaze scoring take both alike. :mod:`core.formats.sidecar` writes it as JSON and reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import CamError
from core.geometry import Box, Views, Windows

if TYPE_CHECKING:
    from core.methods import Method
    from core.video import ClipInputs

def _as_views(array: np.ndarray, pixel_dims: int, what: str) -> np.ndarray:
    """``[T, ...]`` → ``[1, T, ...]``; ``[V, T, ...]`` unchanged."""
    if array.ndim == pixel_dims + 1:
        return array[None]
    if array.ndim != pixel_dims + 2:
        raise CamError(f"{what} must have {pixel_dims + 1} or {pixel_dims + 2} dimensions, not shape {array.shape}.")
    return array


CONSTANT_TOLERANCE = 1e-6
"""A map whose values span at most this share of its largest magnitude (or this much, near zero) is constant."""


def constant_maps(maps: np.ndarray) -> np.ndarray:
    """Which of ``maps`` (``[..., H, W]``) are constant, as bools of shape ``[...]``.

    Grad-CAM returns an all-zero (or flat) map when no channel weight is positive: it is no saliency map, and
    scored against gaze it gives numbers (SIM, KL) that rank it among real maps. Every writer records it per frame
    (``constant_frames`` in the sidecar, a count in summary.csv); gaze scoring and studies leave such maps out.
    """
    maps = np.asarray(maps)
    flat = maps.reshape(-1, *maps.shape[-2:])
    high, low = np.empty(flat.shape[0]), np.empty(flat.shape[0])
    for start in range(0, flat.shape[0], 256):  # in chunks: a memory-mapped whole video is read once, in order
        chunk = flat[start:start + 256]  # max and min in the maps' own type, exact in float64 afterwards
        high[start:start + 256], low[start:start + 256] = chunk.max(axis=(-2, -1)), chunk.min(axis=(-2, -1))
    span = high - low
    scale = np.maximum(np.maximum(np.abs(high), np.abs(low)), 1.0)
    return np.asarray(span <= CONSTANT_TOLERANCE * scale).reshape(maps.shape[:-2])


def constant_note(names: list[str], what: str = "maps") -> str:
    """The sentence every report gives for constant maps left out (``names``: what they are)."""
    listed = ", ".join(names[:8]) + (" …" if len(names) > 8 else "")
    return (f"{len(names)} constant {what} not scored (all zero or flat: Grad-CAM found no positive evidence, so "
            f"there is no saliency to compare; --keep-constant scores them): {listed}")


@dataclass(frozen=True)
class ExplainResult:
    """Heatmaps of one video, with everything needed to show, export, compare and map them back.

    Fields after ``notes`` other than ``extra`` are not written to the sidecar: ``name`` (the file-name stem of
    downloads), ``legacy``, ``file_notes`` (what reading the files noticed) and ``inputs`` (the
    :class:`~core.video.ClipInputs` the model explained, as :func:`core.explain` and
    :func:`core.cam.explain_inputs` return it; None when read from files or written by a batch). ``extra``
    holds the sidecar's other fields (a batch's ``batch`` and ``batch_key``...) so that a result read back is
    written back as it was.

    A result is a value: it is frozen, and a variant is made with :func:`dataclasses.replace` (which checks it
    again). Drawing it is the view's job (:func:`core.overlay.result_overlays`).
    """

    heatmaps: np.ndarray  # float32 [V, T, H, W] (or [T, H, W]), in [0, 1] when made here, at the input resolution
    frames: np.ndarray | None = None  # uint8 [V, T, H, W, 3] RGB, the model's input frames; None when unknown
    frame_indices: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.int64))  # int64 [V, T]:
    # the 0-based source frame of each heatmap frame (given empty: their positions 0..T-1)
    scores: np.ndarray | None = None  # float32 [C], pre-softmax class scores averaged over views
    probs: np.ndarray | None = None  # float32 [C], class probabilities as the config's test_cfg averages them
    target_class: int | None = None
    target_label: str = ""
    layer: str = ""
    method: Method | str = ""  # a name this version does not know stays text (an old or foreign file); "" unknown
    classes: list[str] = field(default_factory=list)
    video: str = ""
    config: str = ""
    checkpoint: str | None = None
    views: Views | str = Views.CENTER  # likewise
    windows: Windows | None = None  # where each view lies in the source video; None when unknown
    fps: float | None = None  # of the source video
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    name: str = "heatmaps"
    legacy: bool = False  # frame indices unknown (a txt without sidecar): heatmap frames are numbered by position
    file_notes: list[str] = field(default_factory=list)
    inputs: ClipInputs | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the one place a result's fields are set after construction: normalised here, frozen afterwards
        heatmaps = _as_views(np.asarray(self.heatmaps, np.float32), 2, "Heatmaps")
        object.__setattr__(self, "heatmaps", heatmaps)
        frames = self.frames
        if frames is not None and np.size(frames) == 0:  # e.g. a Ray worker sends no frames back
            frames = None
        if frames is not None:
            frames = _as_views(np.asarray(frames), 3, "Frames")
            if frames.shape[:4] != heatmaps.shape:
                raise CamError(f"Frames {frames.shape[:4]} and heatmaps {heatmaps.shape} do not match.")
        object.__setattr__(self, "frames", frames)
        num_views, num_frames = heatmaps.shape[:2]
        indices = self.frame_indices
        if indices is None or np.size(indices) == 0:
            indices = np.tile(np.arange(num_frames, dtype=np.int64), (num_views, 1))
        indices = np.asarray(indices, np.int64)
        if indices.size != num_views * num_frames:
            raise CamError(f"{indices.size} frame indices do not fit heatmaps of shape {heatmaps.shape}.")
        object.__setattr__(self, "frame_indices", indices.reshape(num_views, num_frames))
        if self.windows is not None and self.windows.num_views != num_views:
            raise CamError(f"{self.windows.num_views} view windows do not fit {num_views} views of heatmaps.")

    # -- the window geometry, readable as before --

    @property
    def source_size(self) -> tuple[int, int]:
        """(width, height) of the source video; (0, 0) when unknown."""
        return self.windows.source_size if self.windows is not None else (0, 0)

    @property
    def crop_box(self) -> Box:
        """The window (x0, y0, x1, y1) the views cover together, in source pixels; zeros when unknown."""
        return self.windows.crop_box if self.windows is not None else (0.0, 0.0, 0.0, 0.0)

    @property
    def view_boxes(self) -> list[Box]:
        """Each view's window (empty when unknown)."""
        return list(self.windows.boxes) if self.windows is not None else []

    @property
    def view_flips(self) -> list[bool]:
        """Views the model saw mirrored (TenCrop)."""
        return list(self.windows.flips) if self.windows is not None else []

    @property
    def pixel_aspect(self) -> float:
        """Width / height of a heatmap pixel in the source video (1: square, or unknown)."""
        return self.windows.pixel_aspect(self.heatmaps.shape) if self.windows is not None else 1.0

    # -- predictions --

    @property
    def predicted_class(self) -> int | None:
        """The argmax of the scores (the sidecar's record when the scores were not saved; None when unknown)."""
        if self.scores is not None:
            return int(np.argmax(self.scores))
        recorded = self.extra.get("predicted_class")
        return recorded if isinstance(recorded, int) else None

    @property
    def predicted_label(self) -> str:
        predicted = self.predicted_class
        if predicted is not None and predicted < len(self.classes):
            return self.classes[predicted]
        return str(self.extra.get("predicted_label") or "")

    @property
    def video_stem(self) -> str:
        """The source video's stem (``name`` when no video file is recorded): what gaze folders are matched by."""
        if self.video and not self.video.startswith("<"):
            return Path(self.video).stem
        return self.name

    # -- heatmap frames: views one after another, as in the txt file --

    @property
    def num_views(self) -> int:
        return int(self.heatmaps.shape[0])

    @property
    def num_frames(self) -> int:
        """Heatmap frames over all views."""
        return int(self.heatmaps.shape[0] * self.heatmaps.shape[1])

    def flat_heatmaps(self) -> np.ndarray:
        """``[V*T, H, W]``, views one after another (the txt file's order)."""
        return self.heatmaps.reshape(-1, *self.heatmaps.shape[-2:])

    def flat_frames(self) -> np.ndarray | None:
        return None if self.frames is None else self.frames.reshape(-1, *self.frames.shape[-3:])

    def source_frames(self) -> np.ndarray:
        """0-based source frame index of each of the ``V*T`` heatmap frames (positions for a legacy file)."""
        return self.frame_indices.reshape(-1)

    def saliency(self) -> np.ndarray:
        """The clip's saliency map: heatmaps summed over frames (and views) / their number."""
        return self.flat_heatmaps().mean(axis=0)

    def times(self) -> np.ndarray | None:
        """Time (s) in the source video of each heatmap frame; None without a frame rate."""
        return self.source_frames() / self.fps if self.fps and not self.legacy else None

    def constant_frames(self) -> np.ndarray:
        """``[V, T]`` bools: which heatmap frames are constant (:func:`constant_maps`)."""
        return constant_maps(self.heatmaps)

    @property
    def is_constant(self) -> bool:
        """Every heatmap frame is constant: the result holds no saliency at all."""
        return bool(self.constant_frames().all())


def topk(result: ExplainResult, k: int = 5) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes of ``result`` as (index, name, probability); empty without probabilities.
    The sidecar's ``top5``, the CLI's printout and the viewer's bar chart read it."""
    if result.probs is None:
        return []
    probs = result.probs
    names = result.classes if len(result.classes) == len(probs) else [f"class_{i}" for i in range(len(probs))]
    order = np.argsort(-probs)[:k]
    return [(int(i), names[i], float(probs[i])) for i in order]
