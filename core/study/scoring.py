"""Every run and baseline scored on every video: maps brought to the scoring grid, then scored as stacks.

Two passes over the videos. The first reads each video's gaze once (over the frames any run saw) and keeps
what the other videos need from it: its fixated pixels and its clip density (the sAUC negatives and the
``others`` baseline). The second reads each video's heatmap files and scores the clip and every frame of every
run and baseline in one :func:`core.saliency.score_maps` call per run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core import demo_data
from core.errors import CamError
from core.gaze import GazeMaps, read_gaze
from core.gaze.fixations import default_sigma
from core.gaze.inputs import fixations_output, is_numbering_note, merge_numbering_notes, subfolders
from core.gaze.scores import Region, parse_region
from core.gaze.subjects import Subjects, read_subjects
from core.geometry import Box, gaze_to_crop, heatmap_to_source, points_in_window
from core.result import constant_maps, constant_note
from core.saliency import ALL_METRICS, Protocol, center_bias, clip_saliency, score_maps, seed_of
from core.study.baselines import center_log_likelihood, fitted_sigmas, leave_one_out
from core.study.inputs import ALL_BASELINES, BASELINES, Clip, Run, find_gaze, find_run, gaze_window, read_clip

Progress = Callable[[int, int, str], None]
_KEEP_BYTES = 1 << 30  # gaze maps kept between the passes up to this much; beyond, read again


@dataclass(frozen=True)
class StudySpec:
    """What to compare: named runs (batch output folders), the gaze (and density) folder, how to score."""

    runs: tuple[tuple[str, Path], ...]
    gaze: Path
    density: Path | None = None
    region: Region = Region.CROP  # a text is parsed on construction (a CamError names a wrong one)
    baselines: tuple[str, ...] = BASELINES
    start_index: int | None = None
    protocol: Protocol = Protocol.EXACT
    subjects: Path | None = None  # folder of <video>.npz per-subject fixations (core.gaze.subjects): human bound
    emd: bool = False  # also score EMD (the MIT benchmark's; slow: an optimal transport per map)
    keep_constant: bool = False  # also score heatmaps constant in every frame (no saliency: left out by default)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric columns of the study: every one of :data:`core.saliency.ALL_METRICS`, information gain
        under ``mit`` (over the fitted centre bias), EMD when asked for."""
        return (*ALL_METRICS, *(("IG",) if self.protocol == Protocol.MIT else ()), *(("EMD",) if self.emd else ()))

    def __post_init__(self) -> None:
        object.__setattr__(self, "region", parse_region(self.region))

    @classmethod
    def demo(cls, region: Region | str = "crop") -> StudySpec:
        """The demo study (:mod:`core.demo_data`, built at first use): the two demo models, one trained with the
        localization term and one on labels alone, against the demo gaze (with each observer's fixations, when
        core.gaze.fixations wrote them), with the default baselines."""
        gaze = demo_data.gaze()
        fixations, density, _ = fixations_output(gaze)
        subjects = gaze / "subjects"
        return cls(tuple((model.name, demo_data.batch(model)) for model in demo_data.MODELS), Path(fixations),
                   None if density is None else Path(density), parse_region(region),
                   subjects=subjects if subjects.is_dir() else None)


@dataclass
class VideoGaze:
    """One video's gaze over the study's frames, and what the other videos need from it."""

    name: str
    fixations: Path
    density: Path | None
    frames: list[int] | None  # frames with gaze (per-frame gaze) that some run saw; None: one map per clip
    size: tuple[int, int]  # (width, height) of the gaze maps
    points: tuple[np.ndarray, np.ndarray]  # (x, y) of the clip's fixated pixels: the union over ``frames``
    spread: np.ndarray  # float64 [h, w]: the clip density (else the fixations blurred), summing to 1
    frame_points: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # per frame (mit sAUC)
    maps: tuple[GazeMaps, GazeMaps | None] | None = None  # kept from the first pass when small enough


