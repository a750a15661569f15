"""Saliency metrics against pysaliency (CC, NSS, SIM, KL), scikit-learn (sAUC) and hand-written reference loops
(AUC_Judd, AUC_Borji); stacks scored at once equal the maps scored one by one."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

import core  # noqa: F401
from core.errors import CamError
from core.saliency import (
    ALL_METRICS,
    BETTER,
    METRICS,
    REGISTRY,
    auc_borji,
    auc_judd,
    auc_shuffled,
    cc,
    clip_saliency,
    kl,
    nss,
    rank_auc,
    score,
    score_maps,
    sim,
)

pysaliency_metrics = pytest.importorskip("pysaliency.metrics")
roc_auc_score = pytest.importorskip("sklearn.metrics").roc_auc_score
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy 2 renamed trapz (numpy>=1.26 allowed)

H, W = 64, 80


def _fixations(rng: np.random.Generator, count: int, shape=(H, W), spread: float | None = None) -> np.ndarray:
    """A boolean fixation map with ``count`` fixated pixels, uniform or around the centre."""
    fixated = np.zeros(shape, dtype=bool)
    if spread is None:
        fixated.ravel()[rng.choice(fixated.size, count, replace=False)] = True
    else:
        ys = np.clip(rng.normal(shape[0] / 2, spread * shape[0], count), 0, shape[0] - 1).astype(int)
        xs = np.clip(rng.normal(shape[1] / 2, spread * shape[1], count), 0, shape[1] - 1).astype(int)
        fixated[ys, xs] = True
    return fixated


def _density(fixated: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """A continuous fixation density: the fixation map blurred with a Gaussian."""
    return cv2.GaussianBlur(fixated.astype(np.float64), (0, 0), sigma)


def _matlab_auc_judd(smap: np.ndarray, fixated: np.ndarray) -> float:
    """AUC_Judd as the MATLAB loop writes it (no jitter), for maps without ties."""
    s, positives = smap.ravel(), smap[fixated]
    n_fix, n_pix = positives.size, s.size
    tp, fp = [0.0], [0.0]
    for i, thresh in enumerate(sorted(positives, reverse=True), start=1):
        tp.append(i / n_fix)
        fp.append((np.sum(s >= thresh) - i) / (n_pix - n_fix))
    return float(_trapezoid([*tp, 1.0], [*fp, 1.0]))


def _matlab_auc_sampled(smap: np.ndarray, positives: np.ndarray, negatives: np.ndarray, step=0.1) -> float:
    """AUC_Borji / AUC_shuffled as the MATLAB loop writes it, one split (column of negatives) at a time."""
    aucs = []
    for split in negatives.T:
        top = max(positives.max(), split.max())
        threshes = [k * step for k in range(int(np.floor(top / step + 1e-9)), -1, -1)]
        tp = [0.0] + [np.mean(positives >= t) for t in threshes] + [1.0]
        fp = [0.0] + [np.mean(split >= t) for t in threshes] + [1.0]
        aucs.append(_trapezoid(tp, fp))
    return float(np.mean(aucs))


@pytest.fixture
def scene() -> dict[str, np.ndarray]:
    """Fixations around two blobs, their density, a good, an inverted and a random saliency map."""
    rng = np.random.default_rng(0)
    fixated = _fixations(rng, 60, spread=0.12)
    density = _density(fixated)
    good = _density(fixated, sigma=6.0)
    return {
        "fixated": fixated,
        "density": density,
        "good": good,
        "inverted": good.max() - good,
        "random": rng.random((H, W)),
    }


def test_auc_judd_equals_the_matlab_loop_without_ties() -> None:
    rng = np.random.default_rng(1)
    for count in (1, 7, 30):
        smap, fixated = rng.random((12, 15)), _fixations(rng, count, (12, 15))
        assert auc_judd(smap, fixated) == pytest.approx(_matlab_auc_judd(smap, fixated), abs=1e-12)


def test_auc_judd_with_ties_is_the_mean_over_every_jitter_order() -> None:
    """MATLAB's jitter orders tied pixels at random: averaging over all orders gives the exact expectation."""
    levels = np.array([[2, 1, 3, 1, 2], [3, 1, 2, 1, 3]], dtype=float)  # three tie groups of 4, 3, 3
    fixated = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 0, 0]], dtype=bool)
    groups = [np.flatnonzero(levels == v) for v in (1, 2, 3)]
    scores = []
    for orders in itertools.product(*(itertools.permutations(g) for g in groups)):
        strict = levels.ravel().copy()
        for order in orders:
            strict[list(order)] += np.arange(len(order)) * 1e-3  # a strict order inside each tie group
        scores.append(_matlab_auc_judd(strict.reshape(levels.shape), fixated))
    assert len(scores) == 24 * 6 * 6
    assert auc_judd(levels, fixated) == pytest.approx(np.mean(scores), abs=1e-12)
    assert auc_judd(levels, fixated) != pytest.approx(_matlab_auc_judd(levels, fixated))  # unjittered


