"""core.video.find_videos: the videos in a folder (training runs: test_runs.py; uploads: test_uploads.py)."""

from __future__ import annotations

import shutil

import pytest
from conftest import SHARED_DATA

from core.errors import CamError
from core.video import find_videos


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

