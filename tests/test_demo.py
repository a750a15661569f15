"""The embedded demo: synthetic clips, the committed model's quality on fresh clips, its paths CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT

import core
from core import demo
from core.synthetic import DEMO_CLASSES, DIRECTIONS, make_clip
from tools import demo as demo_tools

FRESH_SEEDS = range(424_242, 424_254)  # far below demo_tools.TRAIN_SEED_STRIDE: never trained on


@pytest.fixture(scope="module")
def handle() -> core.ModelHandle:
    return core.load_model(demo.CONFIG, demo.CHECKPOINT, "cpu")


def test_clip_is_deterministic_and_its_ground_truth_is_the_moving_object():
    clip, again, other = make_clip(5), make_clip(5), make_clip(6)
    assert np.array_equal(clip.frames, again.frames) and np.array_equal(clip.centers, again.centers)
    assert not np.array_equal(clip.frames[0, :90, :90], other.frames[0, :90, :90])
    frames, height, width = clip.frames.shape[:3]
    assert clip.frames.dtype == np.uint8 and clip.frames.shape[3] == 3
    assert 16 <= frames <= 64 and 96 <= height <= 256 and 96 <= width <= 256 and 8 <= clip.radius <= 14
    assert clip.label_name == DEMO_CLASSES[clip.label]
    steps = np.diff(clip.centers, axis=0)  # constant velocity along the class direction
    assert np.allclose(steps, clip.speed * np.array(DIRECTIONS[clip.label_name]))
    assert 2 <= clip.speed <= 4
    assert (clip.centers - clip.radius >= 0).all() and (clip.centers[:, 0] + clip.radius < width).all()
    assert (clip.centers[:, 1] + clip.radius < height).all()
    # only the object changes between frames: every changed pixel lies within its radius at either frame
    for t in (0, frames // 2, frames - 2):
        ys, xs = np.nonzero(np.any(clip.frames[t] != clip.frames[t + 1], axis=-1))
        assert len(xs) > 0
        near = [np.hypot(xs - cx, ys - cy) <= clip.radius * 1.5 + 1 for cx, cy in clip.centers[t:t + 2]]
        assert (near[0] | near[1]).all()


def test_clip_options_fix_label_frames_and_size_and_refuse_what_cannot_fit():
    clip = make_clip(3, label=2, frames=20, size=(100, 180))
    assert clip.label_name == "moving up" and clip.frames.shape[:3] == (20, 100, 180)
    assert (np.diff(clip.centers[:, 1]) < 0).all() and (np.diff(clip.centers[:, 0]) == 0).all()
    assert make_clip(3, size=128).frames.shape[1:3] == (128, 128)
    with pytest.raises(ValueError, match="do not fit"):
        make_clip(0, label=0, frames=64, size=96)


def test_committed_checkpoint_is_small_loads_safely_and_names_the_classes(handle):
    assert demo.CHECKPOINT.stat().st_size < 5 * 2**20
    checkpoint = torch.load(demo.CHECKPOINT, map_location="cpu", weights_only=True)
    assert checkpoint["meta"]["dataset_meta"]["classes"] == list(DEMO_CLASSES)
    assert handle.classes == list(DEMO_CLASSES)
    assert core.resolve_layer(handle, None) == "backbone/layer3"
    assert demo_tools.layer_stride(handle) <= 8


@pytest.fixture(scope="module")
def fresh_scores() -> dict:
    return demo_tools.evaluate(FRESH_SEEDS)


def test_demo_model_classifies_fresh_clips(fresh_scores):
    assert fresh_scores["clips"] == len(FRESH_SEEDS)
    assert fresh_scores["accuracy"] >= 0.95, fresh_scores


def test_demo_model_points_at_the_moving_object_on_fresh_clips(fresh_scores):
    assert fresh_scores["pointing_game"] >= 0.9, fresh_scores


def test_explanations_follow_the_object_and_not_its_static_twins(handle, tmp_path):
    clip = make_clip(777, label=1, frames=40, size=(144, 208))
    result = core.explain(handle, demo.write_clip(clip, tmp_path / "right.mp4"))
    assert result.target_label == "moving right"
    hits = demo_tools.pointing_hits(result, clip, demo_tools.layer_stride(handle))
    assert hits.mean() >= 0.9
    # the heatmap peak moves right with the object
    peaks = [np.unravel_index(h.argmax(), h.shape)[1] for h in result.heatmaps[0]]
    assert peaks[-1] > peaks[0]


def test_pointing_hits_miss_when_the_heatmap_peaks_elsewhere(handle):
    clip = make_clip(11, label=3, frames=32, size=160)
    result = core.explain(handle, clip.frames)
    stride = demo_tools.layer_stride(handle)
    wrong = result.heatmaps.copy()
    wrong[:] = 0
    for t, index in enumerate(result.frame_indices[0]):  # peak in the corner diagonally opposite the object
        cx, cy = clip.centers[index]
        wrong[0, t, 0 if cy > 80 else -1, 0 if cx > 80 else -1] = 1
    result = replace(result, heatmaps=wrong)
    assert not demo_tools.pointing_hits(result, clip, stride).any()


def test_training_inputs_are_the_test_pipeline_inputs_of_the_written_video(tmp_path):
    cfg = core.load_config(demo.CONFIG)
    clip = make_clip(21, frames=37, size=(120, 200))
    in_memory = core.build_inputs(cfg, clip.frames)
    from_video = core.build_inputs(cfg, demo.write_clip(clip, tmp_path / "clip.mp4"))
    assert np.array_equal(in_memory.frame_indices, from_video.frame_indices)
    assert in_memory.crop_box == from_video.crop_box == (0.0, 0.0, 200.0, 120.0)
    a, b = (x.data["inputs"][0].float() for x in (in_memory, from_video))
    assert a.shape == b.shape == (1, 3, 16, 112, 112)
    assert (a - b).abs().mean() < 4  # H.264 at crf 20 is the only difference
    packed = demo_tools.clip_inputs(cfg, clip)
    assert torch.equal(packed.data["inputs"][0], in_memory.data["inputs"][0])
    assert int(packed.data["data_samples"][0].gt_label) == clip.label


def test_localization_target_sits_on_the_object_at_each_input_frame():
    cfg = core.load_config(demo.CONFIG)
    clip = make_clip(31, label=0, frames=50, size=(100, 240))
    inputs = demo_tools.clip_inputs(cfg, clip)
    target = demo_tools.object_target(inputs, clip, (16, 14, 14))
    assert target.shape == (16, 14, 14) and np.allclose(target.sum(axis=(1, 2)), 1)
    x0, y0, x1, y1 = inputs.crop_box
    cell = np.array([(x1 - x0) / 14, (y1 - y0) / 14])  # source pixels per cell
    peaks = np.array([np.unravel_index(t.argmax(), t.shape)[::-1] for t in target])  # (col, row)
    peak_xy = np.array([x0, y0]) + (peaks + 0.5) * cell - 0.5
    offset = np.abs(peak_xy - clip.centers[inputs.frame_indices[0]])
    assert (offset <= cell / 2 + 1e-9).all()  # the peak is the cell holding the object's centre
    assert peaks[0, 0] > peaks[-1, 0] and (peaks[:, 1] == peaks[0, 1]).all()  # moving left


def test_training_objective_is_the_explained_map(handle):
    """The localization term shapes exactly what Grad-CAM shows at the default layer."""
    clip = make_clip(41, frames=24, size=(128, 160))
    inputs = demo_tools.clip_inputs(handle.cfg, clip)
    result = core.explain(handle, clip.frames)
    with torch.no_grad():
        data = handle.model.data_preprocessor(inputs.data, training=False)
        features, _ = handle.model.extract_feat(data["inputs"], stage="backbone")
        cam = demo_tools.class_activation(handle.model, features, torch.tensor([result.target_class])).relu()
    cam = torch.nn.functional.interpolate(cam[:, None], size=result.heatmaps.shape[1:], mode="trilinear")[0, 0]
    cam = (cam - cam.min()) / (cam.max() - cam.min())
    assert np.abs(cam.numpy() - result.heatmaps[0]).max() < 1e-4


def test_training_script_runs_and_writes_a_loadable_checkpoint(tmp_path):
    summary = demo_tools.train(tmp_path, seed=3, steps=2, batch_size=2)
    loaded = core.load_model(summary["config"], summary["checkpoint"], "cpu")
    assert loaded.classes == list(DEMO_CLASSES)
    meta = torch.load(summary["checkpoint"], weights_only=True)["meta"]
    assert meta["seed"] == 3 and meta["iter"] == 2 and meta["localization"] == 0.25
    again = demo_tools.train(tmp_path / "again", seed=3, steps=2, batch_size=2)
    weights = [torch.load(s["checkpoint"], weights_only=True)["state_dict"] for s in (summary, again)]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])  # reproducible by seed
    other = torch.load(demo_tools.train(tmp_path / "other", seed=4, steps=2, batch_size=2)["checkpoint"],
                       weights_only=True)["state_dict"]
    assert not torch.equal(other["cls_head.fc_cls.weight"], weights[0]["cls_head.fc_cls.weight"])


def _cli(*args: str, cache: Path, module: str = "core.demo") -> subprocess.CompletedProcess:
    env = dict(os.environ, MMCAM_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_paths_cli_prints_absolute_paths_and_writes_the_video_once(tmp_path):
    out = _cli("paths", cache=tmp_path)
    assert out.returncode == 0, out.stderr
    paths = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(paths) == {"config", "checkpoint", "video"}
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in paths.values())
    assert Path(paths["video"]).parent == tmp_path
    info = core.probe_video(paths["video"])
    assert (info.frames, info.height, info.width) == (demo.DEMO_VIDEO_FRAMES, *demo.DEMO_VIDEO_SIZE)
    written = Path(paths["video"]).stat().st_mtime_ns
    assert json.loads(_cli("paths", cache=tmp_path).stdout) == paths
    assert Path(paths["video"]).stat().st_mtime_ns == written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_demo_video_is_explained_as_moving_right(handle, tmp_path):
    result = core.explain(handle, demo.demo_video(tmp_path))
    assert result.target_label == "moving right"
    assert result.probs[result.target_class] > 0.9


def test_cli_refuses_training_seeds_for_evaluation_in_one_line(tmp_path):
    out = _cli("evaluate", "--first-seed", str(demo_tools.TRAIN_SEED_STRIDE), "--clips", "2", cache=tmp_path,
               module="tools.demo")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error:") and len(out.stderr.strip().splitlines()) == 1
