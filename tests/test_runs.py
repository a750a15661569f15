"""core.runs: training runs as MMEngine's runner leaves them (config, checkpoints, curves, best checkpoint), and
which checkpoint made a dump; on a run trained by MMAction2's own tools/train.py (tests/mm_data.py) and on
hand-made folders for the cases a two-epoch run does not show."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from mm_data import NAME, trained_project

import core
from core import dumps
from core.errors import CamError
from core.runs import describe_checkpoints, dump_origin, find_runs, logged_tests, read_training_log


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> dict:
    return trained_project(tmp_path_factory)


def _touch(path: Path, mtime: float, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def test_runner_work_dir_is_found_with_its_config_and_loads(project):
    runs = find_runs(project["root"])
    assert [run.name for run in runs] == [NAME]
    run = runs[0]
    folder = project["work_dir"].resolve()
    assert run.config == folder / f"{NAME}.py"
    assert run.latest == folder / "epoch_2.pth"
    assert run.checkpoints[0].name.startswith("best_acc_top1_epoch_") and run.checkpoints[1] == run.latest
    # the same run is found from the work_dirs folder and from the run folder itself
    assert find_runs(project["root"] / "work_dirs")[0].folder == run.folder
    assert find_runs(run.folder)[0].folder == run.folder
    handle = core.load_model(run.config, run.checkpoints[0], "cpu")
    assert handle.num_classes == 4


def test_curves_are_what_the_text_log_printed(project):
    log = read_training_log(project["work_dir"])
    assert log.by_epoch and log.losses() == ["loss", "loss_cls"]
    assert log.keys("val") == ["acc/top1", "acc/top5", "acc/mean1"]
    assert [row["step"] for row in log.train] == [1, 2, 3, 4] and [row["epoch"] for row in log.train] == [1, 1, 2, 2]
    assert [row["step"] for row in log.val] == [1, 2]
    # the oracle: MMEngine's own text log of the same run
    text = sorted(project["work_dir"].glob("*/*.log"))[0].read_text()  # the training session (the first)
    printed_loss = [float(x) for x in re.findall(r"Epoch\(train\).*?  loss: (\d+\.\d+)", text)]
    assert [round(row["loss"], 4) for row in log.train] == printed_loss
    printed_top1 = [float(x) for x in re.findall(r"Epoch\(val\) \[\d+\]\[\d+/\d+\]\s+acc/top1: (\d+\.\d+)", text)]
    assert [round(row["acc/top1"], 4) for row in log.val] == printed_top1


def test_checkpoints_know_their_epoch_and_the_best(project):
    run = find_runs(project["work_dir"])[0]
    log = read_training_log(run.folder)
    infos = {info.path.name: info for info in describe_checkpoints(run, log)}
    best = next(info for info in infos.values() if info.best)
    assert best.best_metric == "acc/top1" and best.path.name == f"best_acc_top1_epoch_{best.epoch}.pth"
    # MMEngine keeps the first epoch with the highest acc/top1
    top = max(row["acc/top1"] for row in log.val)
    assert best.epoch == next(int(row["step"]) for row in log.val if row["acc/top1"] == top)
    assert infos["epoch_2.pth"].latest and infos["epoch_2.pth"].epoch == 2 and not infos["epoch_2.pth"].best
    assert infos["epoch_1.pth"].val == {k: log.val[0][k] for k in ("acc/top1", "acc/top5", "acc/mean1")}


def test_dump_origin_from_the_record_or_the_test_log(project, tmp_path):
    (test,) = logged_tests(project["work_dir"])
    assert test.checkpoint == project["checkpoint"].resolve() and test.dump == project["dump"].resolve()
    assert test.metrics == {k: project["metrics"][k] for k in ("acc/top1", "acc/top5", "acc/mean1")}
    origin = dump_origin(project["dump"])
    assert origin.checkpoint == str(project["checkpoint"]) and origin.recorded_by == "python -m core.mm test"
    # without the record (a dump made by plain tools/test.py), the log still tells
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "results.pkl").write_bytes(project["dump"].read_bytes())
    os.symlink(project["root"] / "work_dirs", copy / "work_dirs")
    assert dump_origin(copy / "results.pkl") is None  # the log names another file
    record = dumps.source_file(project["dump"])
    saved = record.read_bytes()
    record.unlink()
    try:
        origin = dump_origin(project["dump"])
    finally:
        record.write_bytes(saved)
    assert origin.checkpoint == str(project["checkpoint"].resolve())
    assert origin.config == str((project["work_dir"] / f"{NAME}.py").resolve())
    assert origin.recorded_by.startswith("the tools/test.py log ")


def test_resumed_sessions_merge_and_broken_lines_are_skipped(tmp_path):
    run = tmp_path / "work_dirs" / "resumed"
    first = [{"lr": 0.1, "loss": 2.0, "epoch": 1, "iter": 1, "step": 1}, {"acc/top1": 0.3, "step": 1},
             {"lr": 0.1, "loss": 1.5, "epoch": 2, "iter": 2, "step": 2}]
    second = [{"lr": 0.1, "loss": 1.4, "epoch": 2, "iter": 2, "step": 2}, {"acc/top1": 0.5, "step": 2}]
    _touch(run / "20240101_000000" / "vis_data" / "scalars.json", 1,
           "\n".join(map(json.dumps, first)) + '\n{"lr": 0.1, "lo')  # killed mid-line
    _touch(run / "20240102_000000" / "vis_data" / "scalars.json", 2, "\n".join(map(json.dumps, second)) + "\n")
    _touch(run / "notes" / "vis_data" / "scalars.json", 3, json.dumps({"lr": 9, "iter": 9, "step": 9}))  # not a session
    log = read_training_log(run)
    assert [(r["step"], r["loss"]) for r in log.train] == [(1, 2.0), (2, 1.4)]  # the resumed session wins
    assert [(r["step"], r["acc/top1"]) for r in log.val] == [(1, 0.3), (2, 0.5)]
    assert read_training_log(tmp_path).train == []  # no sessions: empty curves, no error


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
    infos = describe_checkpoints(run)  # no logs: epochs from the names, the metric from the best file's name
    assert [(i.epoch, i.best_metric, i.latest) for i in infos] == [
        (9, "acc_top1", False), (10, None, True), (9, None, False), (2, None, False)]


def test_iteration_based_names(tmp_path):
    run = tmp_path / "iters"
    _touch(run / "iters.py", 1)
    _touch(run / "iter_500.pth", 2)
    _touch(run / "best_acc_top1_iter_500.pth", 3)
    _touch(run / "20240101_000000" / "vis_data" / "scalars.json", 1, "\n".join(map(json.dumps, [
        {"lr": 0.1, "loss": 1.0, "iter": 500, "step": 500}, {"acc/top1": 0.7, "step": 500}])))
    infos = describe_checkpoints(find_runs(run)[0])
    assert [(i.iteration, i.epoch, i.best_metric, i.val) for i in infos] == [
        (500, None, "acc/top1", {"acc/top1": 0.7}), (500, None, None, {"acc/top1": 0.7})]


def test_run_without_config_and_missing_root(tmp_path):
    _touch(tmp_path / "run" / "epoch_3.pth", time.time())
    (run,) = find_runs(tmp_path)
    assert run.config is None and run.latest is None
    with pytest.raises(CamError, match="does not exist"):
        find_runs(tmp_path / "nope")
