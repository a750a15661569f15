"""A result as plain arrays for any viewer: heatmaps, with frames, timing and predictions when known.

:class:`CamView` is what the explorer's viewer draws. It comes from an :class:`~core.cam.ExplainResult`
(:meth:`CamView.from_result`) or from heatmaps alone, e.g. a heatmap txt file read back without its
video, so one viewer serves both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import CamError

if TYPE_CHECKING:
    from core.cam import ExplainResult


def _as_views(array: np.ndarray | None, pixel_dims: int, what: str) -> np.ndarray | None:
    """``[T, ...]`` → ``[1, T, ...]``; ``[V, T, ...]`` unchanged."""
    if array is None:
        return None
    array = np.asarray(array)
    if array.ndim == pixel_dims + 1:
        return array[None]
    if array.ndim != pixel_dims + 2:
        raise CamError(f"{what} must have {pixel_dims + 1} or {pixel_dims + 2} dimensions, not shape {array.shape}.")
    return array


def pixel_aspect(crop_box: tuple[float, float, float, float] | None, shape: tuple[int, ...]) -> float:
    """Width / height of one heatmap pixel in source pixels: the crop window ``(x0, y0, x1, y1)`` spread over
    the heatmaps' last two dimensions ``shape[-2:]``; 1 without a (valid) window."""
    if crop_box is None:
        return 1.0
    x0, y0, x1, y1 = crop_box
    height, width = shape[-2:]
    return ((x1 - x0) / width) / ((y1 - y0) / height) if x1 > x0 and y1 > y0 else 1.0


def sidecar_classes(meta: dict[str, Any], count: int) -> list[str]:
    """Class names a sidecar records (top-5, target, prediction); ``class_i`` for the others."""
    names = [f"class_{i}" for i in range(count)]
    known = [(row.get("class"), row.get("label")) for row in meta.get("top5") or [] if isinstance(row, dict)]
    known += [(meta.get("target_class"), meta.get("target_label")),
              (meta.get("predicted_class"), meta.get("predicted_label"))]
    for index, label in known:
        if isinstance(index, int) and 0 <= index < count and label:
            names[index] = str(label)
    return names


