"""The study: scores equal core.gaze's, sAUC equals scikit-learn's ROC area on the positives and negatives built
by hand, NSS/CC/KL equal pysaliency's, tests equal scipy's Wilcoxon, Holm and the rank-biserial effect by hand,
bootstrap CIs against scipy's, baselines by hand, missing videos listed, the CLI's outputs and errors."""

from __future__ import annotations

import csv
import inspect
import io
import json
import shutil

import cv2
import numpy as np
import pytest
from study_data import SEEN, SOURCE, WINDOW, make_study

from core import gaze
from core.geometry import gaze_to_crop, heatmap_to_source
from core.saliency import ALL_METRICS, BETTER, clip_saliency, score
from core.study import StudySpec, center_map, compute, read_clip, report_markdown
from core.study.cli import main
from core.study.stats import bootstrap_ci, holm, rank_biserial

scipy_stats = pytest.importorskip("scipy.stats")
roc_auc_score = pytest.importorskip("sklearn.metrics").roc_auc_score
pysaliency_metrics = pytest.importorskip("pysaliency.metrics")
RUNS = ("good", "mid", "bad")
LOCATION = ("AUC_Judd", "AUC_Borji", "NSS")
DISTRIBUTION = ("CC", "SIM", "KL")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("study"))


def _spec(data, region="crop", **kw) -> StudySpec:
    return StudySpec(tuple((run, data[run]) for run in RUNS), data["fixations"], data["density"], region, **kw)


@pytest.fixture(scope="module")
def crop(data):
    return compute(_spec(data))


@pytest.fixture(scope="module")
def frame(data):
    return compute(_spec(data, "frame"))


def _row(result, run, video, frame=""):
    return next(r for r in result.scores.rows if r["run"] == run and r["video"] == video and r["frame"] == frame)


