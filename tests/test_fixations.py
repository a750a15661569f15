"""The fixation maker: known samples on a variable-frame-rate video written with explicit timestamps, the
density against scipy's Gaussian filter, the study layout, what core.gaze reads back, and bad input."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from core import gaze
from core.errors import CamError
from core.gaze.fixations import FWHM_PER_SIGMA, frame_times, main, make_fixations

ndimage = pytest.importorskip("scipy.ndimage")

WIDTH, HEIGHT = 64, 48
STARTS_MS = [0, 40, 80, 180, 200, 260]  # frame 2 lasts 100 ms, frame 3 20 ms: not one frame rate


def write_vfr(path: Path, starts_ms: list[int], size=(WIDTH, HEIGHT)) -> Path:
    """An H.264 video whose frame k is shown from starts_ms[k] (explicit pts, time base 1 ms)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264")
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        for i, start in enumerate(starts_ms):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 30 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = start, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


# subject, event, t (ms), x, y: where each lands, by hand
SAMPLES = [
    "s1,F,0,10,20",  # frame 0, pixel (x 10, y 20)
    "s1,F,39.9,10,20",  # frame 0 again: the same pixel twice
    "s2,F,40,30.5,5.2",  # exactly at frame 1's start: frame 1; x 30.5 rounds half up to 31, y to 5
    "s2,F,150,5,5",  # frame 2 (80-180 ms); at a constant 25 fps this would be frame 3
    "s1,F,199.99,64,48",  # frame 3; on the far edge: clipped to (63, 47)
    "s1,S,100,20,20",  # a saccade: not a fixation
    "s2,F,100,-3,20",  # outside the frame
    "s2,F,100,20,48.5",  # outside the frame
    "s1,F,-5,20,20",  # before the video
    "s1,F,10000,20,20",  # after the video
    "s2,F,,20,20",  # no time
]


@pytest.fixture(scope="module")
def vfr(tmp_path_factory) -> Path:
    return write_vfr(tmp_path_factory.mktemp("vfr") / "vfr.mp4", STARTS_MS)


def test_frame_times_are_the_container_timestamps(vfr):
    times = frame_times(vfr)
    assert times.starts[:-1] * 1000 == pytest.approx(STARTS_MS) and times.starts[-1] > STARTS_MS[-1] / 1000
    assert (times.width, times.height, times.frames) == (WIDTH, HEIGHT, 6)
    import decord

    assert len(decord.VideoReader(str(vfr))) == times.frames  # the heatmaps' frame numbering


def test_known_samples_land_on_their_frame_and_pixel(vfr, tmp_path, capsys):
    samples = write_csv(tmp_path / "samples.csv", "Subject,event,t,x,y", SAMPLES)
    assert main([str(samples), "--video", str(vfr), "--out", str(tmp_path / "out"), "--sigma", "3",
                 "--time-unit", "ms"]) == 0
    out = tmp_path / "out"
    names = [f"frame_{k:05d}.png" for k in range(6)]
    assert sorted(p.name for p in (out / "fixations").iterdir()) == names
    assert sorted(p.name for p in (out / "density").iterdir()) == names
    fixations = gaze.read_gaze(out / "fixations", fixations=True)
    assert sorted(fixations.frames) == list(range(6))  # 0-based: the folder holds frame 0
    marked = {k: sorted(zip(*np.nonzero(m), strict=True)) for k, m in fixations.frames.items()}
    assert marked == {0: [(20, 10)], 1: [(5, 31)], 2: [(5, 5)], 3: [(47, 63)], 4: [], 5: []}
    import cv2

    for k in range(6):
        density = cv2.imread(str(out / "density" / names[k]), cv2.IMREAD_UNCHANGED)
        counts = np.zeros((HEIGHT, WIDTH))
        for y, x in marked[k]:
            counts[y, x] = 2 if k == 0 else 1  # frame 0's pixel was fixated twice
        assert density.dtype == np.uint8 and density.shape == (HEIGHT, WIDTH)
        if not marked[k]:
            assert not density.any()
            continue
        expected = ndimage.gaussian_filter(counts, 3, mode="constant", truncate=4.0)
        assert np.abs(density.astype(float) - expected / expected.max() * 255).max() <= 1.0
    report = json.loads((out / "fixations.json").read_text())
    video = report["videos"][0]
    assert (video["samples"], video["marked"], video["not_fixation"], video["no_position"]) == (11, 5, 1, 1)
    assert (video["outside_frame"], video["outside_time"], video["frames"]) == (2, 2, 6)
    assert video["subjects"] == {"s1": 3, "s2": 2} and report["sigma_px"] == 3
    printed = capsys.readouterr().out
    assert "5 of 11 samples marked" in printed and "2 outside the frame" in printed and "2 outside the video" in printed


