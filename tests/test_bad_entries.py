"""One bad entry never hides the rest (issue 22.7): a video whose file name is not valid UTF-8 in a batch, a
study whose gaze has no fixation at all. Runs folders and scalars lines: tests/test_hostile_inputs.py."""

from __future__ import annotations

import os
import shutil

import cv2
import numpy as np
import pytest
from batch_support import make_clips, run_cli
from study_data import make_study
from tiny_model import make_model

from core.batch.store import read_summary


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("model"))


@pytest.mark.parametrize("name", [b"clip\xff.mp4", b"\xc3(caf\xe9).mp4"])  # (held out) Latin-1 and a broken pair
def test_a_video_named_in_bytes_that_are_not_utf8_is_named_and_the_batch_finishes(model, tmp_path, capsys, name):
    clips = tmp_path / "clips"
    clips.mkdir()
    [first, *_] = make_clips(clips, 2, broken=False)
    odd = os.fsdecode(os.fsencode(clips) + b"/" + name)
    shutil.copy(first, odd)
    out = tmp_path / "out"
    code, err = run_cli(capsys, *model, clips, "--out", out, "--device", "cpu", "--quiet")
    assert code == 0, err  # today: UnicodeEncodeError writing summary.csv, the batch never finishes
    rows = read_summary(out)
    assert len(rows) == 3 and all(row["error"] == "" for row in rows)
    assert any(name.decode("utf-8", "backslashreplace").removesuffix(".mp4") in row["name"] for row in rows), rows
    assert run_cli(capsys, *model, clips, "--out", out, "--device", "cpu", "--quiet")[0] == 0  # and again


def test_a_study_whose_gaze_has_no_fixation_at_all_says_so(tmp_path, capsys):
    from core.study.cli import main

    data = make_study(tmp_path, videos=2)
    for path in data["fixations"].rglob("*.png"):
        cv2.imwrite(str(path), np.zeros(cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape, np.uint8))
    argv = [a for run in ("good", "mid") for a in ("--run", f"{run}={data[run]}")]
    code = main([*argv, "--gaze", str(data["fixations"]), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err  # today: ZeroDivisionError drawing the figures
    assert err.strip().splitlines()[-1].startswith("error: No clip of the study could be scored (e.g. ")
    assert not (tmp_path / "out").exists()
