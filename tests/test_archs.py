"""Every recognition architecture folder of MMAction2 explains out of the box, with every CAM method.

One real config per folder under ``mmaction/.mim/configs/recognition/`` (random weights), its test
pipeline shrunk for CI (one view, few frames, small crops; transformers with fixed position embeddings
keep their native 224 and get fewer frames). The results (default layer, seconds, ✓ or the error per
method) go to ``build/support.json``; ``python -m core.support_table`` turns them into the README table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import core
from core.cam import capture, heatmaps_of
from core.methods import METHODS
from core.model import load_config
from core.video import build_inputs

CONFIGS = Path(__import__("mmaction").__file__).parent / ".mim" / "configs" / "recognition"
RESULTS = Path(os.environ.get("CAM_SUPPORT_JSON", Path(__file__).resolve().parents[1] / "build" / "support.json"))
SAMPLERS = ("SampleFrames", "UniformSample", "DenseSampleFrames")

# folder: (config, shrink options). clip_len: frames per view (3D) or per segment; size: crop side;
# model: cfg overrides of the model (only input-size settings, never the architecture's layers).
ARCHS: dict[str, tuple[str, dict]] = {
    "c2d": ("c2d_r50-in1k-pre-nopool_8xb32-8x8x1-100e_kinetics400-rgb.py", dict(clip_len=4)),
    "c3d": ("c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py", dict(clip_len=16)),  # fc6 needs 16x112
    "csn": ("ircsn_ig65m-pretrained-r50-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb.py", dict(clip_len=8)),
    "i3d": ("i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py", dict(clip_len=8)),
    "mvit": ("mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py", dict(clip_len=8)),  # relative positions
    "omnisource": ("slowonly_r50_8xb16-8x8x1-256e_imagenet-kinetics400-rgb.py", dict(clip_len=4)),
    "r2plus1d": ("r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py", dict(clip_len=8)),
    "slowfast": ("slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py", dict(clip_len=16)),
    "slowonly": ("slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb.py", dict(clip_len=4)),
    "swin": ("swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py", dict(clip_len=8)),
    "tanet": ("tanet_imagenet-pretrained-r50_8xb8-dense-1x1x8-100e_kinetics400-rgb.py", dict(positions=1)),
    "timesformer": ("timesformer_divST_8xb8-8x32x1-15e_kinetics400-rgb.py",
                    dict(clip_len=2, size=224, model={"backbone.num_frames": 2})),  # fixed 224 positions
    "tin": ("tin_kinetics400-pretrained-tsm-r50_1x1x8-50e_kinetics400-rgb.py", {}),
    "tpn": ("tpn-slowonly_r50_8xb8-8x8x1-150e_kinetics400-rgb.py", dict(clip_len=8)),
    "trn": ("trn_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv1-rgb.py", {}),  # rawframes config
    "tsm": ("tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py", {}),
    "tsn": ("tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py", dict(segments=8)),
    "uniformer": ("uniformer-small_imagenet1k-pre_16x4x1_kinetics400-rgb.py", dict(clip_len=8)),
    "uniformerv2": ("uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics400-rgb.py",
                    dict(clip_len=4, size=224, model={"backbone.t_size": 4})),  # fixed 224 positions
    "videomae": ("vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py", dict(clip_len=16)),
    "videomaev2": ("vit-small-p16_videomaev2-vit-g-dist-k710-pre_16x4x1_kinetics-400.py", dict(clip_len=16)),
    "x3d": ("x3d_s_13x6x1_facebook-kinetics400-rgb.py", dict(clip_len=13)),
}

# Feature grid (T', h, w) of the default layer for the token and channels-last families: the reshape
# must find the model's own grid (tubelets/patches of 2x16x16 or 2x4x4, class tokens dropped).
TOKEN_GRIDS = {"mvit": (4, 4, 4), "swin": (4, 4, 4), "timesformer": (2, 14, 14), "uniformerv2": (4, 14, 14),
               "videomae": (8, 7, 7), "videomaev2": (8, 7, 7)}

# (folder, method): the reason it cannot be explained. Each must raise a CamError saying so.
UNSUPPORTED: dict[tuple[str, str], str] = {}


def small_config(folder: str):
    """The folder's config with its test pipeline shrunk for CI (one view, small crops)."""
    name, opts = ARCHS[folder]
    cfg = load_config(CONFIGS / folder / name, {f"model.{k}": v for k, v in opts.get("model", {}).items()})
    size = opts.get("size", 112)
    pipeline = []
    for op in cfg.test_pipeline:
        op = dict(op)
        if op["type"] in SAMPLERS:
            if op.get("clip_len", 1) > 1 or op["type"] == "UniformSample":
                op["num_clips"] = 1  # 3D: clips are views
            op["num_clips"] = opts.get("segments", op["num_clips"])  # 2D: clips are segments
            op["clip_len"] = opts.get("clip_len", op.get("clip_len", 1))
            op.pop("twice_sample", None)
            if "positions" in opts:
                op["num_sample_positions"] = opts["positions"]
        elif op["type"] == "Resize":
            op["scale"] = (-1, size)
        elif op["type"] in ("CenterCrop", "ThreeCrop", "TenCrop"):
            op["crop_size"] = size
        pipeline.append(op)
    cfg.test_pipeline = pipeline
    cfg.test_dataloader.dataset.pipeline = pipeline
    return cfg


@pytest.fixture(scope="module")
def results():
    """Per-architecture outcomes, merged into build/support.json when the module ends."""
    found: dict[str, dict] = {}
    yield found
    if not found:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    merged.update(found)
    with core.export.atomic_path(RESULTS) as tmp:
        Path(tmp).write_text(json.dumps(dict(sorted(merged.items())), indent=1, ensure_ascii=False))


