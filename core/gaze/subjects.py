"""Each observer's fixations apart: what the human upper bound of :mod:`core.study` needs.

:mod:`core.gaze.fixations` writes, when the samples have a ``subject`` column, one ``subjects/<video>.npz`` per
video beside ``fixations/`` and ``density/``: the marked pixel of every used sample (``frame``, ``x``, ``y``,
0-based pixel column and row), the index of its subject in ``names``, the frame ``size`` (width, height) and
the ``sigma`` (pixels) of the blur the densities were made with, so the leave-one-subject-out densities are
blurred the same way. Plain arrays, read without pickle.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import CamError

FOLDER = "subjects"
_FIELDS = ("frame", "x", "y", "subject", "names", "size", "sigma")


@dataclass(frozen=True)
class Subjects:
    """One video's fixations, subject by subject (see the module docstring)."""

    names: tuple[str, ...]
    frame: np.ndarray  # int64 [n]
    x: np.ndarray  # int64 [n], pixel column
    y: np.ndarray  # int64 [n], pixel row
    subject: np.ndarray  # int64 [n], index into names
    size: tuple[int, int]  # (width, height)
    sigma: float

    def counts(self, frames: list[int], who: int | None = None) -> np.ndarray:
        """``[len(frames), H, W]`` float64: how many samples of subject ``who`` (None: all) mark each pixel."""
        width, height = self.size
        out = np.zeros((len(frames), height, width))
        keep = np.ones(self.frame.size, bool) if who is None else self.subject == who
        for i, frame in enumerate(frames):
            on = keep & (self.frame == frame)
            np.add.at(out[i], (self.y[on], self.x[on]), 1.0)
        return out

    def blurred(self, counts: np.ndarray) -> np.ndarray:
        """Each count map convolved with the Gaussian of :attr:`sigma` (zero outside the frame), as
        :func:`core.gaze.fixations.density_map` makes densities (before its peak scaling, which no metric
        sees). Linear: the density of all subjects minus one subject's is the density of the others."""
        return np.stack([cv2.GaussianBlur(c, (0, 0), self.sigma, borderType=cv2.BORDER_CONSTANT) if c.any()
                         else c for c in counts])


def write_subjects(path: str | Path, names: list[str], frame: np.ndarray, x: np.ndarray, y: np.ndarray,
                   subject: np.ndarray, size: tuple[int, int], sigma: float) -> None:
    """Write a :class:`Subjects` file: an ``.npz`` (``np.load`` reads it), compressed, with fixed member dates so
    the same fixations give the same bytes."""
    arrays = {"frame": np.asarray(frame, np.int64), "x": np.asarray(x, np.int64), "y": np.asarray(y, np.int64),
              "subject": np.asarray(subject, np.int64), "names": np.asarray(names, dtype=np.str_),
              "size": np.asarray(size, np.int64), "sigma": np.float64(sigma)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue(),
                             compress_type=zipfile.ZIP_DEFLATED)


def read_subjects(path: str | Path) -> Subjects:
    """Read a :class:`Subjects` file; a CamError saying what is wrong with it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in _FIELDS if name not in data]
            if missing:
                raise CamError(f"{path} lacks {', '.join(missing)}; write it with python -m core.gaze.fixations "
                               "from samples with a subject column.")
            arrays = {name: data[name] for name in _FIELDS}
    except (OSError, ValueError) as err:
        raise CamError(f"Cannot read the subjects file {path} ({err}).") from err
    names = tuple(str(n) for n in arrays["names"].ravel())
    lengths = {arrays[k].size for k in ("frame", "x", "y", "subject")}
    width, height = (int(v) for v in arrays["size"].ravel()[:2])
    subject = arrays["subject"].astype(np.int64)
    xs, ys = arrays["x"].astype(np.int64), arrays["y"].astype(np.int64)
    if len(lengths) != 1 or (subject.size and (subject.min() < 0 or subject.max() >= len(names))) \
            or (xs.size and (xs.min() < 0 or xs.max() >= width or ys.min() < 0 or ys.max() >= height)):
        raise CamError(f"{path} is inconsistent (array lengths, subject indices or pixels outside the "
                       f"{width}×{height} frame); write it again with python -m core.gaze.fixations.")
    return Subjects(names, arrays["frame"].astype(np.int64), xs, ys, subject, (width, height),
                    float(arrays["sigma"]))
