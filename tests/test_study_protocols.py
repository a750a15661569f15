"""The study under --protocol mit, its bounding baselines (center_fit, human), the normalised placement of runs,
and the thesis outputs (--latex, --figures)."""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image
from study_data import FRAMES, SEEN, SOURCE, make_study

from core import gaze
from core.errors import CamError
from core.gaze.subjects import read_subjects
from core.geometry import gaze_to_crop
from core.saliency import center_bias, score
from core.study import StudySpec, compute, report_markdown
from core.study.baselines import SIGMAS, center_log_likelihood, fitted_sigmas
from core.study.cli import main
from core.study.pictures import print_panels
from core.study.result import scores_csv
from core.study.tables import latex_table

RUNS = ("good", "mid", "bad")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("protocols"), videos=5)


@pytest.fixture(scope="module")
def mit(data):
    spec = StudySpec(tuple((run, data[run]) for run in RUNS), data["fixations"], data["density"], "crop",
                     ("center", "center_fit", "others", "human"), protocol="mit", subjects=data["subjects"])
    return compute(spec)


def _row(result, run, video, frame=""):
    return next(r for r in result.scores.rows if r["run"] == run and r["video"] == video and r["frame"] == frame)


def test_mit_rows_equal_core_gaze_mit_and_carry_their_protocol(data, mit):
    """Same seeds per video and frame in both: every metric but sAUC (other videos' frames) and IG (the study
    measures it over the fitted centre, core.gaze over the fixed one) equals core.gaze --protocol mit."""
    txt = data["good"] / "run" / "v3.txt"
    expected = gaze.score_file(txt, data["fixations"] / "v3", data["density"] / "v3", protocol="mit")
    same = [m for m in expected.clip if m != "IG"]
    assert {m: _row(mit, "good", "v3")[m] for m in same} == pytest.approx({m: expected.clip[m] for m in same},
                                                                          abs=1e-12)
    for row in expected.frames:
        got = _row(mit, "good", "v3", row["frame"])
        assert {m: got[m] for m in same} == pytest.approx({m: row[m] for m in same}, abs=1e-12)
    assert mit.protocol == "mit" and "IG" in mit.metrics and "sAUC" in mit.metrics
    lines = scores_csv(mit).splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["run", "video", "class", "frame", "protocol"] and header[-1] == "IG"
    assert all(line.split(",")[4] == "mit" for line in lines[1:])
    assert {row["protocol"] for row in mit.summary + mit.tests} == {"mit"}
    assert mit.to_json()["protocol"] == "mit" and "Protocol `mit`" in report_markdown(mit, figures=False)


def test_mit_sauc_draws_repeat_and_differ_from_exact(data, mit):
    again = compute(StudySpec((("good", data["good"]),), data["fixations"], data["density"], "crop", ("center",),
                              protocol="mit"))
    for video in ("v0", "v4"):
        for frame in ["", *SEEN]:
            assert _row(again, "good", video, frame)["sAUC"] == _row(mit, "good", video, frame)["sAUC"]
    assert _row(mit, "good", "v1")["sAUC"] > _row(mit, "bad", "v1")["sAUC"]


def test_human_bound_by_hand_and_runs_placed_between_centre_and_it(data, mit):
    """Subject by subject on the crop grid: its fixations against the others' blurred fixations, its own
    density the CC/SIM/KL target, per frame; the clip row the union of fixations / mean of densities."""
    subjects = read_subjects(data["subjects"] / "v2.npz")
    box, shape = (8.0, 0.0, 56.0, 48.0), (24, 24)
    per_subject = []
    for who in range(len(subjects.names)):
        fix, own, rest = [], [], []
        for frame in SEEN:
            counts = np.zeros(SOURCE[::-1])
            others = np.zeros(SOURCE[::-1])
            for f, x, y, s in zip(subjects.frame, subjects.x, subjects.y, subjects.subject, strict=True):
                if f == frame:
                    (counts if s == who else others)[y, x] += 1
            fix.append(counts > 0)
            own.append(cv2.GaussianBlur(counts, (0, 0), 2.5, borderType=cv2.BORDER_CONSTANT))
            rest.append(cv2.GaussianBlur(others, (0, 0), 2.5, borderType=cv2.BORDER_CONSTANT))
        clip_fix, clip_own, clip_rest = np.any(fix, axis=0), np.mean(own, axis=0), np.mean(rest, axis=0)
        crop = gaze_to_crop(clip_fix.astype(np.uint8), box, shape, binary=True)
        if crop.any():
            per_subject.append(score(gaze_to_crop(clip_rest, box, shape, binary=False), crop,
                                     density=gaze_to_crop(clip_own, box, shape, binary=False), metrics=["NSS", "CC"],
                                     protocol="mit", rng=0))
    row = _row(mit, "human", "v2")
    assert row["CC"] == pytest.approx(np.mean([s["CC"] for s in per_subject]), abs=1e-9)
    assert len(per_subject) == 6 and math.isfinite(row["NSS"])
    for metric in ("NSS", "CC", "AUC_Judd", "KL"):  # good is an oracle (its heatmap sits on the target itself)
        human, centre = mit.stat("human", metric)["mean"], mit.stat("center_fit", metric)["mean"]
        sign = -1 if metric == "KL" else 1
        assert sign * human > sign * mit.stat("mid", metric)["mean"] and sign * human > sign * centre
        assert mit.stat("human", metric)["normalised"] == pytest.approx(1.0)
        assert mit.stat("center_fit", metric)["normalised"] == pytest.approx(0.0)
        assert mit.stat("good", metric)["normalised"] > 0.7 > 0.2 > mit.stat("mid", metric)["normalised"]
    assert mit.stat("human", "NSS")["mean"] > mit.stat("good", "NSS")["mean"]
    assert mit.best("NSS") == "good"  # the human bound is a ceiling, not a competitor
    assert "## Between the centre baseline and the human bound" in report_markdown(mit, figures=False)


