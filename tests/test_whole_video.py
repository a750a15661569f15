"""Whole-video explanations (core.whole_video, ``--whole-video``): windows of the model's own sampling over
every frame, the mean where windows overlap, interpolation where none sampled, outputs written as they come and
resumed by window."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import sample_file
from tiny_model import make_model

import core
from core.cam import explain_inputs
from core.video import build_inputs
from core.whole_video import (
    FrameMaps,
    Sampling,
    explain_whole_video,
    plan_windows,
    read_timeline,
    sampling_of,
    window_config,
)


@pytest.fixture(scope="module")
def handle(tmp_path_factory):
    config, ckpt = make_model(tmp_path_factory.mktemp("model"))
    return core.load_model(config, ckpt, device="cpu")


def test_windows_tile_the_video_and_end_at_its_last_frame():
    sampling = Sampling(frames=4, interval=2, stride=8)  # span 7
    windows = plan_windows(30, sampling)
    assert [w.start for w in windows] == [0, 8, 16, 23]  # the last one ends at the last frame
    assert windows[0].indices == (0, 2, 4, 6) and windows[-1].indices == (23, 25, 27, 29)
    overlapping = plan_windows(30, Sampling(4, 2, 3))
    assert [w.start for w in overlapping][:3] == [0, 3, 6] and overlapping[-1].end == 30
    short = plan_windows(5, sampling)  # shorter than one window: its frames clipped to the video
    assert len(short) == 1 and short[0].indices == (0, 2, 4, 4)
    with pytest.raises(core.CamError, match="--window-stride"):
        sampling_of(core.model.load_config(sample_config()), False, stride=0)


def sample_config():
    from real_configs import I3D

    return I3D


def test_frame_maps_mean_and_interpolation():
    maps = FrameMaps(7)
    one, three = np.full((2, 2), 1.0, np.float32), np.full((2, 2), 3.0, np.float32)
    maps.add(0, one)
    maps.add(2, one)
    maps.add(2, three)  # two windows sampled frame 2: their mean
    assert [f for f, _, _ in maps.ready(final_before=2)] == [0]  # frame 1 waits for frame 2
    maps.add(4, three)
    out = maps.ready(final_before=7)
    frames = {f: (m[0, 0], interpolated) for f, m, interpolated in out}
    assert frames == {1: (1.5, True), 2: (2.0, False), 3: (2.5, True), 4: (3.0, False), 5: (3.0, True),
                      6: (3.0, True)}


def test_whole_video_cli_outputs_and_overlap_mean(handle, tmp_path, capsys):
    from core.vis_cam import main

    video = sample_file("test.mp4")  # 64 frames; the tiny model samples 8 frames every 2nd (span 15)
    code = main([handle.config, str(handle.checkpoint), str(video), "--device", "cpu", "--whole-video",
                 "--window-stride", "10", "--file-url", str(tmp_path / "w.txt"), "--out-filename",
                 str(tmp_path / "w.mp4"), "--window-batch", "3"])
    assert code == 0, capsys.readouterr().err
    maps = core.read_heatmap_txt(tmp_path / "w.txt")
    assert maps.shape[0] == 64  # one block per source frame
    meta = json.loads((tmp_path / "w.json").read_text())
    table = meta["whole_video"]
    starts = [row["start"] for row in table["windows"]]
    assert starts == [0, 10, 20, 30, 40, 49] and table["windows"][-1]["end"] == 64
    assert set(table["interpolated_frames"]) == {f for f in range(64)
                                                 if all((f - s) % 2 or not s <= f < s + 15 for s in starts)}
    with np.load(tmp_path / "w.npz") as npz:
        assert npz["heatmaps"].shape == (1, 64, *maps.shape[1:])
        np.testing.assert_allclose(npz["heatmaps"][0], maps, atol=1e-6)
        assert npz["window_probs"].shape == (6, len(handle.classes))
        np.testing.assert_allclose(npz["window_probs"].sum(1), 1, atol=1e-5)
    # frame 10 is sampled by windows 0 (0, 2, ..., 14) and 1 (10, 12, ...): the mean of their maps
    frames = core.video.read_frames(video, list(range(64)))
    sampling = sampling_of(handle.cfg, False, stride=10)
    cfg = window_config(handle.cfg, sampling, False)
    singles = [explain_inputs(handle, build_inputs(cfg, frames[list(w.indices)])).heatmaps[0]
               for w in plan_windows(64, sampling)[:2]]
    np.testing.assert_allclose(maps[10], (singles[0][5] + singles[1][0]) / 2, atol=2e-6)
    np.testing.assert_allclose(maps[1], (singles[0][0] + singles[0][1]) / 2, atol=2e-6)  # interpolated
    timeline = read_timeline(tmp_path / "w.txt")
    assert timeline.starts.tolist() == starts and timeline.fps == 30.0 and timeline.classes == handle.classes
    rows = timeline.csv().splitlines()
    assert rows[0].split(",")[:6] == ["window", "start", "end", "start_s", "end_s", "target_class"]
    assert len(rows) == 7 and rows[2].split(",")[1:5] == ["10", "25", "0.333", "0.833"]
    import av

    with av.open(str(tmp_path / "w.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 64
    again = core.read_result(tmp_path / "w.txt")
    assert again.heatmaps.shape == (1, 64, *maps.shape[1:]) and again.frame_indices[0].tolist() == list(range(64))
    # gaze: every frame that has both a heatmap and gaze is scored (frame 7 has no gaze map here)
    import cv2

    from core.gaze import score_file

    gaze = tmp_path / "gaze"
    gaze.mkdir()
    rng = np.random.default_rng(0)
    for frame in (f for f in range(64) if f != 7):
        fixations = np.zeros((256, 340), np.uint8)
        fixations[rng.integers(40, 216, 5), rng.integers(40, 300, 5)] = 255
        cv2.imwrite(str(gaze / f"frame_{frame + 1:04d}.png"), fixations)
    scores = score_file(tmp_path / "w.txt", gaze, region="frame")
    assert scores.frames_scored == 63 and [row["frame"] for row in scores.frames] == [f for f in range(64) if f != 7]
    assert scores.to_json()["frames_scored"] == 63


def test_killed_run_leaves_no_file_and_resumes_by_window(handle, tmp_path):
    video = sample_file("demo.mp4")
    fresh = explain_whole_video(handle, video, tmp_path / "fresh.txt", batch_size=2)

    def killed(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        explain_whole_video(handle, video, tmp_path / "w.txt", batch_size=2, progress=killed)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w.whole-video", "fresh.json", "fresh.npz", "fresh.txt"]
    resumed = explain_whole_video(handle, video, tmp_path / "w.txt", batch_size=2)
    assert resumed.resumed_from == 4 and resumed.windows == fresh.windows
    assert (tmp_path / "w.txt").read_bytes() == (tmp_path / "fresh.txt").read_bytes()
    assert not (tmp_path / ".w.whole-video").exists()
    with np.load(tmp_path / "w.npz") as a, np.load(tmp_path / "fresh.npz") as b:
        for name in ("heatmaps", "window_probs", "interpolated"):
            np.testing.assert_array_equal(a[name], b[name])


def test_a_state_ahead_of_its_files_starts_afresh(handle, tmp_path):
    """Batches are not fsynced (a killed process loses nothing the page cache holds); after a machine crash the
    files may be shorter than the saved state says, and such a state is not resumed from."""
    video = sample_file("demo.mp4")

    def killed(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        explain_whole_video(handle, video, tmp_path / "w.txt", batch_size=2, progress=killed)
    work = tmp_path / ".w.whole-video"
    state = json.loads((work / "state.json").read_text())
    assert state["next_window"] == 4 and state["txt_bytes"] == (work / "heatmaps.txt").stat().st_size
    with open(work / "heatmaps.txt", "r+b") as txt:  # what a crash before the write-back could leave
        txt.truncate(state["txt_bytes"] // 2)
    resumed = explain_whole_video(handle, video, tmp_path / "w.txt", batch_size=2)
    explain_whole_video(handle, video, tmp_path / "fresh.txt", batch_size=2)
    assert resumed.resumed_from == 0
    assert (tmp_path / "w.txt").read_bytes() == (tmp_path / "fresh.txt").read_bytes()


def test_whole_video_refusals(handle, tmp_path, capsys):
    from core.vis_cam import main

    base = [handle.config, str(handle.checkpoint), str(sample_file("demo.mp4")), "--device", "cpu", "--whole-video"]
    assert main(base) == 2 and "--file-url" in capsys.readouterr().err
    assert main([*base, "--file-url", str(tmp_path / "a.txt"), "--all-views"]) == 2
    assert "--all-views" in capsys.readouterr().err
    assert main([*base, "--file-url", str(tmp_path / "a.txt"), "--out-filename", str(tmp_path / "a.gif")]) == 2
    assert ".mp4" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_batch_whole_video(handle, tmp_path, capsys):
    import csv

    from batch_support import make_clips, run_cli

    clips = tmp_path / "clips"
    clips.mkdir()
    paths = make_clips(clips, 2, broken=False)  # 24-frame clips
    listing = clips / "list.txt"
    listing.write_text("".join(f"{p.relative_to(clips)} {i}\n" for i, p in enumerate(paths)))
    argv = [handle.config, handle.checkpoint, listing, "--out", tmp_path / "out", "--device", "cpu", "--quiet",
            "--whole-video", "--target", "gt", "--overlay"]
    code, err = run_cli(capsys, *argv)
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert [int(r["frames"]) for r in rows] == [24, 24] and {r["status"] for r in rows} == {"ok"}
    for path, row in zip(paths, rows, strict=True):
        meta = json.loads(next((tmp_path / "out").rglob(f"{path.stem}.json")).read_text())
        assert meta["whole_video"]["target"] == "gt" and meta["batch"]["gt_class"] == int(row["gt_class"])
        assert {w["target_class"] for w in meta["whole_video"]["windows"]} == {int(row["gt_class"])}
        assert core.read_heatmap_txt(next((tmp_path / "out").rglob(f"{path.stem}.txt"))).shape[0] == 24
        assert next((tmp_path / "out").rglob(f"{path.stem}.mp4")).stat().st_size > 0
    manifest = json.loads((tmp_path / "out" / ".batch.json").read_text())
    assert "--whole-video" in manifest["command"]
    code, err = run_cli(capsys, *argv)  # done videos are skipped
    assert code == 0 and not list((tmp_path / "out").rglob(".*.whole-video"))
