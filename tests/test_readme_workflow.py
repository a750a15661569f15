"""The README's workflow (the ```bash block under "## Workflow") runs as written, on the sample project that its
step 0 (``python -m core.synthetic project``) writes: real MMAction2 training and testing of a tiny I3D for one
epoch, then explaining, the batch, fixation maps from raw samples and the gaze scores.

The block is read from the README itself, so the README cannot drift from the code. Its commands run in one
Python process (a subprocess of the test, started in an empty folder), each ``python -m MODULE ARGS`` as
``runpy`` runs it (what ``python -m`` does), so torch and MMAction2 are imported once instead of ten times;
``cd`` and ``mkdir -p`` are done as the shell does them. Any other command fails the test: the block must stay
something this test can run.
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
    if op[0] == "cd":
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


def workflow_block(readme: Path = ROOT / "README.md") -> str:
    """The first ```bash block after the "## Workflow" heading."""
    text = readme.read_text(encoding="utf-8")
    start = text.index("\n## Workflow")
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    assert block, "the README's Workflow section has no ```bash block"
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


def test_the_readme_workflow_runs_as_written(tmp_path):
    ops = workflow_commands(workflow_block())
    assert [op[1] for op in ops if op[0] == "run"][:2] == ["core.synthetic", "core.mm"], \
        "step 0 writes the sample project the rest runs on"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2", "MMCAM_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(ops)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    project = tmp_path / "my_project"
    assert (project / "work_dirs" / "my_i3d" / "best_acc_top1_epoch_1.pth").is_file()
    assert (project / "work_dirs" / "my_i3d" / "results.pkl").is_file()
    assert "4 samples, 4 classes" in done.stdout  # core.dumps' report of the dump
    with open(project / "cams" / "summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert len(summary) == 4 and {row["status"] for row in summary} == {"ok"}
    assert (project / "cams" / "clip_00.mp4").is_file()
    # step 5 reads the folder core.gaze.fixations wrote (fixations/ and density/ in it)
    assert sorted(p.name for p in (project / "gaze").iterdir() if p.is_dir()) == ["density", "fixations"]
    assert "output of python -m core.gaze.fixations" in done.stderr
    with open(project / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    clips = [row for row in rows if not row["frame"]]
    assert sorted(row["video"] for row in clips) == [f"clip_{i:02d}" for i in range(4)]
    assert all(float(row["NSS"]) == float(row["NSS"]) for row in clips)  # scored: no NaN