def test_auc_judd_is_rank_based() -> None:
    rng = np.random.default_rng(2)
    smap, fixated = rng.random((256, 340)), _fixations(rng, 200, (256, 340))
    assert auc_judd(smap, fixated) == pytest.approx(auc_judd(np.exp(5 * smap), fixated), abs=1e-12)


def test_perfect_inverted_and_random_predictions(scene) -> None:
    fixated = scene["fixated"]
    assert auc_judd(fixated.astype(float), fixated) == pytest.approx(1.0)
    for metric in (auc_judd, auc_borji):
        assert metric(scene["good"], fixated) > 0.9
        assert metric(scene["inverted"], fixated) < 0.2
        assert metric(scene["random"], fixated) == pytest.approx(0.5, abs=0.08)
    assert nss(scene["good"], fixated) > 2
    assert nss(scene["inverted"], fixated) < -0.5
    assert abs(nss(scene["random"], fixated)) < 0.3
    assert cc(scene["density"], scene["density"]) == pytest.approx(1.0)
    assert sim(scene["density"], scene["density"]) == pytest.approx(1.0)
    assert kl(scene["density"], scene["density"]) == pytest.approx(0.0, abs=1e-9)
    assert kl(scene["good"], scene["density"]) < kl(scene["random"], scene["density"])


def test_cc_nss_kl_match_pysaliency(scene) -> None:
    fixated, density = scene["fixated"], scene["density"]
    ys, xs = np.nonzero(fixated)
    n = fixated.size
    for smap in (scene["good"], scene["inverted"], scene["random"]):
        assert cc(smap, density) == pytest.approx(pysaliency_metrics.CC(smap, density), abs=1e-12)
        # MATLAB's std (and ours) is the sample one (n - 1); pysaliency's is the population one (n)
        expected_nss = pysaliency_metrics.NSS(smap, xs, ys).mean() * np.sqrt((n - 1) / n)
        assert nss(smap, fixated) == pytest.approx(expected_nss, abs=1e-12)
        with np.errstate(divide="ignore"):  # pysaliency takes log(0) on the way, harmlessly
            expected_kl = pysaliency_metrics.MIT_KLDiv(smap, density)
        assert kl(smap, density) == pytest.approx(expected_kl, abs=1e-10)


def test_sim_matches_pysaliency_after_the_min_max_step(scene) -> None:
    density = scene["density"]
    zero_floor = scene["good"] - scene["good"].min()  # min 0: min-max normalising changes nothing
    assert sim(zero_floor, density) == pytest.approx(pysaliency_metrics.SIM(zero_floor, density), abs=1e-12)
    lifted = scene["good"] + 0.5 * scene["good"].max()  # min > 0: pysaliency keeps the offset, MIT drops it
    assert sim(lifted, density) == pytest.approx(sim(zero_floor, density), abs=1e-12)
    assert sim(lifted, density) > pysaliency_metrics.SIM(lifted, density) + 0.05


def test_auc_borji_matches_the_matlab_loop_and_is_seeded(scene) -> None:
    smap, fixated = scene["good"], scene["fixated"]
    normalised = (smap - smap.min()) / (smap.max() - smap.min())
    positives = normalised[fixated]
    picks = np.random.default_rng(7).integers(0, smap.size, size=(positives.size, 100))
    expected = _matlab_auc_sampled(normalised, positives, normalised.ravel()[picks])
    assert auc_borji(smap, fixated, rng=7) == pytest.approx(expected, abs=1e-12)
    assert auc_borji(smap, fixated, rng=7) == auc_borji(smap, fixated, rng=7)
    assert auc_borji(smap, fixated, rng=8) != auc_borji(smap, fixated, rng=7)
    assert auc_borji(smap, fixated, rng=8) == pytest.approx(auc_borji(smap, fixated, rng=7), abs=0.02)


