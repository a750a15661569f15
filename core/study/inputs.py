"""What a study reads: runs (batch output folders), one heatmap file per video, and each video's gaze entry.

:func:`read_clip` is the one place a heatmap file is read (today through ``core.batch.store.read_outputs``
for a batch's npz + sidecar, else ``core.gaze.read_heatmaps`` for a txt); :func:`gaze_window` the one place
its window is brought to the gaze maps' size. Both become calls to the result reader and its window type
when those land.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import CamError
from core.export import sidecar_path
from core.gaze import find_heatmap_files, gaze_entry, read_heatmaps
from core.geometry import Box, scale_box

BASELINES = ("center", "others")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]*$")


@dataclass(frozen=True)
class Clip:
    """One run's heatmaps of one video, as the study scores them."""

    name: str  # the video's name (its file stem), shared by every run and the gaze folder
    path: str  # the heatmap txt
    heatmaps: np.ndarray  # float32 [V, T, H, W]
    frame_indices: np.ndarray | None  # int64 [V, T] 0-based source frames; None for a legacy txt
    source_size: tuple[int, int] | None  # (width, height) of the source video
    window: Box | None  # the model's window in source pixels (None: the whole gaze frame)
    gt_label: str
    target_label: str
    video: str | None  # the source video, when the sidecar names a file

    @property
    def seen(self) -> list[int] | None:
        """The distinct source frames the model saw."""
        return None if self.frame_indices is None else sorted({int(f) for f in self.frame_indices.ravel()})


def _sidecar_facts(txt: Path) -> tuple[str, list[int] | None]:
    """The video's name (its stem from the sidecar, else the txt's stem: how runs and gaze are matched) and
    the distinct source frames the heatmaps show (None without a sidecar), without reading the heatmaps."""
    side = sidecar_path(txt)
    if not side.is_file():
        return txt.stem, None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        video = meta.get("video")
        seen = sorted({int(f) for f in np.ravel(meta["frame_indices"])})
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as err:
        raise CamError(f"Sidecar {side} is damaged or not a heatmap sidecar ({type(err).__name__}: {err}).") from err
    name = Path(str(video)).stem if video and not str(video).startswith("<") else txt.stem
    return name, seen


def read_clip(txt: str | Path, folder: str | Path) -> Clip:
    """The heatmaps and geometry of one heatmap file of a run (the study's only reader of heatmap files).

    A batch's npz (full precision, read in milliseconds) is used when it is there, else the txt."""
    from core.batch.store import read_outputs

    txt, folder = Path(txt), Path(folder)
    npz = txt.with_suffix(".npz")
    indices: np.ndarray | None
    source: tuple[int, int] | None
    if npz.is_file() and sidecar_path(txt).is_file():
        saved = read_outputs(folder, txt.relative_to(folder).with_suffix("").as_posix(), frames=False)
        meta, heatmaps, indices = saved.meta, saved.heatmaps, saved.frame_indices
        try:
            source = (int(meta["source_size"][0]), int(meta["source_size"][1]))
            window: Box | None = tuple(float(v) for v in meta["crop_box"])  # type: ignore[assignment]
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise CamError(f"Sidecar {sidecar_path(txt)} has no source size or window ({err}).") from err
        if heatmaps.ndim != 4 or indices.shape != heatmaps.shape[:2]:
            raise CamError(f"{npz} holds heatmaps {heatmaps.shape} and frame indices {indices.shape}; "
                           "they do not belong together.")
        if meta.get("views") == "all" and len({tuple(r) for r in indices.tolist()}) < len(indices):
            raise CamError(f"{txt} holds several crops of the same frames (--all-views); explain with the center "
                           "view to compare with gaze.")
    else:
        heat = read_heatmaps(txt)
        meta, heatmaps, indices = heat.meta, heat.heatmaps, heat.frame_indices
        source, window = heat.source_size, heat.crop_box
    batch = meta.get("batch") or {}
    video = meta.get("video")
    return Clip(_sidecar_facts(txt)[0], str(txt), np.asarray(heatmaps, np.float32),
                None if indices is None else np.asarray(indices, np.int64), source, window,
                str(batch.get("gt_label") or ""), str(meta.get("target_label") or ""),
                str(video) if video and not str(video).startswith("<") else None)


def gaze_window(clip: Clip, gaze_size: tuple[int, int], notes: list[str]) -> Box:
    """The clip's window in gaze-map pixels (the whole map without a sidecar), as ``core.gaze`` places it."""
    if clip.source_size is None or clip.window is None:
        return 0.0, 0.0, float(gaze_size[0]), float(gaze_size[1])
    source = clip.source_size
    if tuple(gaze_size) == tuple(source):
        return clip.window
    if abs(gaze_size[0] * source[1] - gaze_size[1] * source[0]) > 0.01 * source[0] * gaze_size[1]:
        raise CamError(f"The gaze maps of {clip.name} are {gaze_size[0]}×{gaze_size[1]} but the video is "
                       f"{source[0]}×{source[1]}; gaze maps must show the whole video frame (same aspect ratio).")
    note = f"{clip.name}: gaze maps are {gaze_size[0]}×{gaze_size[1]}, the video {source[0]}×{source[1]}: window scaled"
    if note not in notes:
        notes.append(note)
    return scale_box(clip.window, source, gaze_size)


@dataclass(frozen=True)
class Run:
    """A batch output folder and its heatmap file per video name."""

    name: str
    folder: Path
    files: dict[str, Path]
    seen: dict[str, list[int] | None]  # the source frames each video's heatmaps show (None: unknown)


def parse_run(spec: str) -> tuple[str, Path]:
    """``NAME=BATCH_DIR`` → (name, folder)."""
    name, sep, folder = spec.partition("=")
    name = name.strip()
    if not sep or not name or not folder.strip():
        raise CamError(f"--run {spec!r} must be NAME=BATCH_DIR, e.g. --run i3d=cams/i3d.")
    return name, Path(folder.strip())


def find_run(name: str, folder: str | Path) -> Run:
    """The heatmap files of a batch output folder, by video name; a CamError when it is not one."""
    folder = Path(folder)
    if not _NAME.match(name):
        raise CamError(f"Run name {name!r} must start with a letter or digit and hold only letters, digits, "
                       "spaces and . _ + -.")
    if name in BASELINES:
        raise CamError(f"Run name {name!r} is the name of a baseline; call the run something else.")
    if not folder.is_dir():
        raise CamError(f"Run {name}: {folder} is not a folder; pass the --out folder of python -m core.batch.")
    files: dict[str, Path] = {}
    seen: dict[str, list[int] | None] = {}
    for txt in find_heatmap_files(folder):
        video, frames = _sidecar_facts(txt)
        if video in files:
            raise CamError(f"Run {name} holds two heatmap files of video {video} ({files[video]} and {txt}); "
                           "a study needs one per video.")
        files[video], seen[video] = txt, frames
    if not files:
        raise CamError(f"Run {name}: {folder} is not a batch output folder (it holds no heatmap txt with a "
                       "sidecar); pass the --out folder of python -m core.batch.")
    return Run(name, folder, files, seen)


def find_gaze(folder: str | Path, name: str, txt: Path | None = None) -> Path | None:
    """The gaze entry of a video in a study's gaze (or density) folder: named like the video, else like the
    heatmap file."""
    for candidate in dict.fromkeys([name, *([txt.stem] if txt is not None else [])]):
        entry = gaze_entry(folder, candidate)
        if entry is not None:
            return entry
    return None
