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
- AUC_Borji draws its random negatives from a seeded generator (``rng``, default seed 0).
- sAUC (shuffled AUC; Zhang et al., "SUN: A Bayesian framework for saliency using natural statistics",
  JoV 2008; Borji et al., "Analysis of scores, datasets, and models in visual saliency prediction", ICCV
  2013) is exact: positives are the saliency values at the fixated pixels, negatives the values at the
  pixels other images' observers fixated (``other_fixations`` weights each pixel by how often it is one,
  so duplicates are kept), and sAUC is the probability that a positive outranks a negative, ties counting
  one half: the Mann-Whitney U statistic over ``n_pos · n_neg``, what ``sklearn.metrics.roc_auc_score``
  gives on the two sets, computed from ranks (sorted values and counts), never pairwise. MATLAB's
  ``AUC_shuffled`` estimates the same probability from 100 random draws of as many negatives as there are
  fixations, on a ROC sampled at saliency thresholds 0, 0.1, ..., 1 (ties within a 0.1 band); the exact
  count has neither its sampling noise nor its threshold coarseness. :func:`core.study` uses this one
  definition.
- A constant saliency map (e.g. an all-zero CAM) predicts nothing and is scored as a uniform map
  (AUC_Borji and sAUC 0.5, AUC_Judd 0.5 + 1 / (2 · (fixations + 1)) as MATLAB's jitter gives on
  average, NSS 0, CC 0); the MATLAB code returns NaN for most of these.
- KL shifts a saliency map with negative values up to a minimum of 0 before normalising it.

This is the ``exact`` protocol; ``protocol="mit"`` (:class:`Protocol`) computes every metric as the MATLAB code
does instead, ties, NaNs and random draws included (:mod:`core.saliency_mit`). :data:`REGISTRY` holds one
:class:`Metric` row per metric (name, direction, inputs, both kernels, citation): tables, CSV columns, pages and
reports read it, so a metric is added there alone.

Every metric is computed on a stack of maps at once (:func:`score_maps`, ``[N, H, W]``: the frames of a
clip, vectorised over the stack where the metric allows); the one-map functions call the same kernels.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import cv2
import numpy as np

from core import saliency_mit as mit
from core.errors import CamError
from core.saliency_mit import EPS, auc_sampled
from core.saliency_mit import trapezoid as trapezoid  # the ROC area rule, also used by core.evaluate

_BROADCAST_MAX = 48  # up to this many distinct positives, count by comparison instead of sorting

Rng = int | np.random.Generator | Sequence[int] | None
"""A seed (every map gets its own fresh generator from it), a generator shared by the maps, or one seed per map
of a stack (how :mod:`core.study` gives every run the same draws on the same frame)."""


def _as_maps(array: np.ndarray, name: str, ndim: int = 2) -> np.ndarray:
    """The float64 map (``ndim=2``) or stack of maps (``ndim=3``) in ``array``, or a CamError saying what is
    wrong with it."""
    result = np.asarray(array)
    if result.ndim != ndim:
        what = "a 2-D (height, width) array" if ndim == 2 else "a 3-D (maps, height, width) array"
        raise CamError(f"The {name} must be {what}, got shape {result.shape}.")
    if result.size == 0:
        raise CamError(f"The {name} is empty (shape {result.shape}).")
    if result.dtype == bool:
        return result.astype(np.float64)
    if not np.issubdtype(result.dtype, np.number):
        raise CamError(f"The {name} must hold numbers, got dtype {result.dtype}.")
    result = result.astype(np.float64, copy=False)
    if not np.isfinite(result).all():
        raise CamError(f"The {name} contains NaN or infinite values.")
    return result


def _which(name: str, index: int, count: int) -> str:
    return f"The {name}" if count == 1 else f"The {name} {index} (0-based) of the stack"


def _fixated(fixations: np.ndarray, name: str = "fixation map", ndim: int = 2) -> np.ndarray:
    """Boolean mask of fixated pixels (> 0); every map must have one fixated pixel and one not."""
    array = np.asarray(fixations)
    mask = array if array.dtype == bool and array.ndim == ndim and array.size else _as_maps(array, name, ndim) > 0
    stack = mask.reshape(-1, *mask.shape[-2:])
    for index, one in enumerate(stack):
        if not one.any():
            raise CamError(f"{_which(name, index, len(stack))} has no fixated pixel (no value > 0).")
        if one.all():
            raise CamError(f"{_which(name, index, len(stack))} marks every pixel as fixated, so nothing is left "
                           "to compare against.")
    return mask