def _png(path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def _clip_gaze(data, video: int):
    """Union of the fixations and mean of the densities over the frames the runs saw, in source pixels."""
    fix = np.logical_or.reduce([_png(data["fixations"] / f"v{video}" / f"frame_{k:05d}.png") > 0 for k in SEEN])
    dens = np.mean([_png(data["density"] / f"v{video}" / f"frame_{k:05d}.png").astype(float) for k in SEEN], axis=0)
    return fix, dens


@pytest.mark.parametrize("region", ["crop", "frame"])
def test_scores_equal_core_gaze_per_clip_and_frame(data, crop, frame, region):
    result = crop if region == "crop" else frame
    for run in ("good", "bad"):
        txt = data[run] / "run" / "v3.txt"
        expected = gaze.score_file(txt, data["fixations"] / "v3", data["density"] / "v3", region=region)
        got = _row(result, run, "v3")
        assert {m: got[m] for m in expected.clip} == pytest.approx(expected.clip, abs=1e-12)
        assert [r["frame"] for r in expected.frames] == SEEN
        for row in expected.frames:
            got = _row(result, run, "v3", row["frame"])
            assert {m: got[m] for m in expected.clip} == pytest.approx({m: row[m] for m in expected.clip}, abs=1e-12)


def test_rows_cover_every_run_baseline_video_and_frame(crop):
    assert crop.runs == [*RUNS, "center", "others"] and crop.metrics == list(ALL_METRICS)
    assert len(crop.scores.rows) == 5 * 8 * (1 + len(SEEN))
    assert {r["frame"] for r in crop.scores.rows} == {"", *SEEN}
    assert {r["class"] for r in crop.scores.rows} == {"walk", "run"}
    assert all(np.isfinite(r[m]) for r in crop.scores.rows for m in ALL_METRICS)


def _negatives(data, video: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every other video's clip fixations (same gaze size here, so no scaling), duplicates kept."""
    xs, ys = [], []
    for other in range(8):
        if other != video:
            y, x = np.nonzero(_clip_gaze(data, other)[0])
            xs.append(x)
            ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    labels = np.r_[np.ones(positives.size), np.zeros(negatives.size)]
    return roc_auc_score(labels, np.r_[positives, negatives])


def test_sauc_is_sklearns_roc_area_on_the_fixations_of_this_and_the_other_videos(data, crop, frame):
    video = 2
    clip = read_clip(data["good"] / "walk" / f"v{video}.txt")
    fix, _ = _clip_gaze(data, video)
    nx, ny = _negatives(data, video)
    assert len(set(zip(nx, ny, strict=True))) < nx.size  # some pixels are negatives twice
    # frame: the saliency placed in its window of the gaze frame
    placed = heatmap_to_source(clip_saliency(clip.heatmaps), SOURCE, WINDOW)[0].astype(np.float64)
    assert _row(frame, "good", "v2")["sAUC"] == pytest.approx(_auc(placed[fix], placed[ny, nx]), abs=1e-12)
    frame_fix = _png(data["fixations"] / "v2" / "frame_00004.png") > 0
    heat = heatmap_to_source(clip.heatmaps[0, SEEN.index(4)], SOURCE, WINDOW)[0].astype(np.float64)
    assert _row(frame, "good", "v2", 4)["sAUC"] == pytest.approx(_auc(heat[frame_fix], heat[ny, nx]), abs=1e-12)
    # crop: the same points moved into the 24 × 24 window grid by their centres, those outside dropped
    smap = clip_saliency(clip.heatmaps)
    x0, y0, x1, y1 = WINDOW
    u = np.floor((nx + 0.5 - x0) * 24 / (x1 - x0)).astype(int)
    v = np.floor((ny + 0.5 - y0) * 24 / (y1 - y0)).astype(int)
    inside = (u >= 0) & (u < 24) & (v >= 0) & (v < 24)
    assert not inside.all()
    positives = smap[gaze_to_crop(fix, WINDOW, (24, 24), binary=True)]
    assert _row(crop, "good", "v2")["sAUC"] == pytest.approx(_auc(positives, smap[v[inside], u[inside]]), abs=1e-12)


def test_nss_cc_kl_equal_pysaliency(data, frame):
    clip = read_clip(data["bad"] / "run" / "v5.txt")
    fix, dens = _clip_gaze(data, 5)
    smap = heatmap_to_source(clip_saliency(clip.heatmaps), SOURCE, WINDOW)[0].astype(np.float64)
    row = _row(frame, "bad", "v5")
    ys, xs = np.nonzero(fix)
    n = smap.size  # pysaliency's NSS uses the population std, MATLAB's (and ours) the sample one
    assert row["NSS"] == pytest.approx(pysaliency_metrics.NSS(smap, xs, ys).mean() * np.sqrt((n - 1) / n), abs=1e-10)
    assert row["CC"] == pytest.approx(pysaliency_metrics.CC(smap, dens), abs=1e-10)
    with np.errstate(divide="ignore"):
        assert row["KL"] == pytest.approx(pysaliency_metrics.MIT_KLDiv(smap, dens), abs=1e-9)


def test_tests_are_scipys_wilcoxon_with_holm_and_rank_biserial(crop):
    for metric in ("NSS", "KL"):
        tests = [t for t in crop.tests if t["metric"] == metric]
        assert len(tests) == 10  # every pair of 3 runs and 2 baselines
        for test in tests:
            a = np.array([_row(crop, test["run_a"], f"v{i}")[metric] for i in range(8)])
            b = np.array([_row(crop, test["run_b"], f"v{i}")[metric] for i in range(8)])
            expected = scipy_stats.wilcoxon(a, b)
            assert (test["n"], test["statistic"]) == (8, pytest.approx(expected.statistic))
            assert test["p"] == pytest.approx(expected.pvalue, abs=1e-12)
            assert test["effect"] == pytest.approx(rank_biserial(a, b)) and test["better"] == BETTER[metric]
        p = np.array([t["p"] for t in tests])
        assert [t["p_holm"] for t in tests] == pytest.approx(holm(p))
    good_vs_mid = crop.test("good", "mid", "KL")
    assert good_vs_mid["effect"] == -1.0  # good has the lower KL on every video


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert holm(np.array([0.01, 0.04, 0.03, 0.005])) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm(np.array([0.5, np.nan, 0.4]))  # NaN is no test: m = 2
    assert adjusted[[0, 2]] == pytest.approx([0.8, 0.8]) and np.isnan(adjusted[1])
    assert holm(np.array([0.6, 0.7])) == pytest.approx([1.0, 1.0])  # capped at 1


def test_rank_biserial_by_hand():
    # differences 1, -2, 3, 0: the zero is dropped; ranks of |d| 1, 2, 3; R+ = 1 + 3, R- = 2; r = (4 - 2) / 6
    assert rank_biserial(np.array([2, 0, 5, 1]), np.array([1, 2, 2, 1])) == pytest.approx(1 / 3)
    assert rank_biserial(np.array([1, 2]), np.array([0, 0])) == 1.0 and rank_biserial(np.ones(3), np.ones(3)) == 0.0


def test_bootstrap_ci_is_the_percentile_bootstrap():
    values = np.random.default_rng(3).gamma(2.0, 1.0, 40)
    low, high = bootstrap_ci(values)
    assert (low, high) == bootstrap_ci(values)  # seed 0 every time
    seed = {"rng": 1} if "rng" in inspect.signature(scipy_stats.bootstrap).parameters else {"random_state": 1}
    reference = scipy_stats.bootstrap((values,), np.mean, n_resamples=10_000, method="percentile", **seed)
    se = values.std(ddof=1) / np.sqrt(values.size)
    assert low == pytest.approx(reference.confidence_interval.low, abs=0.1 * se)
    assert high == pytest.approx(reference.confidence_interval.high, abs=0.1 * se)
    rng = np.random.default_rng(0)  # the same as one block of 10 000 resamples
    means = values[rng.integers(0, values.size, (10_000, values.size))].mean(axis=1)
    assert (low, high) == tuple(np.percentile(means, [2.5, 97.5]))


def test_baselines_by_hand(data, frame):
    grid = center_map((48, 64))
    assert grid.max() == pytest.approx(np.exp(-0.5 * ((0.5 / 12) ** 2 + (0.5 / 16) ** 2)))
    assert grid[24, 32 + 16] / grid[24, 32] == pytest.approx(np.exp(-0.5), rel=0.05)  # one σx = W/4 away
    fix, dens = _clip_gaze(data, 0)
    center = score(grid, fix, density=dens)
    others = np.mean([d / d.sum() for d in (_clip_gaze(data, v)[1] for v in range(1, 8))], axis=0)
    expected = score(others, fix, density=dens)
    for name, values in (("center", center), ("others", expected)):
        got = _row(frame, name, "v0")
        assert {m: got[m] for m in values} == pytest.approx(values, abs=1e-9)


def test_the_good_run_is_best_and_the_report_says_so(crop):
    for metric in ALL_METRICS:
        assert crop.best(metric) == "good"
        stat = crop.stat("good", metric)
        assert stat["n"] == 8 and stat["ci_low"] <= stat["mean"] <= stat["ci_high"]
    report = report_markdown(crop)
    assert "| `good` | 8 | **" in report and "KL ↓" in report and "AUC_Judd ↑" in report
    assert "## Per class" in report and "| walk | `good` | 4 |" in report
    assert "sklearn's roc_auc_score" in report and "![pvalues](pvalues.png)" in report


def test_missing_videos_are_listed_never_dropped(data, tmp_path):
    for run in ("good", "mid"):
        shutil.copytree(data[run], tmp_path / run)
    for suffix in (".txt", ".json", ".npz"):
        (tmp_path / "mid" / "run" / f"v7{suffix}").unlink()
    shutil.copytree(data["fixations"], tmp_path / "fix")
    shutil.rmtree(tmp_path / "fix" / "v6")
    result = compute(StudySpec((("good", tmp_path / "good"), ("mid", tmp_path / "mid")), tmp_path / "fix",
                               baselines=("center",)))
    assert result.scores.missing == {"good": [], "mid": ["v7"], "gaze": ["v6"]}
    assert any("lacks 1 of the 7" in n for n in result.scores.notes)
    assert any("no gaze entry" in n and "v6" in n for n in result.scores.notes)
    assert result.stat("good", "NSS")["n"] == 7 and result.stat("mid", "NSS")["n"] == 6
    assert result.test("good", "mid", "NSS")["n"] == 6
    report = report_markdown(result)
    assert "missing from run `mid`: v7" in report and "without a gaze entry (not scored): v6" in report


def test_the_fixation_makers_output_feeds_the_study(data, tmp_path):
    """Samples at each frame's middle on the source videos → fixations/<video>/frame_00000.png… → the study."""
    from study_data import FRAMES, target

    from core.gaze.fixations import make_fixations

    rng = np.random.default_rng(9)
    rows = ["video,subject,t,x,y"]
    for video in range(8):
        for k in range(FRAMES):
            x, y = target(video, k)
            rows += [f"v{video}.mp4,s{s},{(k + 0.5) / 25:.4f},{x + rng.normal(0, 2):.2f},{y + rng.normal(0, 2):.2f}"
                     for s in range(6)]
    (tmp_path / "samples.csv").write_text("\n".join(rows) + "\n")
    reports = make_fixations(tmp_path / "samples.csv", data["videos"], tmp_path / "gaze", sigma=2.5)
    assert [(r.frames, r.marked) for r in reports] == [(FRAMES, 6 * FRAMES)] * 8
    result = compute(StudySpec((("good", data["good"]), ("bad", data["bad"])), tmp_path / "gaze" / "fixations",
                               tmp_path / "gaze" / "density"))
    assert sorted({r["frame"] for r in result.scores.rows} - {""}) == SEEN  # 0-based, as the heatmaps count
    assert any("numbered from 0" in note for note in result.scores.notes)
    assert all(result.best(metric) == "good" for metric in ALL_METRICS)


def test_txt_without_npz_reads_the_same(data, tmp_path):
    shutil.copytree(data["good"], tmp_path / "good")
    (tmp_path / "good" / "walk" / "v0.npz").unlink()
    from_txt = read_clip(tmp_path / "good" / "walk" / "v0.txt")
    from_npz = read_clip(data["good"] / "walk" / "v0.txt")
    assert np.array_equal(from_txt.heatmaps, from_npz.heatmaps) and from_txt.result.windows == from_npz.result.windows
    assert (from_txt.name, from_txt.gt_label, from_txt.seen) == ("v0", "walk", SEEN)


def test_cli_writes_every_output_and_prints_json(data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a for run in RUNS for a in ("--run", f"{run}={data[run]}")]
    assert main([*argv, "--gaze", str(data["fixations"]), "--density", str(data["density"]), "--out", str(out),
                 "--json", "--baselines", "center"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {row["run"] for row in printed["summary"]} == {*RUNS, "center"} and printed["better"]["KL"] == "lower"
    assert len(printed["tests"]) == 6 * len(ALL_METRICS)
    names = {p.name for p in out.iterdir()}
    assert names == {"scores.csv", "summary.csv", "tests.csv", "report.md", "summary.png", "distributions.png",
                     "pvalues.png", "classes.png"}
    summary = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert list(summary[0]) == ["run", "metric", "mean", "std", "n", "ci_low", "ci_high", "frame_pooled_mean",
                                "normalised", "better", "protocol"]
    scores = list(csv.DictReader(io.StringIO((out / "scores.csv").read_text())))
    assert list(scores[0])[:4] == ["run", "video", "class", "frame"] and scores[0]["frame"] == ""
    tests = list(csv.DictReader(io.StringIO((out / "tests.csv").read_text())))
    assert list(tests[0]) == ["metric", "run_a", "run_b", "n", "statistic", "p", "p_holm", "effect", "better",
                              "protocol"]
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_one_error_line_and_nothing_written(data, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    other = tmp_path / "other"
    shutil.copytree(data["good"] / "walk", other)
    for path in other.glob("*.json"):  # the same videos renamed: no video in common with run good's "run" class
        meta = json.loads(path.read_text())
        meta["video"] = meta["video"].replace("/v", "/w")
        path.write_text(json.dumps(meta))
    (tmp_path / "gaze2").mkdir()
    for folder in data["fixations"].iterdir():
        shutil.copytree(folder, tmp_path / "gaze2" / folder.name)
        shutil.copytree(folder, tmp_path / "gaze2" / folder.name.replace("v", "w"))
    cases = [
        (["--run", f"a={empty}", "--gaze", str(data["fixations"])], "is not a batch output folder"),
        (["--run", f"a={data['good'] / 'run'}", "--run", f"b={other}", "--gaze", str(tmp_path / "gaze2")],
         "no video in common"),
        (["--run", str(data["good"]), "--gaze", str(data["fixations"])], "NAME=BATCH_DIR"),
        (["--run", f"a={data['good']}", "--gaze", str(data["fixations"]), "--baselines", "middle"], "middle"),
        (["--run", f"center={data['good']}", "--gaze", str(data["fixations"])], "baseline"),
        (["--run", f"a={data['good']}", "--gaze", str(data["fixations"]), "--region", "window"], "invalid choice"),
        (["--run", f"a={data['good']}", "--gaze", str(tmp_path / "nogaze")], "must be a folder"),
    ]
    for argv, message in cases:
        out = tmp_path / "out"
        assert main([*argv, "--out", str(out)]) == 2, message
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
        assert not out.exists()
