"""Two heatmap results of one video side by side: frames paired, a difference map per frame, correlations.

Typical pairs: two checkpoints, two layers or two CAM methods on the same clip. Frames pair by position
when both results show the same source frames (or when a legacy file, whose frames are unknown, has as
many frames as the other); two sidecars with different frame indices pair on the source frames they share.
Maps of different sizes are compared on the first result's grid (the second resized bilinearly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from core.errors import CamError
from core.overlay import resize_frames
from core.result import ExplainResult


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of maps ``[..., H, W]`` pair by pair (NaN where either map is constant)."""
    a = np.asarray(a, np.float64).reshape(*np.shape(a)[:-2], -1)
    b = np.asarray(b, np.float64).reshape(*np.shape(b)[:-2], -1)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (a * b).sum(axis=-1) / np.where(norm > 0, norm, 1), np.nan)


@dataclass
class Comparison:
    """Paired heatmap frames of results A and B on A's grid, and how they differ."""

    a: np.ndarray  # float32 [N, H, W]
    b: np.ndarray  # float32 [N, H, W], resized to A's grid when needed
    labels: list[str]  # what each pair shows, e.g. "source frame 12 · 0.40 s" (A's frame labels)
    a_index: np.ndarray  # [N] index of each pair's frame among A's V*T frames
    b_index: np.ndarray  # [N] likewise for B
    notes: list[str] = field(default_factory=list)

    @cached_property
    def difference(self) -> np.ndarray:
        """A − B per frame, in [-1, 1] for maps in [0, 1]."""
        return self.a - self.b

    @cached_property
    def correlation(self) -> np.ndarray:
        """Pearson correlation of each frame pair (NaN where a map is constant)."""
        return pearson(self.a, self.b)

    @cached_property
    def mean_abs_difference(self) -> np.ndarray:
        return np.abs(self.difference).mean(axis=(1, 2))

    @property
    def saliency_correlation(self) -> float:
        """Pearson correlation of the two clip saliency maps (mean over the paired frames)."""
        return float(pearson(self.a.mean(axis=0), self.b.mean(axis=0)))


def compare_results(a: ExplainResult, b: ExplainResult) -> Comparison:
    """Pair the frames of ``a`` and ``b`` and compare them (a CamError when they cannot be paired)."""
    notes = []
    a_frames, b_frames = a.source_frames(), b.source_frames()
    known = not a.legacy and not b.legacy
    if known and np.shape(a.frame_indices) == np.shape(b.frame_indices) and (a_frames == b_frames).all():
        a_index = b_index = np.arange(a.num_frames)
    elif known and a.num_views == 1 and b.num_views == 1:
        common, a_index, b_index = np.intersect1d(a_frames, b_frames, return_indices=True)  # first occurrences
        if common.size == 0:
            raise CamError(f"{a.name} and {b.name} share no source frame; compare results of the same video.")
        if common.size < max(a.num_frames, b.num_frames):
            notes.append(f"The two results sample different frames; the {common.size} source frames both show "
                         "are compared.")
    elif a.num_frames == b.num_frames:
        a_index = b_index = np.arange(a.num_frames)
        if known:
            notes.append("The two results show different frames; they are paired in file order.")
        elif not a.legacy or not b.legacy:
            notes.append("One file has no sidecar, so its frames are paired with the other's in file order.")
    else:
        raise CamError(f"{a.name} has {a.num_frames} heatmap frames and {b.name} has {b.num_frames}; without "
                       "sidecars naming the same source frames they cannot be compared frame by frame.")
    maps_a = a.flat_heatmaps()[a_index]
    maps_b = b.flat_heatmaps()[b_index]
    if maps_b.shape[1:] != maps_a.shape[1:]:
        notes.append(f"{b.name}'s {maps_b.shape[2]}×{maps_b.shape[1]} maps were resized to "
                     f"{maps_a.shape[2]}×{maps_a.shape[1]} to compare them.")
        maps_b = resize_frames(maps_b, (maps_a.shape[2], maps_a.shape[1]))
    labels = [a.frame_label(int(i)) for i in a_index]
    return Comparison(maps_a.astype(np.float32), maps_b.astype(np.float32), labels, a_index, b_index, notes)
