"""Fixation maps from raw eye-tracker samples, in the per-frame layout :mod:`core.gaze` and :mod:`core.study` read.

``python -m core.gaze.fixations SAMPLES.csv --video VIDEO --out DIR [--fwhm PX | --sigma PX] [--time-unit s|ms|us]``

- SAMPLES.csv has a header naming ``t``, ``x``, ``y`` (time from the video's start, in ``--time-unit``,
  default seconds; position in video pixels) and optionally ``subject``, ``event`` (then only samples whose
  event is ``F``, a fixation, count) and ``video`` (then ``--video`` is a folder and each video named there,
  by file name or stem, gets its own sub-folder). Column names are matched without regard to case.
- Time: frame ``k`` (0-based, the decoder's presentation order: the source frame index the heatmaps'
  ``frame_indices`` use) covers ``[pts_k, pts_{k+1})`` of the container's timestamps, measured from the first
  frame's (the video's start); the last frame lasts its own duration (else the stream's frame period).
  Variable frame rates are therefore handled exactly.
- Space: the frame spans ``[0, W] × [0, H]``; a sample inside it marks pixel ``(round(x), round(y))``
  (half up), clipped to ``[0, W-1] × [0, H-1]``.
- Output: ``fixations/frame_{k:05d}.png`` (0 / 255) and ``density/frame_{k:05d}.png`` (the count image of the
  frame's samples convolved with a Gaussian of σ = FWHM / (2·sqrt(2·ln 2)) ≈ FWHM / 2.3548, zero outside the
  frame, scaled so its peak is 255) for **every** frame, empty ones included, so numbering starts at 0 and
  ``core.gaze`` reads it as 0-based (its rule: a folder holding frame 0 is 0-based). With a ``video`` column:
  ``fixations/<video stem>/…`` and ``density/<video stem>/…``, i.e. ``--gaze DIR/fixations --density
  DIR/density`` for ``core.study``. ``fixations.json`` records the parameters and, per video, how many samples
  were used and how many were not and why (missing position, not a fixation, outside the frame, outside the
  video's time): nothing is dropped silently.
- With a ``subject`` column, ``subjects/<video stem>.npz`` also keeps every used sample's pixel, frame and
  subject (:mod:`core.gaze.subjects`): the input of ``core.study``'s human upper bound (``--subjects DIR/subjects``).
- Default σ: the frame width / 30 (about one degree of visual angle when the video spans 30° of view, the
  usual size of the fixation blur in saliency benchmarks); pass ``--fwhm`` or ``--sigma`` for your setup.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core import access
from core.errors import CamError, CommandParser, run_command
from core.gaze.subjects import FOLDER as SUBJECTS_FOLDER
from core.gaze.subjects import write_subjects
from core.video import VIDEO_EXTENSIONS

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))  # 2.3548...
WIDTH_PER_SIGMA = 30.0
"""The default σ is the frame width over this (see the module docstring)."""
REPORT_NAME = "fixations.json"
SUBJECTS_FILE = "subjects.npz"  # written beside a video's maps, moved to subjects/<video stem>.npz
_COLUMNS = ("t", "x", "y", "subject", "event", "video")


def default_sigma(width: int) -> float:
    """The blur used when none is given: the frame (or map) width / 30."""
    return width / WIDTH_PER_SIGMA


@dataclass
class Samples:
    """Eye-tracker samples (times in seconds), with the CSV rows left out before any geometry."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    subject: np.ndarray | None  # str per sample
    video: np.ndarray | None  # str per sample
    rows: int  # data rows in the file
    not_fixation: Counter  # per video name ('' without a video column): rows whose event is not F
    no_position: Counter  # per video name: rows with an empty or NaN t, x or y


@dataclass
class FrameTimes:
    """A video's frame boundaries in seconds from its start: frame k covers ``[starts[k], starts[k + 1])``."""

    starts: np.ndarray  # float64 [frames + 1]
    width: int
    height: int

    @property
    def frames(self) -> int:
        return len(self.starts) - 1


@dataclass
class VideoReport:
    """What happened to one video's samples."""

    video: str
    frames: int
    duration_s: float
    size: tuple[int, int]
    samples: int  # rows naming this video (all rows without a video column)
    marked: int  # samples that marked a pixel
    not_fixation: int
    no_position: int
    outside_frame: int
    outside_time: int
    frames_with_fixations: int
    subjects: dict[str, int] = field(default_factory=dict)  # marked samples per subject

    def line(self) -> str:
        left = [f"{n} {what}" for n, what in ((self.not_fixation, "not fixations"),
                                               (self.no_position, "without a position"),
                                               (self.outside_frame, "outside the frame"),
                                               (self.outside_time, f"outside the video's 0–{self.duration_s:.3f} s"))
                if n]
        return (f"{self.video}: {self.frames} frames, {self.marked} of {self.samples} samples marked on "
                f"{self.frames_with_fixations} frames" + (f"; left out: {', '.join(left)}" if left else ""))


