"""Heatmaps scored against gaze: clip and per-frame scores, batch folders, per-class summaries, CSV rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from core import access
from core.errors import CamError, parse_choice
from core.formats.sidecar import sidecar_path
from core.formats.txt import is_heatmap_text
from core.gaze.inputs import (
    GazeMaps,
    blurred,
    fixations_output,
    frame_list,
    merge_numbering_notes,
    read_gaze,
    read_heatmaps,
    subfolders,
)
from core.geometry import Box, Windows, gaze_to_crop, heatmap_to_source
from core.outputs import atomic_path
from core.result import ExplainResult, constant_note
from core.saliency import BETTER, REGISTRY, Protocol, center_bias, check_protocols, clip_saliency, score, seed_of


class Region(StrEnum):
    """Where heatmaps and gaze are compared: ``crop``, in the window the model saw at the heatmap's resolution;
    ``frame``, over the whole gaze frame (the heatmap placed in its window). The values are the command line's
    and the CSV's."""

    CROP = "crop"
    FRAME = "frame"


REGIONS = tuple(Region)


def parse_region(value: Region | str) -> Region:
    """The :class:`Region` a user named (``--region``, a page's radio, a spec); a CamError for anything else."""
    return parse_choice(Region, value, "region must be 'crop' or 'frame', not {value!r}.")


DISTRIBUTION_METRICS = tuple(name for name, metric in REGISTRY.items() if metric.needs_density)
"""Compared with the density, else with the fixation map itself (CC, SIM, KL)."""

ARROWS = {"higher": "↑", "lower": "↓"}


def metric_title(metric: str) -> str:
    """``KL ↓``: a metric's name with the way it improves (:data:`core.saliency.BETTER`)."""
    return f"{metric} {ARROWS[BETTER[metric]]}" if metric in BETTER else metric


def directions(metrics: Iterable[str]) -> str:
    """``↑ higher is better: AUC_Judd, NSS; ↓ lower is better: KL`` for ``metrics``."""
    metrics = list(metrics)
    parts = []
    for way in ("higher", "lower"):
        names = [m for m in metrics if BETTER.get(m) == way]
        if names:
            parts.append(f"{ARROWS[way]} {way} is better: {', '.join(names)}")
    return "; ".join(parts)


PROTOCOL_TEXT = {
    Protocol.EXACT: "deterministic definitions of core.saliency",
    Protocol.MIT: "the MIT benchmark's MATLAB code as DHF1K's evaluation runs it, seeded; IG over a centre bias",
}
"""How each protocol computes the metrics, in one line (score tables and reports say it)."""

FIXATIONS_ONLY = ("CC, SIM and KL were computed against the fixation points themselves (no density): a few "
                  "fixated pixels against a smooth heatmap give CC and SIM near 0 and a large KL whatever the "
                  "heatmap, so they say little about it and cannot be compared with published scores (the MIT "
                  "benchmark computes them against a fixation density). Give a density (--density), or blur the "
                  "fixations into one (--blur: a Gaussian of σ = width / 30, as python -m core.gaze.fixations "
                  "makes its densities).")
"""What every place that shows CC, SIM or KL scored without a density says about them."""


@dataclass(frozen=True)
class GazeSource:
    """Where a video's gaze is read from, and how: the fixation maps, an optional density, the number of the
    first frame in gaze folders (None: found), and ``blur``, which makes the density from the fixations when
    none is given (σ in gaze-map pixels, ``"auto"`` for width / 30, None for none)."""

    fixations: str
    density: str | None = None
    start_index: int | None = None
    blur: float | str | None = None

    def read(self, frames: set[int] | None) -> tuple[GazeMaps, GazeMaps | None]:
        """The fixation maps and the density (read, blurred, or None) of ``frames`` (None: all)."""
        fixations = read_gaze(self.fixations, fixations=True, frames=frames, start_index=self.start_index)
        if self.density is not None:
            return fixations, read_gaze(self.density, fixations=False, frames=frames, start_index=self.start_index)
        return fixations, None if self.blur is None else blurred(fixations, self.blur)


