"""One video of a study, frame by frame: the gaze, and every run's heatmap over the source frame with the gaze.

All panels show the whole gaze frame (the runs' heatmaps placed in the window each model saw, the window
outlined), so the runs are compared on the same pixels. A run that did not see a frame shows the nearest
frame it saw, labelled "held from frame k".
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import CamError
from core.gaze import GazeMaps, read_gaze
from core.gaze.images import fixation_dots
from core.geometry import heatmap_to_source
from core.overlay import overlay
from core.study.inputs import Clip, find_gaze, gaze_window, read_clip
from core.study.result import StudyResult
from core.study.scoring import StudySpec
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


def _study_gaze(spec: StudySpec, video: str, frames: set[int] | None) -> tuple[GazeMaps, GazeMaps | None]:
    """The fixations (and density, when the study has one for ``video``) of ``frames`` (None: all)."""
    entry = find_gaze(spec.gaze, video)
    if entry is None:
        raise CamError(f"{spec.gaze} has no gaze entry for {video}.")
    fixations = read_gaze(entry, fixations=True, frames=frames, start_index=spec.start_index)
    density = None
    if spec.density is not None and (dens_entry := find_gaze(spec.density, video)) is not None:
        density = read_gaze(dens_entry, fixations=False, frames=frames, start_index=spec.start_index)
    return fixations, density


def _picture_row(frame: int | None, fixations: GazeMaps, density: GazeMaps | None, base: np.ndarray,
                 placed: list[_PlacedRun], scale: float, *, alpha: float, colormap: str) -> list[np.ndarray]:
    """One frame's panels: the gaze (density under the fixation dots), then each run's heatmap."""
    fix = fixations.at(frame) if frame is not None else fixations.image
    dens = None if density is None else density.at(frame) if frame is not None else density.image
    gaze_panel = _gaze_panel(base, dens, alpha=alpha, colormap=colormap)
    row = [fixation_dots(gaze_panel, fix, scale, per=110) if fix is not None else gaze_panel]
    return row + [_run_panel(base, run, frame, fix, scale, alpha=alpha, colormap=colormap) for run in placed]


def video_pictures(result: StudyResult, video: str, *, colormap: str = "viridis", alpha: float = 0.5,
                   width: int = 320) -> VideoPictures:
    """Every frame of ``video`` the runs saw: the gaze panel, then one panel per run, ``width`` pixels wide."""
    spec = result.spec
    notes: list[str] = []
    clips = [(name, read_clip(txts[video])) for name, txts in result.scores.sources.items()
             if video in txts]
    if not clips:
        raise CamError(f"No run of the study has video {video}.")
    seen = sorted({f for _, clip in clips for f in clip.seen or []})
    fixations, density = _study_gaze(spec, video, set(seen) or None)
    frames: list[int | None] = [f for f in seen if fixations.at(f) is not None] if fixations.per_frame else []
    frames = frames or [None]  # one picture for the clip
    gaze_w, gaze_h = fixations.size
    height = max(2, round(width * gaze_h / gaze_w))
    scale = width / gaze_w
    video_path = _source_video(clips, video, notes)
    backgrounds = _background(video_path, frames, (width, height))
    placed = [_place_run(name, clip, frames, (gaze_w, gaze_h), (width, height), notes) for name, clip in clips]
    images = [_picture_row(frame, fixations, density, backgrounds[frame], placed, scale, alpha=alpha,
                           colormap=colormap) for frame in frames]
    fps = _fps(video_path) if clips[0][1].frame_indices is not None else None
    return VideoPictures(video, frames, ["gaze", *(name for name, _ in clips)], images, fps, notes)


def _source_video(clips: list[tuple[str, Clip]], video: str, notes: list[str], shown: str = "the pictures"
                  ) -> str | None:
    """The first run's recorded source video that is here (a note that ``shown`` have a grey background when
    none is)."""
    found = next((clip.video for _, clip in clips if clip.video and Path(clip.video).is_file()), None)
    if found is None:
        notes.append(f"the source video of {video} is not here: {shown} have a grey background")
    return found


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




def _picks(result: StudyResult, picks: list[str]) -> list[tuple[str, int | None]]:
    """``video`` or ``video:frame`` picks (default: the first three videos), frames None when not given."""
    if not picks:
        return [(video, None) for video in result.scores.videos[:3]]
    out = []
    for pick in picks:
        video, sep, frame = pick.rpartition(":") if ":" in pick else (pick, "", "")
        if sep and not frame.strip().isdigit():
            raise CamError(f"--figures {pick!r}: give VIDEO or VIDEO:FRAME, the frame a 0-based source frame number.")
        if video not in result.scores.videos:
            raise CamError(f"--figures {pick!r}: the study scored no video {video!r}.")
        out.append((video, int(frame) if sep else None))
    return out


def _panel_row(result: StudyResult, video: str, frame: int | None, pixels: int, notes: list[str]) -> dict:
    """One video's row of :func:`print_panels`: background, fixations and each run's placed heatmap."""
    spec = result.spec
    clips = [(name, read_clip(txts[video])) for name, txts in result.scores.sources.items() if video in txts]
    frame = _panel_frame(video, frame, sorted({f for _, clip in clips for f in clip.seen or []}))
    entry = find_gaze(spec.gaze, video)
    assert entry is not None  # scored videos have gaze
    fixations = read_gaze(entry, fixations=True, frames=None if frame is None else {frame},
                          start_index=spec.start_index)
    fix = fixations.at(frame) if fixations.per_frame and frame is not None else fixations.image
    size = (pixels, max(2, round(pixels * fixations.size[1] / fixations.size[0])))
    shown: int | None = frame if fixations.per_frame else None
    base = _background(_source_video(clips, video, notes, "its panels"), [frame], size)[frame]
    placed = [_place_run(name, clip, [shown], fixations.size, size, notes) for name, clip in clips]
    return {"video": video, "frame": frame, "base": base, "fix": fix, "scale": size[0] / fixations.size[0],
            "runs": placed}


def _panel_frame(video: str, frame: int | None, seen: list[int]) -> int | None:
    """The frame of a panel row: the one picked (a frame some run saw), else the middle frame the runs saw."""
    if frame is None and seen:
        return seen[len(seen) // 2]
    if frame is not None and seen and frame not in seen:
        raise CamError(f"--figures {video}:{frame}: no run saw frame {frame}; the runs saw frames "
                       f"{', '.join(map(str, seen))}.")
    return frame


def print_panels(result: StudyResult, picks: list[str], *, width: float = 1.7, colormap: str = "viridis",
                 alpha: float = 0.55) -> dict[str, bytes]:
    """``panels.pdf`` and ``panels.png`` (300 dpi) for a thesis: one row per picked video (``video`` or
    ``video:frame``; default the first three videos at the middle frame the runs saw), the source frame with
    its fixations, then each run's heatmap over it (zero outside the window the model saw), all on one colour
    scale (0 to the largest heatmap value shown), ``width`` inches per panel."""
    from matplotlib.figure import Figure

    notes: list[str] = []
    runs = [name for name in result.runs if name not in result.scores.baselines]
    made = [_panel_row(result, video, frame, round(width * 300), notes) for video, frame in _picks(result, picks)]
    top = max((float(v[0][v[1]].max()) for row in made for run in row["runs"] for v in run.per_frame.values()
               if v[1].any()), default=1.0) or 1.0
    aspect = made[0]["base"].shape[0] / made[0]["base"].shape[1]
    figure = Figure(figsize=(width * (1 + len(runs)) + 0.6, width * aspect * len(made) + 0.35))
    figure.subplots_adjust(left=0.02, right=1 - 0.6 / (width * (1 + len(runs)) + 0.6), bottom=0.01,
                           top=1 - 0.3 / (width * aspect * len(made) + 0.35), wspace=0.03, hspace=0.08)
    axes = figure.subplots(len(made), 1 + len(runs), squeeze=False)
    image = None
    for r, row in enumerate(made):
        by_name = {run.name: run for run in row["runs"]}
        for c, name in enumerate(["gaze", *runs]):
            axis = axes[r, c]
            axis.imshow(row["base"], interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(name, fontsize=8)
            if c == 0:
                axis.set_ylabel(f"{row['video']}" + (f", frame {row['frame']}" if row["frame"] is not None else ""),
                                fontsize=7)
                if row["fix"] is not None:
                    ys, xs = np.nonzero(row["fix"])
                    axis.scatter((xs + 0.5) * row["scale"], (ys + 0.5) * row["scale"], s=4, c="#ff3030",
                                 linewidths=0)
                continue
            run = by_name.get(name)
            if run is None:
                continue
            heat, inside, _ = next(iter(run.per_frame.values()))
            image = axis.imshow(np.ma.masked_where(~inside, heat), cmap=colormap, vmin=0, vmax=top, alpha=alpha,
                                interpolation="bilinear")
    if image is not None:
        bar = figure.add_axes((1 - 0.5 / (width * (1 + len(runs)) + 0.6), 0.1, 0.015, 0.8))
        figure.colorbar(image, cax=bar).ax.tick_params(labelsize=6)
    out = {}
    for kind in ("pdf", "png"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, dpi=300, metadata={"CreationDate": None} if kind == "pdf" else None)
        out[f"panels.{kind}"] = buffer.getvalue()
    return out
