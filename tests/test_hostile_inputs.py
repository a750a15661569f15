"""Small files, huge memory; listed paths obey the roots; one bad entry never hides the rest (issue 22.5-7).

Each bomb is built here, small, and read in a child process whose peak memory is measured (tests/hostile.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostile import peak_in_child

from core import access, runs
from core.uploads import UploadFolder

MB = 2**20


def _run_folder(root: Path, name: str = "tsn", epochs: int = 2) -> Path:
    folder = root / "work_dirs" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.py").write_text("model = dict()\n")
    for epoch in range(1, epochs + 1):
        (folder / f"epoch_{epoch}.pth").write_bytes(b"x")
    return folder


def _scalars(folder: Path, lines: list[str], session: str = "20240101_120000") -> Path:
    path = folder / session / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _row(step: int, **more) -> str:
    return json.dumps({"lr": 0.01, "loss": 1.0 / step, "epoch": 1, "iter": step, "step": step, **more})


# --------------------------------------------------------------------------- 7. one bad entry never hides the rest


@pytest.mark.parametrize("dangling", ["best_acc_top1_epoch_3.pth", "epoch_9.pth"])
def test_a_dangling_symlink_in_a_run_folder_hides_nothing_else(tmp_path, dangling):
    folder = _run_folder(tmp_path)
    (folder / dangling).symlink_to(tmp_path / "gone.pth")
    found = runs.find_runs(tmp_path)
    assert [run.name for run in found] == ["tsn"]  # today: the whole run vanished (FileNotFoundError)
    assert [p.name for p in found[0].checkpoints] == ["epoch_2.pth", "epoch_1.pth"]


@pytest.mark.parametrize("bad", [
    "[" * 200_000 + "]" * 200_000,  # nested 200 000 levels: a RecursionError lost the whole run
    '{"a":' * 20_000 + "1" + "}" * 20_000,  # (held out) nested less deep, short enough to be parsed
    '{"step": "3", "lr": 1}', '{"step": 1e999, "lr": 1}', "\x00\xff{", "[1, 2]",
])
def test_a_malformed_scalars_line_is_skipped_with_a_note(tmp_path, bad):
    folder = _run_folder(tmp_path)
    _scalars(folder, [_row(1), bad, _row(2)])
    log = runs.read_training_log(folder)
    assert [row["step"] for row in log.train] == [1, 2]
    assert len(log.notes) == 1 and "1 line of the scalars.json log could not be read" in log.notes[0]


# --------------------------------------------------------------------------- 5. training logs: streamed, reduced


def test_a_large_scalars_log_is_streamed_and_reduced(tmp_path):
    """300 000 rows (33 MB): today's main held the text, its lines and every row (>400 MB); read a line at a
    time and thinned to MAX_POINTS evenly spaced rows, the last one kept."""
    folder = _run_folder(tmp_path)
    path = folder / "20240101_120000" / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True)
    with open(path, "w") as file:
        for step in range(1, 300_001):
            file.write(_row(step, loss_cls=0.5, top1_acc=0.25, data_time=0.01, time=0.2, memory=100) + "\n")
    measured = peak_in_child("from core import runs", f"log = runs.read_training_log({str(folder)!r})\n"
                             "assert len(log.train) <= runs.MAX_POINTS and log.train[-1]['step'] == 300000, "
                             "len(log.train)\nsteps = [r['step'] for r in log.train]\n"
                             "assert len({b - a for a, b in zip(steps, steps[1:-1])}) == 1  # evenly spaced")
    assert measured["error"] is None, measured["error"]
    assert measured["extra"] < 60 * MB, measured["extra"] / MB


def test_a_huge_text_log_is_read_a_line_at_a_time(tmp_path):
    """A 64 MB .log (one line without an end, held out: many lines) costs no more than a few lines' memory."""
    folder = _run_folder(tmp_path)
    session = folder / "20240101_120000"
    session.mkdir()
    (session / "20240101_120000.log").write_bytes(b"x" * (64 * MB))
    (session / "more.log").write_bytes(b"2024/01/01 12:00:00 - mmengine - INFO - Epoch(test) [1/1]\n" * (MB // 2))
    measured = peak_in_child("from core import runs", f"tests = runs.logged_tests({str(folder)!r})\n"
                             f"assert [t.log.name for t in tests] == ['more.log'], tests")
    assert measured["error"] is None, measured["error"]
    assert measured["extra"] < 30 * MB, measured["extra"] / MB


def test_logs_are_cached_by_file_stamp(tmp_path):
    folder = _run_folder(tmp_path)
    path = _scalars(folder, [_row(1), _row(2)])
    runs.read_training_log(folder)
    hits = runs._read_scalars.cache_info().hits
    assert len(runs.read_training_log(folder).train) == 2
    assert runs._read_scalars.cache_info().hits == hits + 1  # not read again
    with open(path, "a") as file:
        file.write(_row(3) + "\n")
    assert len(runs.read_training_log(folder).train) == 3  # grown: read again


# --------------------------------------------------------------------------- 6. listed paths obey the roots


def test_listed_runs_and_checkpoints_outside_the_roots_are_left_out_with_a_note(tmp_path):
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    _run_folder(inside, "mine")
    theirs = _run_folder(outside, "theirs")
    (inside / "work_dirs" / "linked").symlink_to(theirs, target_is_directory=True)  # a run folder by glob
    mine = inside / "work_dirs" / "mine"
    (mine / "best_acc_top1_epoch_7.pth").symlink_to(theirs / "epoch_1.pth")  # a checkpoint of the run
    (mine / "last_checkpoint").write_text(str(theirs / "epoch_2.pth"))  # read from inside a file
    session = mine / "20240101_120000"
    session.mkdir()
    (session / "20240101_120000.log").write_text(  # paths read from inside a log
        f"2024/01/01 - mmengine - INFO - Load checkpoint from {theirs / 'epoch_2.pth'}\n"
        f"2024/01/01 - mmengine - INFO - Results has been saved to {outside / 'results.pkl'}.\n")
    with access.limited(access.Roots.of([inside])):
        access._notes.set([])
        found = runs.find_runs(inside)
        tests = runs.logged_tests(mine)
        notes = access.take_notes()
    assert [run.name for run in found] == ["mine"]
    assert [p.name for p in found[0].checkpoints] == ["epoch_2.pth", "epoch_1.pth"] and found[0].latest is None
    assert tests[0].checkpoint is None and tests[0].dump is None
    assert notes and all("outside the folders this server may open" in note for note in notes)
    # the command line (no limit) still sees everything
    assert {run.name for run in runs.find_runs(inside)} == {"mine", "theirs"}  # (resolved names)


def test_other_sessions_uploads_stay_out_of_reach_inside_a_root(tmp_path, monkeypatch):
    """The upload folder inside a root (MMCAM_UPLOADS=~/uploads with home a root): still only one's own."""
    monkeypatch.setenv(access.ROOTS_ENV, str(tmp_path))
    monkeypatch.setenv("MMCAM_UPLOADS", str(tmp_path / "uploads"))
    mine, theirs = UploadFolder(), UploadFolder()
    [their_file] = theirs.save([("clip.mp4", b"secret")])
    [my_file] = mine.save([("clip.mp4", b"mine")])
    roots = access.configured_roots([mine.path])
    assert roots.allows(my_file) and roots.allows(tmp_path / "data.mp4")
    assert not roots.allows(their_file) and not roots.allows(theirs.path) and not roots.allows(tmp_path / "uploads")
    link = tmp_path / "innocent.mp4"
    os.symlink(their_file, link)  # held out: reached through a symlink inside the root
    assert not roots.allows(link)


# --------------------------------------------------------------------------- 5. videos and images: the header first


def _video(path: Path, width: int, height: int, frames: int) -> Path:
    """A black H.264 video of ``frames`` frames declaring ``width`` x ``height``: a few hundred KB."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "51"}
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        for _ in range(frames):
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def video_bomb(tmp_path_factory) -> Path:
    """3 frames declaring 8000 x 8000 (today's main: 7.9 GB to explain it with the demo model)."""
    return _video(tmp_path_factory.mktemp("bomb") / "bomb.mov", 8000, 8000, 3)


def test_a_video_declaring_huge_frames_is_refused_before_decoding_them(video_bomb):
    measured = peak_in_child("""
        from mmengine.config import Config
        from core import demo, video
        cfg = Config.fromfile(str(demo.CONFIG))
        """, f"video.build_inputs(cfg, {str(video_bomb)!r})", limit_gb=12)
    assert measured["error"] and measured["error"].startswith("CamError: Video ")
    assert "would take 2.9 GiB decoded (16 frames), more than the 1.0 GiB allowed" in measured["error"]
    assert measured["extra"] < 500 * MB, measured["extra"] / MB  # the header, and at most one frame


def test_frames_asked_of_a_huge_video_are_counted_first(video_bomb):
    """(Held out) the viewer's and the study's frame reader: 8 frames of 8000 x 8000 are 1.4 GiB."""
    from core import video
    from core.errors import CamError

    with pytest.raises(CamError, match=r"would take 1\.4 GiB decoded \(8 frames\)"):
        video.read_frames(video_bomb, [0, 1, 2, 0, 1, 2, 0, 1])


def test_a_frame_beyond_pillows_limit_is_refused_from_the_header(tmp_path):
    """(Held out) a frame over the pixel limit (lowered here, so that the file stays small and quick)."""
    path = _video(tmp_path / "wide.mp4", 1280, 960, 1)
    measured = peak_in_child("from PIL import Image\nfrom core import video\nImage.MAX_IMAGE_PIXELS = 1_000_000",
                             f"video.probe_video({str(path)!r})")
    assert measured["error"] and "1280 x 960 pixels, more than the 1,000,000" in measured["error"]


def _png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares ``width`` x ``height`` grey pixels and whose data is one short row."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * (width + 1) * 4, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size", [(17000, 24000), (10000, 9500)])  # over twice Pillow's limit; (held out) just over
def test_a_gaze_png_declaring_a_huge_image_is_refused_from_its_header(tmp_path, size):
    folder = tmp_path / "gaze"
    folder.mkdir()
    _png(folder / "0001.png", *size)
    measured = peak_in_child("from core.gaze import inputs",
                             f"inputs.read_gaze({str(folder)!r}, fixations=True)")
    assert measured["error"] and "decompression-bomb limit" in measured["error"], measured["error"]
    assert measured["extra"] < 50 * MB, measured["extra"] / MB  # today: 408 MB and more, decoding


def test_a_gaze_npy_declaring_a_huge_array_is_refused(tmp_path):
    """(Held out) the other gaze map format: a 128-byte .npy declaring 8 GB."""
    folder = tmp_path / "gaze"
    folder.mkdir()
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (40000, 25000), }"
    header += " " * (117 - len(header)) + "\n"
    (folder / "0001.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    measured = peak_in_child("from core.gaze import inputs", f"inputs.read_gaze({str(folder)!r}, fixations=False)")
    assert measured["error"] and measured["error"].startswith("CamError: Gaze map"), measured["error"]
    assert measured["extra"] < 50 * MB, measured["extra"] / MB


def test_listed_heatmap_files_gaze_entries_and_batch_videos_outside_the_roots_are_left_out(tmp_path):
    """Study inputs (a run's heatmap files, a video's gaze entry), gaze maps of a folder, a batch's videos:
    a symlink out of the allowed folders is not used, whatever its name promises."""
    from core.batch.tasks import _scan_folder
    from core.gaze import find_heatmap_files, gaze_entry
    from core.gaze.inputs import read_gaze

    inside, outside = tmp_path / "inside", tmp_path / "outside"
    (inside / "run").mkdir(parents=True)
    (inside / "gaze" / "clip").mkdir(parents=True)
    outside.mkdir()
    text = "Frame 1 - Heatmap values\n0 1\n1 0\n"
    (inside / "run" / "mine.txt").write_text(text)
    (outside / "theirs.txt").write_text(text)
    (inside / "run" / "linked.txt").symlink_to(outside / "theirs.txt")
    _png(outside / "0002.png", 4, 4)
    _png(inside / "gaze" / "clip" / "0001.png", 4, 4)
    (inside / "gaze" / "clip" / "0002.png").symlink_to(outside / "0002.png")
    (inside / "gaze" / "other.png").symlink_to(outside / "0002.png")
    (inside / "videos").mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    (inside / "videos" / "clip.mp4").symlink_to(outside / "secret.mp4")
    (inside / "videos" / "own.mp4").write_bytes(b"x")
    with access.limited(access.Roots.of([inside])):
        access._notes.set([])
        assert [p.name for p in find_heatmap_files(inside / "run")] == ["mine.txt"]
        assert gaze_entry(inside / "gaze", "other") is None and gaze_entry(inside / "gaze", "clip") is not None
        assert sorted(read_gaze(inside / "gaze" / "clip").frames) == [0]  # 0002.png (outside) left out
        assert [task.name for task in _scan_folder(inside / "videos", False)] == ["own"]
        assert len(access.take_notes()) == 4
    assert len(find_heatmap_files(inside / "run")) == 2  # a command line is not limited