@dataclass
class GazeScores:
    """Saliency metrics of one result against gaze, and the maps they were computed on.

    A result whose views looked at different windows (ThreeCrop, TenCrop) is scored view by view, each where
    it looked; ``clip`` and ``frames`` are then the means over the views, and ``views`` holds each view's own
    scores (empty for one window).
    """

    result: ExplainResult  # the heatmaps, read without frames
    region: Region
    clip: dict[str, float]
    frames: list[dict]  # [{"frame": i, metric: value, ...}] for per-frame gaze
    crop_box: Box  # the window(s) the model saw together, in gaze-map pixels
    gaze_size: tuple[int, int]  # (width, height) of the gaze maps
    saliency: np.ndarray  # the clip saliency in the gaze frame (zero outside the windows)
    fixations: np.ndarray  # the clip's fixations in the gaze frame (boolean)
    density: np.ndarray | None  # the clip's density in the gaze frame
    notes: list[str] = field(default_factory=list)
    windows: list[Box] = field(default_factory=list)  # each scored view's window in gaze-map pixels
    views: list[dict] = field(default_factory=list)  # per view: view, window, heatmap_views, clip, frames
    txt: str = ""  # the heatmap file scored
    source: GazeSource | None = None  # where the gaze was read (per-frame pictures read it again)
    protocol: Protocol = Protocol.EXACT  # how the metrics were computed (core.saliency.Protocol)

    @property
    def against_fixations(self) -> bool:
        """Whether CC, SIM and KL (those computed) were scored against the fixation map, for want of a density."""
        return self.density is None and any(m in self.clip for m in DISTRIBUTION_METRICS)

    @property
    def name(self) -> str:
        """The video's stem (the txt's when no video is recorded)."""
        return self.result.video_stem

    @property
    def label(self) -> str:
        """The class to group by: the ground truth of a batch, else the explained class."""
        batch = self.result.extra.get("batch")
        gt = batch.get("gt_label") if isinstance(batch, dict) else None
        return str(gt or self.result.target_label or "")

    @property
    def label_index(self) -> int | None:
        """The index of :attr:`label` in the model's classes (None when unknown): what orders classes."""
        batch = self.result.extra.get("batch")
        if isinstance(batch, dict) and batch.get("gt_label"):
            gt = batch.get("gt_class")
            return gt if isinstance(gt, int) and not isinstance(gt, bool) else None
        return self.result.target_class if self.result.target_label else None

    @property
    def frames_scored(self) -> int:
        """How many frames were scored on their own: every frame with both a heatmap and a gaze map (all of a
        whole-video result's frames that have gaze); 0 with one gaze map per clip."""
        return len(self.frames)

    def to_json(self) -> dict:
        out: dict = {"protocol": str(self.protocol), "clip": self.clip, "frames_scored": self.frames_scored,
                     "frames": self.frames}
        if self.views:
            out["views"] = self.views
        return out


def gaze_windows(heat: ExplainResult, gaze_size: tuple[int, int], notes: list[str]) -> Windows:
    """Each view's window in gaze-map pixels (the whole gaze frame when the result records none)."""
    if heat.windows is None:
        return Windows.single(gaze_size, (0.0, 0.0, float(gaze_size[0]), float(gaze_size[1])), heat.num_views)
    source = heat.windows.source_size
    if tuple(gaze_size) == tuple(source):
        return heat.windows
    if abs(gaze_size[0] * source[1] - gaze_size[1] * source[0]) > 0.01 * source[0] * gaze_size[1]:
        raise CamError(f"The gaze maps are {gaze_size[0]}×{gaze_size[1]} but the video is {source[0]}×{source[1]}; "
                       "gaze maps must show the whole video frame (same aspect ratio).")
    notes.append(f"gaze maps are {gaze_size[0]}×{gaze_size[1]}, the video {source[0]}×{source[1]}: window scaled")
    return heat.windows.scaled(gaze_size)


def _scorable(fixations: np.ndarray, density: np.ndarray | None) -> bool:
    return bool(fixations.any() and not fixations.all() and (density is None or density.min() < density.max()))


def _mean_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    return {metric: float(np.mean([s[metric] for s in scores])) for metric in scores[0]}


@dataclass
class WindowView:
    """Heatmap views that looked at one window, mirrored back where the model saw them mirrored."""

    number: int  # 1-based, in first-view order
    box: Box  # in gaze-map pixels
    views: list[int]
    heatmaps: np.ndarray  # [V', T, H, W]
    frame_indices: np.ndarray  # [V', T]


