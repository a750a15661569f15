"""The workflow as the README shows it (the ```bash block under "## A tour of the workflow") and as
docs/workflow.md details it runs as written, on the sample project their first command
(``python -m core.synthetic project``) writes: real MMAction2 training and testing of a tiny I3D for one epoch,
then explaining, the batch, faithfulness, fixation maps from raw samples, the gaze scores and a study.

The blocks are read from the documents themselves, so they cannot drift from the code. Their commands run in one
Python process (a subprocess of the test, from an empty folder), each ``python -m MODULE ARGS`` as ``runpy``
runs it (what ``python -m`` does), so torch and MMAction2 are imported once instead of ten times; ``cd`` and
``mkdir -p`` are done as the shell does them. Any other command fails the test: the blocks must stay something
this test can run.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

DRIVER = r"""
import json, os, runpy, sys
for op in json.loads(sys.argv[1]):
    if op[0] == "start":
        os.makedirs(op[1])
        os.chdir(op[1])
    elif op[0] == "cd":
        os.chdir(op[1])
    elif op[0] == "mkdir":
        os.makedirs(op[1], exist_ok=True)
    else:
        print("$ python -m " + " ".join(op[1:]), file=sys.stderr, flush=True)
        sys.argv = list(op[1:])
        try:
            runpy.run_module(op[1], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            code = stop.code or 0
        if code != 0:
            print(f"README command failed with exit status {code}: python -m {' '.join(op[1:])}", file=sys.stderr)
            sys.exit(1)
"""


DOCUMENTS = {"readme": (ROOT / "README.md", "\n## A tour of the workflow"),
             "workflow": (ROOT / "docs" / "workflow.md", "# Workflow")}


def workflow_block(document: Path, heading: str) -> str:
    """The first ```bash block after ``heading`` in ``document``."""
    text = document.read_text(encoding="utf-8")
    start = text.index(heading)
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    assert block, f"{document.name} has no ```bash block after {heading.strip()}"
    return block.group(1)


def workflow_commands(block: str) -> list[list[str]]:
    """The block's commands as operations: ``["cd", DIR]``, ``["mkdir", DIR]``, ``["run", MODULE, *ARGS]``."""
    ops: list[list[str]] = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            command, words = (words[:words.index("&&")], words[words.index("&&") + 1:]) if "&&" in words \
                else (words, [])
            if command[:2] == ["python", "-m"] and len(command) > 2:
                ops.append(["run", *command[2:]])
            elif command[:2] == ["mkdir", "-p"] and len(command) == 3:
                ops.append(["mkdir", command[2]])
            elif command[0] == "cd" and len(command) == 2:
                ops.append(["cd", command[1]])
            else:
                pytest.fail(f"The README's workflow has a command this test cannot run: {' '.join(command)}")
    return ops


def test_the_block_is_read_as_the_shell_would():
    block = "# a comment\npython -m core.x a b  # trailing\nmkdir -p out && python -m core.y \\\n    c --d e\ncd p\n"
    assert workflow_commands(block) == [["run", "core.x", "a", "b"], ["mkdir", "out"],
                                        ["run", "core.y", "c", "--d", "e"], ["cd", "p"]]


def _check_project(project: Path, stdout: str, stderr: str) -> None:
    assert (project / "work_dirs" / "my_i3d" / "best_acc_top1_epoch_1.pth").is_file()
    assert (project / "work_dirs" / "my_i3d" / "results.pkl").is_file()
    assert "4 samples, 4 classes" in stdout  # core.dumps' report of the dump
    with open(project / "cams" / "summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert len(summary) == 4 and {row["status"] for row in summary} == {"ok"}
    # the gaze step reads the folder core.gaze.fixations wrote (fixations/ and density/ in it)
    assert {"density", "fixations"} <= {p.name for p in (project / "gaze").iterdir() if p.is_dir()}
    assert "output of python -m core.gaze.fixations" in stderr
    with open(project / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    clips = [row for row in rows if not row["frame"]]
    scored = sorted(row["video"] for row in clips)
    left_out = [f"clip_{i:02d}" for i in range(4) if f"clip_{i:02d}" not in scored]
    assert scored and all(name in stderr and "constant" in stderr for name in left_out), stderr[-2000:]
    assert all(float(row["NSS"]) == float(row["NSS"]) for row in clips)  # scored: no NaN


@pytest.mark.parametrize("name", ["readme", pytest.param("workflow", marks=pytest.mark.slow)])
def test_the_documented_workflow_runs_as_written(tmp_path, name):
    """The README's block by default; docs/workflow.md's longer one (the same steps, one by one) with -m slow."""
    document, heading = DOCUMENTS[name]
    ops = workflow_commands(workflow_block(document, heading))
    assert [op[1] for op in ops if op[0] == "run"][:2] == ["core.synthetic", "core.mm"], \
        f"{document.name}: the first command writes the sample project the rest runs on"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2", "MMCAM_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([["start", str(tmp_path / name)], *ops])],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-4000:]
    project = tmp_path / name / "my_project"
    _check_project(project, done.stdout, done.stderr)
    if name == "readme":
        assert (project / "study" / "summary.csv").is_file()
    else:
        assert (project / "cams" / "clip_00.mp4").is_file()


def test_the_sample_project_is_written_only_into_a_new_folder(tmp_path, capsys):
    from core.synthetic import main

    (tmp_path / "kept.txt").write_text("mine")
    assert main(["project", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path} exists and is not an empty folder")
    assert main(["project", str(tmp_path / "p"), "--classes", "9"]) == 2
    assert not (tmp_path / "p").exists()