@dataclass
class StudyScores:
    """Score rows of every run and baseline, and what was left out and why."""

    runs: list[str]  # the runs, then the baselines, in table order
    baselines: list[str]
    videos: list[str]  # videos scored (in some run, with gaze)
    rows: list[dict]  # {run, video, class, frame ('' for the clip), metric: value, ...}
    missing: dict[str, list[str]]  # run name -> its videos not in it; "gaze" -> videos without a gaze entry
    notes: list[str]
    classes: dict[str, str]  # video -> class
    sources: dict[str, dict[str, str]]  # run -> video -> heatmap txt
    windows: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # run -> video -> window (gaze px)
    protocol: Protocol = Protocol.EXACT
    metrics: tuple[str, ...] = ALL_METRICS  # the metric columns of the rows
    center_sigmas: dict[str, float] = field(default_factory=dict)  # video -> σ fraction of center_fit
    constant: dict[str, list[str]] = field(default_factory=dict)  # run -> videos whose map is constant (not scored)
    gaze_only: list[str] = field(default_factory=list)  # gaze entries of videos that are in no run

    def frames_scored(self) -> dict[str, dict[str, int]]:
        """Run -> video -> how many frames were scored on their own (per-frame gaze: every frame that has both a
        heatmap and gaze, all frames of a whole-video run); 0 where the gaze is one map per clip."""
        counts: dict[str, dict[str, int]] = {run: {} for run in self.runs}
        for row in self.rows:
            per_run = counts.setdefault(row["run"], {})
            per_run[row["video"]] = per_run.get(row["video"], 0) + (row.get("frame") not in ("", None))
        return counts


def center_map(shape: tuple[int, int]) -> np.ndarray:
    """The ``center`` baseline: a Gaussian centred on an ``(H, W)`` grid, σx = W/4, σy = H/4 (pixel centres)."""
    return center_bias(shape)


