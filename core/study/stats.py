"""Aggregates over videos and paired tests between runs.

- Mean, sample standard deviation (ddof 1) and n over a run's videos (clip scores); the 95 % confidence
  interval of the mean is the percentile bootstrap (Efron & Tibshirani, *An Introduction to the Bootstrap*,
  1993, ch. 13): 10 000 resamples of the videos with replacement, generator seeded 0 for every run and
  metric, the 2.5th and 97.5th percentiles (linear interpolation) of the resampled means. The frame-pooled
  mean averages every per-frame score of every video (as DHF1K reports: Wang et al., "Revisiting video
  saliency: a large-scale benchmark and a new model", CVPR 2018).
- Every pair of runs (baselines included), per metric, over the videos both scored: the two-sided Wilcoxon
  signed-rank test (Wilcoxon 1945) as ``scipy.stats.wilcoxon`` computes it with its defaults (zero
  differences dropped, exact p for small n without ties, else the normal approximation without continuity
  correction); p-values Holm-corrected (Holm 1979) across the pairs of that metric; effect size the
  matched-pairs rank-biserial correlation r = (R+ − R−) / (R+ + R−) (Kerby, "The simple difference
  formula", 2014), R± the rank sums of the positive and negative differences a − b (ranks of |a − b| over
  the non-zero differences, ties averaged): +1 when run a scored higher on every video, −1 lower. For KL
  (lower is better) a positive effect means run a is worse.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from core.saliency import BETTER

RESAMPLES = 10_000
SEED = 0
LEVEL = 0.95


def bootstrap_ci(values: np.ndarray, *, resamples: int = RESAMPLES, seed: int = SEED,
                 level: float = LEVEL) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values``."""
    values = np.asarray(values, np.float64)
    n = values.size
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    rows = max(1, 4_000_000 // n)  # resample in blocks to bound memory; same stream as one block
    means = np.concatenate([values[rng.integers(0, n, size=(min(rows, resamples - start), n))].mean(axis=1)
                            for start in range(0, resamples, rows)])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and do not count as tests)."""
    p = np.asarray(pvalues, np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def rank_biserial(a: np.ndarray, b: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation of a − b (0 when every difference is zero)."""
    from scipy.stats import rankdata

    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    diff = diff[diff != 0]
    if diff.size == 0:
        return 0.0
    ranks = rankdata(np.abs(diff))
    plus, minus = ranks[diff > 0].sum(), ranks[diff < 0].sum()
    return float((plus - minus) / (plus + minus))


def wilcoxon(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(statistic, p) of ``scipy.stats.wilcoxon(a, b)`` with its defaults; NaN for fewer than one pair."""
    from scipy.stats import wilcoxon as scipy_wilcoxon

    if len(a) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples, ties, all-zero differences: scipy's answer stands
        try:
            result = scipy_wilcoxon(a, b)
        except ValueError:
            return float("nan"), float("nan")
    return float(result.statistic), float(result.pvalue)


def _clip_scores(rows: list[dict], run: str, metric: str) -> dict[str, float]:
    return {row["video"]: row[metric] for row in rows
            if row["run"] == run and row["frame"] == "" and np.isfinite(row[metric])}


def pooled_frames(rows: list[dict], cap: int | None, seed: int = SEED) -> set[tuple[str, object]] | None:
    """The (video, frame) pairs the frame-pooled mean averages: all (None) up to ``cap``, else ``cap`` of them
    drawn at random (seeded; the same frames for every run), as DHF1K's evaluationFunc.m caps its frames."""
    keys = sorted({(row["video"], row["frame"]) for row in rows if row["frame"] != ""}, key=str)
    if cap is None or len(keys) <= cap:
        return None
    picks = np.random.default_rng(seed).choice(len(keys), cap, replace=False)
    return {keys[int(i)] for i in picks}


def summarise(rows: list[dict], runs: list[str], metrics: list[str], *, frame_cap: int | None = None) -> list[dict]:
    """One row per run and metric: mean, std, n, ci_low, ci_high, frame_pooled_mean (over at most
    ``frame_cap`` frames: :func:`pooled_frames`), better."""
    out = []
    chosen = pooled_frames(rows, frame_cap)
    for run in runs:
        frames = [row for row in rows if row["run"] == run and row["frame"] != ""
                  and (chosen is None or (row["video"], row["frame"]) in chosen)]
        for metric in metrics:
            values = np.array(list(_clip_scores(rows, run, metric).values()))
            pooled = np.array([row[metric] for row in frames if np.isfinite(row[metric])])
            low, high = bootstrap_ci(values)
            out.append({"run": run, "metric": metric,
                        "mean": float(values.mean()) if values.size else float("nan"),
                        "std": float(values.std(ddof=1)) if values.size > 1 else float("nan"),
                        "n": int(values.size), "ci_low": low, "ci_high": high,
                        "frame_pooled_mean": float(pooled.mean()) if pooled.size else float("nan"),
                        "better": BETTER[metric]})
    return out


def pairwise_tests(rows: list[dict], runs: list[str], metrics: list[str]) -> list[dict]:
    """Every pair of runs per metric over the videos both scored: Wilcoxon, Holm across the metric's pairs,
    rank-biserial effect of a − b."""
    out = []
    for metric in metrics:
        scores = {run: _clip_scores(rows, run, metric) for run in runs}
        tests = []
        for run_a, run_b in itertools.combinations(runs, 2):
            common = sorted(set(scores[run_a]) & set(scores[run_b]))
            a = np.array([scores[run_a][v] for v in common])
            b = np.array([scores[run_b][v] for v in common])
            statistic, p = wilcoxon(a, b)
            tests.append({"metric": metric, "run_a": run_a, "run_b": run_b, "n": len(common),
                          "statistic": statistic, "p": p, "p_holm": float("nan"),
                          "effect": rank_biserial(a, b) if common else float("nan"), "better": BETTER[metric]})
        for test, adjusted in zip(tests, holm(np.array([t["p"] for t in tests])), strict=True):
            test["p_holm"] = float(adjusted)
        out += tests
    return out
