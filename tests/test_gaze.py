"""Gaze comparison: geometry checked by hand, a real vis_cam txt of a 426×240 video scored against gaze built
in source coordinates (aligned and shifted), per-frame gaze (folder and video), legacy txt, batch CLI, errors."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from gaze_data import SOURCE, fixations_from, make_clip_gaze, make_frame_gaze, make_wide, u8

import core
from core import gaze
from core.errors import CamError
from core.geometry import gaze_to_crop, heatmap_to_source, window_mask
from core.saliency import cc, clip_saliency


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    return make_wide(tmp_path_factory.mktemp("gaze"))


@pytest.fixture(scope="module")
def clip_gaze(wide):
    return make_clip_gaze(wide)


def test_crop_box_by_hand(wide):
    meta = json.loads((wide / "wide.json").read_text())
    # Resize(-1, 64) of 426×240: scale 64/240, width int(426·64/240 + 0.5) = int(114.1) = 114 (mmcv.rescale_size);
    # CenterCrop 64: x from (114 - 64) // 2 = 25 to 89 in resized pixels, × 426/114 in source pixels.
    assert meta["source_size"] == [426, 240] and meta["shape"] == [2, 8, 64, 64]
    assert meta["crop_box"] == pytest.approx([25 * 426 / 114, 0, 89 * 426 / 114, 240], abs=1e-3)
    mask = window_mask(SOURCE, meta["crop_box"])  # pixel centres x + 0.5 in [93.42, 332.58)
    columns = np.flatnonzero(mask.any(axis=0))
    assert (columns[0], columns[-1], mask.sum()) == (93, 332, 240 * 240)


def test_heatmap_placed_in_its_window():
    box = (93.421, 0.0, 332.579, 240.0)  # 64 heatmap pixels of 3.737 source pixels across
    heat = np.zeros((64, 64), np.float32)
    heat[40, 10] = 1.0
    placed, mask = heatmap_to_source(heat, SOURCE, box)
    assert placed.shape == (240, 426) and not placed[~mask].any()
    y, x = np.unravel_index(placed.argmax(), placed.shape)
    assert 93.421 + 10 * 3.737 <= x + 0.5 <= 93.421 + 11 * 3.737 and 40 * 3.75 <= y + 0.5 <= 41 * 3.75
    smooth = cv2.GaussianBlur(np.random.default_rng(0).random((64, 64)), (0, 0), 4)
    back = gaze_to_crop(heatmap_to_source(smooth, SOURCE, box)[0], box, (64, 64), binary=False)
    assert back.shape == (64, 64) and cc(back, smooth) > 0.99


def test_fixations_moved_point_by_point():
    box = (93.421, 0.0, 332.579, 240.0)
    fixations = np.zeros((240, 426), np.uint8)
    points = [(5, 100), (120, 200), (239, 332), (60, 92), (10, 50), (10, 400)]  # (y, x); last three outside
    for y, x in points:
        fixations[y, x] = 255
    moved = gaze_to_crop(fixations, box, (64, 64), binary=True)
    expected = {(int((y + 0.5) * 64 / 240), int((x + 0.5 - box[0]) * 64 / (box[2] - box[0]))) for y, x in points[:3]}
    assert set(zip(*np.nonzero(moved), strict=True)) == expected  # none dropped, none smeared, outside ones gone
    linear = cv2.resize(fixations, (64, 64), interpolation=cv2.INTER_LINEAR)  # what interpolation would do
    assert np.count_nonzero(linear) != 3


@pytest.mark.parametrize("region", ["crop", "frame"])
def test_aligned_gaze_scores_high_shifted_low(clip_gaze, region):
    aligned = gaze.score_file(clip_gaze / "wide.txt", clip_gaze / "fix.png", clip_gaze / "dens.png", region=region)
    shifted = gaze.score_file(clip_gaze / "wide.txt", clip_gaze / "fix_shift.png", clip_gaze / "dens_shift.png",
                              region=region)
    assert aligned.clip["CC"] > 0.99 and aligned.clip["SIM"] > 0.95 and aligned.clip["KL"] < 0.01
    assert shifted.clip["CC"] < 0.5 and shifted.clip["KL"] > 1
    for metric, margin in (("AUC_Judd", 0.15), ("AUC_Borji", 0.15), ("NSS", 0.5)):
        assert aligned.clip[metric] > shifted.clip[metric] + margin
    assert aligned.frames == [] and aligned.fixations.sum() == 40 and aligned.saliency.shape == (240, 426)


def test_resizing_the_whole_frame_compares_the_wrong_pixels(clip_gaze):
    heat = gaze.read_heatmaps(clip_gaze / "wide.txt")
    density = cv2.imread(str(clip_gaze / "dens.png"), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    naive = cv2.resize(density, (64, 64), interpolation=cv2.INTER_AREA)
    assert cc(clip_saliency(heat.heatmaps), naive) < 0.9


@pytest.fixture(scope="module")
def frame_gaze(wide):
    return make_frame_gaze(wide), gaze.read_heatmaps(wide / "wide.txt")


def test_per_frame_gaze_matched_by_frame_indices(frame_gaze):
    folder, heat = frame_gaze
    result = gaze.score_file(folder / "wide.txt", folder / "fix_frames", folder / "dens_frames.mp4")
    seen = sorted(set(heat.frame_indices.ravel().tolist()))
    assert [row["frame"] for row in result.frames] == seen == [*range(0, 15, 2), *range(49, 64, 2)]
    assert all(row["CC"] > 0.95 and row["NSS"] > 0 and row["AUC_Judd"] > 0.5 for row in result.frames)
    assert result.fixations.sum() <= 20 * len(seen) and result.clip["CC"] > 0.9
    assert any("numbered from 1" in note for note in result.notes)
    # numbered from 0, file n is taken for frame n: the fixations of a frame the model skipped (shifted ones)
    wrong = gaze.score_file(folder / "wide.txt", folder / "fix_frames", folder / "dens_frames.mp4", start_index=0)
    assert [row["frame"] for row in wrong.frames] == seen[1:]  # no file 0
    for metric, margin in (("AUC_Judd", 0.2), ("NSS", 0.5)):
        assert np.mean([row[metric] for row in wrong.frames]) < np.mean([row[metric] for row in result.frames]) - margin


def test_fixation_video_thresholded_against_compression(tmp_path):
    maps = np.zeros((3, 48, 64, 3), np.uint8)
    maps[:, 10:14, 20:24] = 255
    maps[1, 30:34, 40:44] = 255
    core.write_video(maps, tmp_path / "fix.mp4", fps=10)
    read = gaze.read_gaze(tmp_path / "fix.mp4", frames={0, 1})
    assert sorted(read.frames) == [0, 1] and read.per_frame and read.size == (64, 48)
    assert np.array_equal(read.frames[1], maps[1, ..., 0] > 0) and np.array_equal(read.frames[0], maps[0, ..., 0] > 0)


def test_legacy_txt_covers_the_whole_gaze_frame(wide, tmp_path):
    heat = gaze.read_heatmaps(wide / "wide.txt")
    shutil.copy(wide / "wide.txt", tmp_path / "old.txt")
    density = u8(cv2.resize(clip_saliency(heat.heatmaps), (128, 96), interpolation=cv2.INTER_LINEAR))
    cv2.imwrite(str(tmp_path / "dens.png"), density)
    cv2.imwrite(str(tmp_path / "fix.png"), fixations_from(density))
    result = gaze.score_file(tmp_path / "old.txt", tmp_path / "fix.png", tmp_path / "dens.png")
    assert result.clip["CC"] > 0.99 and result.crop_box == (0, 0, 128, 96)
    assert any("no sidecar" in note for note in result.notes)


def test_cli_json_for_one_txt(clip_gaze):
    command = [sys.executable, "-m", "core.gaze", str(clip_gaze / "wide.txt"), str(clip_gaze / "fix.png"),
               "--density", str(clip_gaze / "dens.png"), "--json"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = gaze.score_file(clip_gaze / "wide.txt", clip_gaze / "fix.png", clip_gaze / "dens.png")
    assert json.loads(done.stdout) == {"protocol": "exact", "clip": pytest.approx(expected.clip), "frames": [],
                                       "frames_scored": 0}  # one clip-level map: no frame scored on its own


def test_all_views_scored_view_by_view(clip_gaze, frame_gaze, tmp_path, capsys):
    """ThreeCrop x 2 clips: each crop is scored in its own window (its two clips together), the clip score is
    the mean over the crops, and each crop's scores are reported (JSON views, CSV view column)."""
    from core.formats.txt import write_heatmap_txt
    from core.vis_cam import main

    wide = clip_gaze
    txt = tmp_path / "views.txt"
    assert main([str(wide / "model" / "tiny_cfg.py"), str(wide / "tiny.pth"), str(wide / "wide.mp4"), "--file-url",
                 str(txt), "--device", "cpu", "--all-views"]) == 0
    capsys.readouterr()
    heat = gaze.read_heatmaps(txt)
    groups = heat.windows.groups()
    assert heat.heatmaps.shape[:2] == (6, 8) and [views for _, views in groups] == [[0, 1], [2, 3], [4, 5]]
    side = json.loads(txt.with_suffix(".json").read_text())
    assert [list(box) for box, _ in groups] == side["view_boxes"][::2]  # each crop's window is recorded
    for crop, (box, views) in enumerate(groups):  # gaze made from one crop's own saliency, where it looked
        density = u8(heatmap_to_source(clip_saliency(heat.heatmaps[views]), SOURCE, box)[0])
        cv2.imwrite(str(tmp_path / f"dens{crop}.png"), density)
        cv2.imwrite(str(tmp_path / f"fix{crop}.png"), fixations_from(density))
        result = gaze.score_file(txt, tmp_path / f"fix{crop}.png", tmp_path / f"dens{crop}.png")
        per_view = [view["clip"]["CC"] for view in result.views]
        assert len(per_view) == 3 and per_view[crop] > 0.99 and np.argmax(per_view) == crop
        assert result.windows == [box for box, _ in groups] and result.views[crop]["heatmap_views"] == views
        for metric, value in result.clip.items():
            assert value == pytest.approx(np.mean([view["clip"][metric] for view in result.views]))
    # a view the model saw mirrored is flipped back before it is placed in its window
    flipped = tmp_path / "flipped.txt"
    maps = heat.heatmaps.copy()
    maps[0] = maps[0][..., ::-1]
    write_heatmap_txt(flipped, maps)
    flipped.with_suffix(".json").write_text(json.dumps({**side, "view_flips": [True] + [False] * 5}))
    again = gaze.score_file(flipped, tmp_path / "fix0.png", tmp_path / "dens0.png")
    assert again.clip == pytest.approx(gaze.score_file(txt, tmp_path / "fix0.png", tmp_path / "dens0.png").clip)
    flipped.with_suffix(".json").write_text(json.dumps(side))  # the same heatmaps taken unmirrored score lower
    assert gaze.score_file(flipped, tmp_path / "fix0.png", tmp_path / "dens0.png").views[0]["clip"]["CC"] < \
        again.views[0]["clip"]["CC"] - 0.05
    # per-frame gaze: per-frame scores averaged over the crops that saw the frame, and each crop's own
    per_frame = gaze.score_file(txt, wide / "fix_frames")
    seen = sorted(set(heat.frame_indices.ravel().tolist()))
    assert [row["frame"] for row in per_frame.frames] == seen
    assert all([row["frame"] for row in view["frames"]] == seen for view in per_frame.views)
    rows = gaze.csv_rows([per_frame])
    assert [(row["view"], row["frame"]) for row in rows][:2] == [("", ""), ("", seen[0])]
    assert sum(1 for row in rows if row["view"] == 2 and row["frame"] == "") == 1
    assert gaze.main([str(txt), str(wide / "fix.png"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [view["view"] for view in printed["views"]] == [1, 2, 3] and set(printed["clip"]) == set(gaze.METRICS)


def test_cli_batch_folder_to_csv(clip_gaze, frame_gaze, tmp_path, capsys):
    batch, fixations = tmp_path / "out", tmp_path / "gaze"
    for label, name in (("walk", "wide"), ("run", "other"), ("run", "nogaze")):
        (batch / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(clip_gaze / "wide.txt", batch / label / f"{name}.txt")
        meta = json.loads((clip_gaze / "wide.json").read_text())
        meta.update(video=f"/videos/{name}.mp4", batch={"gt_label": label, "gt_class": ("walk", "run").index(label)})
        (batch / label / f"{name}.json").write_text(json.dumps(meta))
    (batch / "summary.csv").write_text("video,name\n")
    (batch / "notes.txt").write_text("not a heatmap\n")
    fixations.mkdir()
    shutil.copy(clip_gaze / "fix.png", fixations / "wide.png")
    shutil.copytree(clip_gaze / "fix_frames", fixations / "other")
    code = gaze.main([str(batch), str(fixations), "--out", str(tmp_path / "scores.csv")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "nogaze" in captured.err and "skipped" in captured.err
    text = (tmp_path / "scores.csv").read_text()
    notes = [line for line in text.splitlines() if line.startswith("#")]
    assert notes == [f"# {note}" for note in gaze.header_notes(gaze.score_path(batch, fixations)[0])]
    assert "↓ lower is better: KL" in notes[0] and "against the fixation points themselves" in notes[1]
    assert list(pd.read_csv(tmp_path / "scores.csv", comment="#").columns)[-len(gaze.METRICS):] == list(gaze.METRICS)
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    clips = {row["video"]: row for row in rows if row["frame"] == ""}
    assert set(clips) == {"wide", "other"} and clips["wide"]["class"] == "walk" and clips["other"]["class"] == "run"
    assert [int(row["frame"]) for row in rows if row["video"] == "other" and row["frame"]] == \
        [*range(0, 15, 2), *range(49, 64, 2)]
    alone = gaze.score_file(clip_gaze / "wide.txt", clip_gaze / "fix.png").clip
    assert {m: float(clips["wide"][m]) for m in gaze.METRICS} == pytest.approx(alone)
    table = captured.out.splitlines()
    assert table[0].split() == ["video", "frames", "scored",
                                *" ".join(gaze.metric_title(m) for m in gaze.METRICS).split()]
    assert table[0].split()[-2:] == ["KL", "↓"] and table[0].split()[3:5] == ["AUC_Judd", "↑"]
    assert [line.split()[1] for line in table[1:3]] == ["16", "0"]  # other: per-frame gaze; wide: one map
    assert [line.split()[0] for line in table[1:3]] == ["other", "wide"]
    assert table[4].startswith("Per class") and [line.split()[0] for line in table[6:8]] == ["walk", "run"]


def _error(capsys, *argv) -> str:
    code = gaze.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


def test_cli_errors_are_one_line(clip_gaze, tmp_path, capsys):
    txt = clip_gaze / "wide.txt"
    assert "does not exist" in _error(capsys, tmp_path / "none.txt", clip_gaze / "fix.png")
    assert "does not exist" in _error(capsys, txt, tmp_path / "none.png")
    cv2.imwrite(str(tmp_path / "square.png"), np.full((100, 100), 255, np.uint8))
    assert "aspect ratio" in _error(capsys, txt, tmp_path / "square.png")
    outside = np.zeros((240, 426), np.uint8)
    outside[100, 20] = 255  # left of the window the model saw
    cv2.imwrite(str(tmp_path / "outside.png"), outside)
    assert "--region frame" in _error(capsys, txt, tmp_path / "outside.png")
    assert gaze.main([str(txt), str(tmp_path / "outside.png"), "--region", "frame", "--json"]) == 0
    capsys.readouterr()
    assert ".csv" in _error(capsys, txt, clip_gaze / "fix.png", "--out", tmp_path / "missing" / "s.csv")
    (tmp_path / "empty").mkdir()
    assert "no gaze images" in _error(capsys, txt, tmp_path / "empty")
    assert "no heatmap txt" in _error(capsys, tmp_path / "empty", tmp_path / "empty")
    meta = json.loads((clip_gaze / "wide.json").read_text())
    shutil.copy(txt, tmp_path / "bad.txt")
    (tmp_path / "bad.json").write_text(json.dumps({**meta, "shape": [1, 8, 64, 64]}))
    assert "do not belong together" in _error(capsys, tmp_path / "bad.txt", clip_gaze / "fix.png")
    assert not list(tmp_path.glob("*.csv")) and not list(tmp_path.glob(".*part*"))


def test_cli_says_which_way_metrics_improve_and_what_fixations_alone_mean(clip_gaze, capsys):
    """The table, its footer and --help label every metric with its direction; CC, SIM and KL against the
    fixation points alone come with the warning and the way out (--density, --blur); --blur makes the density
    exactly as python -m core.gaze.fixations does, and then the warning goes."""
    txt, fix = clip_gaze / "wide.txt", clip_gaze / "fix.png"
    assert gaze.main([str(txt), str(fix)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[-2:] == ["KL", "↓"] and gaze.FIXATIONS_ONLY in out
    assert "↑ higher is better: AUC_Judd, AUC_Borji, NSS, CC, SIM; ↓ lower is better: KL." in out
    assert "--density" in gaze.FIXATIONS_ONLY and "--blur" in gaze.FIXATIONS_ONLY
    assert gaze.main([str(txt), str(fix), "--blur"]) == 0
    blurred_out = capsys.readouterr().out
    assert gaze.FIXATIONS_ONLY not in blurred_out
    assert gaze.main([str(txt), str(fix), "--density", str(clip_gaze / "dens.png")]) == 0
    assert gaze.FIXATIONS_ONLY not in capsys.readouterr().out
    help_text = gaze.build_parser().format_help()
    assert "KL (lower is better)" in help_text and "↓ lower is better: KL" in help_text and "--blur" in help_text


def test_blur_is_the_fixation_makers_density(clip_gaze, frame_gaze):
    """--blur: each fixation map convolved with the fixation maker's Gaussian (σ = width / 30 unless given),
    scored like a density given as a file; CC and SIM rise from near 0, the location metrics stay."""
    from core.gaze.fixations import default_sigma, density_map

    folder, _ = frame_gaze
    fix = gaze.read_gaze(folder / "fix_frames", fixations=True)
    made = gaze.blurred(fix)
    for frame, mask in fix.frames.items():
        assert np.array_equal(made.frames[frame], density_map(mask.astype(np.float64), default_sigma(426)))
    assert np.array_equal(gaze.blurred(fix, 5.0).at(3), density_map(fix.at(3).astype(np.float64), 5.0))
    plain = gaze.score_file(clip_gaze / "wide.txt", folder / "fix_frames")
    blurred = gaze.score_file(clip_gaze / "wide.txt", folder / "fix_frames", blur="auto")
    made_folder = clip_gaze / "made_density"
    made_folder.mkdir(exist_ok=True)
    for frame, image in made.frames.items():
        cv2.imwrite(str(made_folder / f"frame_{frame + 1:04d}.png"), image.astype(np.uint8))
    as_files = gaze.score_file(clip_gaze / "wide.txt", folder / "fix_frames", made_folder)
    assert blurred.clip == pytest.approx(as_files.clip)
    assert len(blurred.frames) == len(as_files.frames) == 16
    assert all(row == pytest.approx(other) for row, other in zip(blurred.frames, as_files.frames, strict=True))
    assert plain.against_fixations and not blurred.against_fixations
    assert blurred.clip["CC"] > plain.clip["CC"] + 0.3 and blurred.clip["NSS"] == plain.clip["NSS"]
    with pytest.raises(core.CamError, match="positive σ"):
        gaze.blurred(fix, -1)


def test_class_summary_in_label_order(clip_gaze, tmp_path):
    """Mean and (population) std per class over its videos, classes ordered by their index in the label map
    (the ground truth's for a batch, else the explained class), unknown indices last by name."""
    import dataclasses

    base = gaze.score_file(clip_gaze / "wide.txt", clip_gaze / "fix.png")

    def scored(label: str | None, index: int | None, nss: float) -> gaze.GazeScores:
        batch = {"gt_label": label, "gt_class": index} if label else {}
        result = dataclasses.replace(base.result, extra={"batch": batch} if batch else {}, target_label="x",
                                     target_class=7)
        return dataclasses.replace(base, result=result, clip={**base.clip, "NSS": nss})

    results = [scored("zebra", 0, 1.0), scored("apple", 2, 3.0), scored("apple", 2, 5.0), scored("mango", None, 0.5),
               scored("zebra", 0, 2.0), scored(None, None, 9.0)]
    rows = gaze.class_summary(results)
    assert [(r["class"], r["n"]) for r in rows] == [("zebra", 2), ("apple", 2), ("x", 1), ("mango", 1)]
    assert rows[1]["NSS"] == 4.0 and rows[1]["NSS std"] == 1.0 and rows[0]["NSS"] == 1.5
    assert gaze.summary_cells(rows[1])["NSS ↑"] == "4.000 ± 1.000"


def test_a_batch_says_the_gaze_folders_numbering_once(clip_gaze, frame_gaze, tmp_path):
    """Per-frame gaze folders numbered from 1: one note naming the folders, not one note per video."""
    batch, fixations = tmp_path / "out", tmp_path / "gaze"
    batch.mkdir()
    names = [f"clip{i}" for i in range(5)]
    for name in names:
        shutil.copy(clip_gaze / "wide.txt", batch / f"{name}.txt")
        meta = json.loads((clip_gaze / "wide.json").read_text())
        meta.update(video=f"/videos/{name}.mp4")
        (batch / f"{name}.json").write_text(json.dumps(meta))
        shutil.copytree(clip_gaze / "fix_frames", fixations / name)
    per_video = {note for name in names
                 for note in gaze.score_file(batch / f"{name}.txt", fixations / name).notes if "numbered" in note}
    assert len(per_video) == 5  # each folder's own note
    results, notes = gaze.score_path(batch, fixations)
    numbering = [note for note in notes if "numbered" in note]
    assert len(results) == 5 and len(numbering) == 1
    first = re.search(r"numbered from (\d+)", next(iter(per_video))).group(1)
    assert numbering[0].startswith(f"gaze maps in 5 folders ({fixations / 'clip0'}, ") and \
        f"numbered from {first} (file {first} = first frame)" in numbering[0]
    assert [n for n in notes if "numbered" not in n] == list(dict.fromkeys(
        n for r in results for n in r.notes if "numbered" not in n))  # the other notes as they were


def test_mit_protocol_is_carried_by_every_output_and_never_mixed(frame_gaze, tmp_path, capsys):
    """--protocol mit: the same frames scored by the benchmark's definitions (IG over the centre bias added),
    seeded so a second run repeats; the protocol is in the JSON, the CSV column and its header; exact and mit
    scores are not summarised together."""
    folder = frame_gaze[0]
    args = [str(folder / "wide.txt"), str(folder / "fix_frames"), "--density", str(folder / "dens_frames.mp4")]
    assert gaze.main([*args, "--protocol", "mit", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert gaze.main([*args, "--protocol", "mit", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert first["protocol"] == "mit" and set(first["clip"]) == {*gaze.METRICS, "IG"}
    exact = gaze.score_file(folder / "wide.txt", folder / "fix_frames", folder / "dens_frames.mp4")
    assert first["clip"]["CC"] == pytest.approx(exact.clip["CC"], abs=1e-9)  # CC: one definition in both
    assert first["clip"]["AUC_Judd"] == pytest.approx(exact.clip["AUC_Judd"], abs=5e-3)  # one jitter vs its mean
    assert first["clip"]["IG"] > 0  # the heatmap follows the gaze better than the centre bias does
    assert gaze.main([*args, "--protocol", "mit", "--out", str(tmp_path / "mit.csv")]) == 0
    assert "Scored under protocol mit" in capsys.readouterr().out
    text = (tmp_path / "mit.csv").read_text()
    assert "protocol mit" in text.splitlines()[0]
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert {row["protocol"] for row in rows} == {"mit"}
    mit = gaze.score_file(folder / "wide.txt", folder / "fix_frames", folder / "dens_frames.mp4", protocol="mit")
    with pytest.raises(CamError, match="one --protocol"):
        gaze.class_summary([exact, mit])
    with pytest.raises(CamError, match="one --protocol"):
        gaze.header_notes([exact, mit])