def test_shuffled_auc_discounts_a_centre_bias() -> None:
    rng = np.random.default_rng(3)
    fixated, others = _fixations(rng, 80, spread=0.1), _fixations(rng, 400, spread=0.1)
    yy, xx = np.mgrid[:H, :W]
    centre = np.exp(-(((yy - H / 2) / (0.2 * H)) ** 2 + ((xx - W / 2) / (0.2 * W)) ** 2))
    assert auc_judd(centre, fixated) > 0.85
    assert auc_shuffled(centre, fixated, others) == pytest.approx(0.5, abs=0.08)


@pytest.mark.parametrize("levels", [None, 6, 200])  # continuous; 6 values (ties, few positives); 200 (sorted path)
def test_shuffled_auc_equals_sklearn_on_the_two_sets_duplicates_kept(levels) -> None:
    rng = np.random.default_rng(5)
    smap = rng.random((H, W))
    if levels is not None:
        smap = np.floor(smap * levels) / levels
    fixated = _fixations(rng, 150, spread=0.15)
    counts = np.zeros((H, W), np.int64)  # other images' fixations, some pixels fixated several times
    np.add.at(counts, (rng.integers(0, H, 900), rng.integers(0, W, 900)), 1)
    assert counts.max() > 1
    positives = smap[fixated]
    negatives = np.repeat(smap.ravel(), counts.ravel())
    expected = roc_auc_score(np.r_[np.ones(positives.size), np.zeros(negatives.size)], np.r_[positives, negatives])
    assert auc_shuffled(smap, fixated, counts) == pytest.approx(expected, abs=1e-12)
    assert rank_auc(positives, negatives) == pytest.approx(expected, abs=1e-12)
    assert auc_shuffled(smap, fixated, counts > 0) != pytest.approx(expected, abs=1e-6)  # duplicates matter
    image = (counts > 0).astype(np.uint8) * 255  # a 0/255 map counts each marked pixel once
    assert auc_shuffled(smap, fixated, image) == pytest.approx(auc_shuffled(smap, fixated, counts > 0), abs=1e-12)
    assert auc_shuffled(np.zeros((H, W)), fixated, counts) == 0.5


def test_exact_shuffled_auc_is_what_the_matlab_sampling_estimates(scene) -> None:
    """MATLAB's AUC_shuffled: 100 random draws of as many negatives as fixations, a ROC at thresholds 0.1 apart."""
    rng = np.random.default_rng(6)
    smap, fixated = scene["good"], scene["fixated"]
    others = _fixations(rng, 500, spread=0.2)
    normalised = (smap - smap.min()) / (smap.max() - smap.min())
    positives, pool = normalised[fixated], normalised[others]
    draws = np.stack([rng.permutation(pool)[: positives.size] for _ in range(100)], axis=1)
    sampled = _matlab_auc_sampled(normalised, positives, draws)
    assert auc_shuffled(smap, fixated, others) == pytest.approx(sampled, abs=0.02)


def test_stack_scores_equal_one_map_at_a_time(scene) -> None:
    rng = np.random.default_rng(7)
    count = 5
    smaps = np.stack([scene["good"], scene["inverted"], scene["random"], np.zeros((H, W)),
                      rng.random((H, W)) ** 4])
    fixated = np.stack([_fixations(rng, n, spread=0.15) for n in (1, 12, 60, 20, 300)])
    densities = np.stack([_density(f) for f in fixated])
    counts = rng.integers(0, 3, (H, W))
    stacked = score_maps(smaps, fixated, density=densities, metrics=ALL_METRICS, other_fixations=counts)
    assert list(stacked) == list(ALL_METRICS) and all(v.shape == (count,) for v in stacked.values())
    for i in range(count):
        one = score(smaps[i], fixated[i], density=densities[i], metrics=ALL_METRICS, other_fixations=counts)
        assert {k: v[i] for k, v in stacked.items()} == pytest.approx(one, abs=1e-12)
    per_map = np.stack([counts, counts.T[:H, :W] if W <= H else np.roll(counts, 3, axis=1)] * 2 + [counts])
    alone = score_maps(smaps, fixated, metrics=["sAUC"], other_fixations=per_map)["sAUC"]
    assert alone[1] == pytest.approx(auc_shuffled(smaps[1], fixated[1], per_map[1]), abs=1e-12)
    no_density = score_maps(smaps, fixated, metrics=["CC"])["CC"]  # the fixation maps stand in
    assert no_density[0] == pytest.approx(cc(smaps[0], fixated[0]), abs=1e-12)