def _number(text: str, path: Path, line: int, column: str) -> float:
    text = text.strip()
    if not text or text.lower() in ("nan", "na", "null"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise CamError(f"{path} line {line}: {column} = {text!r} is not a number.") from None


def read_samples(path: str | Path, *, time_unit: str = "s") -> Samples:
    """The samples of an eye-tracker CSV (see the module docstring); only ``F`` samples when it has ``event``."""
    path = Path(path)
    if time_unit not in TIME_UNITS:
        raise CamError(f"Unknown time unit {time_unit!r}; use one of {', '.join(TIME_UNITS)}.")
    if not path.is_file():
        raise CamError(f"Sample file {path} does not exist; pass the eye tracker's CSV export.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise CamError(f"{path} is empty; it needs a header naming the columns t, x, y.")
            return _read_rows(reader, path, header, TIME_UNITS[time_unit])
    except UnicodeDecodeError as err:
        raise CamError(f"{path} is not a UTF-8 text CSV ({err.reason}).") from err
    except csv.Error as err:
        raise CamError(f"{path} is not a readable CSV ({err}).") from err


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    """Where each known column is; a CamError naming the missing ones when t, x or y is not there."""
    names = [name.strip().lower() for name in header]
    missing = [name for name in ("t", "x", "y") if name not in names]
    if missing:
        raise CamError(f"{path} has no column {', '.join(missing)} in its header ({', '.join(header)}); "
                       "name the columns t, x, y (and optionally subject, event, video).")
    return {name: names.index(name) for name in _COLUMNS if name in names}


def _read_rows(reader: Iterator[list[str]], path: Path, header: list[str], scale: float) -> Samples:
    """The samples of the rows after the header; times multiplied by ``scale`` (to seconds)."""
    where = _columns(path, header)
    values: dict[str, list] = {name: [] for name in where}
    rows = 0
    not_fixation: Counter = Counter()
    no_position: Counter = Counter()
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        if len(row) < len(header):
            raise CamError(f"{path} line {line} has {len(row)} fields, the header {len(header)}.")
        video = row[where["video"]].strip() if "video" in where else ""
        if "event" in where and row[where["event"]].strip().upper() != "F":
            not_fixation[video] += 1
            continue
        t, x, y = (_number(row[where[c]], path, line, c) for c in ("t", "x", "y"))
        if not (math.isfinite(t) and math.isfinite(x) and math.isfinite(y)):
            no_position[video] += 1
            continue
        for name, value in (("t", t), ("x", x), ("y", y)):
            values[name].append(value)
        for name in ("subject", "video"):
            if name in where:
                values[name].append(row[where[name]].strip())
    return Samples(np.asarray(values["t"], np.float64) * scale, np.asarray(values["x"], np.float64),
                   np.asarray(values["y"], np.float64),
                   np.asarray(values["subject"], dtype=object) if "subject" in values else None,
                   np.asarray(values["video"], dtype=object) if "video" in values else None,
                   rows, not_fixation, no_position)


def frame_times(video: str | Path) -> FrameTimes:
    """Every frame's start from the container's timestamps (decoded, so frame k is the k-th frame shown)."""
    import av

    path = Path(video)
    if not path.is_file():
        raise CamError(f"Video {path} does not exist; pass the video the gaze was recorded on.")
    pts: list[int] = []
    last_duration = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise CamError(f"{path} has no video stream.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            base = stream.time_base
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
            for frame in container.decode(stream):
                if frame.pts is None:
                    raise CamError(f"{path} has frames without timestamps; remux it (ffmpeg -i in -c copy out.mp4).")
                pts.append(frame.pts)
                last_duration = int(frame.duration or 0)
                width, height = frame.width, frame.height
    except av.FFmpegError as err:
        raise CamError(f"Video {path} could not be decoded ({str(err).strip()[:120]}).") from err
    if not pts or base is None:
        raise CamError(f"Video {path} has no decodable frames.")
    times = (np.asarray(pts, np.float64) - pts[0]) * float(base)
    if np.any(np.diff(times) <= 0):
        raise CamError(f"{path} has frames whose timestamps do not increase; remux it before using its timing.")
    if last_duration > 0:
        last = last_duration * float(base)
    elif rate:
        last = 1.0 / float(rate)
    elif len(times) > 1:
        last = float(times[-1] - times[-2])
    else:
        raise CamError(f"{path} has one frame and no frame rate, so its duration is unknown.")
    return FrameTimes(np.append(times, times[-1] + last), int(width), int(height))


def frame_maps(t: np.ndarray, x: np.ndarray, y: np.ndarray, times: FrameTimes
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each sample lands: its frame index, pixel row and pixel column, and whether it marks that pixel
    (False outside the video's time or the frame)."""
    width, height = times.width, times.height
    frame = np.searchsorted(times.starts, t, side="right") - 1
    in_time = (frame >= 0) & (frame < times.frames)
    in_frame = (x >= 0) & (x <= width) & (y >= 0) & (y <= height)
    cols = np.clip(np.floor(x + 0.5), 0, width - 1).astype(np.int64)
    rows = np.clip(np.floor(y + 0.5), 0, height - 1).astype(np.int64)
    return frame, rows, cols, in_time & in_frame


SPARSE_POINTS = 256
"""Up to this many marked pixels a density is the sum of their separable Gaussians (see :func:`density_map`)."""


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """The kernel ``cv2.GaussianBlur`` uses for float64 images and ``ksize=(0, 0)``: radius ``round(4σ)``,
    normalised over its taps."""
    size = round(sigma * 4 * 2 + 1) | 1
    return cv2.getGaussianKernel(size, sigma, cv2.CV_64F).ravel()


def density_map(counts: np.ndarray, sigma: float) -> np.ndarray:
    """A count image convolved with a Gaussian of ``sigma`` pixels (zero outside the frame), peak scaled to 255."""
    rows, cols = np.nonzero(counts)
    return density_from_points(rows, cols, counts[rows, cols], counts.shape, sigma, counts=counts)


def density_from_points(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, shape: tuple[int, int],
                        sigma: float, *, counts: np.ndarray | None = None) -> np.ndarray:
    """:func:`density_map` of the count image holding ``weights`` at ``(rows, cols)`` (distinct pixels).

    A frame holds a few fixations, so the convolution is computed as what it is, a weighted sum of one separable
    Gaussian per marked pixel: ``Gy · diag(weights) · Gxᵀ`` with OpenCV's own kernel (the same taps, truncation
    and zero border as ``cv2.GaussianBlur``; equal to it within float rounding, the same bytes after scaling on
    every frame tested), which costs H·W·n instead of H·W·(2·8σ). Frames with more than :data:`SPARSE_POINTS`
    marked pixels use ``cv2.GaussianBlur`` itself."""
    if rows.size == 0:
        return np.zeros(shape, np.uint8)
    if rows.size > SPARSE_POINTS:
        if counts is None:
            counts = np.zeros(shape, np.float64)
            counts[rows, cols] = weights
        blurred = cv2.GaussianBlur(counts.astype(np.float64), (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    else:
        kernel = _gaussian_kernel(sigma)
        radius = len(kernel) // 2

        def taps(offsets: np.ndarray) -> np.ndarray:
            inside = np.abs(offsets) <= radius
            return np.where(inside, kernel[np.clip(offsets + radius, 0, len(kernel) - 1)], 0.0)

        gy = taps(np.arange(shape[0])[:, None] - rows[None, :]) * np.asarray(weights, np.float64)
        gx = taps(np.arange(shape[1])[:, None] - cols[None, :])
        blurred = np.einsum("in,jn->ij", gy, gx)  # numpy's own loop: a BLAS thread pool costs more than it saves here
    return np.rint(blurred / blurred.max() * 255).astype(np.uint8)


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise CamError(f"Cannot write {path}; check the output folder's free space and permissions.")


def write_maps(folder: Path, name: str, t: np.ndarray, x: np.ndarray, y: np.ndarray, subject: np.ndarray | None,
               times: FrameTimes, sigma: float, *, samples: int, not_fixation: int, no_position: int,
               progress: Callable[[int], None] | None = None) -> VideoReport:
    """Write ``fixations/`` and ``density/`` PNGs of every frame under ``folder`` and say what was used."""
    frame, rows, cols, used = frame_maps(t, x, y, times)
    in_time = (frame >= 0) & (frame < times.frames)
    fixations_dir, density_dir = folder / "fixations", folder / "density"
    fixations_dir.mkdir(parents=True)
    density_dir.mkdir(parents=True)
    size = (times.height, times.width)
    empty_png = cv2.imencode(".png", np.zeros(size, np.uint8))[1].tobytes()
    order = np.argsort(frame[used], kind="stable")
    frames_used, pixels = frame[used][order], (rows[used] * times.width + cols[used])[order]
    bounds = np.searchsorted(frames_used, np.arange(times.frames + 1))
    marked_frames = 0
    for k in range(times.frames):
        name_k = f"frame_{k:05d}.png"
        hits = pixels[bounds[k]:bounds[k + 1]]
        if hits.size == 0:
            (fixations_dir / name_k).write_bytes(empty_png)
            (density_dir / name_k).write_bytes(empty_png)
        else:
            marked_frames += 1
            flat, weights = np.unique(hits, return_counts=True)
            rows_k, cols_k = np.divmod(flat, times.width)
            marks = np.zeros(size, np.uint8)
            marks[rows_k, cols_k] = 255
            _write_png(fixations_dir / name_k, marks)
            _write_png(density_dir / name_k, density_from_points(rows_k, cols_k, weights, size, sigma))
        if progress is not None:
            progress(k + 1)
    subjects = Counter(str(s) for s in subject[used]) if subject is not None else Counter()
    if subject is not None:
        names = sorted(set(str(s) for s in subject))
        index = {n: i for i, n in enumerate(names)}
        write_subjects(folder / SUBJECTS_FILE, names, frame[used], cols[used], rows[used],
                       np.array([index[str(s)] for s in subject[used]], np.int64), (times.width, times.height),
                       sigma)
    return VideoReport(name, times.frames, float(times.starts[-1]), (times.width, times.height), samples,
                       int(used.sum()), not_fixation, no_position, int((in_time & ~used).sum()), int((~in_time).sum()),
                       marked_frames, dict(sorted(subjects.items())))


def _find_video(folder: Path, name: str) -> Path:
    exact = folder / name
    if exact.is_file() and access.listed([exact], f"videos named {name!r} in the CSV"):
        return exact
    matches = access.listed([p for p in folder.iterdir() if p.is_file() and p.stem == Path(name).stem
                             and p.suffix.lower() in VIDEO_EXTENSIONS], f"videos named {name!r} in the CSV")
    if len(matches) != 1:
        what = "no video" if not matches else f"several videos ({', '.join(p.name for p in matches)})"
        raise CamError(f"The CSV names video {name!r}, but {folder} holds {what} of that name.")
    return matches[0]


def _replace(built: Path, target: Path) -> None:
    """Move ``built`` onto ``target``, replacing an earlier output there."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    target.parent.mkdir(parents=True, exist_ok=True)
    built.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _blur(sigma: float | None, fwhm: float | None) -> float | None:
    """The Gaussian's σ in pixels from ``--sigma`` or ``--fwhm`` (None: the default, frame width / 30)."""
    if sigma is not None and fwhm is not None:
        raise CamError("Give --fwhm or --sigma, not both.")
    blur = sigma if sigma is not None else (fwhm / FWHM_PER_SIGMA if fwhm is not None else None)
    if blur is not None and not (math.isfinite(blur) and blur > 0):
        given = sigma if fwhm is None else fwhm
        raise CamError(f"The Gaussian's width must be a positive number of pixels, not {given}.")
    return blur


def _jobs(samples: Samples, samples_csv: str | Path, video: Path) -> list[tuple[str, Path, np.ndarray]]:
    """(video name in the CSV, video file, the samples' rows on it) for each video the CSV names."""
    if samples.video is None:
        if not video.is_file():
            raise CamError(f"--video {video} must be a video file (the CSV has no video column).")
        return [("", video, np.ones(samples.t.size, bool))]
    if not video.is_dir():
        raise CamError(f"The CSV has a video column, so --video must be a folder of videos, not {video}.")
    names = sorted(set(samples.video.tolist()) | set(samples.not_fixation) | set(samples.no_position))
    if "" in names:
        raise CamError(f"{samples_csv} has rows with an empty video name; every row must name its video.")
    return [(name, _find_video(video, name), samples.video == name) for name in names]


def make_fixations(samples_csv: str | Path, video: str | Path, out: str | Path, *, sigma: float | None = None,
                   fwhm: float | None = None, time_unit: str = "s",
                   progress: Callable[[int, int], None] | None = None) -> list[VideoReport]:
    """Read the samples, then write every video's fixation and density maps under ``out`` (module docstring).

    Everything is checked (columns, videos, timestamps) before anything is written; the maps are built in a
    hidden folder under ``out`` and moved into place at the end, so a failure leaves no half-written output.
    ``progress(done, total)`` is called as frames are written (counted over all videos).
    """
    blur = _blur(sigma, fwhm)
    samples = read_samples(samples_csv, time_unit=time_unit)
    video, out = Path(video), Path(out)
    if not out.parent.is_dir() or (out.exists() and not out.is_dir()):
        raise CamError(f"--out {out} must be a folder (it is created when its parent folder exists).")
    jobs = _jobs(samples, samples_csv, video)
    timing = {name: frame_times(path) for name, path, _ in jobs}
    stems = [path.stem for _, path, _ in jobs]
    if len(set(stems)) < len(stems):
        raise CamError(f"The CSV names videos that share a stem ({', '.join(sorted(stems))}); "
                       "their output folders would clash.")
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fixations-", dir=out) as tmp:
        reports = _write_videos(Path(tmp), samples, jobs, timing, blur, progress)
        _move_into_place(Path(tmp), out, samples, jobs)
        record = {"samples": str(samples_csv), "time_unit": time_unit,
                  "sigma_px": blur, "fwhm_px": None if blur is None else blur * FWHM_PER_SIGMA,
                  "default_sigma": "frame width / 30" if blur is None else None,
                  "layout": "fixations/frame_{k:05d}.png" if samples.video is None
                  else "fixations/<video>/frame_{k:05d}.png",
                  "videos": [asdict(report) for report in reports]}
        report_tmp = Path(tmp) / REPORT_NAME
        report_tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
        report_tmp.replace(out / REPORT_NAME)
    return reports


def _write_videos(tmp: Path, samples: Samples, jobs: list[tuple[str, Path, np.ndarray]],
                  timing: dict[str, FrameTimes], blur: float | None,
                  progress: Callable[[int, int], None] | None) -> list[VideoReport]:
    """Every video's maps written under ``tmp`` (in its own folder when the CSV has a video column)."""
    reports: list[VideoReport] = []
    total = sum(times.frames for times in timing.values())
    for name, path, rows in jobs:
        where = tmp / (path.stem if samples.video is not None else "")
        subject = None if samples.subject is None else samples.subject[rows]
        count = int(rows.sum()) + samples.not_fixation[name] + samples.no_position[name]
        before = sum(report.frames for report in reports)

        def step(k: int, before: int = before) -> None:
            if progress is not None:
                progress(before + k, total)

        reports.append(write_maps(where, path.stem if name else path.name, samples.t[rows], samples.x[rows],
                                  samples.y[rows], subject, timing[name],
                                  blur or default_sigma(timing[name].width), samples=count,
                                  not_fixation=samples.not_fixation[name],
                                  no_position=samples.no_position[name], progress=step))
    return reports


def _move_into_place(tmp: Path, out: Path, samples: Samples, jobs: list[tuple[str, Path, np.ndarray]]) -> None:
    """The subjects files, fixations and densities moved from ``tmp`` into ``out``."""
    if samples.subject is not None:
        (out / SUBJECTS_FOLDER).mkdir(exist_ok=True)
        for _, path, _ in jobs:
            where = tmp / (path.stem if samples.video is not None else "")
            (where / SUBJECTS_FILE).replace(out / SUBJECTS_FOLDER / f"{path.stem}.npz")
    for kind in ("fixations", "density"):
        if samples.video is None:
            _replace(tmp / kind, out / kind)
        else:
            for _, path, _ in jobs:
                _replace(tmp / path.stem / kind, out / kind / path.stem)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="python -m core.gaze.fixations",
                     description="Per-frame fixation maps and densities from eye-tracker samples (CSV).")
    parser.add_argument("samples", help="CSV with a header naming t, x, y (optionally subject, event, video)")
    parser.add_argument("--video", required=True,
                        help="the video the gaze was recorded on; a folder of videos when the CSV has a video column")
    parser.add_argument("--out", required=True, help="folder to write fixations/, density/ and fixations.json to")
    parser.add_argument("--fwhm", type=float, default=None, help="full width at half maximum of the blur, in pixels")
    parser.add_argument("--sigma", type=float, default=None, help="σ of the blur in pixels (default: width / 30)")
    parser.add_argument("--time-unit", default="s", choices=tuple(TIME_UNITS),
                        help="unit of the t column (default s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    bars: list = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="frame", desc="writing maps", file=sys.stderr, leave=False))
        bars[0].update(done - bars[0].n)

    def action() -> int:
        args = build_parser().parse_args(argv)
        try:
            reports = make_fixations(args.samples, args.video, args.out, sigma=args.sigma, fwhm=args.fwhm,
                                     time_unit=args.time_unit, progress=progress)
        finally:
            for bar in bars:
                bar.close()
        for report in reports:
            print(report.line())
        print(f"wrote {Path(args.out) / 'fixations'} and {Path(args.out) / 'density'} ({REPORT_NAME} beside them)")
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
