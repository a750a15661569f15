"""core.files: training runs found the way MMEngine's runner leaves them; videos in a folder (core.video)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import SHARED_DATA, shared_file
from tiny_model import train_with_runner, write_tiny_config

import core
from core.errors import CamError
from core.files import find_runs
from core.video import find_videos


@pytest.fixture(scope="module")
def runner_root(tmp_path_factory) -> Path:
    """A project folder with ``work_dirs/tiny_cfg/`` written by a real MMEngine Runner (one epoch)."""
    demo, test = shared_file("demo.mp4"), shared_file("test.mp4")
    root = tmp_path_factory.mktemp("project")
    config = write_tiny_config(root / "configs", [demo, test])
    train_with_runner(config, root / "work_dirs" / "tiny_cfg")
    return root


def _touch(path: Path, mtime: float, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def test_runner_work_dir_is_found_with_its_config_and_loads(runner_root):
    runs = find_runs(runner_root)
    assert [run.name for run in runs] == ["tiny_cfg"]
    run = runs[0]
    assert run.config == (runner_root / "work_dirs" / "tiny_cfg" / "tiny_cfg.py").resolve()
    assert run.latest == (runner_root / "work_dirs" / "tiny_cfg" / "epoch_1.pth").resolve()
    assert run.checkpoints == (run.latest,)
    # the same run is found from the work_dirs folder and from the run folder itself
    assert find_runs(runner_root / "work_dirs")[0].folder == run.folder
    assert find_runs(run.folder)[0].folder == run.folder
    handle = core.load_model(run.config, run.checkpoints[0], "cpu")
    assert handle.num_classes == 5


def test_runs_newest_first_best_first_epochs_descending(tmp_path):
    now = time.time()
    old, new = tmp_path / "work_dirs" / "old_run", tmp_path / "work_dirs" / "new_run"
    _touch(old / "old_run.py", now - 500)
    _touch(old / "epoch_1.pth", now - 400)
    _touch(new / "new_run.py", now - 300)
    _touch(new / "other.py", now - 10)  # not the dumped config: the folder's name wins
    for epoch in (2, 10, 9):
        _touch(new / f"epoch_{epoch}.pth", now - 200 + epoch)
    _touch(new / "best_acc_top1_epoch_9.pth", now - 150)
    _touch(new / "last_checkpoint", now - 100, "/somewhere/else/work_dirs/new_run/epoch_10.pth\n")  # run was moved
    _touch(tmp_path / "notes" / "readme.txt", now)  # no checkpoints: not a run
    runs = find_runs(tmp_path)
    assert [run.name for run in runs] == ["new_run", "old_run"]
    run = runs[0]
    assert run.config.name == "new_run.py"
    assert [p.name for p in run.checkpoints] == ["best_acc_top1_epoch_9.pth", "epoch_10.pth", "epoch_9.pth",
                                                 "epoch_2.pth"]
    assert run.latest.name == "epoch_10.pth"


def test_run_without_config_and_missing_root(tmp_path):
    _touch(tmp_path / "run" / "epoch_3.pth", time.time())
    (run,) = find_runs(tmp_path)
    assert run.config is None and run.latest is None
    with pytest.raises(CamError, match="does not exist"):
        find_runs(tmp_path / "nope")


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