def window_views(heat: ExplainResult, windows: Windows) -> list[WindowView]:
    """The heatmap views grouped by the window they saw, mirrored views flipped back."""
    found = []
    for number, (box, views) in enumerate(windows.groups(), start=1):
        maps = np.stack([heat.heatmaps[v][..., ::-1] if windows.flips[v] else heat.heatmaps[v] for v in views])
        found.append(WindowView(number, box, views, maps, np.asarray(heat.frame_indices)[views]))
    return found


def placed_saliency(views: list[WindowView], gaze_size: tuple[int, int], frame: int | None = None) -> np.ndarray:
    """The saliency in the gaze frame (float32, zero outside the windows): the clip's (``frame`` None) or that
    source frame's (the mean of the heatmaps that show it), each view's placed in its window and averaged
    where windows overlap."""
    placed = []
    for view in views:
        if frame is None:
            saliency = clip_saliency(view.heatmaps)
        else:
            shows = view.frame_indices == frame
            if not shows.any():
                continue
            saliency = view.heatmaps[shows].mean(axis=0)
        placed.append(heatmap_to_source(saliency, gaze_size, view.box))
    if not placed:
        return np.zeros((gaze_size[1], gaze_size[0]), np.float32)
    coverage = np.sum([mask for _, mask in placed], axis=0)
    return np.divide(np.sum([m for m, _ in placed], axis=0), coverage, where=coverage > 0,
                     out=np.zeros(coverage.shape, np.float64)).astype(np.float32)