def _resized(saliency: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The saliency map as float64, resized bilinearly to ``shape`` when its size differs."""
    smap = _as_maps(saliency, "saliency map")
    if smap.shape != shape:
        smap = cv2.resize(smap, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return smap


def _ground_truth(target: np.ndarray, name: str, ndim: int = 2) -> np.ndarray:
    """A density (or fixation map), or a stack of them, as float64: non-negative and not constant."""
    gt = _as_maps(target, name, ndim)
    if (gt < 0).any():
        raise CamError(f"The {name} has negative values; a fixation density must be >= 0.")
    stack = gt.reshape(-1, *gt.shape[-2:])
    flat = stack.reshape(len(stack), -1)
    for index in np.flatnonzero(flat.min(axis=1) == flat.max(axis=1)):
        raise CamError(f"{_which(name, int(index), len(stack))} is constant, so there is nothing for the "
                       "saliency map to match.")
    return gt


def _weights(other_fixations: np.ndarray, shape: tuple[int, ...], allow_empty: bool = False) -> np.ndarray:
    """How often each pixel is a negative (values >= 0), one map per saliency map or one for all of them (under
    ``mit`` a map may be empty: AUC_shuffled.m then gives NaN)."""
    weights = np.asarray(other_fixations)
    if weights.shape[-2:] != shape[-2:] or weights.ndim not in (2, len(shape)) \
            or (weights.ndim == len(shape) and weights.shape != shape):
        raise CamError(f"The other fixation map has shape {weights.shape}, but the fixation map has shape {shape}.")
    weights = _as_maps(weights, "other fixation map", weights.ndim)
    if (weights < 0).any():
        raise CamError("The other fixation map has negative values; it counts how often each pixel is fixated.")
    stack = weights.reshape(-1, *shape[-2:])
    if not allow_empty and (stack.reshape(len(stack), -1).sum(axis=1) <= 0).any():
        raise CamError("The other fixation map has no fixated pixel (no value > 0).")
    return stack


def _min_max(smaps: np.ndarray) -> np.ndarray:
    """Scale each map of ``[..., H, W]`` to [0, 1] (a new array); a constant map becomes all ones (uniform)."""
    low = smaps.min(axis=(-2, -1), keepdims=True)
    span = smaps.max(axis=(-2, -1), keepdims=True) - low
    out = np.subtract(smaps, low)
    out /= np.where(span > 0, span, 1.0)
    out[np.broadcast_to(span == 0, out.shape)] = 1.0
    return out


def _z_score(smaps: np.ndarray) -> np.ndarray:
    """Each map of ``[..., H, W]`` at zero mean and unit (sample, as MATLAB's ``std``) standard deviation (a new
    array); a constant map becomes zeros."""
    pixels = smaps.shape[-2] * smaps.shape[-1]
    mean = smaps.mean(axis=(-2, -1), keepdims=True)
    out = np.subtract(smaps, mean)
    std = np.sqrt(np.square(out).sum(axis=(-2, -1), keepdims=True) / (pixels - 1)) if pixels > 1 else mean * 0
    out /= np.where(std > 0, std, 1.0)
    out[np.broadcast_to(std == 0, out.shape)] = 0.0
    return out


def _generator(rng: Rng, index: int = 0) -> np.random.Generator:
    """The generator of map ``index`` of a stack: a seed gives every map its own fresh generator (a stack
    scores as its maps one by one would), a sequence one seed per map."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, Sequence):
        return np.random.default_rng(rng[index])
    return np.random.default_rng(rng)


def _below_tied(positives: np.ndarray, negatives: np.ndarray,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each positive: how many negatives (their total ``weights``) lie below it, and how many equal it.

    Ranks without pairs: the distinct positive values are few (fixations), so a handful are compared with
    every negative directly; more are looked up in the sorted negatives (cumulative weights = ranks).
    """
    values, inverse = np.unique(positives, return_inverse=True)
    if values.size <= _BROADCAST_MAX:
        below, tied = negatives[None, :] < values[:, None], negatives[None, :] == values[:, None]
        if weights is None:
            counts = np.count_nonzero(below, axis=1), np.count_nonzero(tied, axis=1)
        else:
            counts = below @ weights, tied @ weights
        return counts[0][inverse].astype(np.float64), counts[1][inverse].astype(np.float64)
    order = np.argsort(negatives, kind="stable")
    ranked = negatives[order]
    cumulative = np.concatenate([[0.0], np.cumsum(weights[order] if weights is not None
                                                  else np.ones(ranked.size))])
    low = cumulative[np.searchsorted(ranked, values, side="left")]
    high = cumulative[np.searchsorted(ranked, values, side="right")]
    return low[inverse], (high - low)[inverse]


def rank_auc(positives: np.ndarray, negatives: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The probability that a positive outranks a negative, ties counting one half (the ROC area,
    ``sklearn.metrics.roc_auc_score`` on the two sets); ``weights`` repeats each negative that often."""
    positives, negatives = np.ravel(positives), np.ravel(negatives)
    total = float(negatives.size if weights is None else np.sum(weights))
    if positives.size == 0 or total <= 0:
        raise CamError("An AUC needs at least one positive and one negative.")
    below, tied = _below_tied(positives, negatives, None if weights is None else np.ravel(weights))
    return float((below + tied / 2).sum() / (positives.size * total))


def _auc_judd(smaps: np.ndarray, fixated: np.ndarray) -> np.ndarray:
    """MATLAB's curve has one point per fixation (threshold at its saliency) and is integrated with the
    trapezoid rule; its area is the Mann-Whitney AUC plus ``fp_last / (2 * n_fixations)``, where
    ``fp_last`` is the share of non-fixated pixels at or above the lowest fixated saliency. This closed
    form is computed with ties counted by their expectation under MATLAB's random jitter."""
    out = np.empty(len(smaps))
    for i, (smap, fix) in enumerate(zip(smaps, fixated, strict=True)):
        positives, negatives = smap[fix], smap[~fix]
        below, tied = _below_tied(positives, negatives)
        mann_whitney = (below + tied / 2).mean() / negatives.size
        lowest = positives.argmin()
        n_lowest = np.count_nonzero(positives == positives[lowest])  # tied fixations at the lowest value
        above = negatives.size - below[lowest] - tied[lowest]
        fp_last = (above + tied[lowest] * n_lowest / (n_lowest + 1)) / negatives.size
        out[i] = mann_whitney + fp_last / (2 * positives.size)
    return out


def _auc_borji(scaled: np.ndarray, fixated: np.ndarray, n_splits: int, step: float, rng: Rng) -> np.ndarray:
    """``scaled``: the saliency maps min-max scaled."""
    out = np.empty(len(scaled))
    for i, (smap, fix) in enumerate(zip(scaled, fixated, strict=True)):
        positives = smap[fix]
        picks = _generator(rng, i).integers(0, smap.size, size=(positives.size, n_splits))
        out[i] = auc_sampled(positives, smap.ravel()[picks], step)
    return out


def _auc_shuffled(smaps: np.ndarray, fixated: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``weights``: one map, or one per saliency map, of how often each pixel is an other image's fixation."""
    shared = np.flatnonzero(weights[0]) if len(weights) == 1 else None
    out = np.empty(len(smaps))
    for i, (smap, fix) in enumerate(zip(smaps, fixated, strict=True)):
        counts = (weights[0] if shared is not None else weights[i]).ravel()
        where = shared if shared is not None else np.flatnonzero(counts)
        out[i] = rank_auc(smap[fix], smap.ravel()[where], counts[where])
    return out


def _nss(zscored: np.ndarray, fixated: np.ndarray) -> np.ndarray:
    return (zscored * fixated).sum(axis=(-2, -1)) / fixated.sum(axis=(-2, -1))


def _cc(zscored: np.ndarray, targets: np.ndarray) -> np.ndarray:
    pixels = targets.shape[-2] * targets.shape[-1]
    return (zscored * _z_score(targets)).sum(axis=(-2, -1)) / (pixels - 1)


def _sim(scaled: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``scaled``: the saliency maps min-max scaled."""
    targets = _min_max(targets)
    targets /= targets.sum(axis=(-2, -1), keepdims=True)
    return np.minimum(scaled / scaled.sum(axis=(-2, -1), keepdims=True), targets).sum(axis=(-2, -1))


def _kl(smaps: np.ndarray, targets: np.ndarray) -> np.ndarray:
    p = smaps - np.minimum(smaps.min(axis=(-2, -1), keepdims=True), 0.0)
    total = p.sum(axis=(-2, -1), keepdims=True)
    p /= np.where(total > 0, total, 1.0)
    p[np.broadcast_to(total == 0, p.shape)] = 1.0 / (smaps.shape[-2] * smaps.shape[-1])
    q = targets / targets.sum(axis=(-2, -1), keepdims=True)
    out = np.zeros(len(q))
    for i, (p_map, q_map) in enumerate(zip(p, q, strict=True)):  # only where q > 0: 0 · log(eps) is 0
        where = q_map > 0
        mass = q_map[where]
        out[i] = (mass * np.log(EPS + mass / (p_map[where] + EPS))).sum()
    return out


def auc_judd(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """How well saliency ranks fixated pixels above all other pixels (ROC area; 1 best, 0.5 chance).

    See :func:`_auc_judd` for the closed form of MATLAB's curve."""
    fixated = _fixated(fixations)
    return float(_auc_judd(_resized(saliency, fixated.shape)[None], fixated[None])[0])


def auc_borji(
    saliency: np.ndarray, fixations: np.ndarray, *, n_splits: int = 100, step: float = 0.1, rng: Rng = 0
) -> float:
    """How well saliency separates fixated from uniformly random pixels (ROC area; 1 best, 0.5 chance)."""
    fixated = _fixated(fixations)
    scaled = _min_max(_resized(saliency, fixated.shape)[None])
    return float(_auc_borji(scaled, fixated[None], n_splits, step, rng)[0])


def auc_shuffled(saliency: np.ndarray, fixations: np.ndarray, other_fixations: np.ndarray) -> float:
    """How well saliency separates fixated pixels from other images' fixations (sAUC; 1 best, 0.5 chance).

    Penalises a centre bias. ``other_fixations`` (same size) says how often each pixel was fixated on other
    images (a count map keeps duplicates; a boolean or 0/255 map counts each marked pixel once). Exact: see
    the module docstring."""
    fixated = _fixated(fixations)
    weights = _weights(other_fixations, fixated.shape)
    return float(_auc_shuffled(_resized(saliency, fixated.shape)[None], fixated[None], weights)[0])


def nss(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """Mean z-scored saliency at fixated pixels (normalized scanpath saliency; higher better, 0 chance)."""
    fixated = _fixated(fixations)
    return float(_nss(_z_score(_resized(saliency, fixated.shape)[None]), fixated[None])[0])


def cc(saliency: np.ndarray, density: np.ndarray) -> float:
    """Pearson correlation of saliency and fixation density (-1..1; 1 best, 0 unrelated)."""
    gt = _ground_truth(density, "fixation density")
    return float(_cc(_z_score(_resized(saliency, gt.shape)[None]), gt[None])[0])


def sim(saliency: np.ndarray, density: np.ndarray) -> float:
    """Histogram intersection of saliency and density as distributions (0..1; 1 best: identical)."""
    gt = _ground_truth(density, "fixation density")
    return float(_sim(_min_max(_resized(saliency, gt.shape)[None]), gt[None])[0])


def kl(saliency: np.ndarray, density: np.ndarray) -> float:
    """KL divergence of saliency from the fixation density, information lost (>= 0; lower better)."""
    gt = _ground_truth(density, "fixation density")
    return float(_kl(_resized(saliency, gt.shape)[None], gt[None])[0])


class Protocol(StrEnum):
    """How the metrics are computed: ``exact`` (this module's deterministic definitions, the default) or
    ``mit`` (the MIT saliency benchmark's MATLAB code, as DHF1K's evaluation runs it: :mod:`core.saliency_mit`).
    Scores of different protocols are never compared (:func:`check_protocols`)."""

    EXACT = "exact"
    MIT = "mit"


def check_protocols(protocols: Iterable[str]) -> Protocol:
    """The one protocol of scores to be compared; a CamError when they mix protocols (or there are none)."""
    found = sorted({str(p) for p in protocols})
    if len(found) != 1:
        what = "no scores" if not found else f"scores of the protocols {', '.join(found)}"
        raise CamError(f"Cannot compare {what}: score everything with one --protocol (exact or mit).")
    try:
        return Protocol(found[0])
    except ValueError:
        raise CamError(f"Unknown protocol {found[0]!r}; use exact or mit.") from None


@dataclass
class Maps:
    """The inputs of one :func:`score_maps` call, as every metric's kernel reads them: the saliency maps
    ``[N, H, W]``, the fixated pixels (bool ``[N, H, W]``), the distribution targets (the densities, else the
    fixation maps; empty when no metric needs them), the sAUC negatives (count maps ``[1 or N, H, W]``; empty
    without them), the centre-bias baseline of information gain (``[1 or N, H, W]``; empty without it) and
    the seed(s) of the random draws; the z-scored and min-max scaled maps are made once, when a metric first
    asks."""

    smaps: np.ndarray
    fixated: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    rng: Rng = 0
    baseline: np.ndarray = field(default_factory=lambda: np.empty((0, 1, 1)))

    @cached_property
    def zscored(self) -> np.ndarray:
        return _z_score(self.smaps)

    @cached_property
    def scaled(self) -> np.ndarray:
        return _min_max(self.smaps)

    def each(self, kernel: Callable[..., float], *inputs: np.ndarray, seeded: bool = False) -> np.ndarray:
        """A one-map kernel over the stack: ``kernel(saliency, *inputs[i], [generator])`` for each map (an input
        of one map is shared by all)."""
        out = np.empty(len(self.smaps))
        for i, smap in enumerate(self.smaps):
            args = [one[i] if len(one) == len(self.smaps) else one[0] for one in inputs]
            out[i] = kernel(smap, *args, *([_generator(self.rng, i)] if seeded else []))
        return out


@dataclass(frozen=True)
class Metric:
    """One saliency metric: everything a table, CSV column, page or report needs to know about it.

    ``fn`` computes it on a stack (:class:`Maps` → float64 ``[N]``) under the ``exact`` protocol, ``mit`` under
    the ``mit`` protocol (None: the same ``fn``); ``needs_density``: compared with the fixation density (the
    distribution metrics), else with the fixated pixels; ``needs_negatives``: needs other images' fixations
    (sAUC); ``needs_baseline``: needs a baseline map (information gain); ``default``: computed when no metric
    is named (sAUC is added whenever negatives are given, information gain under ``mit`` whenever a baseline
    is)."""

    name: str
    better: str  # "higher" or "lower"
    needs_density: bool
    fn: Callable[[Maps], np.ndarray]
    citation: str
    mit: Callable[[Maps], np.ndarray] | None = None
    needs_negatives: bool = False
    needs_baseline: bool = False
    default: bool = True

    def compute(self, maps: Maps, protocol: Protocol) -> np.ndarray:
        return (self.mit or self.fn)(maps) if protocol == Protocol.MIT else self.fn(maps)


_MIT = "MIT saliency benchmark, cvzoya/saliency code_forMetrics/"
REGISTRY: dict[str, Metric] = {metric.name: metric for metric in (
    Metric("AUC_Judd", "higher", False, lambda m: _auc_judd(m.smaps, m.fixated), _MIT + "AUC_Judd.m",
           mit=lambda m: m.each(mit.auc_judd, m.fixated, seeded=True)),
    Metric("AUC_Borji", "higher", False, lambda m: _auc_borji(m.scaled, m.fixated, 100, 0.1, m.rng),
           _MIT + "AUC_Borji.m", mit=lambda m: m.each(mit.auc_borji, m.fixated, seeded=True)),
    Metric("sAUC", "higher", False, lambda m: _auc_shuffled(m.smaps, m.fixated, m.weights),
           "Zhang et al., JoV 2008; Borji et al., ICCV 2013 (exact rank form of " + _MIT + "AUC_shuffled.m)",
           mit=lambda m: m.each(mit.auc_shuffled, m.fixated, m.weights, seeded=True), needs_negatives=True,
           default=False),
    Metric("NSS", "higher", False, lambda m: _nss(m.zscored, m.fixated), _MIT + "NSS.m",
           mit=lambda m: m.each(mit.nss, m.fixated)),
    Metric("CC", "higher", True, lambda m: _cc(m.zscored, m.targets), _MIT + "CC.m",
           mit=lambda m: m.each(mit.cc, m.targets)),
    Metric("SIM", "higher", True, lambda m: _sim(m.scaled, m.targets), _MIT + "similarity.m",
           mit=lambda m: m.each(mit.sim, m.targets)),
    Metric("KL", "lower", True, lambda m: _kl(m.smaps, m.targets), _MIT + "KLdiv.m",
           mit=lambda m: m.each(mit.kl, m.targets)),
    Metric("IG", "higher", False, lambda m: m.each(mit.info_gain, m.fixated, m.baseline),
           "Kümmerer et al., PNAS 2015; " + _MIT + "InfoGain.m (bits per fixation over a centre-bias baseline)",
           needs_baseline=True, default=False),
    Metric("EMD", "lower", True, lambda m: m.each(mit.emd, m.targets),
           _MIT + "EMD.m (maps shrunk 32×; exact transport by POT's ot.emd2)", default=False),
)}
"""Every saliency metric by name, in the order tables show them; the one place a metric is declared."""

ALL_METRICS = tuple(name for name, metric in REGISTRY.items() if not metric.needs_baseline and name != "EMD")
"""The metrics a study scores under the ``exact`` protocol, in the order tables show them (information gain
and EMD are scored when asked for, and information gain under ``mit``)."""

METRICS = tuple(name for name, metric in REGISTRY.items() if metric.default)
"""Metrics :func:`score` computes by default; ``sAUC`` is added when ``other_fixations`` is given."""

BETTER = {name: metric.better for name, metric in REGISTRY.items()}
"""Which way each metric improves: ``"higher"`` or ``"lower"`` is better."""


def default_metrics(protocol: Protocol = Protocol.EXACT, *, negatives: bool = False,
                    baseline: bool = False) -> list[str]:
    """The metrics scored when none are named: :data:`METRICS`, sAUC with negatives, information gain under
    ``mit`` with a baseline."""
    return [name for name, metric in REGISTRY.items()
            if metric.default or (metric.needs_negatives and negatives)
            or (metric.needs_baseline and baseline and protocol == Protocol.MIT)]


def _wanted(metrics: Iterable[str] | None, negatives: bool, baseline: bool = False,
            protocol: Protocol = Protocol.EXACT) -> list[str]:
    wanted = default_metrics(protocol, negatives=negatives, baseline=baseline)
    if metrics is not None:
        wanted = list(metrics)
        unknown = sorted(set(wanted) - set(REGISTRY))
        if unknown:
            raise CamError(f"Unknown saliency metric(s) {unknown}; choose from {list(REGISTRY)}.")
        if not negatives and any(REGISTRY[name].needs_negatives for name in wanted):
            raise CamError("The sAUC metric needs other_fixations (fixations on other images).")
        if not baseline and any(REGISTRY[name].needs_baseline for name in wanted):
            raise CamError("Information gain (IG) needs a baseline map (a centre bias) to gain over.")
    return wanted


def _baseline(baseline: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The information-gain baseline as ``[1 or N, H, W]`` float64, of the fixation maps' size."""
    array = np.asarray(baseline)
    if array.shape[-2:] != shape[-2:] or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape != shape):
        raise CamError(f"The baseline map has shape {array.shape}, but the fixation map has shape {shape}.")
    return _as_maps(array, "baseline map", array.ndim).reshape(-1, *shape[-2:])


def score_maps(
    saliency: np.ndarray,
    fixations: np.ndarray,
    *,
    density: np.ndarray | None = None,
    metrics: Iterable[str] | None = None,
    other_fixations: np.ndarray | None = None,
    rng: Rng = 0,
    protocol: Protocol | str = Protocol.EXACT,
    baseline: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """:func:`score` of a stack: ``saliency``, ``fixations`` (and ``density``) are ``[N, H, W]`` of one size;
    ``other_fixations`` and ``baseline`` are one ``[H, W]`` map for all N maps or ``[N, H, W]``. Returns
    float64 ``[N]`` per metric, each equal to scoring the maps one by one."""
    protocol = Protocol(protocol)
    wanted = _wanted(metrics, other_fixations is not None, baseline is not None, protocol)
    fixated = _fixated(fixations, ndim=3)
    smaps = _as_maps(saliency, "saliency maps", 3)
    if smaps.shape != fixated.shape:
        raise CamError(f"The saliency maps have shape {smaps.shape}, but the fixation maps have shape "
                       f"{fixated.shape}; stack maps of one size.")
    if density is not None and np.shape(density) != fixated.shape:
        raise CamError(f"The fixation density has shape {np.shape(density)}, "
                       f"but the fixation map has shape {fixated.shape}.")
    targets = np.empty((0, 1, 1))
    if any(REGISTRY[name].needs_density for name in wanted):
        source = fixated if density is None else density
        targets = _ground_truth(source, "fixation density" if density is not None else "fixation map", 3)
    weights = np.empty((0, 1, 1)) if other_fixations is None else \
        _weights(other_fixations, fixated.shape, allow_empty=protocol == Protocol.MIT)
    maps = Maps(smaps, fixated, targets, weights, rng)
    if baseline is not None:
        maps.baseline = _baseline(baseline, fixated.shape)
    return {name: REGISTRY[name].compute(maps, protocol) for name in wanted}


def score(
    saliency: np.ndarray,
    fixations: np.ndarray,
    *,
    density: np.ndarray | None = None,
    metrics: Iterable[str] | None = None,
    other_fixations: np.ndarray | None = None,
    rng: Rng = 0,
    protocol: Protocol | str = Protocol.EXACT,
    baseline: np.ndarray | None = None,
) -> dict[str, float]:
    """The saliency metrics of one saliency map against human gaze, by name (see the module docstring).

    ``metrics`` restricts which are computed (default: :func:`default_metrics`: all of :data:`METRICS`, plus
    ``sAUC`` when ``other_fixations`` is given, plus ``IG`` under the ``mit`` protocol when a ``baseline`` is);
    ``rng`` seeds the random draws (AUC_Borji's negatives; under ``mit`` also AUC_Judd's jitter and sAUC's
    splits); ``protocol`` chooses the definitions (:class:`Protocol`).
    """
    protocol = Protocol(protocol)
    wanted = _wanted(metrics, other_fixations is not None, baseline is not None, protocol)
    if density is not None and np.shape(density) != np.shape(fixations):
        raise CamError(
            f"The fixation density has shape {np.shape(density)}, "
            f"but the fixation map has shape {np.shape(fixations)}."
        )
    fixated = _fixated(fixations)
    smap = _resized(saliency, fixated.shape)
    others = None if other_fixations is None else _weights(other_fixations, fixated.shape)
    scores = score_maps(smap[None], fixated[None], density=None if density is None else np.asarray(density)[None],
                        metrics=wanted, other_fixations=others, rng=rng, protocol=protocol,
                        baseline=None if baseline is None else _resized(baseline, fixated.shape)[None])
    return {name: float(values[0]) for name, values in scores.items()}


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


def center_bias(shape: tuple[int, ...], sigma: float = 0.25) -> np.ndarray:
    """A Gaussian centred on an ``(H, W)`` grid, σx = ``sigma``·W, σy = ``sigma``·H (pixel centres), peak 1:
    the centre-bias baseline (the ``center`` baseline of :mod:`core.study`, and the map information gain is
    measured over in :mod:`core.gaze`)."""
    height, width = shape[-2:]
    ys = (np.arange(height) + 0.5 - height / 2) / (sigma * height)
    xs = (np.arange(width) + 0.5 - width / 2) / (sigma * width)
    return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2))


def seed_of(*parts: object) -> int:
    """A seed that depends only on ``parts`` (e.g. a video's name and a frame), the same in every process and
    thread: what makes the ``mit`` protocol's random draws repeat, and the same for every run scored on that
    frame."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode("utf-8"))
