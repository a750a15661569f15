"""Grad-CAM heatmaps scored against human gaze: gaze inputs, frame matching, clip and per-frame scores, CLI.

``python -m core.gaze HEATMAPS FIXATIONS [--density D] [--region crop|frame] [--json] [--out CSV]``

Gaze inputs (fixations, and optionally a fixation density) are one map for the whole clip (an image,
``.npy``), or one per frame: a folder of images whose names carry the frame number (``0001.png``,
``frame_12.jpg``; the last number in the name), or a video of gaze maps (frame ``i`` = decoded frame ``i``).
Colour images count by their brightest channel. A fixation map marks fixated pixels by values > 0; in
lossy files (JPEG, WebP, videos) by values > 127, so compression noise is not taken for fixations.

Matching: the sidecar's ``frame_indices`` (0-based source frames) say which frame each heatmap shows.
Folder numbers are 1-based unless the folder has a frame numbered 0 (``start_index`` overrides).

Scores: the clip score compares :func:`core.saliency.clip_saliency` of all heatmaps with the clip's gaze;
with per-frame gaze that is the union of the fixations, and the mean of the densities, over the distinct
frames the model saw (frames without a gaze map are left out, with a note). Per-frame gaze also gives one
score per frame the model saw (its heatmaps, averaged when several views show that frame). ``region="crop"``
(default) scores in the model's window at heatmap resolution (gaze cut and resized, fixations moved point
by point); ``region="frame"`` scores over the whole gaze frame, the heatmap placed in its window, zero
elsewhere. A txt without sidecar is taken to cover the whole gaze frame, with unknown frames.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import CamError
from core.export import atomic_path, read_heatmap_txt, sidecar_path
from core.geometry import Box, gaze_to_crop, heatmap_to_source, scale_box
from core.saliency import METRICS, clip_saliency, score
from core.video import VIDEO_EXTENSIONS

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".npy")
LOSSY_EXTENSIONS = (".jpg", ".jpeg", ".webp", *(e for e in VIDEO_EXTENSIONS if e != ".gif"))
REGIONS = ("crop", "frame")
_LEGACY_HEADER = re.compile(r"^\s*Frame\s+\d+\s*-\s*Heatmap values", re.MULTILINE)


@dataclass
class GazeMaps:
    """Gaze maps of one video: one ``image`` for the whole clip, or ``frames`` by 0-based source frame.
    Fixation maps are boolean, densities float64; all share one size."""

    source: str
    binary: bool  # fixation maps (True) or a density (False)
    image: np.ndarray | None = None
    frames: dict[int, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def per_frame(self) -> bool:
        return self.image is None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the maps."""
        some = self.image if self.image is not None else next(iter(self.frames.values()))
        return some.shape[1], some.shape[0]

    def at(self, frame: int) -> np.ndarray | None:
        """The map for source frame ``frame`` (the clip's image when not per frame; None when missing)."""
        return self.image if self.image is not None else self.frames.get(frame)

    def combined(self, frames: Iterable[int]) -> np.ndarray:
        """The clip's map over ``frames``: the image, or the union of fixations / mean of densities."""
        if self.image is not None:
            return self.image
        maps = [self.frames[f] for f in frames if f in self.frames]
        if self.binary:
            return np.logical_or.reduce(maps)
        return np.mean(maps, axis=0)


def _read_image(path: Path) -> np.ndarray:
    """A 2-D numeric map from an image or ``.npy`` (colour: brightest channel, alpha dropped)."""
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise CamError(f"Gaze map {path} could not be read ({err}).") from None
    else:
        import cv2

        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise CamError(f"Gaze map {path} is not a readable image.")
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].max(axis=-1)
    if array.ndim != 2 or array.size == 0:
        raise CamError(f"Gaze map {path} must be one 2-D map, got shape {array.shape}.")
    return array


def _as_gaze(array: np.ndarray, *, fixations: bool, lossy: bool) -> np.ndarray:
    if fixations:
        return array > (127 if lossy else 0)
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise CamError("A gaze density holds NaN or infinite values.")
    return values


def frame_number(path: Path) -> int:
    """The frame number in a file name: its last run of digits (``img_00012.png`` → 12)."""
    numbers = re.findall(r"\d+", path.stem)
    if not numbers:
        raise CamError(f"Gaze map {path} has no frame number in its name; name per-frame maps like 0001.png.")
    return int(numbers[-1])


