"""Public eye-tracking datasets in the study layout, one command each.

``python -m core.gaze.datasets NAME SRC --out DIR [--videos LIST] [--subjects LIST] [--sigma PX]``

Every importer reads the dataset as its authors distribute it (the layout below, under ``SRC``), moves each gaze
sample into the video's own pixels and frame times, and writes what :mod:`core.gaze` and :mod:`core.study` read:

- ``fixations/<video>/frame_NNNNN.png`` and ``density/<video>/frame_NNNNN.png`` (0-based frames, every frame of
  the video, built by :func:`core.gaze.fixations.write_maps`: the same rasterisation and blur as
  ``python -m core.gaze.fixations``), so ``core.study --gaze DIR/fixations --density DIR/density`` runs on them;
- ``samples.csv``: ``video, subject, t, x, y, event`` (t in seconds from the video's start, x/y in video pixels,
  event ``F`` for a fixation) plus the dataset's extra columns (``group`` for Hollywood-2 and UCF Sports), the
  raw-sample format :mod:`core.gaze.fixations` reads (``subject`` is what the human upper bound needs);
- ``dataset.json``: name, licence line, where to obtain it, source frame rate, the coordinate transform used and,
  per video, how many samples were used and how many were left out and why (not a fixation, low confidence,
  outside the frame, outside the video's time): nothing is dropped silently.

Layouts and conventions (``SRC`` is the folder the dataset was unpacked into):

- ``dhf1k``: ``annotation/NNNN/maps/NNNN.png`` (density) and ``annotation/NNNN/fixation/NNNN.png`` (binary), frames
  numbered from 1, video ``video/NNN.AVI`` (30 fps). The maps are copied (renumbered from 0). Raw per-subject gaze,
  when present as ``raw/NNN/<subject>.txt`` (``t_ms x y`` on the 1440×900 screen the videos were letterboxed on),
  goes through the screen transform: ``a = W / 1440``, ``b = (900 − H / a) / 2``, ``x_v = a·x``,
  ``y_v = a·(y − b)``, binned to 30 fps frames. Without raw gaze, ``samples.csv`` holds the fixation maps'
  pixels with subject ``pooled`` (no human upper bound then).
- ``hollywood2`` and ``ucfsports`` (Mathe & Sminchisescu, "Actions in the Eye"): one folder per viewer group
  (``action_recognition``, ``free_viewing``), in it ``<video>/<subject>.txt`` with ``t_ms x y [event]`` samples
  (500 Hz) on the 1280×1024 screen where each video was scaled to fit and centred: ``s = min(1280/W, 1024/H)``,
  ``x_v = (x − (1280 − s·W)/2) / s``, same for y. Videos ``videos/<video>.avi``; the group is a column.
- ``egtea``: ``gaze_data/<session>.txt`` (SMI BeGaze exports, both versions: 7 columns with the frame number, or
  26 with an ``HH:MM:SS:FF`` time code; positions in the 1280×960 recording, types Fixation/Saccade/…) and the
  trimmed clips ``cropped_clips/<session>/<session>-…-F024051-F024101.mp4`` (640×480, 24 fps): a clip named
  ``…-Fa-Fb`` holds session frames ``a..b``, so session frame ``f`` is clip frame ``f − a``. Positions scale by
  640/1280 and 480/960. Only fixations mark the maps; the others are counted.
- ``ego4d``: ``gaze/<uid>.csv`` with ``canonical_timestamp_s, norm_pos_x, norm_pos_y, confidence`` (Pupil
  Invisible's normalised coordinates, origin at the **bottom** left, so ``y_v = (1 − norm_pos_y)·H``), videos
  ``full_scale/<uid>.mp4``; samples below ``--min-confidence`` (0.6, Pupil's default) are counted, not used.
- ``ledov``: ``fixations/<video>.txt`` with one fixation event per line ``subject start_ms duration_ms x y`` (video
  pixels); an event marks every frame its time span overlaps (at the frame's centre time). Videos
  ``videos/<video>.mp4``.
- ``diem``: ``event_data/<video>/<subject>.txt`` with per-frame lines ``frame left_x left_y left_dil left_event
  right_x right_y right_dil right_event`` (frames from 1, 30 fps, video pixels; event 1 = fixation); the left eye
  is used where it has a fixation, else the right. Videos ``video/<video>.mp4``.

The frame size, rate and count of a video come from its container (PyAV, no decoding), except EGTEA's clips, whose
frame range is in their name.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.errors import CamError, CommandParser, run_command
from core.gaze.fixations import SUBJECTS_FILE, FrameTimes, default_sigma, write_maps
from core.gaze.subjects import FOLDER as SUBJECTS_FOLDER

FIXATION = "F"
SAMPLES_NAME = "samples.csv"
DATASET_NAME = "dataset.json"


@dataclass(frozen=True)
class VideoFacts:
    """What the importer needs to know of a video: frame size, rate and count."""

    width: int
    height: int
    fps: float
    frames: int


@dataclass
class Recording:
    """One video's gaze, already in the video's pixels and seconds."""

    video: str
    facts: VideoFacts
    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    subject: np.ndarray  # str per sample
    event: np.ndarray  # str per sample ("F" marks the maps)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    left_out: Counter = field(default_factory=Counter)  # reason -> samples not used before geometry
    maps: tuple[Path, Path] | None = None  # the dataset's own (fixation, density) folders, frames from 1


@dataclass(frozen=True)
class Dataset:
    """A dataset's facts and its reader."""

    name: str
    title: str
    licence: str
    obtain: str
    transform: str
    read: Callable[[Path, set[str] | None, set[str] | None, argparse.Namespace], Iterator[Recording]]


