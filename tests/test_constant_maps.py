"""A constant map is not a saliency map (issue 23, part 2): every writer records which heatmap frames are constant,
core.gaze and core.study leave maps constant in every frame out by default (and say which), and of two heatmap
files for one video in one folder only the newest is scored."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from study_data import CLASSES, write_gaze, write_run

from core.batch.store import SUMMARY_FIELDS, result_row
from core.batch.tasks import BatchTask
from core.gaze import score_path
from core.gaze.cli import main as gaze_main
from core.heatmap_files import read_result, write_result
from core.result import constant_maps
from core.study import StudySpec, run_study
from core.study.report import report_markdown
from core.study.result import compute

VIDEOS = [0, 1, 2, 3]


def _blank(txt: Path, *, frame: int | None = None) -> Path:
    """Rewrite a heatmap file with all-zero maps (every frame, or only ``frame``), as Grad-CAM writes them when no
    channel weight is positive."""
    result = read_result(txt)
    heatmaps = np.array(result.heatmaps)
    if frame is None:
        heatmaps[:] = 0.0
    else:
        heatmaps[:, frame] = 0.0
    frames = np.zeros((*heatmaps.shape, 3), np.uint8)
    write_result(txt, replace(result, heatmaps=heatmaps, frames=frames), npz=True,
                 batch={"gt_label": result.extra["batch"]["gt_label"], "gt_class": result.extra["batch"]["gt_class"]})
    return txt


@pytest.fixture
def study(tmp_path) -> dict:
    runs = {kind: write_run(tmp_path / "runs" / kind, kind, VIDEOS) for kind in ("good", "bad")}
    fixations, density = write_gaze(tmp_path / "gaze", [*VIDEOS, 7])  # video 7: gaze, but in no run
    return {**runs, "fixations": fixations, "density": density}


def _file(run: Path, video: int) -> Path:
    return run / CLASSES[video % 2] / f"v{video}.txt"


def test_constant_maps_by_value():
    maps = np.stack([np.zeros((4, 4)), np.full((4, 4), 0.3), np.eye(4), np.full((4, 4), 1e-9) + np.eye(4) * 1e-9])
    assert constant_maps(maps).tolist() == [True, True, False, True]  # (the last: a flat map up to rounding)


def test_constant_maps_of_float32_maps_match_the_float64_definition(tmp_path):
    """constant_maps reduces in the maps' own type, in chunks (a memory-mapped whole video): the same answer as
    the definition computed on float64 copies, on maps across chunk borders, flat up to the tolerance or not."""
    rng = np.random.default_rng(3)
    scale = np.where(rng.random(600) < 0.5, 1e-6, 1.0).astype(np.float32)[:, None, None]  # half near the tolerance
    maps = (rng.random((600, 5, 6), dtype=np.float32) * scale + rng.normal(0, 3, 600)[:, None, None]).astype(np.float32)
    maps[::7] = maps[::7, :1, :1]  # exactly flat
    maps[5, 0, 0] = np.nan
    stored = np.lib.format.open_memmap(tmp_path / "maps.npy", mode="w+", dtype=np.float32, shape=(1, *maps.shape))
    stored[0] = maps
    wide = maps.astype(np.float64)
    span = wide.max(axis=(-2, -1)) - wide.min(axis=(-2, -1))
    expected = span <= 1e-6 * np.maximum(np.abs(wide).max(axis=(-2, -1)), 1.0)
    assert 50 < expected.sum() < 550
    assert constant_maps(stored).tolist() == [expected.tolist()]


def test_the_sidecar_and_the_summary_row_say_which_frames_are_constant(study):
    txt = _blank(_file(study["good"], 1), frame=2)
    sidecar = json.loads(txt.with_suffix(".json").read_text())
    assert sidecar["constant_frames"] == [[False, False, True, False]]
    row = result_row(BatchTask("v1.mp4", "v1"), sidecar)
    assert row["constant_frames"] == 1 and "constant_frames" in SUMMARY_FIELDS
    assert read_result(txt).constant_frames().tolist() == [[False, False, True, False]]


def test_gaze_leaves_constant_maps_out_and_names_them(study, capsys):
    _blank(_file(study["good"], 1))
    results, notes = score_path(study["good"], study["fixations"], study["density"])
    assert sorted(r.name for r in results) == ["v0", "v2", "v3"]
    (note,) = [n for n in notes if "constant maps not scored" in n]
    assert note.startswith("1 constant maps not scored") and "run/v1.txt" in note and "--keep-constant" in note
    kept, _ = score_path(study["good"], study["fixations"], study["density"], keep_constant=True)
    assert sorted(r.name for r in kept) == ["v0", "v1", "v2", "v3"]
    assert gaze_main([str(_file(study["good"], 1)), str(study["fixations"] / "v1")]) == 2  # one file: refused
    assert "constant" in capsys.readouterr().err
    assert gaze_main([str(study["good"]), str(study["fixations"]), "--density", str(study["density"])]) == 0
    assert "note: 1 constant maps not scored" in capsys.readouterr().err  # the command says how many, and which


def test_of_two_files_for_one_video_the_newest_is_scored(study):
    older = _file(study["good"], 0)
    newer = older.with_name("v0_gradcam_cam.txt")  # the explorer's name for the same video, written later
    for suffix in (".txt", ".json", ".npz"):
        newer.with_suffix(suffix).write_bytes(older.with_suffix(suffix).read_bytes())
    os.utime(older, (1, 1))
    results, notes = score_path(study["good"], study["fixations"], study["density"])
    assert sorted(r.name for r in results) == ["v0", "v1", "v2", "v3"]  # v0 once
    assert next(r.txt for r in results if r.name == "v0") == str(newer)
    (note,) = [n for n in notes if "heatmap files for video" in n]
    assert f"scored the newest, {newer}" in note and f"left out {older}" in note
    scores = run_study(StudySpec((("good", study["good"]), ("bad", study["bad"])), study["fixations"]))
    assert scores.sources["good"]["v0"] == str(newer)
    assert any(f"run good: 2 heatmap files for video v0: scored the newest, {newer}" in n for n in scores.notes)


def test_a_study_leaves_constant_maps_out_lists_them_and_the_videos_in_no_run(study):
    _blank(_file(study["bad"], 2))
    _blank(_file(study["bad"], 3))
    spec = StudySpec((("good", study["good"]), ("bad", study["bad"])), study["fixations"], study["density"])
    scores = run_study(spec)
    assert scores.constant == {"good": [], "bad": ["v2", "v3"]}
    assert {r["video"] for r in scores.rows if r["run"] == "bad"} == {"v0", "v1"}
    assert {r["video"] for r in scores.rows if r["run"] == "good"} == {"v0", "v1", "v2", "v3"}
    assert scores.gaze_only == ["v7"]
    report = report_markdown(compute(spec), figures=False)
    assert "- 2 constant maps of run `bad` not scored (all zero or flat: no saliency): v2, v3." in report
    assert "- 1 videos with gaze in no run: v7." in report
    kept = run_study(replace(spec, keep_constant=True))
    assert kept.constant == {"good": [], "bad": []}
    assert {r["video"] for r in kept.rows if r["run"] == "bad"} == {"v0", "v1", "v2", "v3"}
