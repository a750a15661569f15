"""The batch's one driver: executors hand it typed outcomes; it owns the folder's lock, the summary and the end
of a run, whatever goes wrong (a dying executor, kill -9, a read-only folder, a missing or corrupt video)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from batch_support import batch_fixtures, make_clips, outputs_of, run_cli, temporary_files
from conftest import ROOT
from tiny_model import CLASSES

from core.batch import (
    BatchOptions,
    Explained,
    Failed,
    LocalExecutor,
    collect_tasks,
    drive,
    read_summary,
    run_batch,
)
from core.batch.job import BatchRequest, read_manifest, resume_request
from core.batch.spec import ModelFiles
from core.errors import CamError
from core.geometry import Views
from core.methods import Method
from core.target import GROUND_TRUTH, PREDICTED, ClassIndex, ClassName, GroundTruth

model, clips, handle = batch_fixtures(3)


class Dying:
    """A local executor whose workers all die after ``after`` outcomes (as Ray's can): the driver must still
    record what finished, release the folder and close the executor once."""

    def __init__(self, executor: LocalExecutor, after: int) -> None:
        self.executor, self.after, self.calls = executor, after, []
        self.files = executor.files

    def open(self, options):
        self.calls.append("open")
        return self.executor.open(options)

    def outcomes(self, todo, started, stop):
        self.calls.append("outcomes")
        for count, outcome in enumerate(self.executor.outcomes(todo, started, stop)):
            if count == self.after:
                raise CamError("Every worker died.")
            yield outcome

    def close(self):
        self.calls.append("close")
        self.executor.close()


def test_local_executor_yields_typed_outcomes_and_the_driver_survives_a_dying_one(handle, clips, tmp_path):
    tasks = collect_tasks([clips])  # broken.mp4 first, then three clips
    executor = LocalExecutor(handle)
    opened = executor.open(BatchOptions(target=ClassName("c")))
    assert opened.spec.target == ClassIndex(2) and opened.config == handle.config
    outcomes = list(executor.outcomes(tasks, lambda task: None, None))
    assert [type(o) for o in outcomes] == [Failed, Explained, Explained, Explained]
    assert "broken.mp4" in outcomes[0].reason and outcomes[1].result.target_class == 2
    assert outcomes[1].seconds > 0 and outcomes[1].decode_seconds > 0

    dying = Dying(LocalExecutor(handle), after=3)
    with pytest.raises(CamError, match="Every worker died"):
        drive(dying, tasks, tmp_path / "out", manifest={"request": {}, "videos": 4})
    assert dying.calls == ["open", "outcomes", "close"]
    assert [r["status"] for r in read_summary(tmp_path / "out")] == ["failed", "ok", "ok"]  # recorded, not lost
    assert json.loads((tmp_path / "out" / ".batch.json").read_text())["finished"] is None
    report = drive(LocalExecutor(handle), tasks, tmp_path / "out")  # the folder is free again; two are done
    assert (report.skipped, report.ok, report.failed) == (2, 1, 1)


def test_several_processes_never_hold_the_folder_together(tmp_path):
    script = textwrap.dedent("""
        import os, sys, time
        from core.batch.store import locked
        from core.errors import CamError
        out, marker, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
        inside = overlaps = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                with locked(out):
                    try:
                        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                    except FileExistsError:
                        overlaps += 1
                        continue
                    inside += 1
                    os.close(fd)
                    os.unlink(marker)
            except CamError:
                pass
        print(inside, overlaps)
    """)
    out = tmp_path / "out"
    out.mkdir()
    processes = [subprocess.Popen([sys.executable, "-c", script, str(out), str(tmp_path / "inside"), "4"],
                                  cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    counts = [tuple(map(int, p.communicate(timeout=120)[0].split())) for p in processes]
    assert all(inside > 0 for inside, _ in counts), counts  # each got in
    assert sum(overlaps for _, overlaps in counts) == 0, counts  # never two at once
    assert sorted(os.listdir(out)) == []  # no lock file left behind either


def test_kill_during_force_keeps_every_finished_row_in_the_summary(model, tmp_path, capsys):
    videos = tmp_path / "videos"
    make_clips(videos, 6, broken=False)
    out = tmp_path / "out"
    assert run_cli(capsys, *model, videos, "--out", out, "--device", "cpu", "--quiet")[0] == 0
    before = (out / "summary.csv").stat().st_mtime_ns
    command = [sys.executable, "-m", "core.batch", *map(str, model), str(videos), "--out", str(out), "--device",
               "cpu", "--quiet", "--force"]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while (out / "summary.csv").stat().st_mtime_ns == before and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)  # right after the forced run rewrote the summary
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    rows = read_summary(out)
    assert len(outputs_of(out)) == 6
    assert [r["status"] for r in rows] == ["ok"] * 6 and all(r["target_label"] in CLASSES for r in rows)
    code, err = run_cli(capsys, *model, videos, "--out", out, "--device", "cpu")
    assert code == 0 and "0 explained, 0 failed, 6 already done" in err
    assert len(read_summary(out)) == 6 and not temporary_files(out)


def test_summary_keeps_results_of_earlier_runs_and_ignores_broken_leftovers(handle, clips, tmp_path):
    out = tmp_path / "out"
    assert run_batch(handle, collect_tasks([clips / "clip0.mp4"]), out).ok == 1
    (out / "edited.json").write_text('{"batch_key": {}, "batch": "not a dict"}')  # with its txt and npz
    (out / "edited.txt").write_text("")
    (out / "edited.npz").write_bytes(b"")
    (out / "summary.csv").write_bytes(b"\xff\xfe\x00 not a csv")
    report = run_batch(handle, collect_tasks([clips / "clip2.mp4", clips / "broken.mp4"]), out)
    assert (report.ok, report.failed) == (1, 1)
    assert [(r["name"], r["status"]) for r in read_summary(out)] == [("clip2", "ok"), ("broken", "failed"),
                                                                      ("clip0", "ok")]
    report = run_batch(handle, collect_tasks([clips / "broken.mp4"]), out)  # both earlier runs' results stay
    assert [(r["name"], r["status"]) for r in report.rows] == [("broken", "failed"), ("clip0", "ok"),
                                                                ("clip2", "ok")]


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` made unwritable, even for root (immutable) where the file system allows; skips otherwise."""
    os.chmod(folder, 0o555)
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
    try:
        try:
            (folder / "probe").touch()
        except OSError:
            pass
        else:
            (folder / "probe").unlink()
            pytest.skip("cannot make a folder read-only here")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        os.chmod(folder, 0o755)


def test_read_only_output_folder_is_one_error_line(model, clips, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with read_only(out):
        code, err = run_cli(capsys, *model, clips, "--out", out, "--device", "cpu")
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert "not writable" in err and str(out) in err
        code, err = run_cli(capsys, *model, clips, "--out", out / "new", "--device", "cpu")
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert os.listdir(out) == []


def test_missing_listed_video_is_a_failed_row_with_its_label(model, clips, tmp_path, capsys):
    annotation = tmp_path / "val.txt"
    annotation.write_text(f"{clips / 'clip0.mp4'} 1\n{clips / 'gone.mp4'} 2\n{clips / 'broken.mp4'} 3\n"
                          f"{clips / 'clip2.mp4'} 0\n")
    out = tmp_path / "out"
    code, err = run_cli(capsys, *model, annotation, "--out", out, "--device", "cpu", "--quiet")
    assert code == 3, err
    rows = {row["name"]: row for row in read_summary(out)}
    assert [r["status"] for r in rows.values()] == ["ok", "failed", "failed", "ok"]
    assert "gone.mp4 does not exist (val.txt line 2)" in rows["gone"]["error"]
    for name, label in (("clip0", 1), ("gone", 2), ("broken", 3), ("clip2", 0)):
        assert rows[name]["gt_class"] == str(label) and rows[name]["gt_label"] == CLASSES[label]
    # a list none of whose videos exists is a wrong --video-root: the batch does not start
    (tmp_path / "wrong.txt").write_text("a.mp4 1\nb.mp4 2\n")
    code, err = run_cli(capsys, *model, tmp_path / "wrong.txt", "--out", tmp_path / "o2", "--device", "cpu")
    assert code == 2 and "nor does any other video it lists; pass --video-root" in err


def test_quiet_keeps_decoder_messages_off_stderr(model, clips, tmp_path):
    command = [sys.executable, "-m", "core.batch", *map(str, model), str(clips), "--device", "cpu"]
    quiet = subprocess.run([*command, "--out", str(tmp_path / "a"), "--quiet"], cwd=ROOT, capture_output=True)
    assert quiet.returncode == 3 and quiet.stderr == b"", quiet.stderr[-2000:]
    assert "broken.mp4" in read_summary(tmp_path / "a")[0]["error"]
    loud = subprocess.run([*command, "--out", str(tmp_path / "b")], cwd=ROOT, capture_output=True)
    assert b"failed: " in loud.stderr and b"1 failed" in loud.stderr  # without --quiet the report stays


def test_targets_are_typed_and_keys_stay_as_files_record_them(handle, clips, tmp_path):
    annotation = tmp_path / "val.txt"
    annotation.write_text(f"{clips / 'clip0.mp4'} 3\n")
    tasks = collect_tasks([annotation])
    for target, key in ((PREDICTED, "predicted"), (GROUND_TRUTH, "gt"), (ClassName("B"), 1), (ClassIndex(2), 2)):
        out = tmp_path / str(key)
        report = run_batch_typed(handle, tasks, out, target)
        assert report.ok == 1
        sidecar = json.loads((out / "clip0.json").read_text())
        assert sidecar["batch_key"]["target"] == key  # what main's sidecars hold: resumable across versions
        assert sidecar["target_class"] == {"predicted": sidecar["predicted_class"], "gt": 3}.get(key, key)
    executor = LocalExecutor(handle)
    assert isinstance(executor.open(BatchOptions(target=GROUND_TRUTH)).spec.target, GroundTruth)


def run_batch_typed(handle, tasks, out, target):
    return drive(LocalExecutor(handle), tasks, out, BatchOptions(target=target))


def test_batch_json_never_grants_trust_and_resume_names_what_it_overrides(tmp_path):
    written_by_main = {"request": {
        "config": "/a/cfg.py", "checkpoint": "/a/evil.pth", "inputs": ["/v"], "out": "/elsewhere",
        "options": {"target_layer": None, "target": "gt", "method": "gradcam", "views": "center", "overlay": False,
                    "alpha": 0.5, "colormap": "viridis", "fps": 5.0, "force": False},
        "device": "auto", "label_map": None, "cfg_options": None, "trust_checkpoint": True, "use_frames": False,
        "video_root": None, "workers": 3, "ray": "ray://10.0.0.1:10001"}, "videos": 4, "started": 0.0,
        "command": "python -m core.batch ..."}
    (tmp_path / ".batch.json").write_text(json.dumps(written_by_main))
    recorded = read_manifest(tmp_path)["request"]
    assert recorded.trust_checkpoint is False and recorded.options.target == GROUND_TRUTH
    assert recorded.options.method is Method.GRADCAM and recorded.options.views is Views.CENTER  # names read typed
    assert "--trust-checkpoint" not in recorded.command()
    for spelled, typed in ((None, PREDICTED), ("2", ClassIndex(2)), ("arm wrestling", ClassName("arm wrestling"))):
        payload = {**written_by_main["request"], "options": {"target": spelled}}
        assert BatchRequest.from_json(payload).options.target == typed
        assert BatchRequest.from_json(BatchRequest.from_json(payload).to_json()).options.target == typed
    mine = ModelFiles("/b/cfg.py", "/b/mine.pth", "cpu", trust_checkpoint=False)
    request, differences = resume_request(recorded, mine, str(tmp_path))
    assert (request.config, request.checkpoint, request.out, request.ray, request.trust_checkpoint) == \
        ("/b/cfg.py", "/b/mine.pth", str(tmp_path), None, False)
    assert request.inputs == ["/v"] and request.options == recorded.options and request.workers is None
    assert [d.split(":")[0] for d in differences] == ["config", "checkpoint", "output folder", "Ray"]
    assert "recorded /a/evil.pth, now /b/mine.pth" in differences[1]
    same = ModelFiles("/a/cfg.py", "/a/evil.pth", trust_checkpoint=True)  # trust only from the caller
    request, differences = resume_request(recorded, same, "/elsewhere", ray="ray://10.0.0.1:10001")
    assert differences == [] and request.trust_checkpoint is True and request.workers == 3
