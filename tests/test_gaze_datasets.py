"""``core.gaze.datasets``: each importer on a small fixture the test writes in the dataset's documented layout,
with its coordinate quirks; a fixation placed at a known pixel of the video must land on that pixel of the map."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import CamError
from core.gaze import datasets
from core.gaze.fixations import read_samples
from core.overlay import write_video


def _video(path: Path, width: int, height: int, frames: int, fps: float) -> Path:
    """A black video of that size, length and rate (an mp4 container under the dataset's file name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(np.zeros((frames, height, width, 3), np.uint8), path.with_suffix(".mp4"), fps=fps)
    return path.with_suffix(".mp4").rename(path)


def _marked(out: Path, video: str, frame: int) -> list[tuple[int, int]]:
    """(x, y) of the marked pixels of one frame's fixation map."""
    image = cv2.imread(str(out / "fixations" / video / f"frame_{frame:05d}.png"), cv2.IMREAD_GRAYSCALE)
    rows, cols = np.nonzero(image)
    return sorted(zip(cols.tolist(), rows.tolist(), strict=True))


def _record(out: Path) -> dict:
    return json.loads((out / "dataset.json").read_text())


def test_dhf1k_raw_gaze_goes_through_the_letterbox_transform(tmp_path):
    src, out = tmp_path / "dhf1k", tmp_path / "out"
    _video(src / "video" / "001.AVI", 160, 90, 10, 30.0)
    for kind in ("fixation", "maps"):
        folder = src / "annotation" / "0001" / kind
        folder.mkdir(parents=True)
        for k in range(1, 11):
            image = np.zeros((90, 160), np.uint8)
            image[k, 2 * k] = 255
            cv2.imwrite(str(folder / f"{k:04d}.png"), image)
    raw = src / "raw" / "001"
    raw.mkdir(parents=True)
    # a = 160/1440 = 1/9, b = (900 - 90*9)/2 = 45: video pixel (40, 30) is screen (360, 315); 110 ms is frame 3
    (raw / "s01.txt").write_text("110 360 315\n")
    (raw / "s02.txt").write_text("t x y\n210 900 495\n5000 10 10\n")  # (100, 50) at frame 6; 5 s is past the end
    record = datasets.import_dataset("dhf1k", src, out)
    # the dataset's own maps, renumbered from 0
    assert _marked(out, "001", 0) == [(2, 1)]
    assert _marked(out, "001", 9) == [(20, 10)]
    with open(out / "samples.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    placed = {(r["subject"], round(float(r["x"])), round(float(r["y"])), int(float(r["t"]) * 30)) for r in rows}
    assert ("s01", 40, 30, 3) in placed and ("s02", 100, 50, 6) in placed
    assert record["videos"][0]["frames"] == 10 and record["licence"] == "CC BY 4.0"
    samples = read_samples(out / "samples.csv")  # the raw-sample format core.gaze.fixations reads
    assert set(samples.subject) == {"s01", "s02"}


def test_dhf1k_without_raw_gaze_pools_the_fixation_maps(tmp_path):
    src, out = tmp_path / "dhf1k", tmp_path / "out"
    for kind in ("fixation", "maps"):
        folder = src / "annotation" / "0002" / kind
        folder.mkdir(parents=True)
        for k in range(1, 4):
            image = np.zeros((36, 64), np.uint8)
            image[5, 7] = 255
            cv2.imwrite(str(folder / f"{k:04d}.png"), image)
    datasets.import_dataset("dhf1k", src, out)
    samples = read_samples(out / "samples.csv")
    assert set(samples.subject) == {"pooled"} and samples.t.size == 3
    assert set(samples.x) == {7.0} and set(samples.y) == {5.0}


def test_mathe_letterbox_and_viewer_groups(tmp_path):
    src, out = tmp_path / "hw2", tmp_path / "out"
    _video(src / "videos" / "actioncliptest00001.avi", 320, 180, 12, 25.0)
    # s = min(1280/320, 1024/180) = 4; offsets (0, (1024 - 720)/2 = 152): video (100, 50) is screen (400, 352)
    for group, subject, t_ms in (("action_recognition", "1", 130.0), ("free_viewing", "9", 250.0)):
        folder = src / group / "actioncliptest00001"
        folder.mkdir(parents=True)
        (folder / f"{subject}.txt").write_text(f"{t_ms} 400 352 F\n{t_ms + 2} 900 900 S\n")
    record = datasets.import_dataset("hollywood2", src, out)
    assert _marked(out, "actioncliptest00001", 3) == [(100, 50)]  # 130 ms at 25 fps
    assert _marked(out, "actioncliptest00001", 6) == [(100, 50)]  # 250 ms
    with open(out / "samples.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["subject"], r["group"]) for r in rows} == {("1", "action_recognition"), ("9", "free_viewing")}
    assert record["videos"][0]["left_out"] == {"not a fixation": 2}


def _begaze_v1(lines: list[tuple[float, float, int, str]]) -> str:
    header = "".join(f"## header line {i}\n" for i in range(33))
    header += "Time\tType\tTrial\tL POR X [px]\tL POR Y [px]\tFrame\tGaze Type\n"
    return header + "".join(f"{1000 * i}\tSMP\t1\t{x}\t{y}\t{frame}\t{kind}\n"
                            for i, (x, y, frame, kind) in enumerate(lines))


def test_egtea_session_gaze_lands_on_its_clip(tmp_path):
    src, out = tmp_path / "egtea", tmp_path / "out"
    session = "OP01-R01-PastaSalad"
    clip = src / "cropped_clips" / session / f"{session}-1002316-1004005-F024051-F024101.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"")  # the clip's frame range is in its name; its bytes are not read
    (src / "gaze_data").mkdir()
    (src / "gaze_data" / f"{session}.txt").write_text(_begaze_v1([
        (640.0, 480.0, 24053, "Fixation"),  # clip frame 2, video pixel (320, 240)
        (100.0, 100.0, 24054, "Saccade"),
        (2.0, 4.0, 30000, "Fixation"),  # another clip's frame
    ]))
    record = datasets.import_dataset("egtea", src, out)
    name = clip.stem
    assert _marked(out, name, 2) == [(320, 240)]
    assert record["videos"][0]["frames"] == 51 and tuple(record["videos"][0]["size"]) == (640, 480)
    assert record["videos"][0]["left_out"] == {"not a fixation": 1}


def test_egtea_begaze_second_version_with_time_codes(tmp_path):
    path = tmp_path / "P16-r03-BaconAndEggs.txt"
    cells = ["0"] * 26
    cells[5], cells[6], cells[-2], cells[-1] = "12.5", "40.0", "00:00:02:05", "Fixation"
    path.write_text("## x\n" + "\t".join(cells) + "\n")
    frames, x, _, kind = datasets.read_begaze(path)
    assert frames.tolist() == [2 * 24 + 5] and x.tolist() == [12.5] and kind.tolist() == ["F"]


def test_ego4d_y_origin_is_the_bottom_and_low_confidence_is_counted(tmp_path):
    src, out = tmp_path / "ego4d", tmp_path / "out"
    _video(src / "full_scale" / "abc.mp4", 64, 48, 10, 30.0)
    (src / "gaze").mkdir()
    (src / "gaze" / "abc.csv").write_text(
        "component_idx,canonical_timestamp_s,norm_pos_x,norm_pos_y,confidence\n"
        "0,0.12,0.25,0.75,0.9\n"      # frame 3, x = 16, y = (1 - 0.75) * 48 = 12
        "0,0.15,0.5,0.5,0.1\n"        # low confidence
        "0,0.20,1.5,0.5,0.95\n")      # outside the frame
    record = datasets.import_dataset("ego4d", src, out)
    assert _marked(out, "abc", 3) == [(16, 12)]
    assert record["videos"][0]["left_out"] == {"low confidence": 1, "outside the frame": 1}


def test_ledov_events_spread_over_the_frames_they_cover(tmp_path):
    src, out = tmp_path / "ledov", tmp_path / "out"
    _video(src / "videos" / "animal_01.mp4", 80, 60, 6, 25.0)
    (src / "fixations").mkdir()
    # 40 ms + 60 ms at 25 fps covers [1.0, 2.5) frames: frames 1 and 2
    (src / "fixations" / "animal_01.txt").write_text("1 40 60 30 20\n2 200 10 5 5\n")
    record = datasets.import_dataset("ledov", src, out)
    assert _marked(out, "animal_01", 1) == [(30, 20)] and _marked(out, "animal_01", 2) == [(30, 20)]
    assert _marked(out, "animal_01", 0) == [] and _marked(out, "animal_01", 3) == []
    assert _marked(out, "animal_01", 5) == [(5, 5)]
    assert record["videos"][0]["subjects"] == {"1": 2, "2": 1}
    from core.gaze.subjects import read_subjects  # each observer apart, for core.study's human bound

    subjects = read_subjects(out / "subjects" / "animal_01.npz")
    assert subjects.names == ("1", "2") and subjects.size == (80, 60)
    assert sorted(zip(subjects.frame.tolist(), subjects.x.tolist(), subjects.y.tolist(), subjects.subject.tolist(),
                      strict=True)) == [(1, 30, 20, 0), (2, 30, 20, 0), (5, 5, 5, 1)]


def test_diem_left_eye_first_then_right(tmp_path):
    src, out = tmp_path / "diem", tmp_path / "out"
    _video(src / "video" / "BBC_life.mp4", 40, 30, 8, 30.0)
    folder = src / "event_data" / "BBC_life"
    folder.mkdir(parents=True)
    (folder / "diem1s01.txt").write_text(
        "5 10 20 3.1 1 11 21 3.0 1\n"   # frame 5 (from 1): left fixation (10, 20)
        "6 12 22 3.1 2 13 23 3.0 1\n"   # left saccade, right fixation (13, 23)
        "7 12 22 3.1 0 13 23 3.0 2\n")  # neither
    record = datasets.import_dataset("diem", src, out)
    assert _marked(out, "BBC_life", 4) == [(10, 20)] and _marked(out, "BBC_life", 5) == [(13, 23)]
    assert record["videos"][0]["left_out"] == {"not a fixation": 1}


def test_selection_bad_layout_and_cli_exit_codes(tmp_path, capsys):
    src = tmp_path / "ledov"
    _video(src / "videos" / "a.mp4", 32, 24, 4, 25.0)
    _video(src / "videos" / "b.mp4", 32, 24, 4, 25.0)
    (src / "fixations").mkdir()
    for name in ("a", "b"):
        (src / "fixations" / f"{name}.txt").write_text("1 0 40 3 3\n")
    out = tmp_path / "out"
    assert datasets.main(["ledov", str(src), "--out", str(out), "--videos", "b"]) == 0
    assert sorted(p.name for p in (out / "fixations").iterdir()) == ["b"]
    with pytest.raises(CamError, match="no fixations/ folder"):
        datasets.import_dataset("ledov", tmp_path, tmp_path / "o2")
    assert datasets.main(["diem", str(src), "--out", str(tmp_path / "o3")]) == 2
    assert "event_data" in capsys.readouterr().err
    assert not (tmp_path / "o3" / "fixations").exists()  # nothing half-written


def test_imported_layout_is_what_the_study_reads(tmp_path):
    from core.gaze.inputs import read_gaze

    src, out = tmp_path / "ledov", tmp_path / "out"
    _video(src / "videos" / "v.mp4", 48, 32, 5, 25.0)
    (src / "fixations").mkdir()
    (src / "fixations" / "v.txt").write_text("1 0 200 10 10\n")
    datasets.import_dataset("ledov", src, out)
    gaze = read_gaze(out / "fixations" / "v")
    density = read_gaze(out / "density" / "v", fixations=False)
    assert sorted(gaze.frames) == list(range(5)) and gaze.frames[0][10, 10] and gaze.frames[0].sum() == 1
    assert density.frames[4].argmax() == 10 * 48 + 10


def test_several_workers_write_the_same_bytes(tmp_path):
    from tools.dataset_bench import write_fixture

    write_fixture(tmp_path / "src", videos=3, frames=6, size=(64, 36), subjects=3)
    one = datasets.import_dataset("ledov", tmp_path / "src", tmp_path / "one")
    two = datasets.import_dataset("ledov", tmp_path / "src", tmp_path / "two", workers=2)
    assert one["videos"] == two["videos"]
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len(files) == 3 * 6 * 2 + 3 + 2  # maps, each video's subjects file, samples.csv and dataset.json
    for rel in files:
        if rel.name != "dataset.json":
            assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel
