"""Heatmaps scored against gaze: clip and per-frame scores, batch folders, CSV rows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import CamError
from core.export import atomic_path, sidecar_path
from core.gaze.inputs import GazeMaps, HeatmapFile, frame_list, read_gaze, read_heatmaps
from core.geometry import Box, gaze_to_crop, heatmap_to_source, scale_box
from core.saliency import clip_saliency, score

REGIONS = ("crop", "frame")
_LEGACY_HEADER = re.compile(r"^\s*Frame\s+\d+\s*-\s*Heatmap values", re.MULTILINE)


@dataclass
class GazeScores:
    """Saliency metrics of one heatmap file against gaze, and the maps they were computed on."""

    name: str
    txt: str
    meta: dict
    region: str
    clip: dict[str, float]
    frames: list[dict]  # [{"frame": i, metric: value, ...}] for per-frame gaze
    crop_box: Box  # the model's window in gaze-map pixels
    gaze_size: tuple[int, int]  # (width, height) of the gaze maps
    saliency: np.ndarray  # the clip saliency in the gaze frame (zero outside the window)
    fixations: np.ndarray  # the clip's fixations in the gaze frame (boolean)
    density: np.ndarray | None  # the clip's density in the gaze frame
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The class to group by: the ground truth of a batch, else the explained class."""
        batch = self.meta.get("batch") or {}
        return str(batch.get("gt_label") or self.meta.get("target_label") or "")

    def to_json(self) -> dict:
        return {"clip": self.clip, "frames": self.frames}


def _window(heat: HeatmapFile, gaze_size: tuple[int, int], notes: list[str]) -> Box:
    """The model's window in gaze-map pixels."""
    if heat.source_size is None or heat.crop_box is None:
        return 0.0, 0.0, float(gaze_size[0]), float(gaze_size[1])
    source = heat.source_size
    if tuple(gaze_size) == tuple(source):
        return heat.crop_box
    if abs(gaze_size[0] * source[1] - gaze_size[1] * source[0]) > 0.01 * source[0] * gaze_size[1]:
        raise CamError(f"The gaze maps are {gaze_size[0]}×{gaze_size[1]} but the video is {source[0]}×{source[1]}; "
                       "gaze maps must show the whole video frame (same aspect ratio).")
    notes.append(f"gaze maps are {gaze_size[0]}×{gaze_size[1]}, the video {source[0]}×{source[1]}: window scaled")
    return scale_box(heat.crop_box, source, gaze_size)


def _scorable(fixations: np.ndarray, density: np.ndarray | None) -> bool:
    return bool(fixations.any() and not fixations.all() and (density is None or density.min() < density.max()))


