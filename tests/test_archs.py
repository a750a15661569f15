"""Every recognition architecture folder of MMAction2 explains out of the box, with every CAM method.

One real config per folder under ``mmaction/.mim/configs/recognition/`` (random weights), its test
pipeline shrunk for CI (one view, few frames, small crops; transformers with fixed position embeddings
keep their native 224 and get fewer frames). The results (default layer, seconds, ✓ or the error per
method) go to ``build/support.json``; ``python -m tools.support_table`` turns them into the README table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from real_configs import ARCHS, CONFIGS, small_config

import core
from core.cam import capture, heatmaps_of
from core.methods import METHODS
from core.video import build_inputs

RESULTS = Path(os.environ.get("CAM_SUPPORT_JSON", Path(__file__).resolve().parents[1] / "build" / "support.json"))

# Feature grid (T', h, w) of the default layer for the token and channels-last families: the reshape
# must find the model's own grid (tubelets/patches of 2x16x16 or 2x4x4, class tokens dropped).
TOKEN_GRIDS = {"mvit": (4, 4, 4), "swin": (4, 4, 4), "timesformer": (2, 14, 14), "uniformerv2": (4, 14, 14),
               "videomae": (8, 7, 7), "videomaev2": (8, 7, 7)}

# (folder, method): the reason it cannot be explained. Each must raise a CamError saying so.
UNSUPPORTED: dict[tuple[str, str], str] = {}


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


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    """The table's seconds are measured with at most 2 threads (CI's cores); other modules get theirs back."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield
    torch.set_num_threads(before)


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