# ---------------------------------------------------------------------------------------------- shared pieces

def probe(path: Path) -> VideoFacts:
    """Frame size, rate and count from the container's header (no decoding)."""
    import av

    if not path.is_file():
        raise CamError(f"Video {path} does not exist; the dataset's layout expects it there.")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise CamError(f"{path} has no video stream.")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 0)
            frames = int(stream.frames or 0)
            if not frames and stream.duration and stream.time_base and rate:
                frames = round(float(stream.duration * stream.time_base) * rate)
            if not frames and container.duration and rate:
                frames = round(container.duration / 1e6 * rate)
            width, height = stream.codec_context.width, stream.codec_context.height
    except av.FFmpegError as err:
        raise CamError(f"Video {path} could not be opened ({str(err).strip()[:120]}).") from err
    if not (rate > 0 and frames > 0 and width > 0 and height > 0):
        raise CamError(f"{path} does not declare its frame rate, size and length; remux it (ffmpeg -i in -c copy).")
    return VideoFacts(int(width), int(height), rate, frames)


def _selected(name: str, wanted: set[str] | None) -> bool:
    return wanted is None or name in wanted or Path(name).stem in wanted


def _numbers(path: Path, columns: int) -> np.ndarray:
    """A whitespace- or comma-separated table of numbers (comment lines with # and a header line skipped)."""
    rows: list[list[float]] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            cells = [cell for cell in re.split(r"[\s,;]+", line.strip()) if cell]
            if not cells or cells[0].startswith("#"):
                continue
            try:
                values = [float(cell) for cell in cells]
            except ValueError:
                if rows:
                    raise CamError(f"{path}: line {line.strip()[:60]!r} is not numbers.") from None
                continue  # a header line
            if len(values) < columns:
                raise CamError(f"{path}: a line has {len(values)} values, {columns} were expected.")
            rows.append(values[:columns])
    return np.asarray(rows, np.float64).reshape(-1, columns)


def _recording(video: str, facts: VideoFacts, parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray,
                                                                   np.ndarray]],
               left_out: Counter, extra_name: str | None = None, extra: list[str] | None = None) -> Recording:
    """Join per-subject (subject, t, x, y, event) parts into one recording."""
    def cat(i: int) -> np.ndarray:
        return np.concatenate([part[i] for part in parts]) if parts else np.zeros(0)

    subject = np.concatenate([np.full(len(part[1]), part[0], dtype=object) for part in parts]) if parts \
        else np.zeros(0, dtype=object)
    extras = {}
    if extra_name is not None and extra is not None:
        extras[extra_name] = np.concatenate([np.full(len(part[1]), value, dtype=object)
                                             for part, value in zip(parts, extra, strict=True)]) if parts \
            else np.zeros(0, dtype=object)
    return Recording(video, facts, cat(1).astype(np.float64), cat(2).astype(np.float64), cat(3).astype(np.float64),
                     subject, cat(4).astype(object) if parts else np.zeros(0, dtype=object), extras, left_out)


