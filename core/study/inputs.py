"""What a study reads: runs (batch output folders), one heatmap file per video, and each video's gaze entry.

:func:`read_clip` is the one place a heatmap file is read (``core.read_result``, without frames);
:func:`gaze_window` brings its window to the gaze maps' size as ``core.gaze`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import CamError
from core.formats.sidecar import peek, sidecar_path
from core.gaze import find_heatmap_files, gaze_entry
from core.gaze.scores import gaze_windows, newest_per_video
from core.geometry import Box
from core.heatmap_files import read_result
from core.result import ExplainResult

BASELINES = ("center", "others")
"""The baselines a study scores unless told otherwise."""
ALL_BASELINES = ("center", "center_fit", "others", "human")
"""Every baseline (:mod:`core.study.baselines`): ``human`` needs each observer's fixations (``--subjects``)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]*$")


@dataclass(frozen=True)
class Clip:
    """One run's heatmaps of one video, as the study scores them."""

    name: str  # the video's name (its file stem), shared by every run and the gaze folder
    path: str  # the heatmap txt
    result: ExplainResult  # read by core.read_result, without frames

    @property
    def heatmaps(self) -> np.ndarray:
        """float32 [V, T, H, W]."""
        return self.result.heatmaps

    @property
    def frame_indices(self) -> np.ndarray | None:
        """int64 [V, T] 0-based source frames; None for a legacy txt (frames unknown)."""
        return None if self.result.legacy else np.asarray(self.result.frame_indices, np.int64)

    @property
    def gt_label(self) -> str:
        batch = self.result.extra.get("batch")
        return str((batch.get("gt_label") if isinstance(batch, dict) else None) or "")

    @property
    def target_label(self) -> str:
        return self.result.target_label

    @property
    def video(self) -> str | None:
        """The source video, when the sidecar names a file."""
        video = self.result.video
        return video if video and not video.startswith("<") else None

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
    facts = peek(side)
    if facts.frame_indices is None:
        raise CamError(f"Sidecar {side} records no frame indices; it was not written by core.vis_cam or core.batch.")
    video = facts.video
    name = Path(video).stem if video and not video.startswith("<") else txt.stem
    return name, sorted({int(f) for f in facts.frame_indices.ravel()})


def read_clip(txt: str | Path) -> Clip:
    """The heatmaps and geometry of one heatmap file of a run (the study's only reader of heatmap files):
    :func:`core.read_result` without frames (a batch's npz, read in milliseconds, when it is there)."""
    txt = Path(txt)
    result = read_result(txt, frames=False)
    windows = result.windows
    if windows is not None and len(windows.groups()) > 1:
        raise CamError(f"{txt} holds several crops of the same frames (--all-views); a study scores one window per "
                       "frame: explain with the center view (or score the file with python -m core.gaze, which "
                       "scores each view).")
    return Clip(result.video_stem, str(txt), result)  # the name _sidecar_facts gives, from the read sidecar


def gaze_window(clip: Clip, gaze_size: tuple[int, int], notes: list[str]) -> Box:
    """The clip's window in gaze-map pixels (the whole map without a sidecar), as ``core.gaze`` places it."""
    found: list[str] = []
    box = gaze_windows(clip.result, gaze_size, found).crop_box
    for note in found:
        note = f"{clip.name}: {note}"
        if note not in notes:
            notes.append(note)
    return box


@dataclass(frozen=True)
class Run:
    """A batch output folder and its heatmap file per video name."""

    name: str
    folder: Path
    files: dict[str, Path]
    seen: dict[str, list[int] | None]  # the source frames each video's heatmaps show (None: unknown)
    notes: tuple[str, ...] = ()  # heatmap files left out (several for one video: the newest is kept)


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
    if name in ALL_BASELINES:
        raise CamError(f"Run name {name!r} is the name of a baseline; call the run something else.")
    if not folder.is_dir():
        raise CamError(f"Run {name}: {folder} is not a folder; pass the --out folder of python -m core.batch.")
    facts = {txt: _sidecar_facts(txt) for txt in find_heatmap_files(folder)}
    files, notes = newest_per_video((video, txt) for txt, (video, _) in facts.items())
    seen = {video: facts[txt][1] for video, txt in files.items()}
    if not files:
        raise CamError(f"Run {name}: {folder} is not a batch output folder (it holds no heatmap txt with a "
                       "sidecar); pass the --out folder of python -m core.batch.")
    return Run(name, folder, files, seen, tuple(f"run {name}: {note}" for note in notes))


def find_gaze(folder: str | Path, name: str, txt: Path | None = None) -> Path | None:
    """The gaze entry of a video in a study's gaze (or density) folder: named like the video, else like the
    heatmap file."""
    for candidate in dict.fromkeys([name, *([txt.stem] if txt is not None else [])]):
        entry = gaze_entry(folder, candidate)
        if entry is not None:
            return entry
    return None
