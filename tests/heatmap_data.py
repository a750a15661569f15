"""Heatmap files for the tests, made once per session with ``python -m core.vis_cam`` (its ``main``) on
the synthetic demo.mp4 stand-in (``conftest.sample_file``) and the tiny real model of tests/tiny_model.py:

* ``layer4.txt`` (+ ``.json`` sidecar, ``.npz``): the default layer;
* ``layer3.txt`` (+ ``.json``): ``backbone/layer3``, same video and class;
* ``legacy.txt``: layer4's heatmaps as the thesis' patched script printed them (numpy ``str``/``repr`` and
  torch-printed frames, no sidecar).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import sample_file
from tiny_model import make_model

import core
from core.vis_cam import main

_MADE: dict = {}


def legacy_text(maps: np.ndarray) -> str:
    """``Frame N - Heatmap values:`` blocks printed by numpy (str and repr, alternately) and torch."""
    blocks = []
    with np.printoptions(threshold=sys.maxsize, linewidth=120):
        torch.set_printoptions(profile="full", precision=6)
        try:
            for i, frame in enumerate(maps):
                printed = (str(frame), repr(frame), str(torch.from_numpy(frame)))[i % 3]
                blocks.append(f"Frame {i} - Heatmap values:\n{printed}\n")
        finally:
            torch.set_printoptions(profile="default")
    return "".join(blocks)


def make_heatmap_files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Paths of the files above, the config and checkpoint that made them, and the video."""
    if "files" in _MADE:
        return _MADE["files"]
    demo = sample_file("demo.mp4")
    folder = tmp_path_factory.mktemp("heatmap_files")
    config, checkpoint = make_model(folder)
    common = [str(config), str(checkpoint), str(demo), "--device", "cpu", "--target-class", "c"]
    assert main([*common, "--file-url", str(folder / "layer4.txt"), "--npz"]) == 0
    assert main([*common, "--file-url", str(folder / "layer3.txt"), "--target-layer-name", "backbone/layer3"]) == 0
    maps = core.read_heatmap_txt(folder / "layer4.txt")
    (folder / "legacy.txt").write_text(legacy_text(maps))
    _MADE["files"] = {"folder": folder, "config": config, "checkpoint": checkpoint, "video": demo,
                      "layer4": folder / "layer4.txt", "layer3": folder / "layer3.txt",
                      "legacy": folder / "legacy.txt"}
    return _MADE["files"]


def copy_result(source: Path, folder: Path, name: str, suffixes=(".txt", ".json", ".npz")) -> Path:
    """Copy a result's files (those that exist) under another stem; returns the txt."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in suffixes:
        if source.with_suffix(suffix).is_file():
            (folder / f"{name}{suffix}").write_bytes(source.with_suffix(suffix).read_bytes())
    return folder / f"{name}.txt"
