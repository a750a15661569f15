"""python -m core.mm: MMAction2's own tools/train.py and tools/test.py, unchanged, trained and tested end to end
on CPU from a project folder, their dump read by core.dumps; safe checkpoint loading in between."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from mm_data import NAME, core_mm, trained_project

import core
from core import dumps
from core.errors import CamError
from core.mm import main, safe_checkpoint_loading, tool_script

pytestmark = pytest.mark.slow  # trains and tests a model with MMAction2's own scripts (about a minute)


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> dict:
    return trained_project(tmp_path_factory)


def test_train_then_test_then_read_the_dump(project):
    work_dir = project["work_dir"]
    assert {p.name for p in work_dir.glob("*.pth")} >= {"epoch_1.pth", "epoch_2.pth"}
    assert list(work_dir.glob("best_acc_top1_epoch_*.pth"))  # save_best='auto' picked the first metric
    assert (work_dir / f"{NAME}.py").is_file() and list(work_dir.glob("*/vis_data/scalars.json"))
    # the dump, read safely, scores what tools/test.py logged, sample for sample from the config's test set
    report = dumps.open_dump(project["dump"], config=project["config"])
    logged = project["metrics"]
    assert report.acc_metric() == {k: logged[k] for k in ("acc/top1", "acc/top5", "acc/mean1")}
    printed = dict(re.findall(r"(acc/\w+): (\d+\.\d+)", project["test"].stdout + project["test"].stderr))
    assert {k: f"{v:.4f}" for k, v in report.acc_metric().items()} == printed
    assert report.classes == list(core.synthetic.DEMO_CLASSES)  # from the config's metainfo
    assert [os.path.basename(v) for v in report.videos] == [f"test_{i}.mp4" for i in range(6)]
    assert report.gt.tolist() == [0, 1, 2, 3, 0, 1]
    # the dump remembers which checkpoint made it
    source = dumps.read_source(project["dump"])
    assert source.checkpoint == str(project["checkpoint"]) and source.config == str(project["config"])
    assert source.recorded_by == "python -m core.mm test" and not source.changed
    # the checkpoint explains a sample with the prediction the dump holds (one view: the same test pipeline)
    handle = core.load_model(project["config"], project["checkpoint"], "cpu")
    for index in (0, 3):
        target = dumps.explain_target(report, index, core.target.PREDICTED)
        result = core.explain(handle, target.video, target=target.target_class)
        assert result.predicted_class == report.pred[index] == target.target_class
        assert np.allclose(result.probs, report.probabilities[index], atol=1e-5)


def test_runner_checkpoints_load_only_through_the_safe_reader(project):
    from mmengine.runner.checkpoint import _load_checkpoint

    with pytest.raises(Exception, match="Weights only load failed"):  # MMEngine's plain torch.load on torch>=2.6
        _load_checkpoint(str(project["checkpoint"]), map_location="cpu")
    with safe_checkpoint_loading():
        checkpoint = _load_checkpoint(str(project["checkpoint"]), map_location="cpu")
    assert checkpoint["meta"]["epoch"] == 2 and "message_hub" in checkpoint
    with pytest.raises(Exception, match="Weights only load failed"):  # restored on exit
        _load_checkpoint(str(project["checkpoint"]), map_location="cpu")


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_checkpoint_that_runs_code_is_refused_unless_trusted(project, tmp_path):
    marker = tmp_path / "pwned"
    weights = torch.load(project["checkpoint"], weights_only=False)["state_dict"]
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": weights, "meta": {"note": _System(f"touch {marker}")}}, evil)
    run = core_mm(["test", project["config"].name, str(evil)], cwd=project["root"])
    assert run.returncode == 2 and not marker.exists()
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "posix.system" in errors[0] and "--trust-checkpoint" in errors[0]
    assert "Traceback" not in run.stderr
    run = core_mm(["test", project["config"].name, str(evil), "--trust-checkpoint",
                   "--work-dir", str(tmp_path / "w")], cwd=project["root"])
    assert run.returncode == 0, run.stderr[-2000:]
    assert marker.exists()  # the operator trusted it: a full unpickle, as asked


def test_bad_arguments_are_one_line(project, monkeypatch, capsys):
    monkeypatch.chdir(project["root"])  # checked before MMAction2's scripts run: in this process
    for args, expected in ((["test", "missing.py", "x.pth"], "Config missing.py does not exist"),
                           (["test", project["config"].name, "nope.pth"], "Checkpoint nope.pth does not exist"),
                           (["test", project["config"].name, str(project["checkpoint"]), "--dump", "out.txt"],
                            "must be a .pkl"),
                           (["evaluate", "x.py"], "Unknown tool 'evaluate'")):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, (args, err)


def test_help_and_script_location():
    assert tool_script("train").name == "train.py" and tool_script("test").parent.name == "tools"
    with pytest.raises(CamError, match="Unknown tool"):
        tool_script("deploy")
