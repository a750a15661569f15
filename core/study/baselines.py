"""Baselines that bound a study from below and above: the centre bias fitted on held-out videos, and the human
upper bound (inter-observer consistency), and where each run lies between them.

- ``center_fit``: the centre Gaussian (σx = f·W, σy = f·H, centred on the scoring grid like ``center``) whose
  f, from :data:`SIGMAS`, gives the other videos' fixations the highest mean log-likelihood (leave one video
  out, so a video's own gaze never chooses its baseline), as the benchmarks fit their centre-bias model
  (Judd et al., "Learning to predict where humans look", ICCV 2009; Kümmerer et al., PNAS 2015). The
  likelihood is that of the Gaussian normalised over a 64×64 grid on the unit square (each video's frame
  scaled to it), one mean per video, the videos weighted equally. Under ``--protocol mit`` it is also the
  baseline information gain is measured over.
- ``human``: for each video, each subject's fixations scored against the density of the other subjects
  (leave one subject out, blurred with the σ the densities were made with), the subject's own density the
  target of CC, SIM and KL; the scores averaged over subjects: the ceiling a model can reach on this gaze.
  Needs each observer's fixations apart (:mod:`core.gaze.subjects`).
- :func:`normalised`: (run − centre) / (human − centre) per metric, 0 at the centre baseline, 1 at the human
  bound (for KL, lower is better and the ratio is still 1 at the human bound).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.gaze.subjects import Subjects
from core.saliency import center_bias

SIGMAS = (0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
"""The candidate widths of the fitted centre Gaussian, as fractions of the grid's width and height."""
FIXED_SIGMA = 0.25  # the ``center`` baseline's, used by center_fit when fewer than two videos have fixations
_BINS = 64


def center_log_likelihood(xs: np.ndarray, ys: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mean log-likelihood (nats per fixation, per unit area of the normalised frame) of fixated pixels
    ``(xs, ys)`` of a ``size`` (w, h) frame under each candidate of :data:`SIGMAS`; NaN without fixations."""
    if np.size(xs) == 0:
        return np.full(len(SIGMAS), np.nan)
    bx = np.clip(((np.asarray(xs) + 0.5) / size[0] * _BINS).astype(np.int64), 0, _BINS - 1)
    by = np.clip(((np.asarray(ys) + 0.5) / size[1] * _BINS).astype(np.int64), 0, _BINS - 1)
    out = []
    for sigma in SIGMAS:
        gaussian = center_bias((_BINS, _BINS), sigma)
        out.append(float(np.log(gaussian[by, bx] / gaussian.sum() * _BINS * _BINS).mean()))
    return np.asarray(out)


def fitted_sigmas(likelihoods: dict[str, np.ndarray]) -> dict[str, float]:
    """For each video, the σ fraction that fits the other videos best (:func:`center_log_likelihood` of each
    video); :data:`FIXED_SIGMA` when no other video has fixations."""
    names = list(likelihoods)
    table = np.array([likelihoods[name] for name in names]).reshape(len(names), len(SIGMAS))
    valid = np.isfinite(table).all(axis=1)
    out = {}
    for i, name in enumerate(names):
        others = valid.copy()
        others[i] = False
        out[name] = SIGMAS[int(np.argmax(table[others].mean(axis=0)))] if others.any() else FIXED_SIGMA
    return out


def leave_one_out(subjects: Subjects, frames: list[int]) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per subject with fixations on ``frames``: its name, its fixations ``[1 + F, H, W]`` (bool: the clip's
    union, then each frame's), its own density and the other subjects' density (float64, the clip's mean,
    then each frame's), on the gaze frame. Nothing for a video with fewer than two such subjects."""
    total = subjects.counts(frames)
    everyone = subjects.blurred(total)
    present = [who for who in range(len(subjects.names)) if np.any(subjects.subject[np.isin(subjects.frame, frames)]
                                                                    == who)]
    if len(present) < 2:
        return
    for who in present:
        own_counts = subjects.counts(frames, who)
        own = subjects.blurred(own_counts)
        others = everyone - own  # the blur is linear
        np.maximum(others, 0, out=others)  # rounding below zero where nobody else looked
        fix = np.asarray(own_counts > 0)
        yield (subjects.names[who], np.concatenate([fix.any(axis=0, keepdims=True), fix]),
               np.concatenate([own.mean(axis=0)[None], own]), np.concatenate([others.mean(axis=0)[None], others]))


def normalised(run: float, centre: float, human: float) -> float:
    """(run − centre) / (human − centre): 0 at the centre baseline, 1 at the human bound; NaN when the two are
    equal (nothing to place the run between) or a value is missing."""
    span = human - centre
    if not (np.isfinite(run) and np.isfinite(span)) or span == 0:
        return float("nan")
    return float((run - centre) / span)
