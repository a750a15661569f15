"""The ``mit`` protocol: the MIT saliency benchmark's MATLAB metrics, transcribed one map at a time.

Each function below follows one file of the benchmark's code (cvzoya/saliency, ``code_forMetrics/``; Bylinskii
et al., "What do different evaluation metrics tell us about saliency models?", TPAMI 2019), which DHF1K's
evaluation (wenguanwang/DHF1K, ``code_for_Metrics.zip``: ``code_for_Metrics/evaluationFunc.m``) copies
unchanged (its ``AUC_Judd.m`` adds only a ``double()`` cast). Where the MATLAB code returns NaN (a constant
map, no fixation) these do too, and the caller leaves the score out. What is not MATLAB's, and why:

- Random draws (AUC_Judd's jitter, AUC_Borji's and sAUC's splits) come from a seeded numpy generator, so a
  score repeats; MATLAB's ``rand``/``randi``/``randperm`` streams cannot be reproduced outside MATLAB.
- Maps are already on the fixation map's grid when they get here (the callers place them); the MATLAB code's
  ``imresize`` (bicubic) is used only by EMD's downsampling, done here by area averaging (``cv2.INTER_AREA``,
  what ``imresize``'s antialiased shrink approximates).
- EMD solves the transport problem exactly with POT's network simplex (``ot.emd2``), where the benchmark
  calls Pele & Werman's FastEMD (``emd_hat_gd_metric_mex`` with ``extra_mass_penalty = 0``): with both maps
  normalised to sum 1 the two are the same quantity.

:func:`trapezoid` and :func:`auc_sampled` (the thresholded ROC of AUC_Borji and AUC_shuffled) are shared with
the ``exact`` protocol in :mod:`core.saliency`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

EPS = 2.2204e-16
"""MATLAB's ``eps`` as the benchmark's KLdiv.m and InfoGain.m add it (rounded as pysaliency's ``MIT_KLDiv``)."""

EMD_DOWNSIZE = 32
"""EMD.m's default ``downsize``: maps are shrunk by this factor before the transport problem is solved."""


def trapezoid(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Trapezoid-rule area under y(x) along the last axis (MATLAB's ``trapz``)."""
    return (np.diff(x, axis=-1) * (y[..., 1:] + y[..., :-1]) / 2).sum(axis=-1)


def auc_sampled(positives: np.ndarray, negatives: np.ndarray, step: float) -> float:
    """Mean ROC area over splits (columns of ``negatives``), thresholds 0, step, 2·step, ... (descending).

    The loop body of AUC_Borji.m and AUC_shuffled.m: ``allthreshes = fliplr(0:stepSize:max([Sth;curfix]))``,
    ``tp(i+1) = sum(Sth >= thresh) / Nfixations``, ``fp(i+1) = sum(curfix >= thresh) / numel(curfix)``, the
    curve closed by (0, 0) and (1, 1) and integrated with ``trapz``. Thresholds above one split's maximum
    (the grid here runs to the maximum of all splits) add points at (0, 0) and no area."""
    top = max(positives.max(), negatives.max())
    thresholds = np.arange(int(np.floor(top / step + 1e-9)) + 1)[::-1] * step
    tp = (positives[None, :] >= thresholds[:, None]).mean(axis=1)  # [K]
    fp = (negatives[None, :, :] >= thresholds[:, None, None]).mean(axis=1)  # [K, splits]
    n_splits = negatives.shape[1]
    tp = np.concatenate([np.zeros(1), tp, np.ones(1)])
    fp = np.concatenate([np.zeros((1, n_splits)), fp, np.ones((1, n_splits))]).T  # [splits, K + 2]
    return float(trapezoid(fp, np.broadcast_to(tp, fp.shape)).mean())


def _normalised(smap: np.ndarray) -> np.ndarray:
    """``(map - min(map(:))) / (max(map(:)) - min(map(:)))``: all NaN for a constant map, as in MATLAB."""
    low, high = smap.min(), smap.max()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (smap - low) / (high - low) if high > low else np.full(smap.shape, np.nan)


def _z(smap: np.ndarray) -> np.ndarray:
    """``(map - mean(map(:))) / std(map(:))``, MATLAB's ``std`` (N - 1); NaN for a constant map."""
    centred = smap - smap.mean()
    std = float(np.sqrt(np.square(centred).sum() / (smap.size - 1))) if smap.size > 1 else 0.0
    return centred / std if std > 0 else np.full(smap.shape, np.nan)


def auc_judd(smap: np.ndarray, fixated: np.ndarray, rng: np.random.Generator, *, jitter: bool = True) -> float:
    """AUC_Judd.m, ``AUC_Judd(saliencyMap, fixationMap, jitter=1)``.

    ``saliencyMap + rand(size)/10000000`` (the seeded jitter that breaks ties), min-max normalised; the
    thresholds are the map's values at the fixated pixels, sorted descending; at the i-th,
    ``tp = i / Nfixations`` and ``fp = (sum(S >= thresh) - i) / (Npixels - Nfixations)``; the area is
    ``trapz`` over (0, 0), those points, (1, 1)."""
    if not fixated.any():
        return math.nan
    values = smap + rng.random(smap.shape) / 1e7 if jitter else smap
    scaled = _normalised(values).ravel()
    if np.isnan(scaled).all():
        return math.nan
    positives = scaled[fixated.ravel()]
    n_fix, n_pix = positives.size, scaled.size
    thresholds = np.sort(positives)[::-1]
    above = n_pix - np.searchsorted(np.sort(scaled), thresholds, side="left")  # sum(S >= thresh)
    ranks = np.arange(1, n_fix + 1)
    tp = np.concatenate([[0.0], ranks / n_fix, [1.0]])
    fp = np.concatenate([[0.0], (above - ranks) / (n_pix - n_fix), [1.0]])
    return float(trapezoid(fp, tp))


def auc_borji(smap: np.ndarray, fixated: np.ndarray, rng: np.random.Generator, *, n_splits: int = 100,
              step: float = 0.1) -> float:
    """AUC_Borji.m, ``AUC_Borji(saliencyMap, fixationMap, Nsplits=100, stepSize=.1)``.

    NaN with at most one fixated pixel; the map min-max normalised; each split's negatives are the map at
    ``randi([1 Npixels], [Nfixations, Nsplits])`` (uniform, with replacement); :func:`auc_sampled`."""
    if np.count_nonzero(fixated) <= 1:
        return math.nan
    scaled = _normalised(smap).ravel()
    if np.isnan(scaled).all():
        return math.nan
    positives = scaled[fixated.ravel()]
    picks = rng.integers(0, scaled.size, size=(positives.size, n_splits))
    return auc_sampled(positives, scaled[picks], step)


def auc_shuffled(smap: np.ndarray, fixated: np.ndarray, other: np.ndarray, rng: np.random.Generator, *,
                 n_splits: int = 100, step: float = 0.1) -> float:
    """AUC_shuffled.m, ``AUC_shuffled(saliencyMap, fixationMap, otherMap, Nsplits=100, stepSize=.1)``.

    ``otherMap`` marks the fixations of other images (DHF1K's evaluationFunc.m builds it from 10 randomly
    drawn frames with makeFixationMap.m; :mod:`core.study` does so); ``ind = find(otherMap > 0)`` (each
    location once), ``Nfixations_oth = min(Nfixations, numel(ind))``; each split's negatives are the map at
    the first ``Nfixations_oth`` of ``ind(randperm(numel(ind)))``; :func:`auc_sampled`. NaN without other
    fixations."""
    if not fixated.any():
        return math.nan
    scaled = _normalised(smap).ravel()
    locations = np.flatnonzero(np.asarray(other).ravel() > 0)
    if np.isnan(scaled).all() or locations.size == 0:
        return math.nan
    positives = scaled[fixated.ravel()]
    count = min(positives.size, locations.size)
    picks = np.stack([locations[rng.permutation(locations.size)[:count]] for _ in range(n_splits)], axis=1)
    return auc_sampled(positives, scaled[picks], step)


def nss(smap: np.ndarray, fixated: np.ndarray) -> float:
    """NSS.m: ``map = (map - mean(map(:))) / std(map(:)); mean(map(logical(fixationMap)))``."""
    if not fixated.any():
        return math.nan
    return float(_z(smap)[fixated].mean())


def cc(smap: np.ndarray, density: np.ndarray) -> float:
    """CC.m: both maps z-scored, then ``corr2`` (Pearson's correlation over pixels); the density is the
    continuous fixation map (DHF1K's evaluationFunc.m: ``double(imread(maps/…png)) / 255``)."""
    a, b = _z(smap), _z(density)
    if np.isnan(a).all() or np.isnan(b).all():
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def _distribution(smap: np.ndarray) -> np.ndarray:
    """similarity.m's normalisation: ``if any(map(:))``, min-max then divided by its sum (a zero map stays
    zero; a constant non-zero map becomes NaN)."""
    if not smap.any():
        return smap.astype(np.float64)
    scaled = _normalised(smap)
    return scaled / scaled.sum()


def sim(smap: np.ndarray, density: np.ndarray) -> float:
    """similarity.m: both maps min-max normalised and divided by their sum, ``sum(min(map1, map2))``; NaN
    when either is NaN throughout."""
    a, b = _distribution(smap), _distribution(density)
    if np.isnan(a).all() or np.isnan(b).all():
        return math.nan
    return float(np.minimum(a, b).sum())


def kl(smap: np.ndarray, density: np.ndarray) -> float:
    """KLdiv.m: each map divided by its sum when it has a non-zero value (no shift, no min-max), then
    ``sum(map2 .* log(eps + map2 ./ (map1 + eps)))``; map2 is the density."""
    p = smap / smap.sum() if smap.any() else smap
    q = density / density.sum() if density.any() else density
    with np.errstate(invalid="ignore", divide="ignore"):  # a map with negative values: NaN, as MATLAB's is complex
        return float((q * np.log(EPS + q / (p + EPS))).sum())


def info_gain(smap: np.ndarray, fixated: np.ndarray, baseline: np.ndarray) -> float:
    """InfoGain.m (Kümmerer et al., "Information-theoretic model comparison unifies saliency metrics", PNAS
    2015), bits per fixation: both maps min-max normalised and divided by their sum,
    ``mean(log2(eps + map1(locs)) - log2(eps + mapb(locs)))`` over the fixated pixels ``locs``."""
    p, b = _normalised(smap), _normalised(baseline)
    if not fixated.any() or np.isnan(p).all() or np.isnan(b).all():
        return math.nan
    p, b = p / p.sum(), b / b.sum()
    return float((np.log2(EPS + p[fixated]) - np.log2(EPS + b[fixated])).mean())


def _downsized(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(np.asarray(image, np.float64), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def emd(smap: np.ndarray, density: np.ndarray, *, downsize: int = EMD_DOWNSIZE) -> float:
    """EMD.m, ``EMD(saliencyMap, fixationMap, toPlot=0, downsize=32)``: the density shrunk by ``downsize``
    (``imresize(fixationMap, 1/downsize)``, ``ceil`` of each side), the saliency map to the same size, each
    divided by its sum; the ground distance between cells is Euclidean in cell units; the score is the
    optimal transport cost (POT's ``ot.emd2``; the benchmark's FastEMD with zero extra-mass penalty). NaN
    when either map sums to 0 after shrinking."""
    import ot

    shape = (max(1, math.ceil(density.shape[0] / downsize)), max(1, math.ceil(density.shape[1] / downsize)))
    p, q = _downsized(density, shape).ravel(), _downsized(smap, shape).ravel()
    if not (p.sum() > 0 and q.sum() > 0):
        return math.nan
    rows, cols = np.divmod(np.arange(p.size), shape[1])
    distance = np.hypot(rows[:, None] - rows[None, :], cols[:, None] - cols[None, :])
    return float(ot.emd2(p / p.sum(), q / q.sum(), distance))