def _scaled_points(points: tuple[np.ndarray, np.ndarray], source: tuple[int, int],
                   target: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates on a ``source`` (w, h) grid scaled to ``target``: floor(x·W/W'), floor(y·H/H')."""
    xs, ys = points
    return xs * target[0] // source[0], ys * target[1] // source[1]


@dataclass(frozen=True)
class Grid:
    """Where a video's maps are scored: an ``(H, W)`` grid over a window of the gaze frame (``crop``), or the
    gaze frame itself."""

    shape: tuple[int, int]
    box: Box  # the window in gaze pixels
    crop: bool


class _VideoScorer:
    """The maps of one video on the scoring grids, made once and shared by the runs that use the same grid."""

    def __init__(self, gaze: VideoGaze, others: list[VideoGaze], maps: tuple[GazeMaps, GazeMaps | None],
                 center_sigma: float = 0.25):
        self.gaze, self.others = gaze, others
        self.fixations, self.density = maps
        self.center_sigma = center_sigma  # of center_fit, chosen on the other videos
        self.cache: dict[tuple, object] = {}

    def frames_of(self, seen: list[int] | None) -> list[int | None]:
        """The gaze frames a clip is scored on: those of its frames that have gaze (the clip map alone
        without per-frame gaze)."""
        if self.gaze.frames is None:
            return [None]
        if seen is None:
            return list(self.gaze.frames)
        have = set(self.gaze.frames)
        return [f for f in seen if f in have]

    def _map(self, maps: GazeMaps, frame: int | None) -> np.ndarray:
        found = maps.image if frame is None else maps.at(frame)
        assert found is not None  # the study frames are those with gaze
        return found

    def gaze_on(self, grid: Grid) -> tuple[np.ndarray, np.ndarray | None, list[int | None]]:
        """Fixations (bool) and densities of the study frames on ``grid``: ``[F, H, W]`` each, and the frames."""
        key = ("gaze", grid)
        if key not in self.cache:
            frames = self.frames_of(None)
            fix = [self._map(self.fixations, f) for f in frames]
            dens = None if self.density is None else [self._map(self.density, f) for f in frames]
            if grid.crop:  # cut before stacking: full-size gaze frames are never stacked or copied
                fix_stack = np.stack([gaze_to_crop(m, grid.box, grid.shape, binary=True) for m in fix])
                dens_stack = None if dens is None else gaze_to_crop(np.stack(dens), grid.box, grid.shape,
                                                                    binary=False)
            else:
                fix_stack = np.stack(fix)
                dens_stack = None if dens is None else np.stack(dens).astype(np.float64)
            self.cache[key] = (fix_stack.astype(bool), dens_stack, frames)
        return self.cache[key]  # type: ignore[return-value]

    def negatives(self, grid: Grid) -> np.ndarray | None:
        """How often each grid pixel is fixated in the other videos (their clip fixations scaled to this
        video's gaze frame, then, for a crop, moved into the window); None when there is none."""
        key = ("negatives", grid)
        if key not in self.cache:
            size = self.gaze.size
            xs, ys = [], []
            for other in self.others:
                sx, sy = _scaled_points(other.points, other.size, size)
                xs.append(sx)
                ys.append(sy)
            x = np.concatenate(xs) if xs else np.zeros(0, np.int64)
            y = np.concatenate(ys) if ys else np.zeros(0, np.int64)
            if grid.crop:
                x, y = points_in_window(x, y, grid.box, grid.shape)
            counts = np.bincount(y * grid.shape[1] + x, minlength=grid.shape[0] * grid.shape[1])
            self.cache[key] = counts.reshape(grid.shape) if counts.any() else None
        return self.cache[key]  # type: ignore[return-value]

    def drawn_negatives(self, grid: Grid, labels: list[int | str]) -> np.ndarray:
        """``[len(labels), H, W]`` count maps of the ``mit`` sAUC negatives, as DHF1K's evaluationFunc.m draws
        them: for a frame, the fixations of 10 frames drawn at random (without replacement) from the other
        videos' frames that have fixations (DHF1K draws from its whole test set, where another video is all but
        certain; drawing from this video too would, in a study of a few videos, take the positives' own
        neighbours as negatives); for the clip row (label ``""``), the clip fixations of 10 other videos. Seeded
        by the video and the label: every run meets the same negatives."""
        key = ("drawn", grid, tuple(labels))
        if key not in self.cache:
            frames: list[tuple[VideoGaze, int | None]] = [
                (o, f) for o in self.others for f, pts in sorted(o.frame_points.items()) if pts[0].size]
            frames += [(o, None) for o in self.others if not o.frame_points and o.points[0].size]
            clips: list[tuple[VideoGaze, int | None]] = [(o, None) for o in self.others if o.points[0].size]
            maps = np.zeros((len(labels), *grid.shape))
            for i, label in enumerate(labels):
                pool = clips if label == "" else frames
                if not pool:
                    continue
                rng = np.random.default_rng(seed_of(self.gaze.name, label, "sAUC"))
                for pick in rng.choice(len(pool), min(10, len(pool)), replace=False):
                    other, frame = pool[int(pick)]
                    points = other.points if frame is None else other.frame_points[frame]
                    x, y = _scaled_points(points, other.size, self.gaze.size)
                    if grid.crop:
                        x, y = points_in_window(x, y, grid.box, grid.shape)
                    np.add.at(maps[i], (y, x), 1.0)
            self.cache[key] = maps
        return self.cache[key]  # type: ignore[return-value]

    def center_fit_map(self, grid: Grid) -> np.ndarray:
        """The ``center_fit`` baseline on ``grid`` (:mod:`core.study.baselines`)."""
        return center_bias(grid.shape, self.center_sigma)

    def others_map(self, grid: Grid) -> np.ndarray | None:
        """The ``others`` baseline on ``grid``: the mean of the other videos' clip densities (each summing to 1,
        at this video's gaze size)."""
        key = ("others", grid)
        if key not in self.cache:
            width, height = self.gaze.size
            total = np.zeros((height, width))
            for other in self.others:
                spread = other.spread
                if spread.shape != (height, width):
                    spread = cv2.resize(spread, (width, height), interpolation=cv2.INTER_AREA)
                    spread = spread / spread.sum()
                total += spread
            mean = total / len(self.others) if self.others else None
            if mean is not None and grid.crop:
                mean = gaze_to_crop(mean, grid.box, grid.shape, binary=False)
            self.cache[key] = mean
        return self.cache[key]  # type: ignore[return-value]


def _scorable(fix: np.ndarray, dens: np.ndarray | None) -> np.ndarray:
    """Per map of ``[F, H, W]``: some pixel fixated, not all, and a density that is not constant."""
    flat = fix.reshape(len(fix), -1)
    ok = np.asarray(flat.any(axis=1) & ~flat.all(axis=1))
    if dens is not None:
        values = dens.reshape(len(dens), -1)
        ok &= values.max(axis=1) > values.min(axis=1)
    return ok


@dataclass
class _VideoResult:
    """What scoring one video gives; merged into :class:`StudyScores` in video order."""

    label: str
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    windows: dict[str, list[float]] = field(default_factory=dict)
    constant: list[str] = field(default_factory=list)  # runs whose map of this video is constant (not scored)


def _add_notes(notes: list[str], more: list[str]) -> None:
    notes.extend(note for note in more if note not in notes)


def _frames_with_gaze(video: str, fixations: GazeMaps, density: GazeMaps | None,
                      frames: set[int] | None) -> list[int] | None:
    """The frames (of ``frames``, else every frame) with a fixation map and a density when the gaze is per
    frame; None when it is one map per clip."""
    if not (fixations.per_frame or (density is not None and density.per_frame)):
        return None
    have = sorted(f for f in (frames if frames is not None else fixations.frames)
                  if fixations.at(f) is not None and (density is None or density.at(f) is not None))
    if not have:
        raise CamError(f"None of the frames the runs saw of {video} has a gaze map in "
                       f"{fixations.source}; check the frame numbers (--start-index).")
    return have


def _clip_spread(clip_fix: np.ndarray, fixations: GazeMaps, density: GazeMaps | None,
                 have: list[int] | None) -> np.ndarray:
    """The clip density over ``have`` (else the clip fixations blurred with the default σ), summing to 1."""
    spread: np.ndarray
    if density is not None:
        spread = np.asarray(density.combined(have) if have is not None else density.image, np.float64)
    else:
        spread = cv2.GaussianBlur(np.asarray(clip_fix, np.float64), (0, 0), default_sigma(fixations.size[0]),
                                  borderType=cv2.BORDER_CONSTANT)
    if spread.sum() > 0:
        spread = spread / spread.sum()
    return spread


def _frame_points(fixations: GazeMaps, frames: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(x, y) of each frame's fixated pixels."""
    points: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for frame in frames:
        found = fixations.at(frame)
        fy, fx = np.nonzero(found) if found is not None else (np.zeros(0, np.int64),) * 2
        points[frame] = (fx.astype(np.int64), fy.astype(np.int64))
    return points


class Study:
    """Runs the study of a :class:`StudySpec` (see :func:`run_study`): videos are read and scored on a few
    threads (numpy releases the GIL), results merged in video order on the calling thread, which is also the
    one that reports progress."""

    def __init__(self, spec: StudySpec, progress: Progress | None = None, workers: int | None = None):
        unknown = [b for b in spec.baselines if b not in ALL_BASELINES]
        if unknown:
            raise CamError(f"Unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(ALL_BASELINES)}.")
        if "human" in spec.baselines and (spec.subjects is None or not Path(spec.subjects).is_dir()):
            raise CamError("The human baseline needs each observer's fixations: pass --subjects, the subjects/ "
                           "folder python -m core.gaze.fixations writes from samples with a subject column.")
        if not spec.runs:
            raise CamError("Give at least one run (--run NAME=BATCH_DIR).")
        names = [name for name, _ in spec.runs]
        if len(set(names)) < len(names):
            raise CamError(f"Run names must differ: {', '.join(names)}.")
        for folder, what in ((spec.gaze, "--gaze"), (spec.density, "--density")):
            if folder is not None and not Path(folder).is_dir():
                raise CamError(f"{what} {folder} must be a folder with one gaze entry per video (named like it).")
        self.spec, self.progress = spec, progress
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.workers = workers or min(4, cores)
        self.runs: list[Run] = [find_run(name, folder) for name, folder in spec.runs]
        self.notes: list[str] = []
        self.numbering: list[str] = []  # the per-frame gaze folders' numbering notes, said merged at the end
        for run in self.runs:
            _add_notes(self.notes, list(run.notes))  # heatmap files left out (several for one video)

    def _step(self, done: int, total: int, message: str) -> None:
        if self.progress is not None:
            self.progress(done, total, message)

    def _videos(self) -> tuple[list[str], dict[str, list[str]]]:
        """The videos to score (in some run, with gaze) and what is missing where."""
        every = sorted(set().union(*(run.files for run in self.runs)))
        without = [v for v in every if self._entry(v, self.spec.gaze) is None]
        videos = [v for v in every if v not in without]
        missing = {run.name: [v for v in videos if v not in run.files] for run in self.runs}
        missing["gaze"] = without
        if not videos:
            raise CamError(f"No video of the runs has a gaze entry in {self.spec.gaze} (matched by video name)"
                           f"{subfolders(self.spec.gaze)}.")
        common = [v for v in videos if all(v in run.files for run in self.runs)]
        if not common:
            raise CamError("The runs have no video in common that has gaze; a study compares runs on the same "
                           "videos (matched by the video's name).")
        return videos, missing

    def _left_out_notes(self, scores: StudyScores) -> None:
        """Say what was not scored: each run's constant maps, and the videos with gaze in no run."""
        for name, left_out in scores.constant.items():
            if left_out:
                _add_notes(self.notes, [f"run {name}: {constant_note(left_out)}"])
        if scores.gaze_only:
            _add_notes(self.notes, [f"{len(scores.gaze_only)} videos have gaze but are in no run: "
                                    f"{', '.join(scores.gaze_only[:8])}" + (" …" if len(scores.gaze_only) > 8 else "")])

    def _gaze_only(self) -> list[str]:
        """Videos with a gaze entry that no run explained (named like the entry: a file's stem, a folder's name)."""
        every = set().union(*(run.files for run in self.runs))
        entries = {p.name if p.is_dir() else p.stem for p in self.spec.gaze.iterdir() if not p.name.startswith(".")}
        return sorted(entries - every - {Path(t).stem for run in self.runs for t in map(str, run.files.values())})

    def _entry(self, video: str, folder: Path) -> Path | None:
        txt = next((run.files[video] for run in self.runs if video in run.files), None)
        return find_gaze(folder, video, txt)

    def _read_gaze(self, video: str, frames: set[int] | None
                   ) -> tuple[GazeMaps, GazeMaps | None, list[str]]:
        entry = self._entry(video, self.spec.gaze)
        assert entry is not None
        fixations = read_gaze(entry, fixations=True, frames=frames, start_index=self.spec.start_index)
        density = None
        if self.spec.density is not None:
            dens_entry = self._entry(video, self.spec.density)
            if dens_entry is None:
                raise CamError(f"{self.spec.density} has no density for {video}; give every video a density "
                               "or none.")
            density = read_gaze(dens_entry, fixations=False, frames=frames, start_index=self.spec.start_index)
            if density.size != fixations.size:
                raise CamError(f"The density of {video} is {density.size[0]}×{density.size[1]} but its fixation "
                               f"maps are {fixations.size[0]}×{fixations.size[1]}; they must have the same size.")
        notes = [*fixations.notes, *(density.notes if density is not None else [])]
        return fixations, density, notes

    def _gaze_of(self, video: str) -> tuple[VideoGaze, tuple[GazeMaps, GazeMaps | None], list[str]]:
        """First pass, one video: its gaze over the frames the runs saw, its fixated pixels and clip density."""
        frames = self._frames_seen(video)
        fixations, density, notes = self._read_gaze(video, frames)
        have = _frames_with_gaze(video, fixations, density, frames)
        clip_fix = fixations.combined(have) if have is not None else fixations.image
        assert clip_fix is not None
        ys, xs = np.nonzero(clip_fix)
        gaze = VideoGaze(video, Path(fixations.source), None if density is None else Path(density.source),
                         have, fixations.size, (xs.astype(np.int64), ys.astype(np.int64)),
                         _clip_spread(clip_fix, fixations, density, have))
        if self.spec.protocol == Protocol.MIT and have is not None:  # each frame's fixations: sAUC negatives
            gaze.frame_points.update(_frame_points(fixations, have))
        return gaze, (fixations, density), notes

    def _frames_seen(self, video: str) -> set[int] | None:
        """The frames of ``video`` some run saw; None when a run does not say (then every frame)."""
        seen = [run.seen.get(video) for run in self.runs if video in run.files]
        return None if any(s is None for s in seen) else {int(f) for s in seen for f in s or []}

    def _merge_gaze_notes(self, notes: list[str]) -> None:
        for note in notes:
            if is_numbering_note(note):  # said once per first number at the end, not once per folder
                self.numbering.append(note)
            else:
                _add_notes(self.notes, [note])

    def run(self) -> StudyScores:
        from concurrent.futures import ThreadPoolExecutor

        videos, missing = self._videos()
        self._note_missing(videos, missing)
        with ThreadPoolExecutor(self.workers) as pool:
            each = pool.map if self.workers > 1 else map  # one worker: all on this thread
            gazes = self._read_gazes(videos, each)
            baselines = self._usable_baselines(gazes)
            scores = StudyScores([r.name for r in self.runs] + baselines, baselines, videos, [], missing, self.notes,
                                 {}, {r.name: {} for r in self.runs}, {r.name: {} for r in self.runs},
                                 self.spec.protocol, self.spec.metrics, constant={r.name: [] for r in self.runs},
                                 gaze_only=self._gaze_only())
            if "center_fit" in baselines or self.spec.protocol == Protocol.MIT:
                scores.center_sigmas = fitted_sigmas({name: center_log_likelihood(*g.points, g.size)
                                                      for name, g in gazes.items()})
            sigmas = scores.center_sigmas
            results = each(lambda video: self._score_video(video, gazes, baselines, sigmas.get(video, 0.25)),
                           videos)
            for i, (video, result) in enumerate(zip(videos, results, strict=True)):
                gazes[video].maps = None  # scored: its maps are no longer needed
                self._collect(scores, video, result)
                self._step(len(videos) + i + 1, 2 * len(videos), f"scored {video}")
        self._left_out_notes(scores)
        self.notes.extend(merge_numbering_notes(sorted(self.numbering)))  # sorted: workers finish in any order
        return scores

    def _note_missing(self, videos: list[str], missing: dict[str, list[str]]) -> None:
        """Say which videos a run or the gaze lacks (never dropped silently)."""
        for run in self.runs:
            if missing[run.name]:
                self.notes.append(f"run {run.name} lacks {len(missing[run.name])} of the {len(videos)} videos "
                                  f"with gaze: {', '.join(missing[run.name][:8])}"
                                  + (" …" if len(missing[run.name]) > 8 else ""))
        if missing["gaze"]:
            self.notes.append(f"{len(missing['gaze'])} videos have no gaze entry in {self.spec.gaze} and are not "
                              f"scored: {', '.join(missing['gaze'][:8])}" + (" …" if len(missing["gaze"]) > 8 else ""))

    def _read_gazes(self, videos: list[str], each: Callable) -> dict[str, VideoGaze]:
        """Every video's gaze (first pass); its maps are kept while they fit :data:`_KEEP_BYTES`, else read
        again when the video is scored."""
        gazes: dict[str, VideoGaze] = {}
        kept, total = 0, 2 * len(videos)
        self._step(0, total, "reading the gaze")
        for i, (gaze, maps, notes) in enumerate(each(self._gaze_of, videos)):
            self._merge_gaze_notes(notes)
            size = sum(m.nbytes for one in maps if one is not None
                       for m in ([one.image] if one.image is not None else one.frames.values()))
            if kept + size <= _KEEP_BYTES:  # else read again in the second pass
                gaze.maps, kept = maps, kept + size
            gazes[gaze.name] = gaze
            self._step(i + 1, total, f"read the gaze of {gaze.name}")
        return gazes

    def _usable_baselines(self, gazes: dict[str, VideoGaze]) -> list[str]:
        """The asked-for baselines this gaze allows (``others`` needs gaze on two videos), with notes."""
        baselines = list(self.spec.baselines)
        if "others" in baselines and len([g for g in gazes.values() if g.spread.sum() > 0]) < 2:
            baselines.remove("others")
            self.notes.append("the others baseline needs gaze on at least two videos; it is left out")
        if len([g for g in gazes.values() if g.points[0].size]) < 2:
            self.notes.append("sAUC needs fixations on at least two videos (the negatives are the other "
                              "videos' fixations); it is left empty")
        return baselines

    def _collect(self, scores: StudyScores, video: str, result: _VideoResult) -> None:
        """Add one scored video to ``scores``."""
        scores.rows += result.rows
        scores.classes[video] = result.label
        for name in result.constant:
            scores.constant[name].append(video)
        for name, path in result.sources.items():
            scores.sources[name][video] = path
            scores.windows[name][video] = result.windows[name]
        _add_notes(self.notes, result.notes)

    def _score_video(self, video: str, gazes: dict[str, VideoGaze], baselines: list[str],
                     center_sigma: float = 0.25) -> _VideoResult:
        gaze = gazes[video]
        scorer = _VideoScorer(gaze, [g for name, g in gazes.items() if name != video], self._maps_of(gaze),
                              center_sigma)
        clips = [(run, read_clip(run.files[video])) for run in self.runs if video in run.files]
        result = _VideoResult(next((c.gt_label for _, c in clips if c.gt_label), "") or clips[0][1].target_label)
        if not self.spec.keep_constant:
            result.constant = [run.name for run, clip in clips if constant_maps(clip.heatmaps).all()]
            clips = [(run, clip) for run, clip in clips if run.name not in result.constant]
        first_grid = self._score_runs(video, scorer, clips, result)
        if self.spec.region is Region.CROP and len({tuple(np.round(w, 1)) for w in result.windows.values()}) > 1:
            result.notes.append(f"{video}: the runs saw different windows, so in crop mode each is scored on its own; "
                                f"the baselines use {clips[0][0].name}'s (--region frame compares all on the same "
                                "pixels)")
        if first_grid is not None:  # no run scored this video: the baselines are not scored on it either
            self._score_baselines(video, scorer, first_grid, baselines, result)
        return result

    def _maps_of(self, gaze: VideoGaze) -> tuple[GazeMaps, GazeMaps | None]:
        """The gaze maps of one video: kept from the first pass, else read again."""
        if gaze.maps is not None:
            return gaze.maps
        fixations, density, _ = self._read_gaze(gaze.name, None if gaze.frames is None else set(gaze.frames))
        return fixations, density

    def _score_runs(self, video: str, scorer: _VideoScorer, clips: list[tuple[Run, Clip]],
                    result: _VideoResult) -> Grid | None:
        """Score each run's clip of ``video`` into ``result``; the first run's scoring grid (None without runs)."""
        first_grid = None
        for run, clip in clips:
            grid = self._grid(clip, scorer.gaze, result.notes)
            first_grid = first_grid or grid
            result.sources[run.name] = clip.path
            result.windows[run.name] = [round(v, 3) for v in grid.box]
            frames = scorer.frames_of(clip.seen)
            if not frames:
                result.notes.append(f"{run.name}, {video}: none of the frames it saw has gaze; not scored")
                continue
            saliency = self._saliency(clip, grid, scorer.gaze, frames)
            self._score(run.name, video, scorer, grid, saliency, frames, result)
        return first_grid

    def _score_baselines(self, video: str, scorer: _VideoScorer, grid: Grid, baselines: list[str],
                         result: _VideoResult) -> None:
        """Score each baseline of ``video`` into ``result``, on ``grid`` (the first run's)."""
        for name in baselines:
            frames = scorer.frames_of(None)
            if name == "human":
                self._score_human(video, scorer, grid, frames, result)
                continue
            base = center_map(grid.shape) if name == "center" else scorer.center_fit_map(grid) \
                if name == "center_fit" else scorer.others_map(grid)
            if base is None:
                continue
            stack = np.broadcast_to(base, (len(frames) + 1, *grid.shape)) if frames != [None] else base[None]
            self._score(name, video, scorer, grid, stack, frames, result)

    def _grid(self, clip: Clip, gaze: VideoGaze, notes: list[str]) -> Grid:
        box = gaze_window(clip, gaze.size, notes)
        if self.spec.region is Region.CROP:
            return Grid(tuple(clip.heatmaps.shape[-2:]), box, True)
        return Grid((gaze.size[1], gaze.size[0]), box, False)

    def _saliency(self, clip: Clip, grid: Grid, gaze: VideoGaze, frames: list[int | None]) -> np.ndarray:
        """``[1 + F, H, W]`` on the grid: the clip saliency, then each frame's heatmap (mean over views)
        (only the clip's when the gaze is one map per clip)."""
        maps = [clip_saliency(clip.heatmaps)]
        if frames != [None] and clip.frame_indices is not None:
            maps += [clip.heatmaps[clip.frame_indices == f].mean(axis=0) for f in frames]
        if not grid.crop:
            maps = [heatmap_to_source(m, gaze.size, grid.box)[0] for m in maps]
        return np.stack(maps).astype(np.float64)

    def _score(self, run: str, video: str, scorer: _VideoScorer, grid: Grid, saliency: np.ndarray,
               frames: list[int | None], result: _VideoResult) -> None:
        fix_all, dens_all, study_frames = scorer.gaze_on(grid)
        rows = [study_frames.index(f) for f in frames]
        fix, dens = fix_all[rows], None if dens_all is None else dens_all[rows]
        clip_fix = np.asarray(fix.any(axis=0))[None]
        clip_dens = None if dens is None else dens.mean(axis=0)[None]
        per_frame = frames != [None] and len(saliency) > 1
        fix = np.concatenate([clip_fix, fix]) if per_frame else clip_fix
        dens = None if dens is None else (np.concatenate([clip_dens, dens]) if per_frame else clip_dens)
        saliency = saliency[: len(fix)]
        ok = _scorable(fix, dens)
        if not ok[0]:
            where = " inside the window the model saw (use --region frame)" if grid.crop else ""
            result.notes.append(f"{run}, {video}: the gaze has no fixated pixel{where}, only fixated pixels, or a "
                                "constant density; not scored")
            return
        if per_frame and not ok[1:].all():
            empty = [f for f, good in zip(frames, ok[1:], strict=True) if not good]
            result.notes.append(f"{run}, {video}: {len(empty)} of its {len(frames)} frames have no fixation to score"
                                f"{' in the window' if grid.crop else ''}; they are left out of the per-frame scores")
        labels: list[int | str] = ["", *frames[:len(fix) - 1]] if per_frame else [""]  # type: ignore[list-item]
        kept = [label for label, good in zip(labels, ok, strict=True) if good]
        values = self._values(video, scorer, grid, saliency[ok], fix[ok], None if dens is None else dens[ok], kept)
        self._rows(run, video, kept, values, result)

    def _values(self, video: str, scorer: _VideoScorer, grid: Grid, saliency: np.ndarray, fix: np.ndarray,
                dens: np.ndarray | None, labels: list[int | str]) -> dict[str, np.ndarray]:
        """Every metric of the study on scorable maps ``[N, H, W]`` (row ``i`` is the clip for label ``""``,
        else frame ``labels[i]``), under the study's protocol: under ``mit`` each row's random draws are seeded
        by the video and the row (every run meets the same ones), sAUC's negatives drawn per row and
        information gain measured over the fitted centre bias."""
        if self.spec.protocol == Protocol.MIT:
            negatives: np.ndarray | None = scorer.drawn_negatives(grid, labels)
            metrics = [m for m in self.spec.metrics if m != "sAUC" or any(o.points[0].size for o in scorer.others)]
            return score_maps(saliency, fix, density=dens, metrics=metrics, other_fixations=negatives,
                              rng=[seed_of(video, label) for label in labels], protocol=Protocol.MIT,
                              baseline=scorer.center_fit_map(grid))
        negatives = scorer.negatives(grid)
        metrics = [m for m in self.spec.metrics if m != "sAUC" or negatives is not None]
        return score_maps(saliency, fix, density=dens, metrics=metrics, other_fixations=negatives)

    def _rows(self, run: str, video: str, labels: list[int | str], values: dict[str, np.ndarray],
              result: _VideoResult) -> None:
        for j, frame in enumerate(labels):
            row: dict[str, object] = {"run": run, "video": video, "class": result.label, "frame": frame}
            row.update({m: float(values[m][j]) if m in values else float("nan") for m in self.spec.metrics})
            result.rows.append(row)

    def _score_human(self, video: str, scorer: _VideoScorer, grid: Grid, frames: list[int | None],
                     result: _VideoResult) -> None:
        """The ``human`` bound (:mod:`core.study.baselines`): each subject's fixations against the other
        subjects' density, on the same grid, frames and metrics as the runs; per row the mean over subjects."""
        subjects = self._subjects_to_score(video, scorer, result)
        if subjects is None:
            return
        per_frame = frames != [None]
        wanted = [f for f in frames if f is not None] if per_frame else sorted({int(f) for f in subjects.frame})
        labels: list[int | str] = ["", *wanted] if per_frame else [""]
        sums, counts = self._human_sums(video, scorer, grid, leave_one_out(subjects, wanted), per_frame, labels)
        if not sums:
            result.notes.append(f"human, {video}: fewer than two subjects with fixations to score; not scored")
            return
        scored = next(iter(counts.values())) > 0
        means = {name: np.divide(sums[name], counts[name], out=np.full(len(labels), np.nan),
                                 where=counts[name] > 0)[scored] for name in sums}
        self._rows("human", video, [label for label, good in zip(labels, scored, strict=True) if good], means, result)

    def _subjects_to_score(self, video: str, scorer: _VideoScorer, result: _VideoResult) -> Subjects | None:
        """The subjects of ``video`` when they can be scored, else None with a note saying why not."""
        subjects = self._subjects(video)
        if subjects is None:
            result.notes.append(f"human, {video}: no subjects file {video}.npz in {self.spec.subjects}; not scored")
            return None
        if subjects.size != scorer.gaze.size:
            result.notes.append(f"human, {video}: the subjects file is for a {subjects.size[0]}×{subjects.size[1]} "
                                f"frame, the gaze maps are {scorer.gaze.size[0]}×{scorer.gaze.size[1]}; not scored")
            return None
        return subjects

    def _human_sums(self, video: str, scorer: _VideoScorer, grid: Grid,
                    subjects: Iterable[tuple[str, np.ndarray, np.ndarray, np.ndarray]], per_frame: bool,
                    labels: list[int | str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Per metric, the sum over ``subjects`` (:func:`core.study.baselines.leave_one_out`) of each row's score
        and the number of subjects scored on it."""
        dens = self.spec.density is not None
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, np.ndarray] = {}
        for _, fix, own, others in subjects:
            if not per_frame:
                fix, own, others = fix[:1], own[:1], others[:1]
            if grid.crop:
                fix = np.stack([gaze_to_crop(m, grid.box, grid.shape, binary=True) for m in fix.astype(np.uint8)])
                own = gaze_to_crop(own, grid.box, grid.shape, binary=False)
                others = gaze_to_crop(others, grid.box, grid.shape, binary=False)
            ok = _scorable(fix, own if dens else None)
            if not ok.any():
                continue
            kept = [label for label, good in zip(labels, ok, strict=True) if good]
            values = self._values(video, scorer, grid, others[ok], fix[ok], own[ok] if dens else None, kept)
            for name, got in values.items():
                full = np.full(len(labels), np.nan)
                full[ok] = got
                sums[name] = sums.get(name, np.zeros(len(labels))) + np.nan_to_num(full)
                counts[name] = counts.get(name, np.zeros(len(labels))) + np.isfinite(full)
        return sums, counts

    def _subjects(self, video: str) -> Subjects | None:
        folder = self.spec.subjects
        path = None if folder is None else folder / f"{video}.npz"
        return read_subjects(path) if path is not None and path.is_file() else None


def run_study(spec: StudySpec, progress: Progress | None = None, workers: int | None = None) -> StudyScores:
    """Score every run and baseline of ``spec`` on every video (see :mod:`core.study`).

    ``progress(done, total, message)`` is called, on the calling thread, as videos are read and scored;
    ``workers`` threads do the work (default: the CPU cores, at most 4)."""
    return Study(spec, progress, workers).run()