def test_center_sigma_is_fitted_on_the_other_videos():
    """Fixations of four videos drawn from a centred Gaussian of σ = 0.1·size: the fitted σ of a fifth video is
    0.1 whatever its own fixations are (leave one video out)."""
    rng = np.random.default_rng(0)
    size = (200, 100)
    likelihoods = {}
    for name in "abcd":
        xs = np.clip(rng.normal(100, 20, 400), 0, 199).astype(int)
        ys = np.clip(rng.normal(50, 10, 400), 0, 99).astype(int)
        likelihoods[name] = center_log_likelihood(xs, ys, size)
    corner = center_log_likelihood(np.zeros(50, int), np.zeros(50, int), size)  # all in a corner
    wide = center_log_likelihood(rng.integers(0, 200, 400), rng.integers(0, 100, 400), size)
    for own in (corner, wide):
        assert fitted_sigmas({**likelihoods, "e": own})["e"] == 0.1
    assert SIGMAS[int(np.argmax(wide))] >= 0.3  # uniform fixations alone would choose a wide one
    assert fitted_sigmas({"e": wide})["e"] == 0.25  # nothing to fit on: the fixed centre


def test_center_fit_is_scored_like_center_with_its_own_sigma(mit):
    sigma = mit.scores.center_sigmas["v1"]
    assert sigma in SIGMAS and mit.to_json()["center_sigmas"]["v1"] == sigma
    assert _row(mit, "center_fit", "v1")["CC"] != _row(mit, "center", "v1")["CC"] or sigma == 0.25
    assert center_bias((24, 24), sigma).shape == (24, 24)


def test_latex_table_and_print_panels(mit):
    files = print_panels(mit, ["v1:4", "v3"])
    tex = latex_table(mit)
    assert tex.startswith("\\begin{table}") and all(rule in tex for rule in ("\\toprule", "\\midrule", "\\bottomrule"))
    assert "protocol \\texttt{mit}" in tex and "AUC\\_Judd $\\uparrow$" in tex and "KL $\\downarrow$" in tex
    good = next(line for line in tex.splitlines() if line.startswith("good &"))
    assert "\\textbf{" in good and "$\\pm$" in good
    for run in RUNS:
        line = next(line for line in tex.splitlines() if line.startswith(f"{run} &"))
        cells = line.removesuffix(" \\\\").split(" & ")[2:]
        for metric, cell in zip(mit.metrics, cells, strict=True):
            stat, mark = mit.stat(run, metric), mit.mark(run, metric)
            text = f"{stat['mean']:.3f} $\\pm$ {stat['std']:.3f}"
            assert cell == (f"\\textbf{{{text}}}" if mit.best(metric) == run else text) + \
                (f"$^{{{mark}}}$" if mark else "")
    assert tex.count("(baseline)") == 4 and tex.strip().endswith("\\end{table}")
    assert files["panels.pdf"].startswith(b"%PDF")
    image = Image.open(io.BytesIO(files["panels.png"]))
    assert image.info["dpi"] == pytest.approx((300, 300), abs=1)
    width, height = image.size
    assert width > 4 * 1.7 * 300 * 0.9 and height > 2 * 1.7 * 300 * 0.5  # 1 + 3 panels wide, two rows
    with pytest.raises(CamError, match="no run saw frame 5"):
        print_panels(mit, ["v1:5"])


def test_cli_needs_out_for_thesis_files_and_subjects_for_the_human_bound(data, capsys, tmp_path):
    base = ["--run", f"good={data['good']}", "--gaze", str(data["fixations"])]
    assert main([*base, "--latex"]) == 2
    assert "give --out" in capsys.readouterr().err
    assert main([*base, "--baselines", "center,human", "--out", str(tmp_path / "o")]) == 2
    assert "--subjects" in capsys.readouterr().err
    assert FRAMES == 8  # the fixture's frames the subjects file covers


def test_frame_pooling_caps_the_frames_with_one_seeded_subset_for_every_run():
    """Above the cap, the frame-pooled mean averages a seeded random subset, the same frames for every run."""
    from core.study.stats import pooled_frames, summarise

    rows = [{"run": run, "video": f"v{v}", "frame": f, "NSS": float(10 * v + (f or 0) + (run == "b"))}
            for run in ("a", "b") for v in range(4) for f in ["", *range(5)]]
    chosen = pooled_frames(rows, 6)
    assert chosen is not None and len(chosen) == 6 and chosen == pooled_frames(rows, 6)
    assert pooled_frames(rows, 20) is None  # 20 frames: all of them
    summary = {row["run"]: row for row in summarise(rows, ["a", "b"], ["NSS"], frame_cap=6)}
    expected = np.mean([10 * int(v[1:]) + f for v, f in chosen])
    assert summary["a"]["frame_pooled_mean"] == pytest.approx(expected)
    assert summary["b"]["frame_pooled_mean"] == pytest.approx(expected + 1)  # the same frames