@dataclass
class _Placement:
    """Puts a heatmap and gaze maps on one grid: the heatmap's (``crop``: gaze resampled into the window the
    view saw) or the gaze's (``frame``: the heatmap placed in its window)."""

    region: Region
    heat_shape: tuple[int, int]  # (h, w)
    gaze_size: tuple[int, int]

    def maps(self, saliency: np.ndarray, fix: np.ndarray, dens: np.ndarray | None,
             box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """(saliency, fixations, density) on the grid; None when the gaze there cannot be scored."""
        if self.region is Region.CROP:
            fix = gaze_to_crop(fix, box, self.heat_shape, binary=True)
            dens = None if dens is None else gaze_to_crop(dens, box, self.heat_shape, binary=False)
        else:
            saliency = heatmap_to_source(saliency, self.gaze_size, box)[0]
        return (saliency, fix, dens) if _scorable(fix, dens) else None


def _check_gaze(fixations: GazeMaps, density: GazeMaps | None) -> None:
    if not fixations.binary or (density is not None and density.binary):
        raise CamError("Pass fixation maps as fixations and a density as density.")
    if density is not None and density.size != fixations.size:
        raise CamError(f"The density is {density.size[0]}×{density.size[1]} but the fixation maps are "
                       f"{fixations.size[0]}×{fixations.size[1]}; they must have the same size.")


def _gaze_frames(heat: ExplainResult, fixations: GazeMaps, density: GazeMaps | None,
                 notes: list[str]) -> tuple[bool, list[int]]:
    """Whether the gaze is per frame, and the source frames the model saw that have gaze maps."""
    seen = [] if heat.legacy else sorted({int(f) for f in np.ravel(heat.frame_indices)})
    per_frame = fixations.per_frame or (density is not None and density.per_frame)
    if per_frame and heat.legacy:
        seen = sorted(set(fixations.frames) | set(density.frames if density else ()))
        notes.append("the txt has no sidecar, so its frames are unknown: the clip is scored against the gaze "
                     "of all frames and no per-frame scores are given")
    available = [f for f in seen if fixations.at(f) is not None and (density is None or density.at(f) is not None)]
    if per_frame and not available:
        raise CamError(f"None of the {len(seen)} frames the model saw (source frames {seen[0]}–{seen[-1]}, "
                       f"0-based) has a gaze map in {fixations.source}; check the frame numbers (--start-index).")
    if per_frame and len(available) < len(seen):
        notes.append(f"{len(seen) - len(available)} of the {len(seen)} frames the model saw have no gaze map; "
                     "they are left out")
    return per_frame, available


def _score_maps(maps: tuple[np.ndarray, np.ndarray, np.ndarray | None], metrics: Iterable[str] | None,
                protocol: Protocol, seed: int) -> dict[str, float]:
    """:func:`core.saliency.score` of (saliency, fixations, density) under ``protocol``: information gain over
    the fixed centre bias (:func:`core.saliency.center_bias`); the random draws seeded by ``seed`` under
    ``mit`` (0 under ``exact``, as always): ``seed_of(video, frame)``, ``seed_of(video, "")`` for the clip, as
    :mod:`core.study` seeds the same rows."""
    saliency, fix, dens = maps
    wants_gain = protocol == Protocol.MIT or (metrics is not None and "IG" in metrics)
    return score(saliency, fix, density=dens, metrics=metrics, protocol=protocol,
                 rng=seed if protocol == Protocol.MIT else 0,
                 baseline=center_bias(fix.shape) if wants_gain else None)


def _frame_scores(view: WindowView, frames: list[int], fixations: GazeMaps, density: GazeMaps | None,
                  place: _Placement, metrics: Iterable[str] | None,
                  protocol: Protocol = Protocol.EXACT, name: str = "") -> tuple[list[dict], list[int]]:
    """The view's scores on each of ``frames`` it shows, and the frames with nothing to score."""
    rows, empty = [], []
    for frame in frames:
        shows = view.frame_indices == frame
        if not shows.any():
            continue
        frame_fix = fixations.at(frame)
        frame_maps = None if frame_fix is None else \
            place.maps(view.heatmaps[shows].mean(axis=0), frame_fix, None if density is None else density.at(frame),
                       view.box)
        if frame_maps is None:
            empty.append(frame)
            continue
        rows.append({"frame": frame, **_score_maps(frame_maps, metrics, protocol, seed_of(name, frame))})
    return rows, empty


def _mean_frames(per_view: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per source frame, the mean of the views' scores on it."""
    frames = []
    for frame in sorted({row["frame"] for entry in per_view for row in entry["frames"]}):
        found = [row for entry in per_view for row in entry["frames"] if row["frame"] == frame]
        frames.append({"frame": frame, **_mean_scores([{k: v for k, v in r.items() if k != "frame"} for r in found])})
    return frames


def score_result(heat: ExplainResult, fixations: GazeMaps, density: GazeMaps | None = None, *,
                 region: Region | str = Region.CROP, metrics: Iterable[str] | None = None,
                 protocol: Protocol | str = Protocol.EXACT) -> GazeScores:
    """Score ``heat`` against gaze over the clip, and per frame when the gaze is per frame (module docstring);
    views that looked at different windows each where they looked."""
    region = parse_region(region)
    _check_gaze(fixations, density)
    protocol = Protocol(protocol)
    notes = [*heat.file_notes, *fixations.notes, *(density.notes if density else [])]
    gaze_size = fixations.size
    windows = gaze_windows(heat, gaze_size, notes)
    per_frame, available = _gaze_frames(heat, fixations, density, notes)
    height, width = heat.heatmaps.shape[-2:]
    place = _Placement(region, (height, width), gaze_size)
    clip_fix = fixations.combined(available)
    clip_dens = None if density is None else density.combined(available)
    views = window_views(heat, windows)
    per_view: list[dict[str, Any]] = []
    unscored = []
    for view in views:
        maps = place.maps(clip_saliency(view.heatmaps), clip_fix, clip_dens, view.box)
        if maps is None:
            unscored.append(view.number)
            continue
        frames = available if per_frame and not heat.legacy else []
        rows, empty = _frame_scores(view, frames, fixations, density, place, metrics, protocol,
                                    heat.video_stem)
        if empty:
            where = " in the window" if region is Region.CROP else ""
            label = f"view {view.number}: " if len(views) > 1 else ""
            notes.append(f"{label}frames {frame_list(empty)} have no fixation to score{where}; "
                         "they are left out of the per-frame scores")
        clip_scores = _score_maps(maps, metrics, protocol, seed_of(heat.video_stem, ""))
        per_view.append({"view": view.number, "window": [round(v, 3) for v in view.box],
                         "heatmap_views": view.views, "clip": clip_scores, "frames": rows})
    if not per_view:
        where = "inside the window the model saw (use --region frame)" if region is Region.CROP else "in the frame"
        raise CamError(f"The gaze of {heat.video_stem} has no fixated pixel {where}, or only fixated pixels, "
                       "or a constant density; there is nothing to score.")
    if unscored:
        notes.append(f"views {frame_list(unscored)} have no fixation to score in their window (or only fixated "
                     "pixels); they are left out of the average")
    clip = _mean_scores([entry["clip"] for entry in per_view])
    return GazeScores(heat, region, clip, _mean_frames(per_view), windows.crop_box, gaze_size,
                      placed_saliency(views, gaze_size), np.asarray(clip_fix, dtype=bool), clip_dens, notes,
                      [view.box for view in views], per_view if len(views) > 1 else [], protocol=protocol)


def score_file(txt: str | Path, fixations: str | Path, density: str | Path | None = None, *,
               region: Region | str = Region.CROP,
               start_index: int | None = None, metrics: Iterable[str] | None = None,
               blur: float | str | None = None, protocol: Protocol | str = Protocol.EXACT,
               keep_constant: bool = False) -> GazeScores:
    """Read one heatmap txt (+ sidecar) and its gaze inputs (:class:`GazeSource`), and :func:`score_result`
    them; heatmaps constant in every frame are refused unless ``keep_constant``."""
    source = GazeSource(str(fixations), None if density is None else str(density), start_index, blur)
    heat = read_heatmaps(txt)
    if heat.is_constant and not keep_constant:
        raise CamError(f"The heatmaps of {txt} are constant (all zero or flat: Grad-CAM found no positive evidence), "
                       "so there is no saliency to score; pass --keep-constant to score them anyway.")
    return _scored(txt, heat, source, region, metrics, protocol)


def _scored(txt: str | Path, heat: ExplainResult, source: GazeSource, region: Region | str,
            metrics: Iterable[str] | None, protocol: Protocol | str = Protocol.EXACT) -> GazeScores:
    fix, dens = source.read(_seen(heat))
    scores = score_result(heat, fix, dens, region=region, metrics=metrics, protocol=protocol)
    scores.txt, scores.source = str(txt), source
    return scores


def _seen(heat: ExplainResult) -> set[int] | None:
    """The source frames the model saw (None for a file without frame indices)."""
    return None if heat.legacy else {int(f) for f in np.ravel(heat.frame_indices)}


def find_heatmap_files(folder: str | Path) -> list[Path]:
    """Heatmap txt files under ``folder`` (recursively): those with a JSON sidecar, and legacy ones whose
    text starts with a ``Frame N - Heatmap values`` line. In a server, those outside the allowed folders (a
    symlink out of ``folder``) are left out with a note (:func:`core.access.listed`)."""
    found = []
    for txt in access.listed(sorted(Path(folder).rglob("*.txt")), f"heatmap files under {folder}"):
        if txt.name.startswith(".") or not txt.is_file():
            continue
        if sidecar_path(txt).is_file():
            found.append(txt)
        else:
            with open(txt, encoding="utf-8", errors="replace") as handle:
                if is_heatmap_text(handle.read(200)):
                    found.append(txt)
    return found


def newest_per_video(files: Iterable[tuple[str, Path]]) -> tuple[dict[str, Path], list[str]]:
    """One heatmap file per video: of several for the same video (key: its name, and the folder where that
    matters), the newest by modification time; the others are named in the notes. Explaining a video once in
    the explorer and once in a batch into the same folder writes two files (``video_cam.txt``, ``video.txt``):
    scoring both would count the video twice."""
    kept: dict[str, Path] = {}
    dropped: dict[str, list[Path]] = {}
    for key, path in files:
        if key in kept:
            older, kept[key] = sorted([kept[key], path], key=lambda p: (p.stat().st_mtime_ns, str(p)))
            dropped.setdefault(key, []).append(older)
        else:
            kept[key] = path
    notes = [f"{len(old) + 1} heatmap files for video {Path(key).name}: scored the newest, {kept[key]}; left out "
             f"{', '.join(str(p) for p in old)}" for key, old in dropped.items()]
    return kept, notes


def gaze_entry(folder: str | Path, name: str) -> Path | None:
    """The entry of a gaze folder for the video called ``name``: a file or folder with that stem."""
    entries = access.listed([p for p in Path(folder).iterdir() if not p.name.startswith(".")
                             and ((p.is_dir() and p.name == name) or (p.is_file() and p.stem == name))],
                            f"gaze entries of {name}")
    if len(entries) > 1:
        raise CamError(f"{folder} holds several gaze entries for {name}: {', '.join(p.name for p in entries)}.")
    return entries[0] if entries else None


def score_batch(folder: str | Path, fixations: str | Path, density: str | Path | None = None, *,
                region: Region | str = Region.CROP, start_index: int | None = None,
                metrics: Iterable[str] | None = None, blur: float | str | None = None,
                protocol: Protocol | str = Protocol.EXACT, keep_constant: bool = False
                ) -> tuple[list[GazeScores], list[str]]:
    """Score every heatmap file under a batch output ``folder`` against the gaze entry of its video in the
    ``fixations`` (and ``density``) folder, matched by the video's stem; returns scores and notes
    (videos without gaze are skipped; of two files for one video in one folder the newest is scored; heatmaps
    constant in every frame are left out unless ``keep_constant``)."""
    folder, fixations = Path(folder), Path(fixations)
    if not fixations.is_dir():
        raise CamError(f"With a batch folder of heatmaps, FIXATIONS must be a folder with one entry per video, "
                       f"not {fixations}.")
    if density is not None and not Path(density).is_dir():
        raise CamError(f"With a batch folder of heatmaps, --density must be a folder, not {density}.")
    files = find_heatmap_files(folder)
    if not files:
        raise CamError(f"Folder {folder} holds no heatmap txt files.")
    results: list[GazeScores] = []
    heats = {txt: read_heatmaps(txt) for txt in files}
    chosen, notes = newest_per_video((str(txt.parent / heat.video_stem), txt) for txt, heat in heats.items())
    constant = [txt for txt in chosen.values() if heats[txt].is_constant and not keep_constant]
    if constant:
        notes.append(constant_note([str(txt.relative_to(folder)) for txt in constant]))
    for txt in chosen.values():
        if txt in constant:
            continue
        source = _batch_source(txt, heats[txt], fixations, density, start_index, blur, notes)
        if source is not None:
            results.append(_scored(txt, heats[txt], source, region, metrics, protocol))
    if not results and constant:
        raise CamError(f"Every heatmap file under {folder} with gaze is constant (all zero or flat: no saliency to "
                       "score); pass --keep-constant to score them anyway.")
    if not results:
        raise CamError(f"No heatmap file under {folder} has a gaze entry in {fixations} (matched by video name)"
                       f"{subfolders(fixations)}.")
    return results, notes


def _batch_source(txt: Path, heat: ExplainResult, fixations: Path, density: str | Path | None,
                  start_index: int | None, blur: float | str | None, notes: list[str]) -> GazeSource | None:
    """The gaze of one heatmap file of a batch: the entries named like its video (else like the file) in the
    ``fixations`` and ``density`` folders; None, with a note, when it has no fixations (a missing density is
    noted and scored without)."""
    names = dict.fromkeys([heat.video_stem, txt.stem])
    fix = next((e for n in names if (e := gaze_entry(fixations, n)) is not None), None)
    if fix is None:
        notes.append(f"{txt}: no gaze entry named {' or '.join(names)} in {fixations}; skipped")
        return None
    dens = None
    if density is not None:
        dens = next((e for n in names if (e := gaze_entry(density, n)) is not None), None)
        if dens is None:
            notes.append(f"{txt}: no density named {' or '.join(names)} in {density}; scored without one")
    return GazeSource(str(fix), None if dens is None else str(dens), start_index, blur)


def score_path(heatmaps: str | Path, fixations: str | Path, density: str | Path | None = None, *,
               region: Region | str = Region.CROP, start_index: int | None = None,
               metrics: Iterable[str] | None = None, blur: float | str | None = None,
               protocol: Protocol | str = Protocol.EXACT, keep_constant: bool = False
               ) -> tuple[list[GazeScores], list[str]]:
    """:func:`score_file` for a heatmap txt, :func:`score_batch` for a batch output folder; returns the
    scores and every note (the run's and the results', each once). Heatmaps constant in every frame are left
    out (and listed in a note) unless ``keep_constant``; a single file that is constant is refused."""
    path = Path(heatmaps)
    fixations, density, taken = fixations_output(fixations, density, blur)
    if path.is_dir():
        results, notes = score_batch(path, fixations, density, region=region, start_index=start_index,
                                     metrics=metrics, blur=blur, protocol=protocol, keep_constant=keep_constant)
    elif path.is_file():
        results, notes = [score_file(path, fixations, density, region=region, start_index=start_index,
                                     metrics=metrics, blur=blur, protocol=protocol, keep_constant=keep_constant)], []
    else:
        raise CamError(f"Heatmap file or folder {path} does not exist; pass a heatmap txt or a batch output folder.")
    return results, merge_numbering_notes(dict.fromkeys([*taken, *notes, *(n for r in results for n in r.notes)]))


CSV_FIELDS = ("video", "txt", "class", "target_label", "predicted_label", "region", "protocol", "view", "frame")


def csv_rows(results: Iterable[GazeScores]) -> list[dict]:
    """One row per clip (``view`` and ``frame`` empty), then one per scored frame; for results scored view
    by view, then each view's clip row and frame rows (``view`` set)."""
    rows = []
    for result in results:
        base = {"video": result.name, "txt": result.txt, "class": result.label,
                "target_label": result.result.target_label, "predicted_label": result.result.predicted_label,
                "region": result.region, "protocol": str(result.protocol)}
        rows.append({**base, "view": "", "frame": "", **result.clip})
        rows.extend({**base, "view": "", **row} for row in result.frames)
        for view in result.views:
            rows.append({**base, "view": view["view"], "frame": "", **view["clip"]})
            rows.extend({**base, "view": view["view"], **row} for row in view["frames"])
    return rows


def protocol_line(results: Iterable[GazeScores]) -> str:
    """``protocol mit (how it computes)`` for scores of one protocol; a CamError when they mix protocols."""
    protocol = check_protocols(r.protocol for r in results)
    return f"protocol {protocol} ({PROTOCOL_TEXT[protocol]})"


def header_notes(results: Iterable[GazeScores]) -> list[str]:
    """What the lines above a score table say: which way each metric improves, and, when CC, SIM and KL
    were scored against fixation points, :data:`FIXATIONS_ONLY`."""
    results = list(results)
    metrics = list(dict.fromkeys(m for r in results for m in r.clip))
    notes = [f"Metrics (MIT saliency benchmark; Bylinskii et al., TPAMI 2019), {protocol_line(results)}: "
             f"{directions(metrics)}."]
    if any(r.against_fixations for r in results):
        notes.append(FIXATIONS_ONLY)
    return notes


def csv_text(rows: list[dict], notes: Iterable[str] = ()) -> str:
    """Score rows as CSV text; metric columns follow :data:`CSV_FIELDS`. ``notes`` (:func:`header_notes`)
    come first, each on a line that starts with ``#`` (read with ``pandas.read_csv(path, comment="#")``,
    R's ``read.csv(path, comment.char="#")``)."""
    metrics = list(dict.fromkeys(k for row in rows for k in row if k not in CSV_FIELDS))
    buffer = io.StringIO()
    for note in notes:
        buffer.write(f"# {note}\n")
    writer = csv.DictWriter(buffer, [*CSV_FIELDS, *metrics], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: str | Path, rows: list[dict], notes: Iterable[str] = ()) -> Path:
    """Write score rows as CSV (atomically), ``notes`` above them (:func:`csv_text`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(csv_text(rows, notes), encoding="utf-8")
    return Path(path)


def class_summary(results: Iterable[GazeScores]) -> list[dict]:
    """Per class, the mean and std (population, ddof 0) of each metric's clip score over its videos:
    ``[{"class": label, "n": videos, metric: mean, f"{metric} std": std, ...}]``, classes in label order
    (their index among the model's classes; unknown indices last, by name)."""
    results = list(results)
    check_protocols(r.protocol for r in results)
    groups: dict[str, list[GazeScores]] = {}
    for result in results:
        groups.setdefault(result.label, []).append(result)

    def order(label: str) -> tuple:
        indices = [r.label_index for r in groups[label] if r.label_index is not None]
        return (not indices, min(indices) if indices else 0, label)

    rows = []
    for label in sorted(groups, key=order):
        members = groups[label]
        row: dict[str, Any] = {"class": label, "n": len(members)}
        for metric in members[0].clip:
            values = np.array([r.clip[metric] for r in members if metric in r.clip], np.float64)
            row[metric], row[f"{metric} std"] = float(values.mean()), float(values.std())
        rows.append(row)
    return rows


def summary_cells(row: dict, digits: int = 3) -> dict[str, str]:
    """A :func:`class_summary` row as text cells: class, n, then ``mean ± std`` under each metric's title."""
    metrics = [k for k in row if k not in ("class", "n") and not k.endswith(" std")]
    return {"class": row["class"] or "(none)", "n": str(row["n"]),
            **{metric_title(m): f"{row[m]:.{digits}f} ± {row[f'{m} std']:.{digits}f}" for m in metrics}}
