"""Shared material of the batch tests: short clips cut from the synthetic demo.mp4 stand-in
(``conftest.sample_file``), and the tiny real model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import sample_file
from tiny_model import make_model

import core
from core.overlay import write_video


def make_clips(folder: Path, count: int, *, broken: bool = True) -> list[Path]:
    """``count`` 24-frame 128x96 clips cut from demo.mp4 at different places (every other one in
    ``sub/``), plus ``broken.mp4`` (random bytes) when asked."""
    import cv2
    import decord

    reader = decord.VideoReader(str(sample_file("demo.mp4")))
    step = max(1, (len(reader) - 24) // max(1, count - 1))
    paths = []
    for i in range(count):
        frames = reader.get_batch(list(range(i * step, i * step + 24))).asnumpy()
        frames = np.stack([cv2.resize(f, (128, 96), interpolation=cv2.INTER_AREA) for f in frames])
        path = folder / ("sub" if i % 2 else "") / f"clip{i}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(write_video(frames, path, fps=12))
    if broken:
        (folder / "broken.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    return paths


def outputs_of(out: Path) -> dict[str, dict]:
    """Every video's outputs under ``out``: heatmaps from txt and npz, and the sidecar."""
    found = {}
    for sidecar in sorted(p for p in out.rglob("*.json") if not p.name.startswith(".")):
        name = sidecar.relative_to(out).with_suffix("").as_posix()
        npz = np.load(sidecar.with_suffix(".npz"))
        found[name] = {"txt": core.read_heatmap_txt(sidecar.with_suffix(".txt")), "npz": npz["heatmaps"],
                       "scores": npz["scores"], "json": json.loads(sidecar.read_text())}
    return found


def temporary_files(out: Path) -> list[Path]:
    """Files a writer left under a temporary name (hidden ``.name.XXXXXXXX.part.ext``)."""
    return [p for p in out.rglob("*") if ".part" in p.name]


def batch_fixtures(clip_count: int):
    """Module-scoped ``model`` (tiny model files), ``clips`` (a folder of ``clip_count`` clips plus
    ``broken.mp4``) and ``handle`` (the model loaded on the CPU) fixtures; a test module binds them with
    ``model, clips, handle = batch_fixtures(n)``."""

    @pytest.fixture(scope="module")
    def model(tmp_path_factory):
        return make_model(tmp_path_factory.mktemp("model"))

    @pytest.fixture(scope="module")
    def clips(tmp_path_factory):
        folder = tmp_path_factory.mktemp("clips")
        make_clips(folder, clip_count)
        return folder

    @pytest.fixture(scope="module")
    def handle(model):
        import core

        return core.load_model(*model, device="cpu")

    return model, clips, handle


def run_cli(capsys, *argv) -> tuple[int, str]:
    """``python -m core.batch ARGV`` in this process: its exit code and what it wrote to stderr."""
    from core.batch.cli import main

    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err
