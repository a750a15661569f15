"""A small real MMAction2 project for the tests, made once per session: synthetic clips (``core.synthetic``), a
tiny 3D ResNet config (``core.synthetic.project_config``), two epochs trained with MMAction2's own
``tools/train.py`` and a ``tools/test.py --dump``, both run through ``python -m core.mm`` from the project folder
(not the repository root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from core.synthetic import DEMO_CLASSES, make_clip, project_config, write_clip

NAME = "tiny_r3d"
SPLITS = {"train": (8, 100), "val": (4, 200), "test": (6, 300)}  # clips per split, first seed


def core_mm(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m core.mm ARGS`` run from ``cwd`` (the repository only on PYTHONPATH, as an installed package)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "core.mm", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def write_project(root: Path) -> Path:
    """Synthetic clips, annotation lists and the config in ``root``; returns the config."""
    (root / "videos").mkdir(parents=True, exist_ok=True)
    for split, (count, seed) in SPLITS.items():
        lines = []
        for i in range(count):
            clip = make_clip(seed + i, label=i % len(DEMO_CLASSES), frames=16, size=(64, 64))
            write_clip(clip, root / "videos" / f"{split}_{i}.mp4", fps=8)
            lines.append(f"{split}_{i}.mp4 {clip.label}")
        (root / f"{split}_list.txt").write_text("\n".join(lines) + "\n")
    config = root / f"{NAME}.py"
    config.write_text(project_config(DEMO_CLASSES, {split: (f"{split}_list.txt", "videos") for split in SPLITS},
                                     epochs=2))
    return config


_MADE: dict = {}


def trained_project(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The project after ``core.mm train`` (2 epochs) and ``core.mm test epoch_2.pth --dump``: its paths, the
    commands' outputs, and the test metrics MMAction2 logged (made once per session)."""
    if "project" in _MADE:
        return _MADE["project"]
    root = tmp_path_factory.mktemp("mm_project")
    config = write_project(root)
    train = core_mm(["train", config.name], cwd=root)
    assert train.returncode == 0, train.stderr[-3000:]
    work_dir = root / "work_dirs" / NAME
    checkpoint = work_dir / "epoch_2.pth"
    test = core_mm(["test", config.name, str(checkpoint.relative_to(root)), "--dump", "results.pkl"], cwd=root)
    assert test.returncode == 0, test.stderr[-3000:]
    summaries = sorted(work_dir.glob("*/*.json"))
    metrics = json.loads(summaries[-1].read_text().splitlines()[-1])
    _MADE["project"] = {"root": root, "config": config, "work_dir": work_dir, "checkpoint": checkpoint,
                        "dump": root / "results.pkl", "train": train, "test": test, "metrics": metrics}
    return _MADE["project"]