def test_fwhm_and_the_default_blur(vfr, tmp_path):
    samples = write_csv(tmp_path / "s.csv", "t,x,y", ["0.05,32,24"])
    make_fixations(samples, vfr, tmp_path / "fwhm", fwhm=12)
    make_fixations(samples, vfr, tmp_path / "default")
    import cv2

    counts = np.zeros((HEIGHT, WIDTH))
    counts[24, 32] = 1
    for folder, sigma in (("fwhm", 12 / FWHM_PER_SIGMA), ("default", WIDTH / 30)):
        density = cv2.imread(str(tmp_path / folder / "density" / "frame_00001.png"), cv2.IMREAD_UNCHANGED)
        expected = ndimage.gaussian_filter(counts, sigma, mode="constant", truncate=4.0)
        assert np.abs(density - expected / expected.max() * 255).max() <= 1.0
    assert FWHM_PER_SIGMA == pytest.approx(2.3548, abs=1e-4)


def test_video_column_writes_the_study_layout(vfr, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_vfr(videos / "a.mp4", STARTS_MS)
    write_vfr(videos / "b.mkv", [0, 100, 200], size=(32, 32))
    samples = write_csv(tmp_path / "s.csv", "video,t,x,y,event",
                        ["a.mp4,0.01,1,2,F", "b,0.15,3,4,F", "b,0.22,5,6,F", "b,0.22,50,6,F", "a.mp4,0.3,1,1,B"])
    reports = make_fixations(samples, videos, tmp_path / "out")
    assert [(r.video, r.frames, r.marked, r.outside_frame, r.not_fixation) for r in reports] == [
        ("a", 6, 1, 0, 1), ("b", 3, 2, 1, 0)]
    for kind in ("fixations", "density"):
        assert sorted(p.name for p in (tmp_path / "out" / kind).iterdir()) == ["a", "b"]
    entry = gaze.gaze_entry(tmp_path / "out" / "fixations", "b")
    maps = gaze.read_gaze(entry, fixations=True)
    assert sorted(maps.frames) == [0, 1, 2] and maps.frames[1][4, 3] and maps.frames[2][6, 5]
    assert maps.frames[2].sum() == 1  # the sample at x = 50 lies outside the 32-pixel frame


@pytest.mark.parametrize(("header", "rows", "extra", "message"), [
    ("t,x,gaze_y", ["0,1,1"], [], "no column y"),
    ("t,x,y", ["0,1,1"], ["--time-unit", "h"], "invalid choice: 'h'"),
    ("t,x,y", ["zero,1,1"], [], "line 2: t = 'zero' is not a number"),
    ("t,x,y", ["0,1,1"], ["--fwhm", "4", "--sigma", "2"], "not both"),
    ("t,x,y", ["0,1,1"], ["--sigma", "-1"], "positive"),
    ("video,t,x,y", ["missing.mp4,0,1,1"], [], "names video 'missing.mp4'"),
])
def test_bad_input_is_one_error_line_and_nothing_written(vfr, tmp_path, capsys, header, rows, extra, message):
    samples = write_csv(tmp_path / "s.csv", header, rows)
    video = vfr.parent if header.startswith("video") else vfr
    out = tmp_path / "out"
    assert main([str(samples), "--video", str(video), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not out.exists()


def test_the_folder_core_gaze_fixations_wrote_is_read_as_fixations_and_density(tmp_path):
    from core.gaze.inputs import fixations_output, read_gaze

    out = tmp_path / "gaze"
    (out / "fixations").mkdir(parents=True)
    (out / "density").mkdir()
    assert fixations_output(out)[:2] == (str(out / "fixations"), str(out / "density"))
    assert fixations_output(out, blur="auto")[:2] == (str(out / "fixations"), None)  # a blur replaces the density
    plain = tmp_path / "plain"
    (plain / "maps").mkdir(parents=True)
    (plain / "other").mkdir()
    assert fixations_output(plain)[:2] == (str(plain), None)
    with pytest.raises(CamError, match=r"holds no gaze images .*\(it holds the sub-folders maps/, other/\)"):
        read_gaze(plain)
