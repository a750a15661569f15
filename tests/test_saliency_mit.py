"""The ``mit`` protocol against independent implementations: pysaliency where its definition is the MIT
benchmark's (CC; SIM and KL on maps with minimum 0), else the MATLAB code of cvzoya/saliency
``code_forMetrics/*.m`` transcribed here line by line (loops as written there), not taken from ``core``."""

from __future__ import annotations

import math

import numpy as np
import pysaliency.metrics as pysal
import pytest

import core  # noqa: F401
from core.errors import CamError
from core.saliency import Protocol, check_protocols, score, score_maps

EPS = 2.2204e-16  # MATLAB's eps as the benchmark uses it


@pytest.fixture(scope="module")
def maps() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    h, w = 36, 48
    ys, xs = np.mgrid[0:h, 0:w]
    smap = np.exp(-((xs - 30) ** 2 + (ys - 14) ** 2) / 150.0) + 0.3 * rng.random((h, w))
    fix = np.zeros((h, w), bool)
    fix[rng.integers(0, h, 25), rng.integers(0, w, 25)] = True
    density = np.exp(-((xs - 26) ** 2 + (ys - 18) ** 2) / 90.0) + 0.05 * rng.random((h, w))
    other = np.zeros((h, w))
    np.add.at(other, (rng.integers(0, h, 40), rng.integers(0, w, 40)), 1)
    return {"smap": smap, "fix": fix, "density": density, "other": other}


# ---- MATLAB transcriptions (code_forMetrics/*.m), 1-based loops kept as written -------------------------------

def matlab_trapz(x, y):
    return sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1))


def matlab_auc_judd(saliency_map, fixation_map):
    """AUC_Judd.m with jitter = 0."""
    s = (saliency_map - saliency_map.min()) / (saliency_map.max() - saliency_map.min())
    S, F = s.ravel(order="F"), fixation_map.ravel(order="F")
    Sth = S[F > 0]
    n_fix, n_pix = len(Sth), len(S)
    allthreshes = sorted(Sth, reverse=True)
    tp, fp = [0.0] * (n_fix + 2), [0.0] * (n_fix + 2)
    tp[-1] = fp[-1] = 1.0
    for i in range(1, n_fix + 1):
        thresh = allthreshes[i - 1]
        aboveth = int(np.sum(S >= thresh))
        tp[i] = i / n_fix
        fp[i] = (aboveth - i) / (n_pix - n_fix)
    return matlab_trapz(fp, tp)


def matlab_sampled_auc(Sth, randfix, step=0.1):
    """The split loop shared by AUC_Borji.m and AUC_shuffled.m."""
    auc = []
    for s in range(randfix.shape[1]):
        curfix = randfix[:, s]
        top = max(np.max(Sth), np.max(curfix))
        allthreshes = [k * step for k in range(math.floor(top / step + 1e-9) + 1)][::-1]
        tp, fp = [0.0] * (len(allthreshes) + 2), [0.0] * (len(allthreshes) + 2)
        tp[-1] = fp[-1] = 1.0
        for i, thresh in enumerate(allthreshes, start=1):
            tp[i] = np.sum(Sth >= thresh) / len(Sth)
            fp[i] = np.sum(curfix >= thresh) / len(curfix)
        auc.append(matlab_trapz(fp, tp))
    return float(np.mean(auc))


def matlab_nss(saliency_map, fixation_map):
    m = (saliency_map - saliency_map.mean()) / saliency_map.std(ddof=1)  # MATLAB std: N - 1
    return float(m[fixation_map.astype(bool)].mean())


def matlab_similarity(map1, map2):
    map1 = (map1 - map1.min()) / (map1.max() - map1.min())
    map1 = map1 / map1.sum()
    map2 = (map2 - map2.min()) / (map2.max() - map2.min())
    map2 = map2 / map2.sum()
    return float(np.minimum(map1, map2).sum())