def test_every_metric_says_which_way_is_better() -> None:
    assert set(BETTER) == set(REGISTRY) and set(METRICS) < set(ALL_METRICS) < set(REGISTRY)
    assert {m for m, way in BETTER.items() if way == "lower"} == {"KL", "EMD"}
    assert set(BETTER.values()) == {"higher", "lower"}


def test_score_keys_0_255_images_and_the_metrics_filter(scene) -> None:
    fixated, smap = scene["fixated"], scene["good"]
    scores = score(smap, fixated, density=scene["density"])
    assert list(scores) == list(METRICS) and all(isinstance(v, float) for v in scores.values())
    image = fixated.astype(np.uint8) * 255
    assert score(smap, image, density=scene["density"]) == scores
    assert score(smap, image)["CC"] == pytest.approx(score(smap, fixated)["CC"])  # no density: the map
    assert score(smap, image)["CC"] != pytest.approx(scores["CC"])
    assert list(score(smap, fixated, metrics=["NSS", "KL"])) == ["NSS", "KL"]
    assert "sAUC" in score(smap, fixated, other_fixations=~fixated)


def test_a_smaller_saliency_map_is_resized_bilinearly(scene) -> None:
    fixated, density, smap = scene["fixated"], scene["density"], scene["good"]
    small = cv2.resize(smap, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    by_hand = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
    assert score(small, fixated, density=density) == score(by_hand, fixated, density=density)
    full = score(smap, fixated, density=density)
    assert score(small, fixated, density=density)["CC"] == pytest.approx(full["CC"], abs=0.02)


def test_constant_saliency_scores_as_chance(scene) -> None:
    fixated, n_fix = scene["fixated"], int(scene["fixated"].sum())
    flat = np.zeros((H, W))
    assert auc_judd(flat, fixated) == pytest.approx(0.5 + 1 / (2 * (n_fix + 1)))
    assert auc_borji(flat, fixated) == 0.5 and nss(flat, fixated) == 0.0 and cc(flat, scene["density"]) == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, f: score(s, np.zeros_like(f)), "no fixated pixel"),
        (lambda s, f: score(s, np.ones_like(f)), "every pixel"),
        (lambda s, f: score(s[..., None], f), "2-D"),
        (lambda s, f: score(np.where(f, np.nan, s), f), "NaN"),
        (lambda s, f: score(s, f, density=s[:10]), "shape"),
        (lambda s, f: score(s, f, density=-s), "negative"),
        (lambda s, f: score(s, f, metrics=["AUC"]), "Unknown"),
        (lambda s, f: score(s, f, metrics=["sAUC"]), "other_fixations"),
        (lambda s, f: auc_shuffled(s, f, f[:10]), "shape"),
        (lambda s, f: auc_shuffled(s, f, -f.astype(int)), "negative"),
        (lambda s, f: auc_shuffled(s, f, np.zeros_like(f)), "no fixated pixel"),
        (lambda s, f: score_maps(s, f[None]), "3-D"),
        (lambda s, f: score_maps(s[None][:, :10], f[None]), "one size"),
        (lambda s, f: score_maps(np.stack([s, s]), np.stack([f, 0 * f])), "map 1 \\(0-based\\)"),
    ],
)
def test_bad_input_raises_one_clear_cam_error(scene, call, message) -> None:
    with pytest.raises(CamError, match=message):
        call(scene["good"], scene["fixated"])


def test_clip_saliency_is_the_frame_mean_scaled_to_0_255() -> None:
    rng = np.random.default_rng(4)
    frames = rng.random((8, H, W))
    mean = frames.mean(axis=0)
    expected = (mean - mean.min()) / (mean.max() - mean.min()) * 255
    np.testing.assert_allclose(clip_saliency(frames), expected, atol=1e-10)
    views = rng.random((3, 8, H, W))
    np.testing.assert_allclose(clip_saliency(views), clip_saliency(views.reshape(24, H, W)), atol=1e-10)
    out = clip_saliency(views)
    assert out.dtype == np.float64 and out.min() == 0 and out.max() == pytest.approx(255)
    assert not clip_saliency(np.ones((4, H, W))).any()
    with pytest.raises(CamError, match="T, H, W"):
        clip_saliency(frames[0])
