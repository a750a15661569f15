"""`python -m core.batch`: many videos, one model load, resumable after kill -9, summary.csv and exit codes."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

import av
import numpy as np
import pytest
from batch_support import batch_fixtures, make_clips, outputs_of, run_cli, temporary_files
from conftest import ROOT, sample_file
from tiny_model import CLASSES

import core
from core.batch import BatchOptions, collect_tasks, read_summary, run_batch
from core.batch.cli import build_parser, main, request_of
from core.batch.job import read_manifest, start_job
from core.batch.store import locked
from core.errors import CamError

SUMMARY_COLUMNS = {"video", "status", "target_class", "target_label", "score", "gt_label", "frames", "seconds", "error"}


model, clips, handle = batch_fixtures(5)


def outputs(out) -> list:
    """The videos' files under ``out`` (not summary.csv, not the hidden run request or lock)."""
    return [p for p in out.rglob("*") if p.is_file() and p.suffix != ".csv" and not p.name.startswith(".")]


def summary(out) -> list[dict]:
    with open(out / "summary.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_folder_with_a_corrupt_video(model, clips, handle, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_cli(capsys, *model, clips, "--out", out, "--device", "cpu", "--overlay", "--quiet")
    assert code == 3, err
    rows = {row["name"]: row for row in summary(out)}
    assert SUMMARY_COLUMNS <= set(summary(out)[0])
    assert sorted(rows) == ["broken", "clip0", "clip2", "clip4", "sub/clip1", "sub/clip3"]
    assert rows["broken"]["status"] == "failed" and "broken.mp4" in rows["broken"]["error"]
    assert not list(out.glob("broken.*"))
    found = outputs_of(out)
    assert sorted(found) == ["clip0", "clip2", "clip4", "sub/clip1", "sub/clip3"]
    for name, files in found.items():
        row, meta = rows[name], files["json"]
        assert row["status"] == "ok" and row["error"] == ""
        assert files["npz"].shape == (2, 8, 64, 64) and int(row["frames"]) == 16
        np.testing.assert_allclose(files["txt"], files["npz"].reshape(16, 64, 64), atol=5e-7)
        assert int(row["target_class"]) == meta["target_class"] == meta["predicted_class"]
        assert row["target_label"] == CLASSES[meta["target_class"]]
        probs = np.exp(files["scores"]) / np.exp(files["scores"]).sum()
        assert abs(float(row["score"]) - probs[meta["target_class"]]) < 0.05  # prob-averaged over the 2 clips
        with av.open(str(out / f"{name}.mp4")) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            assert sum(1 for _ in container.decode(video=0)) == 16
    # the batch computes exactly what one core.explain call computes
    direct = core.explain(handle, clips / "sub" / "clip3.mp4")
    np.testing.assert_allclose(found["sub/clip3"]["npz"], direct.heatmaps, atol=1e-5)
    assert found["sub/clip3"]["json"]["frame_indices"] == direct.frame_indices.tolist()
    assert not temporary_files(out) and not (out / ".batch.lock").exists()


def test_rerun_skips_done_videos_and_another_layer_or_target_is_not_done(model, clips, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(capsys, *model, clips, "--out", out, "--device", "cpu", "--quiet")[0] == 3
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in outputs(out)}
    code, err = run_cli(capsys, *model, clips, "--out", out, "--device", "cpu")
    assert code == 3 and "0 explained, 1 failed, 5 already done" in err
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before
    assert len(summary(out)) == 6
    code, err = run_cli(capsys, *model, clips, "--out", out, "--device", "cpu", "--target-layer-name",
                        "backbone/layer3", "--target-class", "c")
    assert code == 3 and "5 explained, 1 failed, 0 already done" in err
    assert {(f["json"]["layer"], f["json"]["target_class"]) for f in outputs_of(out).values()} == \
        {("backbone/layer3", 2)}
    # the same layer and class, spelled differently, is the same batch
    same = [*model, clips, "--out", out, "--device", "cpu", "--target-layer-name", "backbone.layer3",
            "--target-class", "2"]
    code, err = run_cli(capsys, *same)
    assert code == 3 and "0 explained, 1 failed, 5 already done" in err
    stat = model[1].stat()  # a checkpoint saved again is another model
    os.utime(model[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    code, err = run_cli(capsys, *same)
    assert code == 3 and "5 explained, 1 failed, 0 already done" in err


def test_killed_run_resumes_to_the_same_outputs(model, tmp_path, capsys):
    videos = tmp_path / "videos"
    make_clips(videos, 10, broken=False)
    out, reference = tmp_path / "out", tmp_path / "reference"
    command = [sys.executable, "-m", "core.batch", *map(str, model), str(videos), "--out", str(out), "--device",
               "cpu", "--quiet"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(p.suffix == ".json" for p in outputs(out)) and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    # nothing under a final name is partial: every txt, npz, json and the summary read back whole
    done = outputs_of(out)
    assert 1 <= len(done) < 10
    for files in done.values():
        assert files["txt"].shape == (16, 64, 64) and files["npz"].shape == (2, 8, 64, 64)
    assert len(read_summary(out)) <= len(done)
    before = {p: p.stat().st_mtime_ns for p in outputs(out)}

    code, err = run_cli(capsys, *model, videos, "--out", out, "--device", "cpu")
    assert code == 0, err
    assert f"{10 - len(done)} explained, 0 failed, {len(done)} already done" in err
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert run_cli(capsys, *model, videos, "--out", reference, "--device", "cpu", "--quiet")[0] == 0
    resumed, expected = outputs_of(out), outputs_of(reference)
    assert sorted(resumed) == sorted(expected) and len(resumed) == 10
    for name in expected:
        np.testing.assert_allclose(resumed[name]["npz"], expected[name]["npz"], atol=1e-5)
        np.testing.assert_allclose(resumed[name]["txt"], expected[name]["txt"], atol=1e-5)
        a, b = resumed[name]["json"], expected[name]["json"]
        assert {k: v for k, v in a.items() if k not in ("batch", "top5")} == \
            {k: v for k, v in b.items() if k not in ("batch", "top5")}
    assert [r["status"] for r in summary(out)] == ["ok"] * 10
    assert not temporary_files(out) and not (out / ".batch.lock").exists()


def test_annotation_file_with_ground_truth_targets(model, clips, tmp_path, capsys):
    root = tmp_path / "root"
    (root / "frames").mkdir(parents=True)
    (root / "frames" / "walk").symlink_to(sample_file("rawframes"))
    (root / "clips").symlink_to(clips)
    labels = {"clips/clip0.mp4": 3, "clips/sub/clip1.mp4": 0}
    annotation = tmp_path / "val_list.txt"
    annotation.write_text("".join(f"{path} {label}\n" for path, label in labels.items()) + "frames/walk 16 4\n")
    out = tmp_path / "out"
    code, err = run_cli(capsys, *model, annotation, "--video-root", root, "--out", out, "--device", "cpu",
                        "--target", "gt", "--quiet")
    assert code == 0, err
    rows = {row["name"]: row for row in summary(out)}
    assert sorted(rows) == ["clips/clip0", "clips/sub/clip1", "frames/walk"]
    expected = {"clips/clip0": 3, "clips/sub/clip1": 0, "frames/walk": 4}
    for name, label in expected.items():
        meta = json.loads((out / f"{name}.json").read_text())
        assert meta["target_class"] == label and meta["batch"]["gt_class"] == label
        assert rows[name]["gt_class"] == str(label) and rows[name]["gt_label"] == CLASSES[label]
        assert rows[name]["target_label"] == CLASSES[label]
    assert json.loads((out / "frames/walk.json").read_text())["shape"] == [2, 8, 64, 64]
    # the predicted-class run over the same list is another batch: nothing counts as done
    code, err = run_cli(capsys, *model, annotation, "--video-root", root, "--out", out, "--device", "cpu")
    assert code == 0 and "3 explained" in err


def test_inputs_folders_lists_and_rawframes(clips, tmp_path):
    (tmp_path / "frames" / "a").mkdir(parents=True)
    (tmp_path / "frames" / "a" / "walk").symlink_to(sample_file("rawframes"))
    (tmp_path / "frames" / "b.mp4").symlink_to(clips / "clip0.mp4")
    names = [t.name for t in collect_tasks([tmp_path / "frames"])]
    assert names == ["b"]
    names = [t.name for t in collect_tasks([tmp_path / "frames"], use_frames=True)]
    assert names == ["a/walk", "b"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# clips\n{clips / 'clip2.mp4'}\n\nsub/clip3.mp4\n")
    tasks = collect_tasks([listing], video_root=clips)
    assert [(t.name, t.gt_class) for t in tasks] == [("clip2", None), ("sub/clip3", None)]
    assert tasks[1].video == str(clips / "sub" / "clip3.mp4")
    assert [t.name for t in collect_tasks([clips / "clip0.mp4", clips / "clip0.mp4"])] == ["clip0"]


@pytest.mark.parametrize("case, message", [
    (lambda c, t: [c / "nope"], "does not exist"),
    (lambda c, t: [c, "--target", "gt"], "--target gt needs ground-truth labels"),
    (lambda c, t: [c, "--target-layer-name", "backbone/nope"], "has no layer"),
    (lambda c, t: [c, "--target-class", "zebra"], "Unknown class"),
    (lambda c, t: [c, "--alpha", "2"], "--alpha"),
    (lambda c, t: [c / "clip0.mp4", t], "would both write clip0.txt"),
    (lambda c, t: [t / "list.txt"], "line 1"),
    (lambda c, t: [t / "empty"], "holds no videos"),
])
def test_bad_input_is_one_line_and_exit_2(model, clips, tmp_path, capsys, case, message):
    (tmp_path / "clip0.mp4").symlink_to(clips / "clip2.mp4")
    (tmp_path / "list.txt").write_text("missing.mp4 3\n")
    (tmp_path / "empty").mkdir()
    code, err = run_cli(capsys, *model, *case(clips, tmp_path), "--out", tmp_path / "out", "--device", "cpu")
    assert code == 2 and message in err, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_outputs_never_overwrite_inputs(model, clips, capsys):
    code, err = run_cli(capsys, *model, clips / "clip0.mp4", "--out", clips, "--overlay", "--device", "cpu")
    assert code == 2 and "overwrite an input" in err


def test_stop_event_ends_the_run_and_a_second_run_finishes(handle, clips, tmp_path):
    stop, events = threading.Event(), []

    def on_event(kind, task, row):
        events.append((kind, task.name))
        if kind == "ok":
            stop.set()

    report = run_batch(handle, collect_tasks([clips]), tmp_path, BatchOptions(), on_event=on_event, stop=stop)
    assert report.stopped and 1 <= report.ok < 5 and report.pending >= 1
    assert events[0] == ("started", "broken")
    first = report.ok
    report = run_batch(handle, collect_tasks([clips]), tmp_path, BatchOptions(), decode_workers=2)
    assert not report.stopped and report.skipped == first and report.ok == 5 - first and report.exit_code == 3
    assert [row["status"] for row in report.rows] == ["failed"] + ["ok"] * 5
    done = [task for task in collect_tasks([clips]) if task.name.startswith("sub/")]
    report = run_batch(handle, done, tmp_path, BatchOptions(force=True))
    assert report.ok == 2 and report.skipped == 0  # --force recomputes finished videos


def test_one_run_per_output_folder(handle, clips, tmp_path):
    with locked(tmp_path):
        with pytest.raises(CamError, match="Another batch is writing"):
            run_batch(handle, collect_tasks([clips]), tmp_path)
    assert os.listdir(tmp_path) == []


def test_batch_json_records_the_command_to_resume(model, clips, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*map(str, model), str(clips / "sub"), "--out", str(out), "--device", "cpu", "--target-class", "b",
            "--overlay", "--fps", "8", "--cfg-options", "test_pipeline.1.num_clips=1", "--quiet"]
    assert main(argv) == 0
    manifest = read_manifest(out)
    request = manifest["request"]
    assert manifest["videos"] == 2 and request.inputs == [str(clips / "sub")] and request.options.fps == 8
    words = shlex.split(manifest["command"])
    assert words[:3] == ["python", "-m", "core.batch"]
    assert request_of(build_parser().parse_args(words[3:])) == request
    assert json.loads((out / "clip1.json").read_text())["shape"] == [1, 8, 64, 64]  # the cfg option took effect
    job = start_job(request)  # resuming from the manifest: everything is done
    job.join(60)
    progress = job.progress()
    assert (progress.phase, progress.skipped, progress.ok, progress.total) == ("finished", 2, 0, 2)
