"""`python -m core.batch --ray`: Ray actors give the same files as a local run, and survive a killed worker."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from batch_support import batch_fixtures, make_clips, outputs_of, temporary_files
from conftest import sample_file

import core
from core.batch import cluster as cluster_module
from core.batch import collect_tasks, read_summary, run_batch
from core.batch.cli import main
from core.batch.cluster import ACTOR_NAME, run_batch_ray

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs, started by the test (the batch joins it)."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


model, clips, handle = batch_fixtures(5)


def test_ray_run_equals_the_local_run_and_resumes_the_same_way(cluster, model, clips, tmp_path):
    tasks = collect_tasks([clips])
    handle = core.load_model(*model, device="cpu")
    local = run_batch(handle, tasks, tmp_path / "local")
    code = main([*map(str, model), str(clips), "--out", str(tmp_path / "ray"), "--ray", "--workers", "2",
                 "--device", "cpu", "--quiet"])  # joins the test's Ray instance
    assert (code, local.ok, local.failed) == (3, 5, 1)
    assert [(r["name"], r["status"]) for r in read_summary(tmp_path / "ray")] == \
        [(r["name"], r["status"]) for r in read_summary(tmp_path / "local")]
    ours, theirs = outputs_of(tmp_path / "ray"), outputs_of(tmp_path / "local")
    assert sorted(ours) == sorted(theirs) == ["clip0", "clip2", "clip4", "sub/clip1", "sub/clip3"]
    for name in theirs:  # actors run torch with one thread: sums in another order
        np.testing.assert_allclose(ours[name]["npz"], theirs[name]["npz"], atol=1e-4)
        np.testing.assert_allclose(ours[name]["txt"], theirs[name]["txt"], atol=1e-4)
        a, b = ours[name]["json"], theirs[name]["json"]
        assert a["target_class"] == b["target_class"] and a["batch_key"] == b["batch_key"]
        assert {k: v for k, v in a.items() if k not in ("batch", "top5")} == \
            {k: v for k, v in b.items() if k not in ("batch", "top5")}
    assert not temporary_files(tmp_path / "ray")
    # the Ray run's files are done for a local run too
    again = run_batch(handle, tasks, tmp_path / "ray")
    assert (again.ok, again.skipped, again.failed) == (0, 5, 1)


def test_a_killed_worker_is_replaced_and_the_batch_completes(cluster, model, tmp_path, monkeypatch):
    videos = tmp_path / "videos"
    make_clips(videos, 7, broken=False)
    (videos / "walk").symlink_to(sample_file("rawframes"))
    tasks = collect_tasks([videos], use_frames=True)
    # as if the driver were on another machine: the actors get every video's (or frame's) bytes
    monkeypatch.setattr(cluster_module, "_driver_node", lambda client: "another machine")
    killed, started = [], []

    def on_event(kind, task, row):
        if kind == "started":
            started.append(task.name)
        if kind == "ok" and not killed:  # the first result is in; both actors have videos in flight
            actor = ray.get_actor(ACTOR_NAME.format(0), namespace=f"mmcam-{os.getpid()}")
            pid = ray.get(actor.describe.remote())["pid"]
            ray.kill(actor, no_restart=False)
            new_pid, deadline = pid, time.monotonic() + 60
            while new_pid == pid and time.monotonic() < deadline:  # the kill lands asynchronously
                time.sleep(0.1)
                new_pid = ray.get(actor.describe.remote())["pid"]
            killed.append((pid, new_pid, len(started)))

    report = run_batch_ray(*model, tasks, tmp_path / "out", device="cpu", workers=2, on_event=on_event)
    (old_pid, new_pid, in_flight), = killed
    assert new_pid != old_pid and in_flight >= 3  # a new process; videos were in flight when it died
    assert (report.ok, report.failed) == (8, 0), report.rows
    found = outputs_of(tmp_path / "out")
    assert len(found) == 8 and found["walk"]["json"]["video"] == str(videos / "walk")
    assert not temporary_files(tmp_path / "out")
