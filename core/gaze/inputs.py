"""Gaze inputs (one map per clip, or per frame: a folder of numbered images or a video) and heatmap files
read as results (:func:`core.heatmap_files.read_result`, with their windows)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import access, limits
from core.errors import CamError
from core.gaze.fixations import default_sigma, density_map
from core.geometry import Views
from core.heatmap_files import read_result
from core.result import ExplainResult
from core.video import VIDEO_EXTENSIONS

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".npy")
LOSSY_EXTENSIONS = (".jpg", ".jpeg", ".webp", *(e for e in VIDEO_EXTENSIONS if e != ".gif"))


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
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)  # the header's shape, nothing read yet
            limits.check_declared(mapped.nbytes, path.stat().st_size, f"Gaze map {path}")
            array = np.array(mapped)
        except (OSError, ValueError) as err:
            raise CamError(f"Gaze map {path} could not be read ({err}).") from err
    else:
        import cv2

        limits.check_image(path, "Gaze map")  # the header's size, before decoding
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise CamError(f"Gaze map {path} is not a readable image.")
        array = image
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


def subfolders(folder: str | Path) -> str:
    """`` (it holds the sub-folders a/, b/)`` for an error about ``folder``, or ``""`` when it has none."""
    try:
        names = sorted(p.name + "/" for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return ""
    if not names:
        return ""
    return f" (it holds the sub-folder{'s' if len(names) > 1 else ''} {', '.join(names[:8])}" + \
        (f" and {len(names) - 8} more)" if len(names) > 8 else ")")


FIXATIONS_DIR, DENSITY_DIR, FIXATIONS_REPORT = "fixations", "density", "fixations.json"


def fixations_output(fixations: str | Path, density: str | Path | None = None,
                     blur: float | str | None = None) -> tuple[str, str | None, list[str]]:
    """The gaze inputs to read when ``fixations`` may be the ``--out`` folder of ``python -m core.gaze.fixations``
    (a folder holding ``fixations/`` beside ``density/`` or ``fixations.json``): its ``fixations/``, and its
    ``density/`` unless a density or a blur was given; any other path is returned as given. Returns
    (fixations, density, notes saying what was taken)."""
    folder = Path(fixations)
    inner = folder / FIXATIONS_DIR
    if not (inner.is_dir() and ((folder / DENSITY_DIR).is_dir() or (folder / FIXATIONS_REPORT).is_file())):
        return str(fixations), None if density is None else str(density), []
    taken = [f"{folder} is the output of python -m core.gaze.fixations: fixations from {inner}"]
    if density is None and blur is None and (folder / DENSITY_DIR).is_dir():
        density = folder / DENSITY_DIR
        taken[0] += f", density from {density}"
    return str(inner), None if density is None else str(density), taken


def _read_folder(folder: Path, *, fixations: bool, frames: Collection[int] | None,
                 start_index: int | None) -> GazeMaps:
    files = access.listed(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                                 and not p.name.startswith(".")), f"gaze maps in {folder}")
    if not files:
        raise CamError(f"Folder {folder} holds no gaze images ({', '.join(IMAGE_EXTENSIONS)}){subfolders(folder)}.")
    numbered: dict[int, Path] = {}
    for path in files:
        number = frame_number(path)
        if number in numbered:
            raise CamError(f"Gaze maps {numbered[number].name} and {path.name} both carry frame number {number}.")
        numbered[number] = path
    notes = []
    if start_index is None:
        start_index = 0 if 0 in numbered else 1
        notes.append(numbering_note(str(folder), start_index))
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
    header = limits.check_video(path, "Gaze video")
    count = len(wanted) if wanted is not None else header.frames or 1
    limits.check_decoded(count, header.width * header.height * 8, f"Gaze video {path}")  # float64 maps
    try:
        with av.open(str(path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if last is not None and index > last:
                    break
                if wanted is None or index in wanted:
                    maps[index] = _as_gaze(frame.to_ndarray(format="gray"), fixations=fixations,
                                           lossy=path.suffix.lower() in LOSSY_EXTENSIONS)
    except (av.FFmpegError, IndexError, ValueError) as err:
        raise CamError(f"Gaze video {path} could not be decoded ({str(err).strip()[:120]}).") from err
    gaze = GazeMaps(str(path), fixations, frames=maps)
    _check_sizes(gaze, frames)
    return gaze


def _check_sizes(gaze: GazeMaps, frames: Collection[int] | None) -> None:
    if not gaze.frames:
        wanted = f" for the frames the model saw ({frame_list(sorted(frames))}, 0-based)" if frames else ""
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


def blurred(fixations: GazeMaps, sigma: float | str = "auto") -> GazeMaps:
    """A density made from fixation maps the way ``python -m core.gaze.fixations`` makes one: each map (the
    clip's, or each frame's) convolved with a Gaussian of ``sigma`` gaze-map pixels (``"auto"``: the width / 30,
    :func:`core.gaze.fixations.default_sigma`), zero outside the frame, peak scaled to 255
    (:func:`core.gaze.fixations.density_map`)."""
    if not fixations.binary:
        raise CamError("Only fixation maps can be blurred into a density.")
    width = fixations.size[0]
    value = default_sigma(width) if sigma == "auto" else float(sigma)
    if not np.isfinite(value) or value <= 0:
        raise CamError(f"The blur must be a positive σ in gaze-map pixels (or auto: width / 30), not {sigma}.")

    def blur(mask: np.ndarray) -> np.ndarray:
        return density_map(mask.astype(np.float64), value).astype(np.float64)

    note = (f"the density is the fixations blurred with a Gaussian of σ = {value:.1f} gaze-map pixels"
            + (" (width / 30)" if sigma == "auto" else ""))
    if fixations.image is not None:
        return GazeMaps(f"{fixations.source} (blurred)", False, image=blur(fixations.image), notes=[note])
    return GazeMaps(f"{fixations.source} (blurred)", False,
                    frames={frame: blur(mask) for frame, mask in fixations.frames.items()}, notes=[note])


def read_heatmaps(txt: str | Path) -> ExplainResult:
    """A heatmap txt (or its sidecar or npz) read as a result without frames, checked against gaze scoring's
    needs: its ``file_notes`` say what gaze scoring will assume."""
    heat = read_result(txt, frames=False)
    if heat.windows is None and heat.views == Views.ALL and not heat.legacy:
        raise CamError(f"{txt} holds several crops of the same frames (--all-views) but its sidecar predates "
                       "per-view windows, so where each view looked is unknown; explain the video again.")
    if heat.windows is None:
        heat.file_notes.append(f"{Path(txt).name} records no window (no sidecar, or one without source_size and "
                               "crop_box): its heatmaps are taken to cover the whole gaze frame")
    return heat


def frame_list(frames: list[int]) -> str:
    """Up to eight frame numbers, then how many more."""
    shown = ", ".join(str(f) for f in frames[:8])
    return shown + (f" and {len(frames) - 8} more" if len(frames) > 8 else "")


_NUMBERING = re.compile(r"^gaze maps in (.+) are numbered from (\d+) \(file \d+ = first frame\); use --start-index "
                        r"to change$")


def numbering_note(where: str, start_index: int) -> str:
    """The note on how a gaze folder's files are numbered, when the number of its first frame was guessed."""
    return (f"gaze maps in {where} are numbered from {start_index} (file {start_index} = first frame); "
            "use --start-index to change")


def is_numbering_note(note: str) -> bool:
    """Whether ``note`` is :func:`numbering_note`'s (one folder's, or several merged)."""
    return _NUMBERING.match(note) is not None


def merge_numbering_notes(notes: Iterable[str]) -> list[str]:
    """``notes`` with the per-folder numbering notes of the same first number said once, naming the folders
    (a batch of 50 videos gets one note, not 50), in the place of the first one; other notes unchanged."""
    notes = list(notes)
    folders: dict[int, list[str]] = {}
    for note in notes:
        found = _NUMBERING.match(note)
        if found:
            folders.setdefault(int(found.group(2)), []).append(found.group(1))
    merged, said = [], set()
    for note in notes:
        found = _NUMBERING.match(note)
        if not found:
            merged.append(note)
            continue
        start = int(found.group(2))
        if start in said:
            continue
        said.add(start)
        names = folders[start]
        where = names[0] if len(names) == 1 else (
            f"{len(names)} folders ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})")
        merged.append(numbering_note(where, start))
    return merged