def letterbox(x: np.ndarray, y: np.ndarray, screen: tuple[int, int], size: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Screen pixels to video pixels for a video scaled to fit the screen, centred (aspect ratio kept)."""
    (sw, sh), (w, h) = screen, size
    scale = min(sw / w, sh / h)
    return (x - (sw - scale * w) / 2) / scale, (y - (sh - scale * h) / 2) / scale


# ---------------------------------------------------------------------------------------------- DHF1K

DHF1K_SCREEN = (1440, 900)


def dhf1k_screen_to_video(x: np.ndarray, y: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """DHF1K's transform (its raw gaze is on a 1440×900 screen, the video letterboxed by width):
    ``a = W/1440``, ``b = (900 − H/a)/2``, ``x_v = a·x``, ``y_v = a·(y − b)``."""
    a = width / DHF1K_SCREEN[0]
    b = (DHF1K_SCREEN[1] - height / a) / 2
    return a * x, a * (y - b)


def _read_dhf1k(src: Path, videos: set[str] | None, subjects: set[str] | None,
                args: argparse.Namespace) -> Iterator[Recording]:
    annotation = src / "annotation"
    if not annotation.is_dir():
        raise CamError(f"{src} has no annotation/ folder; pass the folder DHF1K was unpacked into.")
    for folder in sorted(p for p in annotation.iterdir() if p.is_dir()):
        number = int(folder.name) if folder.name.isdigit() else None
        name = f"{number:03d}" if number is not None else folder.name
        if not (_selected(name, videos) or _selected(folder.name, videos)):
            continue
        fix_dir, map_dir = folder / "fixation", folder / "maps"
        if not fix_dir.is_dir() or not map_dir.is_dir():
            raise CamError(f"{folder} needs fixation/ and maps/ sub-folders (DHF1K's annotation layout).")
        video = next((p for p in (src / "video").glob(f"{name}.*")), None) if (src / "video").is_dir() else None
        pngs = sorted(fix_dir.glob("*.png"))
        if video is not None:
            facts = probe(video)
        else:
            import cv2

            first = cv2.imread(str(pngs[0]), cv2.IMREAD_GRAYSCALE) if pngs else None
            if first is None:
                raise CamError(f"{fix_dir} holds no readable PNG and video/{name}.* is missing.")
            facts = VideoFacts(first.shape[1], first.shape[0], 30.0, len(pngs))
        raw = src / "raw" / name
        if raw.is_dir():
            parts, left = [], Counter[str]()
            for path in sorted(raw.glob("*.txt")):
                if subjects is not None and path.stem not in subjects:
                    continue
                table = _numbers(path, 3)
                x, y = dhf1k_screen_to_video(table[:, 1], table[:, 2], facts.width, facts.height)
                # binned to 30 fps frames: the frame's centre time
                t = (np.floor(table[:, 0] / 1000 * 30) + 0.5) / 30
                parts.append((path.stem, t, x, y, np.full(len(t), FIXATION, dtype=object)))
            rec = _recording(name, facts, parts, left)
        else:
            rec = _pooled_from_maps(name, facts, pngs)
        rec.maps = (fix_dir, map_dir)
        yield rec


def _pooled_from_maps(name: str, facts: VideoFacts, pngs: list[Path]) -> Recording:
    """Samples from binary fixation maps (frames numbered from 1): one per marked pixel, subject ``pooled``."""
    import cv2

    t, x, y = [], [], []
    for path in pngs:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None or not path.stem.isdigit():
            continue
        rows, cols = np.nonzero(image > 127)
        t.append(np.full(len(rows), (int(path.stem) - 1 + 0.5) / facts.fps))
        x.append(cols.astype(np.float64))
        y.append(rows.astype(np.float64))
    tt = np.concatenate(t) if t else np.zeros(0)
    return _recording(name, facts, [("pooled", tt, np.concatenate(x) if x else tt, np.concatenate(y) if y else tt,
                                     np.full(len(tt), FIXATION, dtype=object))], Counter())


# ---------------------------------------------------------------------------------------------- Mathe et al.

MATHE_SCREEN = (1280, 1024)
MATHE_GROUPS = ("action_recognition", "free_viewing")


def _read_mathe(src: Path, videos: set[str] | None, subjects: set[str] | None,
                args: argparse.Namespace) -> Iterator[Recording]:
    groups = [g for g in MATHE_GROUPS if (src / g).is_dir()]
    if not groups:
        raise CamError(f"{src} has neither {' nor '.join(MATHE_GROUPS)}/; pass the folder the eye-tracking "
                       "release was unpacked into.")
    names = sorted({p.name for g in groups for p in (src / g).iterdir() if p.is_dir()})
    for name in names:
        if not _selected(name, videos):
            continue
        video = next(iter(sorted((src / "videos").glob(f"{name}.*"))), None) if (src / "videos").is_dir() else None
        if video is None:
            raise CamError(f"videos/{name}.* is missing under {src}; the gaze of {name} cannot be placed.")
        facts = probe(video)
        parts, groups_of, left = [], [], Counter[str]()
        for group in groups:
            for path in sorted((src / group / name).glob("*.txt")) if (src / group / name).is_dir() else []:
                if subjects is not None and path.stem not in subjects:
                    continue
                table = _read_event_table(path)
                x, y = letterbox(table["x"], table["y"], MATHE_SCREEN, (facts.width, facts.height))
                parts.append((path.stem, table["t"] / 1000, x, y, table["event"]))
                groups_of.append(group)
        yield _recording(name, facts, parts, left, "group", groups_of)


def _read_event_table(path: Path) -> dict[str, np.ndarray]:
    """``t x y [event]`` lines; without an event column every sample counts as a fixation."""
    rows: list[list[str]] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            cells = [c for c in re.split(r"[\s,;]+", line.strip()) if c]
            if len(cells) >= 3 and not cells[0].startswith("#"):
                try:
                    float(cells[0])
                except ValueError:
                    continue
                rows.append(cells)
    t = np.asarray([float(r[0]) for r in rows])
    x = np.asarray([float(r[1]) for r in rows])
    y = np.asarray([float(r[2]) for r in rows])
    event = np.asarray([(r[3][:1].upper() if len(r) > 3 else FIXATION) for r in rows], dtype=object)
    return {"t": t, "x": x, "y": y, "event": event}


# ---------------------------------------------------------------------------------------------- EGTEA Gaze+

EGTEA_GAZE = (1280, 960)
EGTEA_FPS = 24.0
EGTEA_SIZE = (640, 480)
_EGTEA_RANGE = re.compile(r"-F(\d+)-F(\d+)$")


def _timecode(text: str, fps: float) -> int:
    """``HH:MM:SS:FF`` (BeGaze's video time) to a frame number."""
    hours, minutes, seconds, frame = (int(v) for v in text.split(":"))
    return int((3600 * hours + 60 * minutes + seconds) * fps) + frame


def read_begaze(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An EGTEA BeGaze export: per sample the session frame, x, y (recording pixels) and type (its first letter:
    F fixation, S saccade, other). Both export versions: 7 columns (frame number in column 6) or 26 (a time code
    in the last but one)."""
    frames, xs, ys, kinds = [], [], [], []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            values = line.split()
            try:
                if len(values) == 7:
                    x, y, frame, kind = float(values[3]), float(values[4]), int(values[5]), values[6]
                elif len(values) == 26:
                    x, y, frame, kind = float(values[5]), float(values[6]), _timecode(values[-2], EGTEA_FPS), \
                        values[-1]
                else:
                    continue  # the header's column names
            except ValueError:
                continue
            frames.append(frame)
            xs.append(x)
            ys.append(y)
            kinds.append("F" if kind == "Fixation" else "S" if kind == "Saccade" else "U")
    return np.asarray(frames, np.int64), np.asarray(xs), np.asarray(ys), np.asarray(kinds, dtype=object)


def _read_egtea(src: Path, videos: set[str] | None, subjects: set[str] | None,
                args: argparse.Namespace) -> Iterator[Recording]:
    gaze_dir, clips_dir = src / "gaze_data", src / "cropped_clips"
    if not gaze_dir.is_dir() or not clips_dir.is_dir():
        raise CamError(f"{src} needs gaze_data/ and cropped_clips/ (EGTEA Gaze+'s layout).")
    for session_dir in sorted(p for p in clips_dir.iterdir() if p.is_dir()):
        session = session_dir.name
        gaze_file = gaze_dir / f"{session}.txt"
        clips = [c for c in sorted(session_dir.glob("*.mp4")) if _selected(c.stem, videos)]
        if not clips or (subjects is not None and session.split("-")[0] not in subjects):
            continue
        if not gaze_file.is_file():
            raise CamError(f"{gaze_file} is missing: the clips of session {session} have no gaze.")
        frames, x, y, kind = read_begaze(gaze_file)
        xv, yv = x * EGTEA_SIZE[0] / EGTEA_GAZE[0], y * EGTEA_SIZE[1] / EGTEA_GAZE[1]
        for clip in clips:
            found = _EGTEA_RANGE.search(clip.stem)
            if not found:
                raise CamError(f"{clip.name} does not end in -Fstart-Fend, so its place in the session is unknown.")
            first, last = int(found.group(1)), int(found.group(2))
            facts = VideoFacts(EGTEA_SIZE[0], EGTEA_SIZE[1], EGTEA_FPS, last - first + 1)
            inside = (frames >= first) & (frames <= last)
            t = (frames[inside] - first + 0.5) / EGTEA_FPS
            # samples of the session outside the clip's range belong to other clips: not this clip's loss
            yield _recording(clip.stem, facts, [(session.split("-")[0], t, xv[inside], yv[inside], kind[inside])],
                             Counter())


# ---------------------------------------------------------------------------------------------- Ego4D

def _read_ego4d(src: Path, videos: set[str] | None, subjects: set[str] | None,
                args: argparse.Namespace) -> Iterator[Recording]:
    gaze_dir = src / "gaze"
    if not gaze_dir.is_dir():
        raise CamError(f"{src} has no gaze/ folder (Ego4D's gaze/<uid>.csv).")
    for path in sorted(gaze_dir.glob("*.csv")):
        uid = path.stem
        if not _selected(uid, videos):
            continue
        facts = probe(src / "full_scale" / f"{uid}.mp4")
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            need = {"canonical_timestamp_s", "norm_pos_x", "norm_pos_y", "confidence"}
            if not need <= set(reader.fieldnames or ()):
                raise CamError(f"{path} lacks the columns {', '.join(sorted(need - set(reader.fieldnames or ())))}.")
            rows = [(r["canonical_timestamp_s"], r["norm_pos_x"], r["norm_pos_y"], r["confidence"]) for r in reader]
        table = np.asarray([[_float(v) for v in row] for row in rows], np.float64).reshape(-1, 4)
        left: Counter[str] = Counter()
        low = ~(table[:, 3] >= args.min_confidence)
        left["low confidence"] = int(low.sum())
        table = table[~low]
        t, x, y = table[:, 0], table[:, 1] * facts.width, (1 - table[:, 2]) * facts.height
        yield _recording(uid, facts, [("wearer", t, x, y, np.full(len(t), FIXATION, dtype=object))], left)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


# ---------------------------------------------------------------------------------------------- LEDOV

def _read_ledov(src: Path, videos: set[str] | None, subjects: set[str] | None,
                args: argparse.Namespace) -> Iterator[Recording]:
    fix_dir = src / "fixations"
    if not fix_dir.is_dir():
        raise CamError(f"{src} has no fixations/ folder (LEDOV's fixation events per video).")
    for path in sorted(fix_dir.glob("*.txt")):
        if not _selected(path.stem, videos):
            continue
        video = next(iter(sorted((src / "videos").glob(f"{path.stem}.*"))), None)
        if video is None:
            raise CamError(f"videos/{path.stem}.* is missing under {src}.")
        facts = probe(video)
        events = _numbers(path, 5)
        parts = []
        for subject in sorted({int(s) if float(s).is_integer() else s for s in events[:, 0]}, key=str):
            if subjects is not None and str(subject) not in subjects:
                continue
            rows = events[events[:, 0] == float(subject)]
            t, x, y = spread_events(rows[:, 1] / 1000, rows[:, 2] / 1000, rows[:, 3], rows[:, 4], facts.fps)
            parts.append((str(subject), t, x, y, np.full(len(t), FIXATION, dtype=object)))
        yield _recording(path.stem, facts, parts, Counter())


def spread_events(start: np.ndarray, duration: np.ndarray, x: np.ndarray, y: np.ndarray, fps: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sample at the centre time of every frame ``[k/fps, (k+1)/fps)`` an event ``[start, start+duration)``
    overlaps (times in seconds)."""
    first = np.floor(start * fps).astype(np.int64)
    last = np.ceil((start + np.maximum(duration, 0)) * fps).astype(np.int64) - 1
    last = np.maximum(last, first)
    counts = last - first + 1
    frames = np.repeat(first, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    return (frames + 0.5) / fps, np.repeat(x, counts), np.repeat(y, counts)


# ---------------------------------------------------------------------------------------------- DIEM

DIEM_FPS = 30.0


def _read_diem(src: Path, videos: set[str] | None, subjects: set[str] | None,
               args: argparse.Namespace) -> Iterator[Recording]:
    events_dir = src / "event_data"
    if not events_dir.is_dir():
        raise CamError(f"{src} has no event_data/ folder (DIEM's per-video event files).")
    for folder in sorted(p for p in events_dir.iterdir() if p.is_dir()):
        if not _selected(folder.name, videos):
            continue
        video = next(iter(sorted((src / "video").glob(f"{folder.name}.*"))), None)
        if video is None:
            raise CamError(f"video/{folder.name}.* is missing under {src}.")
        facts = probe(video)
        parts, left = [], Counter[str]()
        for path in sorted(folder.glob("*.txt")):
            if subjects is not None and path.stem not in subjects:
                continue
            table = _numbers(path, 9)
            use_left = table[:, 4] == 1
            use_right = ~use_left & (table[:, 8] == 1)
            fixation = use_left | use_right
            left["not a fixation"] += int((~fixation).sum())
            x = np.where(use_left, table[:, 1], table[:, 5])[fixation]
            y = np.where(use_left, table[:, 2], table[:, 6])[fixation]
            t = (table[fixation, 0] - 1 + 0.5) / DIEM_FPS
            parts.append((path.stem, t, x, y, np.full(len(t), FIXATION, dtype=object)))
        yield _recording(folder.name, facts, parts, left)


# ---------------------------------------------------------------------------------------------- registry

DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("dhf1k", "DHF1K (Wang et al., CVPR 2018)", "CC BY 4.0",
            "the DHF1K release (annotation/ and video/), from its authors' page",
            "raw gaze: a = W/1440, b = (900 - H/a)/2, x = a*x_s, y = a*(y_s - b); maps copied, frames renumbered "
            "from 0", _read_dhf1k),
    Dataset("hollywood2", "Hollywood-2 eye tracking (Mathe & Sminchisescu, ECCV 2012 / PAMI 2015)",
            "research use; cite Mathe & Sminchisescu (PAMI 2015) as the licence agreement asks",
            "the 'Actions in the Eye' release for Hollywood-2, from vision.imar.ro/eyetracking",
            "screen 1280x1024, video scaled to fit and centred: x = (x_s - (1280 - s*W)/2)/s, s = min(1280/W, 1024/H)",
            _read_mathe),
    Dataset("ucfsports", "UCF Sports eye tracking (Mathe & Sminchisescu, ECCV 2012 / PAMI 2015)",
            "research use; cite Mathe & Sminchisescu (PAMI 2015) as the licence agreement asks",
            "the 'Actions in the Eye' release for UCF Sports, from vision.imar.ro/eyetracking",
            "screen 1280x1024, video scaled to fit and centred: x = (x_s - (1280 - s*W)/2)/s, s = min(1280/W, 1024/H)",
            _read_mathe),
    Dataset("egtea", "EGTEA Gaze+ (Li, Liu & Rehg, ECCV 2018)", "research use under the EGTEA Gaze+ terms",
            "gaze_data and cropped_clips of EGTEA Gaze+, from its authors' page (cbs.ic.gatech.edu/fpv)",
            "x = x_rec * 640/1280, y = y_rec * 480/960; clip frame = session frame - Fstart", _read_egtea),
    Dataset("ego4d", "Ego4D gaze (Grauman et al., CVPR 2022)", "Ego4D licence agreement (signed per user)",
            "the Ego4D CLI: --datasets gaze full_scale", "x = norm_pos_x * W, y = (1 - norm_pos_y) * H "
            "(Pupil's origin is the bottom left)", _read_ego4d),
    Dataset("ledov", "LEDOV (Jiang et al., ECCV 2018)", "research use; cite Jiang et al. (ECCV 2018)",
            "the LEDOV release (videos and fixations), from its authors' repository",
            "video pixels; an event marks every frame its time span overlaps", _read_ledov),
    Dataset("diem", "DIEM (Mital et al., Cognitive Computation 2011)", "CC BY-NC-SA 3.0",
            "the DIEM archive (video/ and event_data/), from thediemproject",
            "video pixels; frames from 1 at 30 fps; left eye when fixating, else right", _read_diem),
)}


# ---------------------------------------------------------------------------------------------- writing

@dataclass
class VideoRecord:
    """dataset.json's entry for one video."""

    video: str
    frames: int
    fps: float
    size: tuple[int, int]
    samples: int
    marked: int
    subjects: dict[str, int]
    left_out: dict[str, int]


def _copy_maps(rec: Recording, fix_out: Path, den_out: Path) -> None:
    """The dataset's own maps (frames from 1) as frame_{k:05d}.png from 0."""
    assert rec.maps is not None
    for source, target in zip(rec.maps, (fix_out, den_out), strict=True):
        target.mkdir(parents=True)
        for png in sorted(source.glob("*.png")):
            if png.stem.isdigit():
                shutil.copyfile(png, target / f"frame_{int(png.stem) - 1:05d}.png")


def import_dataset(name: str, src: str | Path, out: str | Path, *, videos: list[str] | None = None,
                   subjects: list[str] | None = None, sigma: float | None = None, min_confidence: float = 0.6,
                   workers: int = 1, progress: Callable[[int, str], None] | None = None) -> dict:
    """Import one dataset into ``out`` (module docstring) and return what ``dataset.json`` records.

    The output is built in a hidden folder under ``out`` and moved into place at the end: a failure leaves no
    half-written output."""
    if name not in DATASETS:
        raise CamError(f"Unknown dataset {name!r}; use one of {', '.join(DATASETS)}.")
    if sigma is not None and not (math.isfinite(sigma) and sigma > 0):
        raise CamError(f"--sigma must be a positive number of pixels, not {sigma}.")
    dataset, src, out = DATASETS[name], Path(src), Path(out)
    if not src.is_dir():
        raise CamError(f"{src} is not a folder; pass the folder the {dataset.title} release was unpacked into.")
    if not out.parent.is_dir() or (out.exists() and not out.is_dir()):
        raise CamError(f"--out {out} must be a folder (it is created when its parent folder exists).")
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=out) as tmp_name:
        tmp = Path(tmp_name)
        options = argparse.Namespace(min_confidence=min_confidence, workers=max(1, workers))
        records = _write_all(dataset, src, tmp, videos, subjects, options, sigma, progress)
        record = {"name": dataset.name, "title": dataset.title, "licence": dataset.licence, "obtain": dataset.obtain,
                  "transform": dataset.transform, "source": str(src),
                  "fps": sorted({r.fps for r in records}), "sigma_px": sigma,
                  "default_sigma": "frame width / 30" if sigma is None else None,
                  "layout": {"fixations": "fixations/<video>/frame_{k:05d}.png",
                             "density": "density/<video>/frame_{k:05d}.png", "samples": SAMPLES_NAME},
                  "videos": [asdict(r) for r in records]}
        (tmp / DATASET_NAME).write_text(json.dumps(record, indent=2), encoding="utf-8")
        _move_into_place(tmp, out, [r.video for r in records])
    return record


def _write_all(dataset: Dataset, src: Path, tmp: Path, videos: list[str] | None, subjects: list[str] | None,
               args: argparse.Namespace, sigma: float | None,
               progress: Callable[[int, str], None] | None) -> list[VideoRecord]:
    """Every selected video's maps under ``tmp`` and all samples in ``tmp/samples.csv``; the maps of several
    videos are written by ``args.workers`` processes at once (each video by one, in the order read)."""
    futures: list[Future[VideoRecord]] = []
    pool = ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) if args.workers > 1 else None
    try:
        with open(tmp / SAMPLES_NAME, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            extra_names: list[str] | None = None
            for rec in dataset.read(src, set(videos) if videos else None, set(subjects) if subjects else None, args):
                if extra_names is None:
                    extra_names = sorted(rec.extra)
                    writer.writerow(["video", "subject", "t", "x", "y", "event", *extra_names])
                writer.writerows([rec.video, rec.subject[i], f"{rec.t[i]:.6f}", f"{rec.x[i]:.3f}",
                                  f"{rec.y[i]:.3f}", rec.event[i], *(rec.extra[e][i] for e in extra_names)]
                                 for i in range(len(rec.t)))
                if pool is None:
                    done: Future[VideoRecord] = Future()
                    done.set_result(_write_video(rec, tmp, sigma))
                    futures.append(done)
                else:
                    futures.append(pool.submit(_write_video, rec, tmp, sigma))
                    while sum(not f.done() for f in futures) > 2 * args.workers:  # bounded memory in flight
                        wait([f for f in futures if not f.done()], return_when=FIRST_COMPLETED)
        records = []
        for future in futures:
            records.append(future.result())
            if progress is not None:
                progress(len(records), records[-1].video)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if not records:
        raise CamError(f"No video of {dataset.title} under {src} matches the selection; check --videos and "
                       "the layout (python -m core.gaze.datasets --help).")
    return records


def _move_into_place(tmp: Path, out: Path, names: list[str]) -> None:
    """The built maps and files from ``tmp`` into ``out``, replacing earlier imports of the same videos."""
    for kind in ("fixations", "density"):
        for name in names:
            target = out / kind / name
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            (tmp / kind / name).rename(target)
    for name in names:
        built = tmp / SUBJECTS_FOLDER / f"{name}.npz"
        if built.is_file():
            (out / SUBJECTS_FOLDER).mkdir(exist_ok=True)
            built.replace(out / SUBJECTS_FOLDER / f"{name}.npz")
    for file_name in (SAMPLES_NAME, DATASET_NAME):
        (tmp / file_name).replace(out / file_name)


def _write_video(rec: Recording, tmp: Path, sigma: float | None) -> VideoRecord:
    facts = rec.facts
    fixation = rec.event == FIXATION
    left = Counter(rec.left_out)
    left["not a fixation"] += int((~fixation).sum())
    if rec.maps is not None:
        _copy_maps(rec, tmp / "fixations" / rec.video, tmp / "density" / rec.video)
        marked = int(fixation.sum())
        subjects = dict(Counter(str(s) for s in rec.subject[fixation]))
    else:
        times = FrameTimes(np.arange(facts.frames + 1, dtype=np.float64) / facts.fps, facts.width, facts.height)
        build = tmp / "build" / rec.video
        report = write_maps(build, rec.video, rec.t[fixation], rec.x[fixation], rec.y[fixation],
                            rec.subject[fixation], times, sigma or default_sigma(facts.width),
                            samples=len(rec.t), not_fixation=int((~fixation).sum()), no_position=0)
        for kind in ("fixations", "density"):
            (tmp / kind).mkdir(exist_ok=True)
            (build / kind).rename(tmp / kind / rec.video)
        if (build / SUBJECTS_FILE).is_file():  # each observer's fixations: core.study's human bound
            (tmp / SUBJECTS_FOLDER).mkdir(exist_ok=True)
            (build / SUBJECTS_FILE).replace(tmp / SUBJECTS_FOLDER / f"{rec.video}.npz")
        marked, subjects = report.marked, report.subjects
        left["outside the frame"] += report.outside_frame
        left["outside the video's time"] += report.outside_time
    return VideoRecord(rec.video, facts.frames, facts.fps, (facts.width, facts.height),
                       len(rec.t) + sum(rec.left_out.values()), marked, dict(sorted(subjects.items())),
                       {k: v for k, v in sorted(left.items()) if v})


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m core.gaze.datasets",
                           description="Import a public eye-tracking dataset into the study layout "
                                       "(fixations/, density/, samples.csv, dataset.json).")
    parser.add_argument("name", choices=tuple(DATASETS), help="the dataset")
    parser.add_argument("src", help="the folder the dataset was unpacked into")
    parser.add_argument("--out", required=True, help="folder to write the study layout to")
    parser.add_argument("--videos", default=None, help="comma-separated video names to import (default: all)")
    parser.add_argument("--subjects", default=None, help="comma-separated subjects to import (default: all)")
    parser.add_argument("--sigma", type=float, default=None, help="σ of the density blur in pixels "
                                                                   "(default: frame width / 30)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="processes writing maps, one video each (default: the CPU cores, at most 4)")
    parser.add_argument("--min-confidence", type=float, default=0.6,
                        help="Ego4D: samples below this confidence are left out (default 0.6)")
    return parser


def _split(text: str | None) -> list[str] | None:
    return [item.strip() for item in text.split(",") if item.strip()] if text else None


def main(argv: list[str] | None = None) -> int:
    def action() -> int:
        args = build_parser().parse_args(argv)
        record = import_dataset(args.name, args.src, args.out, videos=_split(args.videos),
                                subjects=_split(args.subjects), sigma=args.sigma, min_confidence=args.min_confidence,
                                workers=args.workers)
        for video in record["videos"]:
            left = ", ".join(f"{n} {why}" for why, n in video["left_out"].items())
            print(f"{video['video']}: {video['frames']} frames, {video['marked']} of {video['samples']} samples "
                  f"marked" + (f"; left out: {left}" if left else ""))
        print(f"wrote {Path(args.out) / 'fixations'}, {Path(args.out) / 'density'}, {SAMPLES_NAME} and "
              f"{DATASET_NAME}")
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