def compare(heat: HeatmapFile, fixations: GazeMaps, density: GazeMaps | None = None, *, region: str = "crop",
            metrics: Iterable[str] | None = None) -> GazeScores:
    """Score ``heat`` against gaze over the clip, and per frame when the gaze is per frame (module docstring)."""
    if region not in REGIONS:
        raise CamError(f"region must be 'crop' or 'frame', not {region!r}.")
    if not fixations.binary or (density is not None and density.binary):
        raise CamError("Pass fixation maps as fixations and a density as density.")
    notes = [*heat.notes, *fixations.notes, *(density.notes if density else [])]
    gaze_size = fixations.size
    if density is not None and density.size != gaze_size:
        raise CamError(f"The density is {density.size[0]}×{density.size[1]} but the fixation maps are "
                       f"{gaze_size[0]}×{gaze_size[1]}; they must have the same size.")
    box = _window(heat, gaze_size, notes)
    seen = sorted({int(f) for f in heat.frame_indices.ravel()}) if heat.frame_indices is not None else None
    per_frame = fixations.per_frame or (density is not None and density.per_frame)
    if per_frame and seen is None:
        seen = sorted(set(fixations.frames) | set(density.frames if density else ()))
        notes.append("the txt has no sidecar, so its frames are unknown: the clip is scored against the gaze "
                     "of all frames and no per-frame scores are given")
    available = [f for f in seen or []
                 if fixations.at(f) is not None and (density is None or density.at(f) is not None)]
    if per_frame and not available:
        raise CamError(f"None of the {len(seen)} frames the model saw (source frames {seen[0]}–{seen[-1]}, 0-based) "
                       f"has a gaze map in {fixations.source}; check the frame numbers (--start-index).")
    if per_frame and len(available) < len(seen):
        notes.append(f"{len(seen) - len(available)} of the {len(seen)} frames the model saw have no gaze map; "
                     "they are left out")
    heat_shape = heat.heatmaps.shape[-2:]

    def scored(saliency: np.ndarray, fix: np.ndarray, dens: np.ndarray | None) -> tuple | None:
        if region == "crop":
            fix = gaze_to_crop(fix, box, heat_shape, binary=True)
            dens = None if dens is None else gaze_to_crop(dens, box, heat_shape, binary=False)
        else:
            saliency = heatmap_to_source(saliency, gaze_size, box)[0]
        return (saliency, fix, dens) if _scorable(fix, dens) else None

    clip_fix = fixations.combined(available)
    clip_dens = None if density is None else density.combined(available)
    saliency = clip_saliency(heat.heatmaps)
    maps = scored(saliency, clip_fix, clip_dens)
    if maps is None:
        where = "inside the window the model saw (use --region frame)" if region == "crop" else "in the frame"
        raise CamError(f"The gaze of {heat.name} has no fixated pixel {where}, or only fixated pixels, "
                       "or a constant density; there is nothing to score.")
    clip = score(maps[0], maps[1], density=maps[2], metrics=metrics)
    rows, empty = [], []
    if per_frame and heat.frame_indices is not None:
        for frame in available:
            mean = heat.heatmaps[heat.frame_indices == frame].mean(axis=0)
            frame_maps = scored(mean, fixations.at(frame), None if density is None else density.at(frame))
            if frame_maps is None:
                empty.append(frame)
                continue
            rows.append({"frame": frame, **score(*frame_maps[:2], density=frame_maps[2], metrics=metrics)})
    if empty:
        where = " in the window" if region == "crop" else ""
        notes.append(f"frames {frame_list(empty)} have no fixation to score{where}; "
                     "they are left out of the per-frame scores")
    source_saliency = maps[0] if region == "frame" else heatmap_to_source(saliency, gaze_size, box)[0]
    return GazeScores(heat.name, heat.txt, heat.meta, region, clip, rows, box, gaze_size, source_saliency,
                      np.asarray(clip_fix, dtype=bool), clip_dens, notes)


def score_file(txt: str | Path, fixations: str | Path, density: str | Path | None = None, *, region: str = "crop",
               start_index: int | None = None, metrics: Iterable[str] | None = None) -> GazeScores:
    """Read one heatmap txt (+ sidecar) and its gaze inputs, and :func:`compare` them."""
    heat = read_heatmaps(txt)
    frames = None if heat.frame_indices is None else {int(f) for f in heat.frame_indices.ravel()}
    fix = read_gaze(fixations, fixations=True, frames=frames, start_index=start_index)
    dens = None if density is None else read_gaze(density, fixations=False, frames=frames, start_index=start_index)
    return compare(heat, fix, dens, region=region, metrics=metrics)


def find_heatmap_files(folder: str | Path) -> list[Path]:
    """Heatmap txt files under ``folder`` (recursively): those with a JSON sidecar, and legacy ones whose
    text starts with a ``Frame N - Heatmap values`` line."""
    found = []
    for txt in sorted(Path(folder).rglob("*.txt")):
        if txt.name.startswith(".") or not txt.is_file():
            continue
        if sidecar_path(txt).is_file():
            found.append(txt)
        else:
            with open(txt, encoding="utf-8", errors="replace") as handle:
                if _LEGACY_HEADER.match(handle.read(200)):
                    found.append(txt)
    return found


def gaze_entry(folder: str | Path, name: str) -> Path | None:
    """The entry of a gaze folder for the video called ``name``: a file or folder with that stem."""
    entries = [p for p in Path(folder).iterdir() if not p.name.startswith(".")
               and ((p.is_dir() and p.name == name) or (p.is_file() and p.stem == name))]
    if len(entries) > 1:
        raise CamError(f"{folder} holds several gaze entries for {name}: {', '.join(p.name for p in entries)}.")
    return entries[0] if entries else None


