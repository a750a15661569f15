"""Saliency metrics: compare a (Grad-CAM) saliency map with human gaze, as the MIT saliency benchmark does.

Definitions follow the benchmark's MATLAB code (cvzoya/saliency, ``code_forMetrics``) described in
Bylinskii et al., "What do different evaluation metrics tell us about saliency models?" (TPAMI 2019):

- ``fixations`` is a map where a value > 0 marks a fixated pixel (a boolean map or a 0/255 image);
  the location-based metrics (AUC_Judd, AUC_Borji, sAUC, NSS) use it.
- ``density`` is a continuous fixation density (e.g. blurred fixations); the distribution-based metrics
  (CC, SIM, KL) use it when given, else the fixation map itself.
- A saliency map of another size is resized to the fixation map's size (bilinear, ``cv2.INTER_LINEAR``;
  the MATLAB code uses ``imresize``, i.e. bicubic).

Deliberate differences from the MATLAB code, so that every score is deterministic and defined:

- AUC_Judd adds no random jitter (MATLAB adds ``rand / 1e7`` to break ties among equal saliency values).
  It computes the same ROC area in closed form, counting ties by their expected value under that jitter:
  without ties it equals the MATLAB formula, with ties the mean of the MATLAB score over its jitter.
- AUC_Borji and sAUC draw their random negatives from a seeded generator (``rng``, default seed 0).
- A constant saliency map (e.g. an all-zero CAM) predicts nothing and is scored as a uniform map
  (AUC_Borji and sAUC 0.5, AUC_Judd 0.5 + 1 / (2 · (fixations + 1)) as MATLAB's jitter gives on
  average, NSS 0, CC 0); the MATLAB code returns NaN for most of these.
- KL shifts a saliency map with negative values up to a minimum of 0 before normalising it.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from core.errors import CamError

EPS = 2.2204e-16
"""The MIT benchmark's regulariser for KL (MATLAB's ``eps``, rounded as pysaliency's ``MIT_KLDiv`` does)."""

METRICS = ("AUC_Judd", "AUC_Borji", "NSS", "CC", "SIM", "KL")
"""Metrics :func:`score` computes by default; ``sAUC`` is added when ``other_fixations`` is given."""

Rng = int | np.random.Generator | None


def _as_map(array: np.ndarray, name: str) -> np.ndarray:
    """The 2-D float64 map in ``array``, or a CamError saying what is wrong with it."""
    result = np.asarray(array)
    if result.ndim != 2:
        raise CamError(f"The {name} must be a 2-D (height, width) array, got shape {result.shape}.")
    if result.size == 0:
        raise CamError(f"The {name} is empty (shape {result.shape}).")
    if not np.issubdtype(result.dtype, np.number) and result.dtype != bool:
        raise CamError(f"The {name} must hold numbers, got dtype {result.dtype}.")
    result = result.astype(np.float64)
    if not np.isfinite(result).all():
        raise CamError(f"The {name} contains NaN or infinite values.")
    return result


def _fixated(fixations: np.ndarray, name: str = "fixation map") -> np.ndarray:
    """Boolean mask of fixated pixels (> 0); at least one must be fixated and one not."""
    mask = _as_map(fixations, name) > 0
    if not mask.any():
        raise CamError(f"The {name} has no fixated pixel (no value > 0).")
    if mask.all():
        raise CamError(f"The {name} marks every pixel as fixated, so nothing is left to compare against.")
    return mask


