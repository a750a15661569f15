"""Two heatmap results of one video side by side: frames paired, a difference map per frame, correlations.

Typical pairs: two checkpoints, two layers or two CAM methods on the same clip. Frames pair by position
when both results show the same source frames (or when a legacy file, whose frames are unknown, has as
many frames as the other); two sidecars with different frame indices pair on the source frames they share.
Maps of different sizes are compared on the first result's grid (the second resized bilinearly).

Results of different videos are refused (:class:`OtherVideos`): their frame-by-frame correlation is a
number about two unrelated clips that looks like one about one clip, and nothing else on a page would
stop a reader from quoting it. :func:`same_video` decides from the sidecars: the video's file name, then
its resolution and frame rate. Who knows better (the same clip re-encoded under another name) passes
``other_videos=True``, and the comparison says so in its first note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import CamError
from core.overlay import frame_label, resize_frames
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
    video: VideoMatch | None = None  # whether A and B explain the same video (see same_video)

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


def recorded_video(result: ExplainResult) -> str | None:
    """The video file a result records (None for a legacy file, an array, or when none is recorded)."""
    if result.legacy or not result.video or result.video.startswith("<"):
        return None
    return result.video


@dataclass(frozen=True)
class VideoMatch:
    """Whether two results show the same video: ``same``, ``different`` or ``unknown`` (a file without
    sidecar), and the sentence that says why."""

    verdict: Literal["same", "different", "unknown"]
    reason: str
    worth_saying: bool = True  # False when nothing about it needs a note (the very same path)


def same_video(a: ExplainResult, b: ExplainResult) -> VideoMatch:
    """Whether ``a`` and ``b`` explain the same video, from what their sidecars record.

    The same path, or the same file name with no recorded resolution or frame rate that differs, is the
    same video (results copied from another machine keep the name but not the folder); another file name,
    or the same name at another resolution or frame rate, is another video; a legacy file records none.
    """
    va, vb = recorded_video(a), recorded_video(b)
    if va is None or vb is None:
        unknown = [f"{r.name} has no sidecar" if r.legacy else f"{r.name} records no video file"
                   for r, v in ((a, va), (b, vb)) if v is None]
        return VideoMatch("unknown", f"{' and '.join(unknown)}, so whether both show the same video cannot be "
                                     "checked.")
    name_a, name_b = Path(va).name, Path(vb).name
    if name_a != name_b:
        return VideoMatch("different", f"{a.name} explains {name_a} and {b.name} explains {name_b}.")
    size_a, size_b = a.source_size, b.source_size
    if all(size_a) and all(size_b) and size_a != size_b:
        return VideoMatch("different", f"{a.name} and {b.name} both explain a {name_a}, but one is "
                                       f"{size_a[0]}×{size_a[1]} and the other {size_b[0]}×{size_b[1]}.")
    if a.fps and b.fps and abs(a.fps - b.fps) > 0.01 * max(a.fps, b.fps):
        return VideoMatch("different", f"{a.name} and {b.name} both explain a {name_a}, but at {a.fps:g} and "
                                       f"{b.fps:g} frames per second.")
    if Path(va) != Path(vb):
        return VideoMatch("same", f"Both explain {name_a} (from different folders: {Path(va).parent} and "
                                  f"{Path(vb).parent}); taken to be the same video.")
    return VideoMatch("same", f"Both explain {va}.", worth_saying=False)


class OtherVideos(CamError):
    """Two results of different videos were given to :func:`compare_results` (``match`` says which)."""

    def __init__(self, match: VideoMatch) -> None:
        super().__init__(f"{match.reason} Heatmaps of different videos cannot be compared frame by frame: pick "
                         "two results of the same video.")
        self.match = match


def compare_results(a: ExplainResult, b: ExplainResult, *, other_videos: bool = False) -> Comparison:
    """Pair the frames of ``a`` and ``b`` and compare them: :class:`OtherVideos` when they explain different
    videos (unless ``other_videos``), a CamError when their frames cannot be paired."""
    match = same_video(a, b)
    if match.verdict == "different" and not other_videos:
        raise OtherVideos(match)
    notes = []
    if match.verdict == "different":
        notes.append(f"{match.reason} They are compared as asked, but the numbers compare two different clips.")
    elif match.verdict == "unknown":
        notes.append(f"{match.reason} Heatmap frames are paired in file order.")
    elif match.worth_saying:
        notes.append(match.reason)
    a_index, b_index = _paired_frames(a, b, notes)
    maps_a = a.flat_heatmaps()[a_index]
    maps_b = b.flat_heatmaps()[b_index]
    if maps_b.shape[1:] != maps_a.shape[1:]:
        notes.append(f"{b.name}'s {maps_b.shape[2]}×{maps_b.shape[1]} maps were resized to "
                     f"{maps_a.shape[2]}×{maps_a.shape[1]} to compare them.")
        maps_b = resize_frames(maps_b, (maps_a.shape[2], maps_a.shape[1]))
    labels = [frame_label(a, int(i)) for i in a_index]
    return Comparison(maps_a.astype(np.float32), maps_b.astype(np.float32), labels, a_index, b_index, notes, match)


def _paired_frames(a: ExplainResult, b: ExplainResult, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the frames of ``a`` and ``b`` paired (module docstring), with notes on how they were
    paired; a CamError when they cannot be."""
    a_frames, b_frames = a.source_frames(), b.source_frames()
    known = not a.legacy and not b.legacy
    first, second = (a.name, b.name) if a.name != b.name else (f"result A ({a.name})", f"result B ({b.name})")
    if known and np.shape(a.frame_indices) == np.shape(b.frame_indices) and (a_frames == b_frames).all():
        a_index = b_index = np.arange(a.num_frames)
    elif known:  # e.g. TSN's 8 segments against I3D's 2 clips of 16 frames: the source frames both show
        common, a_index, b_index = np.intersect1d(a_frames, b_frames, return_indices=True)  # first occurrences
        if common.size == 0:
            raise CamError(f"{first} and {second} share no source frame; compare results of the same video.")
        if common.size < max(a.num_frames, b.num_frames):
            notes.append(f"The two results sample different frames ({a.num_frames} and {b.num_frames} heatmap frames); "
                         f"the {common.size} source frames both show are compared."
                         + (" Where a result shows a frame more than once (several views), its first view's map is "
                            "used." if max(a.num_views, b.num_views) > 1 else ""))
    elif a.num_frames == b.num_frames:
        a_index = b_index = np.arange(a.num_frames)
        if known:
            notes.append("The two results show different frames; they are paired in file order.")
    else:
        without = " and ".join(n for n, r in ((first, a), (second, b)) if r.legacy)
        raise CamError(f"{first} has {a.num_frames} heatmap frames and {second} has {b.num_frames}; {without} "
                       f"{'has' if ' and ' not in without else 'have'} no sidecar naming its source frames, so they "
                       "cannot be compared frame by frame.")
    return a_index, b_index