def check_heatmaps(heatmaps: np.ndarray, frames: np.ndarray, frame_indices: np.ndarray) -> None:
    """Finite, in [0, 1], not constant, [V, T, H, W] at the input resolution, one per frame index."""
    assert heatmaps.ndim == 4 and heatmaps.shape == frames.shape[:4]
    assert heatmaps.shape[:2] == frame_indices.shape
    assert np.isfinite(heatmaps).all()
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1 + 1e-6
    assert heatmaps.max() > 0.99 and heatmaps.std() > 1e-3, "constant heatmap"


def test_every_folder_is_covered():
    folders = {p.name for p in CONFIGS.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders == set(ARCHS), f"architectures without a test config: {sorted(folders - set(ARCHS))}"
    for folder, (name, _) in ARCHS.items():
        assert (CONFIGS / folder / name).is_file()


@pytest.mark.parametrize("folder", sorted(ARCHS))
def test_architecture_explains(folder, demo_mp4, results):
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    started = time.perf_counter()
    cfg = small_config(folder)
    handle = core.load_model(cfg, device="cpu")
    layers = core.list_layers(handle)
    result = core.explain(handle, demo_mp4)  # target_layer=None, views="center", Grad-CAM
    assert layers[0].candidate and layers[0].name == result.layer == core.resolve_layer(handle, None)
    flags = [info.candidate for info in layers]
    assert flags == sorted(flags, reverse=True) and not flags[-1]  # candidates first, then all modules
    check_heatmaps(result.heatmaps, result.frames, result.frame_indices)
    clip = build_inputs(cfg, demo_mp4)
    inputs = handle.model.data_preprocessor(clip.data, False)["inputs"]
    assert result.heatmaps.shape[2:] == inputs.shape[-2:]  # the model's input resolution
    assert np.all(np.diff(result.frame_indices, axis=1) >= 0) and result.frame_indices.max() < 280
    if folder == "trn":  # a rawframes config explains a video file and says so
        assert any("swapped for video decoding" in note for note in result.notes)
    outcome = {"config": f"{folder}/{ARCHS[folder][0]}", "layer": result.layer,
               "input": "x".join(map(str, result.frames.shape[1:4])), "methods": {}}
    captured = capture(handle, clip)
    features = captured.activations[0]  # [G, T', C, h, w]
    outcome["grid"] = "x".join(map(str, (features.shape[1], *features.shape[3:])))
    if folder in TOKEN_GRIDS:
        assert (features.shape[1], *features.shape[3:]) == TOKEN_GRIDS[folder]
    if handle.is_2d:  # one feature map per segment, in segment order, segments as the model expects
        segments = getattr(handle.model.backbone, "num_segments", None) or getattr(
            handle.model.cls_head, "num_segments", None) or clip.frames.shape[1]
        assert features.shape[:2] == (1, clip.frames.shape[1]) and clip.frames.shape[1] == segments
    for method in METHODS:
        reason = UNSUPPORTED.get((folder, method))
        if reason:
            with pytest.raises(core.CamError, match=reason):
                heatmaps_of(captured, method)
            outcome["methods"][method] = reason
            continue
        heatmaps = heatmaps_of(captured, method).numpy()
        check_heatmaps(heatmaps, clip.frames, clip.frame_indices)
        if method == "gradcam":
            np.testing.assert_array_equal(heatmaps, result.heatmaps)
        outcome["methods"][method] = "ok"
    outcome["seconds"] = round(time.perf_counter() - started, 1)
    if folder == "mvit":  # blocks return (tokens, size); after the last block only the class token counts
        earlier = [info.name for info in layers if info.candidate][-1]
        check_heatmaps(core.explain_inputs(handle, clip, target_layer=earlier)["heatmaps"], clip.frames,
                       clip.frame_indices)
        with pytest.raises(core.CamError, match="does not depend on layer backbone/blocks/15"):
            capture(handle, clip, target_layer="backbone/blocks/15")
    results[folder] = outcome


@pytest.mark.parametrize("folder", sorted(ARCHS))
def test_frames_follow_frame_indices(folder):
    """Each input frame is the source frame its index names (frames encode their index as grey level)."""
    cfg = small_config(folder)
    video = np.repeat((np.arange(85, dtype=np.uint8) * 3)[:, None, None, None], 3, axis=-1)
    video = np.ascontiguousarray(np.broadcast_to(video, (85, 128, 170, 3)))
    clip = build_inputs(cfg, video)
    assert clip.frames.shape[:2] == clip.frame_indices.shape
    np.testing.assert_array_equal(clip.frames[..., 0].mean(axis=(2, 3)).round(), clip.frame_indices * 3)


def test_random_test_time_head_gives_the_same_map_twice_and_leaves_numpy_alone(demo_mp4):
    """TRN's relation head draws frame relations from numpy at test time; explanations must repeat."""
    handle = core.load_model(small_config("trn"), device="cpu")
    np.random.seed(123)
    first = core.explain(handle, demo_mp4, target=0)
    after_first = np.random.random()
    np.random.seed(123)
    second = core.explain(handle, demo_mp4, target=0)
    assert np.random.random() == after_first  # the caller's random stream is untouched
    assert np.array_equal(first.heatmaps, second.heatmaps) and np.array_equal(first.scores, second.scores)
    np.random.seed(7)
    assert np.array_equal(core.explain(handle, demo_mp4, target=0).heatmaps, first.heatmaps)