def _resized(saliency: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The saliency map as float64, resized bilinearly to ``shape`` when its size differs."""
    smap = _as_map(saliency, "saliency map")
    if smap.shape != shape:
        smap = cv2.resize(smap, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return smap


def _ground_truth(target: np.ndarray, name: str) -> np.ndarray:
    """A density (or fixation map) as float64: non-negative and not constant."""
    gt = _as_map(target, name)
    if (gt < 0).any():
        raise CamError(f"The {name} has negative values; a fixation density must be >= 0.")
    if gt.min() == gt.max():
        raise CamError(f"The {name} is constant, so there is nothing for the saliency map to match.")
    return gt


def _min_max(smap: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant map becomes all ones (uniform)."""
    low, high = smap.min(), smap.max()
    return (smap - low) / (high - low) if high > low else np.ones_like(smap)


def _z_score(smap: np.ndarray) -> np.ndarray:
    """Zero mean, unit (sample, as MATLAB's ``std``) standard deviation; a constant map becomes zeros."""
    std = smap.std(ddof=1) if smap.size > 1 else 0.0
    return (smap - smap.mean()) / std if std > 0 else np.zeros_like(smap)


def _trapezoid(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Trapezoid-rule area under y(x) along the last axis (MATLAB's ``trapz``)."""
    return (np.diff(x, axis=-1) * (y[..., 1:] + y[..., :-1]) / 2).sum(axis=-1)


def auc_judd(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """How well saliency ranks fixated pixels above all other pixels (ROC area; 1 best, 0.5 chance).

    MATLAB's curve has one point per fixation (threshold at its saliency) and is integrated with the
    trapezoid rule; its area is the Mann-Whitney AUC plus ``fp_last / (2 * n_fixations)``, where
    ``fp_last`` is the share of non-fixated pixels at or above the lowest fixated saliency. This closed
    form is computed with ties counted by their expectation under MATLAB's random jitter.
    """
    fixated = _fixated(fixations)
    smap = _resized(saliency, fixated.shape)
    positives, negatives = smap[fixated], np.sort(smap[~fixated])
    below = np.searchsorted(negatives, positives, side="left")
    tied = np.searchsorted(negatives, positives, side="right") - below
    mann_whitney = (below + tied / 2).mean() / negatives.size
    lowest = positives.argmin()
    n_lowest = np.count_nonzero(positives == positives[lowest])  # tied fixations at the lowest value
    above = negatives.size - below[lowest] - tied[lowest]
    fp_last = (above + tied[lowest] * n_lowest / (n_lowest + 1)) / negatives.size
    return float(mann_whitney + fp_last / (2 * positives.size))


def _auc_sampled(positives: np.ndarray, negatives: np.ndarray, step: float) -> float:
    """Mean ROC area over splits (columns of ``negatives``), thresholds 0, step, 2·step, ... (descending)."""
    top = max(positives.max(), negatives.max())
    thresholds = np.arange(int(np.floor(top / step + 1e-9)) + 1)[::-1] * step
    tp = (positives[None, :] >= thresholds[:, None]).mean(axis=1)  # [K]
    fp = (negatives[None, :, :] >= thresholds[:, None, None]).mean(axis=1)  # [K, splits]
    n_splits = negatives.shape[1]
    tp = np.concatenate([np.zeros(1), tp, np.ones(1)])
    fp = np.concatenate([np.zeros((1, n_splits)), fp, np.ones((1, n_splits))]).T  # [splits, K + 2]
    return float(_trapezoid(fp, np.broadcast_to(tp, fp.shape)).mean())


def auc_borji(
    saliency: np.ndarray, fixations: np.ndarray, *, n_splits: int = 100, step: float = 0.1, rng: Rng = 0
) -> float:
    """How well saliency separates fixated from uniformly random pixels (ROC area; 1 best, 0.5 chance)."""
    fixated = _fixated(fixations)
    smap = _min_max(_resized(saliency, fixated.shape))
    positives = smap[fixated]
    picks = np.random.default_rng(rng).integers(0, smap.size, size=(positives.size, n_splits))
    return _auc_sampled(positives, smap.ravel()[picks], step)


def auc_shuffled(
    saliency: np.ndarray,
    fixations: np.ndarray,
    other_fixations: np.ndarray,
    *,
    n_splits: int = 100,
    step: float = 0.1,
    rng: Rng = 0,
) -> float:
    """How well saliency separates fixated pixels from other images' fixations (sAUC; 1 best, 0.5 chance).

    Penalises a centre bias: ``other_fixations`` is the union of fixations on other images, same size.
    """
    fixated = _fixated(fixations)
    if np.shape(other_fixations) != fixated.shape:
        raise CamError(
            f"The other fixation map has shape {np.shape(other_fixations)}, "
            f"but the fixation map has shape {fixated.shape}."
        )
    others = np.flatnonzero(_as_map(other_fixations, "other fixation map") > 0)
    if others.size == 0:
        raise CamError("The other fixation map has no fixated pixel (no value > 0).")
    smap = _min_max(_resized(saliency, fixated.shape))
    positives = smap[fixated]
    count = min(positives.size, others.size)
    picks = np.random.default_rng(rng).permuted(np.tile(others, (n_splits, 1)), axis=1)[:, :count]
    return _auc_sampled(positives, smap.ravel()[picks.T], step)


def nss(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """Mean z-scored saliency at fixated pixels (normalized scanpath saliency; higher better, 0 chance)."""
    fixated = _fixated(fixations)
    return float(_z_score(_resized(saliency, fixated.shape))[fixated].mean())


def cc(saliency: np.ndarray, density: np.ndarray) -> float:
    """Pearson correlation of saliency and fixation density (-1..1; 1 best, 0 unrelated)."""
    gt = _ground_truth(density, "fixation density")
    return float((_z_score(_resized(saliency, gt.shape)) * _z_score(gt)).sum() / (gt.size - 1))


def sim(saliency: np.ndarray, density: np.ndarray) -> float:
    """Histogram intersection of saliency and density as distributions (0..1; 1 best: identical)."""
    gt = _ground_truth(density, "fixation density")
    smap = _min_max(_resized(saliency, gt.shape))
    target = _min_max(gt)
    return float(np.minimum(smap / smap.sum(), target / target.sum()).sum())


def kl(saliency: np.ndarray, density: np.ndarray) -> float:
    """KL divergence of saliency from the fixation density, information lost (>= 0; lower better)."""
    gt = _ground_truth(density, "fixation density")
    smap = _resized(saliency, gt.shape)
    smap = smap - min(smap.min(), 0.0)
    p = smap / smap.sum() if smap.any() else np.full_like(smap, 1.0 / smap.size)
    q = gt / gt.sum()
    return float((q * np.log(EPS + q / (p + EPS))).sum())


def score(
    saliency: np.ndarray,
    fixations: np.ndarray,
    *,
    density: np.ndarray | None = None,
    metrics: Iterable[str] | None = None,
    other_fixations: np.ndarray | None = None,
    rng: Rng = 0,
) -> dict[str, float]:
    """The MIT benchmark metrics of one saliency map against human gaze, by name (see the module docstring).

    ``metrics`` restricts which are computed (default: all of :data:`METRICS`, plus ``sAUC`` when
    ``other_fixations`` is given); ``rng`` seeds the random negatives of AUC_Borji and sAUC.
    """
    wanted = list(METRICS) + (["sAUC"] if other_fixations is not None else [])
    if metrics is not None:
        wanted = list(metrics)
        unknown = sorted(set(wanted) - {*METRICS, "sAUC"})
        if unknown:
            raise CamError(f"Unknown saliency metric(s) {unknown}; choose from {[*METRICS, 'sAUC']}.")
        if "sAUC" in wanted and other_fixations is None:
            raise CamError("The sAUC metric needs other_fixations (fixations on other images).")
    if density is not None and np.shape(density) != np.shape(fixations):
        raise CamError(
            f"The fixation density has shape {np.shape(density)}, "
            f"but the fixation map has shape {np.shape(fixations)}."
        )
    target = fixations if density is None else density
    compute = {
        "AUC_Judd": lambda: auc_judd(saliency, fixations),
        "AUC_Borji": lambda: auc_borji(saliency, fixations, rng=rng),
        "sAUC": lambda: auc_shuffled(saliency, fixations, other_fixations, rng=rng),
        "NSS": lambda: nss(saliency, fixations),
        "CC": lambda: cc(saliency, target),
        "SIM": lambda: sim(saliency, target),
        "KL": lambda: kl(saliency, target),
    }
    return {name: compute[name]() for name in wanted}


def clip_saliency(heatmaps: np.ndarray) -> np.ndarray:
    """The clip's saliency map: the mean of its frame heatmaps, min-max scaled to [0, 255] (float64).

    ``heatmaps`` is [T, H, W] (frames) or [V, T, H, W] (views × frames); the sum over all frames is
    divided by their number (V·T). A constant result (e.g. all-zero CAMs) becomes all zeros.
    """
    stack = np.asarray(heatmaps, dtype=np.float64)
    if stack.ndim not in (3, 4) or stack.size == 0:
        raise CamError(f"Frame heatmaps must be a non-empty [T, H, W] or [V, T, H, W] array: {stack.shape}.")
    if not np.isfinite(stack).all():
        raise CamError("The frame heatmaps contain NaN or infinite values.")
    frames = stack.reshape(-1, *stack.shape[-2:])
    mean = frames.sum(axis=0) / frames.shape[0]
    low, high = mean.min(), mean.max()
    return (mean - low) / (high - low) * 255.0 if high > low else np.zeros_like(mean)