def matlab_info_gain(saliency_map, fixation_map, baseline_map):
    map1 = (saliency_map - saliency_map.min()) / (saliency_map.max() - saliency_map.min())
    mapb = (baseline_map - baseline_map.min()) / (baseline_map.max() - baseline_map.min())
    map1, mapb = map1 / map1.sum(), mapb / mapb.sum()
    locs = fixation_map.astype(bool)
    return float(np.mean(np.log2(EPS + map1[locs]) - np.log2(EPS + mapb[locs])))


# ---- the tests ----------------------------------------------------------------------------------------------------

def _mit(maps, metric, **kw):
    return score(maps["smap"], maps["fix"], density=maps["density"], metrics=[metric], protocol="mit", **kw)[metric]


def test_auc_judd_is_the_matlab_loop_and_its_jitter_only_breaks_ties(maps) -> None:
    from core import saliency_mit

    exact_loop = matlab_auc_judd(maps["smap"], maps["fix"])
    unjittered = saliency_mit.auc_judd(maps["smap"], maps["fix"], np.random.default_rng(0), jitter=False)
    assert unjittered == pytest.approx(exact_loop, abs=1e-12)
    assert _mit(maps, "AUC_Judd") == pytest.approx(exact_loop, abs=1e-5)  # jitter of 1e-7 on values in [0, 1.3]
    assert _mit(maps, "AUC_Judd") == _mit(maps, "AUC_Judd")  # seeded


def test_auc_borji_is_the_matlab_loop_on_the_same_random_pixels(maps) -> None:
    smap, fix = maps["smap"], maps["fix"]
    s = ((smap - smap.min()) / (smap.max() - smap.min())).ravel()
    r = np.random.default_rng(5).integers(0, s.size, size=(int(fix.sum()), 100))  # randi([1 Npixels], ...)
    expected = matlab_sampled_auc(s[fix.ravel()], s[r])
    assert _mit(maps, "AUC_Borji", rng=5) == pytest.approx(expected, abs=1e-12)


def test_shuffled_auc_is_the_matlab_loop_on_the_same_permutations(maps) -> None:
    smap, fix, other = maps["smap"], maps["fix"], maps["other"]
    s = ((smap - smap.min()) / (smap.max() - smap.min())).ravel()
    ind = np.flatnonzero(other.ravel() > 0)  # find(Oth > 0): each location once
    n_oth = min(int(fix.sum()), ind.size)
    generator = np.random.default_rng(3)
    randfix = np.stack([s[ind[generator.permutation(ind.size)][:n_oth]] for _ in range(100)], axis=1)
    expected = matlab_sampled_auc(s[fix.ravel()], randfix)
    got = score(smap, fix, metrics=["sAUC"], other_fixations=other, protocol="mit", rng=3)["sAUC"]
    assert got == pytest.approx(expected, abs=1e-12)


def test_nss_cc_sim_kl_match_matlab_and_pysaliency(maps) -> None:
    smap, fix, density = maps["smap"], maps["fix"], maps["density"]
    assert _mit(maps, "NSS") == pytest.approx(matlab_nss(smap, fix), abs=1e-12)
    assert _mit(maps, "CC") == pytest.approx(pysal.CC(smap, density), abs=1e-12)
    assert _mit(maps, "SIM") == pytest.approx(matlab_similarity(smap, density), abs=1e-12)
    zero_min = [m - m.min() for m in (smap, density)]  # pysaliency's SIM does not min-max; MATLAB's does
    assert score(zero_min[0], fix, density=zero_min[1], metrics=["SIM"], protocol="mit")["SIM"] == \
        pytest.approx(pysal.SIM(*zero_min), abs=1e-12)
    assert _mit(maps, "KL") == pytest.approx(pysal.MIT_KLDiv(smap, density), abs=1e-10)


