"""core.files: videos in a folder, uploads. (Training runs: tests/test_runs.py.)"""

from __future__ import annotations

import shutil

import pytest
from conftest import SHARED_DATA

import core
from core.errors import CamError
from core.files import find_videos, save_upload


def test_find_videos_lists_files_and_rawframes_folders(tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    shutil.copytree(SHARED_DATA / "rawframes", tmp_path / "clip_frames")
    (tmp_path / "b.MP4").write_bytes(b"")
    (tmp_path / "a.avi").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "empty_dir").mkdir()
    assert [p.name for p in find_videos(tmp_path)] == ["a.avi", "b.MP4", "clip_frames"]
    names = {p.name for p in find_videos(SHARED_DATA)}
    assert {"demo.mp4", "test.mp4", "rawframes"} <= names and "label_map_k400.txt" not in names
    with pytest.raises(CamError, match="does not exist"):
        find_videos(tmp_path / "nope")


def test_save_upload_is_content_addressed(tmp_path, demo_mp4):
    data = demo_mp4.read_bytes()
    first = save_upload(data, "My Clip.MP4", tmp_path)
    again = save_upload(data, "renamed.mp4", tmp_path)
    assert first == again and first.suffix == ".mp4" and first.read_bytes() == data
    other = save_upload(data[:-10], "cut.mp4", tmp_path)
    assert other != first
    assert core.probe_video(first).frames == core.probe_video(demo_mp4).frames
    with pytest.raises(CamError, match="not a video file"):
        save_upload(data, "clip.txt", tmp_path)
    with pytest.raises(CamError, match="empty"):
        save_upload(b"", "clip.mp4", tmp_path)