def _read_folder(folder: Path, *, fixations: bool, frames: Collection[int] | None,
                 start_index: int | None) -> GazeMaps:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise CamError(f"Folder {folder} holds no gaze images ({', '.join(IMAGE_EXTENSIONS)}).")
    numbered: dict[int, Path] = {}
    for path in files:
        number = frame_number(path)
        if number in numbered:
            raise CamError(f"Gaze maps {numbered[number].name} and {path.name} both carry frame number {number}.")
        numbered[number] = path
    notes = []
    if start_index is None:
        start_index = 0 if 0 in numbered else 1
        notes.append(f"gaze maps in {folder} are numbered from {start_index} (file {start_index} = first frame); "
                     "use --start-index to change")
    maps = {}
    for number, path in sorted(numbered.items()):
        index = number - start_index
        if index >= 0 and (frames is None or index in frames):
            lossy = path.suffix.lower() in LOSSY_EXTENSIONS
            maps[index] = _as_gaze(_read_image(path), fixations=fixations, lossy=lossy)
    gaze = GazeMaps(str(folder), fixations, frames=maps, notes=notes)
    _check_sizes(gaze, frames)
    return gaze


def _read_video(path: Path, *, fixations: bool, frames: Collection[int] | None) -> GazeMaps:
    import av

    wanted = None if frames is None else set(frames)
    last = max(wanted) if wanted else None
    maps = {}
    try:
        with av.open(str(path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if last is not None and index > last:
                    break
                if wanted is None or index in wanted:
                    maps[index] = _as_gaze(frame.to_ndarray(format="gray"), fixations=fixations,
                                           lossy=path.suffix.lower() in LOSSY_EXTENSIONS)
    except (av.FFmpegError, IndexError, ValueError) as err:
        raise CamError(f"Gaze video {path} could not be decoded ({str(err).strip()[:120]}).") from None
    gaze = GazeMaps(str(path), fixations, frames=maps)
    _check_sizes(gaze, frames)
    return gaze


def _check_sizes(gaze: GazeMaps, frames: Collection[int] | None) -> None:
    if not gaze.frames:
        wanted = f" for the frames the model saw ({_ranges(sorted(frames))}, 0-based)" if frames else ""
        raise CamError(f"{gaze.source} holds no gaze map{wanted}; check its frame numbers (--start-index).")
    sizes = {m.shape for m in gaze.frames.values()}
    if len(sizes) > 1:
        raise CamError(f"Gaze maps in {gaze.source} have different sizes {sorted(sizes)}; they must share one.")


def read_gaze(path: str | Path, *, fixations: bool = True, frames: Collection[int] | None = None,
              start_index: int | None = None) -> GazeMaps:
    """Fixation maps (``fixations=True``, boolean) or a density (float64) from an image, ``.npy``, a folder of
    per-frame images or a video; with ``frames`` (0-based source frames), per-frame maps of other frames are
    not loaded."""
    path = Path(path)
    if not path.exists():
        raise CamError(f"Gaze input {path} does not exist; pass an image, a folder of images or a video.")
    if path.is_dir():
        return _read_folder(path, fixations=fixations, frames=frames, start_index=start_index)
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return GazeMaps(str(path), fixations,
                        image=_as_gaze(_read_image(path), fixations=fixations, lossy=suffix in LOSSY_EXTENSIONS))
    if suffix in VIDEO_EXTENSIONS:
        return _read_video(path, fixations=fixations, frames=frames)
    raise CamError(f"Gaze input {path} is neither an image ({', '.join(IMAGE_EXTENSIONS)}) nor a video.")


@dataclass
class HeatmapFile:
    """Heatmaps read from a txt, with the geometry of its sidecar (None for a legacy txt without one)."""

    txt: str
    heatmaps: np.ndarray  # float32 [V, T, H, W]
    meta: dict
    frame_indices: np.ndarray | None  # int64 [V, T]
    source_size: tuple[int, int] | None
    crop_box: Box | None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The video's stem (the txt's stem when the sidecar names no video file)."""
        video = self.meta.get("video")
        return Path(video).stem if video and not str(video).startswith("<") else Path(self.txt).stem


def read_heatmaps(txt: str | Path) -> HeatmapFile:
    """A heatmap txt and its JSON sidecar, checked against each other."""
    txt = Path(txt)
    maps = read_heatmap_txt(txt)
    side = sidecar_path(txt)
    if not side.is_file():
        note = f"{txt} has no sidecar {side.name}: its heatmaps are taken to cover the whole gaze frame"
        return HeatmapFile(str(txt), maps[None], {}, None, None, None, [note])
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        shape = [int(v) for v in meta["shape"]]
        indices = np.asarray(meta["frame_indices"], dtype=np.int64)
        source = (int(meta["source_size"][0]), int(meta["source_size"][1]))
        crop = tuple(float(v) for v in meta["crop_box"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise CamError(f"Sidecar {side} is damaged or not a heatmap sidecar ({type(err).__name__}: {err}).") from None
    if len(shape) != 4 or int(np.prod(shape[:-2])) != len(maps) or tuple(shape[-2:]) != maps.shape[1:] \
            or indices.shape != tuple(shape[:-2]):
        raise CamError(f"{txt} holds {len(maps)} heatmaps of {maps.shape[1]}×{maps.shape[2]}, but its sidecar says "
                       f"shape {shape} with {indices.size} frame indices; they do not belong together.")
    if shape[0] > 1 and len({tuple(row) for row in indices.tolist()}) < shape[0]:
        raise CamError(f"{txt} holds several crops of the same frames (--all-views) but its sidecar records one "
                       "crop window; explain with the center view to compare with gaze.")
    return HeatmapFile(str(txt), maps.reshape(shape), meta, indices, source, crop)  # type: ignore[arg-type]


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
    maps = scored(clip_saliency(heat.heatmaps), clip_fix, clip_dens)
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
        notes.append(f"frames {_ranges(empty)} have no fixation to score{' in the window' if region == 'crop' else ''}"
                     "; they are left out of the per-frame scores")
    source_saliency = heatmap_to_source(clip_saliency(heat.heatmaps), gaze_size, box)[0]
    return GazeScores(heat.name, heat.txt, heat.meta, region, clip, rows, box, gaze_size, source_saliency,
                      np.asarray(clip_fix, dtype=bool), clip_dens, notes)


def _ranges(frames: list[int]) -> str:
    shown = ", ".join(str(f) for f in frames[:8])
    return shown + (f" and {len(frames) - 8} more" if len(frames) > 8 else "")


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


def write_csv(path: str | Path, rows: list[dict]) -> Path:
    """Write score rows as CSV (atomically); metric columns follow :data:`CSV_FIELDS`."""
    metrics = list(dict.fromkeys(k for row in rows for k in row if k not in CSV_FIELDS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, [*CSV_FIELDS, *metrics], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return Path(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.gaze", description=__doc__.splitlines()[0])
    parser.add_argument("heatmaps", help="heatmap txt (with its .json sidecar) or a batch output folder")
    parser.add_argument("fixations", help="fixation image, folder of per-frame images or video; for a batch "
                                          "folder, a folder with one such entry per video (named by the video)")
    parser.add_argument("--density", default=None, help="fixation density: image, folder or video (batch: folder)")
    parser.add_argument("--region", default="crop", choices=REGIONS,
                        help="score where the model looked (crop, default) or over the whole frame")
    parser.add_argument("--start-index", type=int, default=None,
                        help="frame number of the first video frame in per-frame gaze folders (default 1, or 0 "
                             "when a frame numbered 0 exists)")
    parser.add_argument("--metrics", nargs="+", default=None, choices=METRICS, help="metrics to compute (default all)")
    parser.add_argument("--json", action="store_true", help='print {"clip": {...}, "frames": [...]} as JSON')
    parser.add_argument("--out", default=None, help="CSV to write: one row per clip, and per frame")
    return parser


def _table(results: list[GazeScores]) -> str:
    metrics = list(results[0].clip)
    lines = ["\t".join(["video", *metrics])]
    lines += ["\t".join([r.name, *(f"{r.clip[m]:.4f}" for m in metrics)]) for r in results]
    return "\n".join(lines)


def run(args: argparse.Namespace, note=print) -> str:
    """Score and write the outputs; returns what to print on stdout. Raises CamError on bad input."""
    if args.out is not None:
        out = Path(args.out)
        if out.suffix.lower() != ".csv" or not out.parent.is_dir():
            raise CamError(f"--out {out} must be a .csv file in an existing folder.")
    heatmaps = Path(args.heatmaps)
    if heatmaps.is_dir():
        results, notes = score_batch(heatmaps, args.fixations, args.density, region=args.region,
                                     start_index=args.start_index, metrics=args.metrics)
    elif heatmaps.is_file():
        results, notes = [score_file(heatmaps, args.fixations, args.density, region=args.region,
                                     start_index=args.start_index, metrics=args.metrics)], []
    else:
        raise CamError(f"Heatmap file or folder {heatmaps} does not exist; "
                       "pass a heatmap txt or a batch output folder.")
    for line in dict.fromkeys([*notes, *(n for r in results for n in r.notes)]):
        note(line)
    if args.out is not None:
        write_csv(args.out, csv_rows(results))
    if args.json:
        if heatmaps.is_file():
            return json.dumps(results[0].to_json(), indent=2)
        return json.dumps({"videos": [{"video": r.name, "txt": r.txt, **r.to_json()} for r in results]}, indent=2)
    return _table(results)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        text = run(args, note=lambda line: print(f"note: {line}", file=sys.stderr))
    except CamError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