def score_batch(folder: str | Path, fixations: str | Path, density: str | Path | None = None, *,
                region: str = "crop", start_index: int | None = None,
                metrics: Iterable[str] | None = None) -> tuple[list[GazeScores], list[str]]:
    """Score every heatmap file under a batch output ``folder`` against the gaze entry of its video in the
    ``fixations`` (and ``density``) folder, matched by the video's stem; returns scores and notes
    (videos without gaze are skipped)."""
    folder, fixations = Path(folder), Path(fixations)
    if not fixations.is_dir():
        raise CamError(f"With a batch folder of heatmaps, FIXATIONS must be a folder with one entry per video, "
                       f"not {fixations}.")
    if density is not None and not Path(density).is_dir():
        raise CamError(f"With a batch folder of heatmaps, --density must be a folder, not {density}.")
    files = find_heatmap_files(folder)
    if not files:
        raise CamError(f"Folder {folder} holds no heatmap txt files.")
    results, notes = [], []
    for txt in files:
        heat = read_heatmaps(txt)
        names = dict.fromkeys([heat.name, txt.stem])
        fix = next((e for n in names if (e := gaze_entry(fixations, n)) is not None), None)
        if fix is None:
            notes.append(f"{txt}: no gaze entry named {' or '.join(names)} in {fixations}; skipped")
            continue
        dens = None
        if density is not None:
            dens = next((e for n in names if (e := gaze_entry(density, n)) is not None), None)
            if dens is None:
                notes.append(f"{txt}: no density named {' or '.join(names)} in {density}; scored without one")
        frames = None if heat.frame_indices is None else {int(f) for f in heat.frame_indices.ravel()}
        maps = read_gaze(fix, fixations=True, frames=frames, start_index=start_index)
        dens_maps = None if dens is None else read_gaze(dens, fixations=False, frames=frames, start_index=start_index)
        results.append(compare(heat, maps, dens_maps, region=region, metrics=metrics))
    if not results:
        raise CamError(f"No heatmap file under {folder} has a gaze entry in {fixations} (matched by video name).")
    return results, notes


def score_path(heatmaps: str | Path, fixations: str | Path, density: str | Path | None = None, *,
               region: str = "crop", start_index: int | None = None,
               metrics: Iterable[str] | None = None) -> tuple[list[GazeScores], list[str]]:
    """:func:`score_file` for a heatmap txt, :func:`score_batch` for a batch output folder; returns the
    scores and every note (the run's and the results', each once)."""
    path = Path(heatmaps)
    if path.is_dir():
        results, notes = score_batch(path, fixations, density, region=region, start_index=start_index,
                                     metrics=metrics)
    elif path.is_file():
        results, notes = [score_file(path, fixations, density, region=region, start_index=start_index,
                                     metrics=metrics)], []
    else:
        raise CamError(f"Heatmap file or folder {path} does not exist; pass a heatmap txt or a batch output folder.")
    return results, list(dict.fromkeys([*notes, *(n for r in results for n in r.notes)]))


CSV_FIELDS = ("video", "txt", "class", "target_label", "predicted_label", "region", "frame")


def csv_rows(results: Iterable[GazeScores]) -> list[dict]:
    """One row per clip (``frame`` empty), then one per scored frame."""
    rows = []
    for result in results:
        base = {"video": result.name, "txt": result.txt, "class": result.label,
                "target_label": result.meta.get("target_label", ""),
                "predicted_label": result.meta.get("predicted_label", ""), "region": result.region}
        rows.append({**base, "frame": "", **result.clip})
        rows.extend({**base, **row} for row in result.frames)
    return rows


def csv_text(rows: list[dict]) -> str:
    """Score rows as CSV text; metric columns follow :data:`CSV_FIELDS`."""
    metrics = list(dict.fromkeys(k for row in rows for k in row if k not in CSV_FIELDS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, [*CSV_FIELDS, *metrics], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(path: str | Path, rows: list[dict]) -> Path:
    """Write score rows as CSV (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(csv_text(rows), encoding="utf-8")
    return Path(path)
