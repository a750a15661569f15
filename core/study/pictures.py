"""One video of a study, frame by frame: the gaze, and every run's heatmap over the source frame with the gaze.

All panels show the whole gaze frame (the runs' heatmaps placed in the window each model saw, the window
outlined), so the runs are compared on the same pixels. A run that did not see a frame shows the nearest
frame it saw, labelled "held from frame k".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import CamError
from core.gaze import read_gaze
from core.gaze.images import fixation_dots
from core.geometry import heatmap_to_source
from core.overlay import overlay
from core.study.inputs import Clip, find_gaze, gaze_window, read_clip
from core.study.result import StudyResult
from core.video import probe_video, read_frames

WINDOW_COLOUR = (255, 255, 255)


@dataclass
class VideoPictures:
    """``panels[p]`` at ``frames[i]`` is ``images[i][p]`` (uint8 RGB, one size); ``fps`` the video's rate."""

    video: str
    frames: list[int | None]  # source frames (0-based); [None] when the gaze is one map per clip
    panels: list[str]  # "gaze", then the runs
    images: list[list[np.ndarray]]
    fps: float | None
    notes: list[str]


def _label(image: np.ndarray, text: str) -> np.ndarray:
    scale = max(0.35, image.shape[1] / 700)
    cv2.putText(image, text, (4, image.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (4, image.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return image


def _background(video: str | None, frames: list[int | None], size: tuple[int, int]) -> dict:
    """Source frames resized to ``size`` (w, h) by frame, grey where the video is not here."""
    grey = np.full((size[1], size[0], 3), 96, np.uint8)
    wanted = sorted(f for f in frames if f is not None)
    if video and Path(video).is_file() and wanted:
        try:
            decoded = read_frames(video, wanted)
            return {f: cv2.resize(image, size, interpolation=cv2.INTER_AREA) for f, image in zip(wanted, decoded,
                                                                                                 strict=True)}
        except CamError:
            pass
    return dict.fromkeys(frames, grey)


@dataclass
class _PlacedRun:
    """One run's heatmap on each pictured frame, in the picture's pixels."""

    name: str
    window: list[int]  # x0, y0, x1, y1
    per_frame: dict[int | None, tuple[np.ndarray, np.ndarray, int | None]]  # (map, inside window, held from)
    peak: float


def _place_run(name: str, clip: Clip, frames: list[int | None], gaze_size: tuple[int, int],
               size: tuple[int, int], notes: list[str]) -> _PlacedRun:
    """``clip``'s heatmap placed in its window of the gaze frame on each of ``frames`` (the nearest frame it
    saw where it did not see one; the clip's mean without frame indices), resized to ``size`` (w, h)."""
    box = gaze_window(clip, gaze_size, notes)
    scale = size[0] / gaze_size[0]
    order = clip.seen or []
    per_frame = {}
    for frame in frames:
        shown = frame
        if frame is not None and order and frame not in order:
            shown = order[int(np.argmin(np.abs(np.asarray(order) - frame)))]
        if clip.frame_indices is None or shown is None:
            heat = clip.heatmaps.reshape(-1, *clip.heatmaps.shape[-2:]).mean(axis=0)
        else:
            heat = clip.heatmaps[clip.frame_indices == shown].mean(axis=0)
        source, mask = heatmap_to_source(heat, gaze_size, box)
        small = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        inside = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        per_frame[frame] = (small, inside, None if shown == frame else shown)
    peak = max(float(v[0].max()) for v in per_frame.values()) or 1.0
    return _PlacedRun(name, [round(v * scale) for v in box], per_frame, peak)


def _gaze_panel(base: np.ndarray, density: np.ndarray | None, *, alpha: float, colormap: str) -> np.ndarray:
    if density is None:
        return base.copy()
    small = cv2.resize(np.asarray(density, np.float32), base.shape[1::-1], interpolation=cv2.INTER_AREA)
    return overlay(base, small / small.max() if small.max() > 0 else small, alpha=alpha, colormap=colormap)


def _run_panel(base: np.ndarray, run: _PlacedRun, frame: int | None, fix: np.ndarray | None, scale: float, *,
               alpha: float, colormap: str) -> np.ndarray:
    small, inside, held = run.per_frame[frame]
    panel = base.copy()
    panel[inside] = overlay(base[inside], small[inside] / run.peak, alpha=alpha, colormap=colormap)
    panel[~inside] = (panel[~inside] * 0.45).astype(np.uint8)
    window = run.window
    cv2.rectangle(panel, (window[0], window[1]), (window[2] - 1, window[3] - 1), WINDOW_COLOUR, 1)
    if fix is not None:
        fixation_dots(panel, fix, scale, per=110)
    if held is not None:
        _label(panel, f"held from frame {held}")
    return panel


def video_pictures(result: StudyResult, video: str, *, colormap: str = "viridis", alpha: float = 0.5,
                   width: int = 320) -> VideoPictures:
    """Every frame of ``video`` the runs saw: the gaze panel, then one panel per run, ``width`` pixels wide."""
    spec, notes = result.spec, []
    clips = [(name, read_clip(txts[video])) for name, txts in result.scores.sources.items()
             if video in txts]
    if not clips:
        raise CamError(f"No run of the study has video {video}.")
    entry = find_gaze(spec.gaze, video)
    if entry is None:
        raise CamError(f"{spec.gaze} has no gaze entry for {video}.")
    seen = sorted({f for _, clip in clips for f in clip.seen or []})
    fixations = read_gaze(entry, fixations=True, frames=set(seen) or None, start_index=spec.start_index)
    density = None
    if spec.density is not None and (dens_entry := find_gaze(spec.density, video)) is not None:
        density = read_gaze(dens_entry, fixations=False, frames=set(seen) or None, start_index=spec.start_index)
    frames: list[int | None] = [f for f in seen if fixations.at(f) is not None] if fixations.per_frame else [None]
    if not frames:
        frames = [None]
    gaze_w, gaze_h = fixations.size
    height = max(2, round(width * gaze_h / gaze_w))
    scale = width / gaze_w
    video_path = next((clip.video for _, clip in clips if clip.video and Path(clip.video).is_file()), None)
    if video_path is None:
        notes.append(f"the source video of {video} is not here: the pictures have a grey background")
    backgrounds = _background(video_path, frames, (width, height))
    placed = [_place_run(name, clip, frames, (gaze_w, gaze_h), (width, height), notes) for name, clip in clips]
    images = []
    for frame in frames:
        fix = fixations.at(frame) if frame is not None else fixations.image
        base = backgrounds[frame]
        dens = None if density is None else density.at(frame) if frame is not None else density.image
        gaze_panel = _gaze_panel(base, dens, alpha=alpha, colormap=colormap)
        row = [fixation_dots(gaze_panel, fix, scale, per=110) if fix is not None else gaze_panel]
        row += [_run_panel(base, run, frame, fix, scale, alpha=alpha, colormap=colormap) for run in placed]
        images.append(row)
    fps = None
    if clips and clips[0][1].frame_indices is not None:
        fps = _fps(video_path)
    return VideoPictures(video, frames, ["gaze", *(name for name, _ in clips)], images, fps, notes)


def _fps(video: str | None) -> float | None:
    if not video:
        return None
    try:
        return probe_video(video).fps
    except CamError:
        return None


def frame_curves(result: StudyResult, video: str) -> list[dict]:
    """The per-frame score rows of ``video``, every run and baseline."""
    return [row for row in result.scores.rows if row["video"] == video and row["frame"] != ""]


