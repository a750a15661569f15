"""The npz beside a heatmap txt: a result's full-precision heatmaps, frame indices and (when known) scores,
probabilities and target. The writer (:func:`npz_arrays`, :func:`write_npz`) and the reader (:func:`read_npz`,
and :func:`read_result_npz` for the npz beside a txt) live side by side.

An npz comes from anywhere: the shape each array declares is checked before anything is allocated
(:func:`npz_members`, :func:`core.limits.check_declared`), and only plain numeric arrays are read.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from core.errors import CamError
from core.limits import DEFLATE_MAX_RATIO, check_declared
from core.outputs import atomic_path
from core.result import ExplainResult

NPZ_ARRAYS = ("heatmaps", "frame_indices", "scores", "probs", "target_class")
MAX_CLASSES = 2**20  # more classes than any recognizer has


def npz_arrays(result: ExplainResult) -> dict[str, np.ndarray]:
    """What a result's npz holds: heatmaps, frame indices and (when known) scores, probabilities and target."""
    arrays: dict[str, np.ndarray] = {"heatmaps": result.heatmaps, "frame_indices": np.asarray(result.frame_indices)}
    if result.scores is not None:
        arrays["scores"] = result.scores
    if result.probs is not None:
        arrays["probs"] = result.probs
    if result.target_class is not None:
        arrays["target_class"] = np.asarray(result.target_class, dtype=np.int64)
    return arrays


def write_npz(path: str | Path, result: ExplainResult) -> Path:
    """:func:`npz_arrays` in one uncompressed npz (fast to write in a batch), atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **npz_arrays(result))  # type: ignore[arg-type]
    return Path(path)


def npz_members(path: str | Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The shape and dtype each array of an npz declares, read from the member headers alone; a CamError when
    a declaration is more than the member can hold (:func:`core.limits.check_declared`) or not plain data."""
    path = Path(path)
    found: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                with archive.open(info) as handle:
                    version = np.lib.format.read_magic(handle)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
                    else:
                        raise CamError(f"{path}: array {key} is in npy format {version}, which is not read here.")
                    header = handle.tell()
                if dtype.hasobject:
                    raise CamError(f"{path}: array {key} holds Python objects; only numeric arrays are read.")
                nbytes = math.prod(shape) * dtype.itemsize
                stored = info.compress_size * (DEFLATE_MAX_RATIO if info.compress_type == zipfile.ZIP_DEFLATED else 1)
                check_declared(nbytes, max(0, min(info.file_size, stored) - header), f"{path.name}: array {key}")
                found[key] = (tuple(int(v) for v in shape), dtype)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as err:
        raise CamError(f"{path} is not a readable npz ({type(err).__name__}: {err}).") from err
    return found


def read_npz(path: str | Path, names: tuple[str, ...] = NPZ_ARRAYS) -> dict[str, np.ndarray]:
    """The arrays ``names`` (those present) of a result npz, their declared sizes checked first
    (:func:`npz_members`)."""
    members = npz_members(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in names if name in members}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise CamError(f"{path} is not a readable npz ({type(err).__name__}: {err}).") from err


def read_result_npz(npz: Path, heatmaps: np.ndarray | None, notes: list[str]) -> dict[str, np.ndarray]:
    """What the npz beside a txt adds: full-precision heatmaps, scores, probabilities and target, when its
    heatmaps are the txt's (else nothing, with a note); all of it when there is no txt. Declared shapes are
    checked against each other before anything is loaded."""
    members = npz_members(npz)
    if "heatmaps" not in members:
        if heatmaps is None:
            raise CamError(f"{npz} holds no heatmaps array; it is not a result npz.")
        notes.append(f"{npz.name} holds no heatmaps; it was left out.")
        return {}
    declared = members["heatmaps"][0]
    if len(declared) not in (3, 4):
        raise CamError(f"{npz}: heatmaps have shape {declared}, not [views, frames, height, width].")
    if heatmaps is not None and (math.prod(declared) != heatmaps.size or declared[-2:] != heatmaps.shape[-2:]):
        notes.append(f"{npz.name} holds other heatmaps than the txt beside it; it was left out.")
        return {}
    expected = {"frame_indices": math.prod(declared[:-2]), "target_class": 1}
    for name, (shape, _) in members.items():
        count = math.prod(shape)
        if (name in expected and count != expected[name]) or (
                name in ("scores", "probs") and (len(shape) != 1 or count > MAX_CLASSES)):
            raise CamError(f"{npz}: array {name} has shape {shape}, which does not fit heatmaps of shape {declared}.")
    arrays = read_npz(npz)
    stored = arrays["heatmaps"]
    if heatmaps is None:
        return arrays
    if np.abs(stored.reshape(heatmaps.shape).astype(np.float64) - heatmaps).max() > 1e-5:
        notes.append(f"{npz.name} holds other heatmaps than the txt beside it; it was left out.")
        return {}
    arrays["heatmaps"] = stored.reshape(heatmaps.shape).astype(np.float32)
    return arrays