@dataclass
class CamView:
    """Heatmaps ``[V, T, H, W]`` and what is known about them; frames may be absent."""

    heatmaps: np.ndarray  # float32 [V, T, H, W] (or [T, H, W]), values in [0, 1]
    frames: np.ndarray | None = None  # uint8 [V, T, H, W, 3] RGB, the frames the heatmaps explain
    frame_indices: np.ndarray | None = None  # int [V, T], 0-based source frame of each heatmap frame
    fps: float | None = None  # of the source video
    scores: np.ndarray | None = None  # [C] class scores
    probs: np.ndarray | None = None  # [C] class probabilities
    classes: list[str] | None = None
    target_class: int | None = None
    name: str = "heatmaps"  # file-name stem for downloads
    meta: dict[str, Any] = field(default_factory=dict)  # the JSON sidecar
    pixel_aspect: float = 1.0  # width / height of a heatmap pixel in the source video (1: square)

    def __post_init__(self) -> None:
        self.heatmaps = _as_views(np.asarray(self.heatmaps, np.float32), 2, "Heatmaps")
        self.frames = _as_views(self.frames, 3, "Frames")
        if self.frames is not None and self.frames.shape[:4] != self.heatmaps.shape:
            raise CamError(f"Frames {self.frames.shape[:4]} and heatmaps {self.heatmaps.shape} do not match.")
        if self.frame_indices is None:
            num_views, num_frames = self.heatmaps.shape[:2]
            self.frame_indices = np.tile(np.arange(num_frames), (num_views, 1))
        self.frame_indices = np.asarray(self.frame_indices, np.int64).reshape(self.heatmaps.shape[:2])

    @classmethod
    def from_result(cls, result: ExplainResult, name: str = "heatmaps") -> CamView:
        """Everything the viewer and the downloads need from an explain result."""
        from core.export import sidecar

        return cls(heatmaps=result.heatmaps, frames=result.frames, frame_indices=result.frame_indices,
                   fps=result.fps, scores=result.scores, probs=result.probs, classes=list(result.classes),
                   target_class=result.target_class, name=name, meta=sidecar(result),
                   pixel_aspect=pixel_aspect(result.view_boxes[0] if result.view_boxes else result.crop_box,
                                             result.heatmaps.shape))

    @classmethod
    def from_sidecar(cls, meta: dict[str, Any], heatmaps: np.ndarray, *, frames: np.ndarray | None = None,
                     frame_indices: np.ndarray | None = None, scores: np.ndarray | None = None,
                     probs: np.ndarray | None = None, target_class: int | None = None,
                     name: str = "heatmaps") -> CamView:
        """Saved heatmaps described by their JSON sidecar ``meta`` (fps, crop window, the class names it
        records); scores and probabilities come from the npz beside them when there is one."""
        crop_box = (meta.get("view_boxes") or [meta.get("crop_box")])[0]  # all views share one size
        return cls(heatmaps=heatmaps, frames=frames, frame_indices=frame_indices, fps=meta.get("fps"),
                   scores=scores, probs=probs, classes=sidecar_classes(meta, len(probs)) if probs is not None else None,
                   target_class=target_class, name=name, meta=meta,
                   pixel_aspect=pixel_aspect(tuple(crop_box) if crop_box else None, np.shape(heatmaps)))

    @property
    def num_views(self) -> int:
        return self.heatmaps.shape[0]

    @property
    def num_frames(self) -> int:
        """Heatmap frames over all views."""
        return self.heatmaps.shape[0] * self.heatmaps.shape[1]

    def flat_heatmaps(self) -> np.ndarray:
        """``[V*T, H, W]``, views one after another (the txt file's order)."""
        return self.heatmaps.reshape(-1, *self.heatmaps.shape[-2:])

    def flat_frames(self) -> np.ndarray | None:
        return None if self.frames is None else self.frames.reshape(-1, *self.frames.shape[-3:])

    def source_frames(self) -> np.ndarray:
        """0-based source frame index of each of the ``V*T`` heatmap frames."""
        return self.frame_indices.reshape(-1)

    def times(self) -> np.ndarray | None:
        """Time (s) in the source video of each heatmap frame; None without a frame rate."""
        return self.source_frames() / self.fps if self.fps else None

    def frame_label(self, index: int) -> str:
        """``view 2 · source frame 45 · 1.50 s`` for heatmap frame ``index`` (of ``V*T``)."""
        parts = [f"view {index // self.heatmaps.shape[1] + 1}"] if self.num_views > 1 else []
        parts.append(f"source frame {int(self.source_frames()[index])}")
        times = self.times()
        if times is not None:
            parts.append(f"{times[index]:.2f} s")
        return " · ".join(parts)

    def timeline(self) -> dict[str, np.ndarray]:
        """Mean and max activation of each heatmap frame: when the model looks."""
        flat = self.flat_heatmaps()
        return {"mean": flat.mean(axis=(1, 2)), "max": flat.max(axis=(1, 2))}

    def saliency(self) -> np.ndarray:
        """The clip's saliency map: heatmaps summed over frames (and views) / their number."""
        return self.flat_heatmaps().mean(axis=0)

    def topk(self, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes as (index, name, probability); empty without predictions."""
        if self.probs is None:
            return []
        classes = self.classes or [f"class_{i}" for i in range(len(self.probs))]
        order = np.argsort(-self.probs)[:k]
        return [(int(i), classes[i], float(self.probs[i])) for i in order]

    def overlays(self, alpha: float = 0.5, colormap: str = "viridis", select: slice = slice(None)) -> np.ndarray | None:
        """Blended frames uint8 ``[V*T, H, W, 3]`` (those of ``select`` only; None without frames)."""
        from core.overlay import overlay

        frames = self.flat_frames()
        if frames is None:
            return None
        return overlay(frames[select], self.flat_heatmaps()[select], alpha=alpha, colormap=colormap)

    def display_size(self) -> tuple[int, int]:
        """(width, height) that shows the frames with the source video's proportions (never smaller)."""
        height, width = self.heatmaps.shape[-2:]
        if abs(self.pixel_aspect - 1) < 0.01:
            return width, height
        if self.pixel_aspect > 1:
            return round(width * self.pixel_aspect), height
        return width, round(height / self.pixel_aspect)

    def display_overlays(self, alpha: float = 0.5, colormap: str = "viridis",
                         select: slice = slice(None)) -> np.ndarray | None:
        """:meth:`overlays` resized to :meth:`display_size` (what videos and images show)."""
        from core.overlay import resize_frames

        blended = self.overlays(alpha, colormap, select)
        size = self.display_size()
        if blended is None or size == blended.shape[1:3][::-1]:
            return blended
        return resize_frames(blended, size)

    def playback_fps(self, default: float = 5.0) -> float:
        """Frame rate at which the heatmap frames last as long as the stretch of video they sample."""
        if not self.fps:
            return default
        indices = self.frame_indices[0]
        if len(indices) < 2:
            return default
        step = float(np.median(np.diff(np.sort(indices)))) or 1.0
        span = (float(indices.max() - indices.min()) + step) / self.fps
        return float(np.clip(len(indices) / span, 1.0, 30.0))