def test_mit_differs_from_exact_where_matlab_does(maps) -> None:
    """A constant map: exact scores it as uniform, MATLAB's code gives NaN (divides by a zero range)."""
    flat = np.ones_like(maps["smap"])
    exact = score(flat, maps["fix"], density=maps["density"])
    mit = score(flat, maps["fix"], density=maps["density"], protocol="mit")
    assert exact["NSS"] == 0 and exact["AUC_Borji"] == 0.5
    assert math.isnan(mit["NSS"]) and math.isnan(mit["AUC_Borji"]) and math.isnan(mit["CC"])
    # KLdiv.m does not shift a map with negative values; the exact protocol does
    shifted = maps["smap"] - 0.2
    assert score(shifted, maps["fix"], density=maps["density"], metrics=["KL"], protocol="mit")["KL"] != \
        pytest.approx(score(shifted, maps["fix"], density=maps["density"], metrics=["KL"])["KL"])


def test_information_gain_matches_infogain_m_and_the_closed_form_of_two_gaussians() -> None:
    """Model N(μ, σ1²), baseline N(μ, σ2²) on a grid wide enough that both sum to 1 as their integrals do:
    at a fixated pixel x the gain is log2 N(x; σ1) - log2 N(x; σ2) =
    [|x-μ|²(1/σ2² - 1/σ1²)/2 + ln(σ2²/σ1²)] / ln 2 bits; IG is its mean over the fixations."""
    size, s1, s2 = 401, 18.0, 40.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    r2 = (xs - 200) ** 2 + (ys - 200) ** 2
    model, base = np.exp(-r2 / (2 * s1 ** 2)), np.exp(-r2 / (2 * s2 ** 2))
    fix = np.zeros((size, size), bool)
    points = [(200, 200), (210, 195), (230, 200), (180, 240), (200, 160), (250, 250)]
    for x, y in points:
        fix[y, x] = True
    got = score(model, fix, metrics=["IG"], baseline=base, protocol="mit")["IG"]
    closed = np.mean([((x - 200) ** 2 + (y - 200) ** 2) * (1 / s2 ** 2 - 1 / s1 ** 2) / 2 + math.log(s2 ** 2 / s1 ** 2)
                      for x, y in points]) / math.log(2)
    assert got == pytest.approx(closed, abs=2e-3)
    assert got == pytest.approx(matlab_info_gain(model, fix, base), abs=1e-12)
    assert score(base, fix, metrics=["IG"], baseline=base, protocol="mit")["IG"] == pytest.approx(0, abs=1e-12)


def test_information_gain_needs_a_baseline(maps) -> None:
    with pytest.raises(CamError, match="baseline"):
        score(maps["smap"], maps["fix"], metrics=["IG"], protocol="mit")


def test_emd_is_zero_for_the_same_map_and_the_transport_distance_of_a_shift() -> None:
    """Downsampled 32×: a unit mass moved by k cells costs k (EMD.m's Euclidean ground distance in cells)."""
    a = np.zeros((128, 128))
    a[0:32, 0:32] = 1.0
    b = np.zeros((128, 128))
    b[0:32, 64:96] = 1.0  # two cells to the right
    assert score(a, a > 0, density=a, metrics=["EMD"], protocol="mit")["EMD"] == pytest.approx(0, abs=1e-12)
    assert score(b, a > 0, density=a, metrics=["EMD"], protocol="mit")["EMD"] == pytest.approx(2.0, abs=1e-9)


def test_a_stack_with_one_seed_per_map_scores_as_its_maps_one_by_one(maps) -> None:
    stack = np.stack([maps["smap"], maps["smap"][::-1]])
    fix = np.stack([maps["fix"], maps["fix"]])
    together = score_maps(stack, fix, metrics=["AUC_Judd", "AUC_Borji"], protocol="mit", rng=[11, 12])
    for i, seed in enumerate((11, 12)):
        alone = score(stack[i], fix[i], metrics=["AUC_Judd", "AUC_Borji"], protocol="mit", rng=seed)
        assert together["AUC_Judd"][i] == alone["AUC_Judd"] and together["AUC_Borji"][i] == alone["AUC_Borji"]


def test_protocols_are_never_mixed() -> None:
    assert check_protocols(["mit", "mit"]) == Protocol.MIT
    with pytest.raises(CamError, match="one --protocol"):
        check_protocols(["exact", "mit"])
