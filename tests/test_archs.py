"""Every MMAction2 recognition config explains out of the box, with the automatic layer and every CAM method.

The default suite explains one real config per distinct structure (:data:`real_configs.STRUCTURES`:
temporal pooling, two pathways, 2D segments, relation heads, token layers …). ``pytest -m allconfigs
tests/test_archs.py`` explains all 119 configs the wheel ships (random weights, test pipelines shrunk
for CI: one view, few frames, small crops) and writes each config's outcome (default layer, feature grid,
✓ or the reason per method, CPU seconds) to ``build/support.json``; ``python -m tools.support_table`` turns
that into the table of docs/architectures.md. A config that cannot be explained must fail with the CamError
listed in :data:`UNEXPLAINABLE`, whose sentence is its row in the table. ``CAM_SWEEP_SHARD=k/n`` runs every
n-th config from the k-th (parallel processes share ``build/support.json``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from real_configs import ALL_CONFIGS, CONFIGS, STRUCTURES, small_config

import core
from core.cam import capture, class_scores, heatmaps_of
from core.synthetic import make_clip
from core.video import build_inputs
from tools.support_table import METHODS  # the CAM methods; the attention methods are in tests/test_attention.py

RESULTS = Path(os.environ.get("CAM_SUPPORT_JSON", Path(__file__).resolve().parents[1] / "build" / "support.json"))
_SHARD, _SHARDS = (int(n) for n in os.environ.get("CAM_SWEEP_SHARD", "0/1").split("/"))
SWEEP = ALL_CONFIGS[_SHARD::_SHARDS]

# Feature grid (T', h, w) of the default layer: the reshape must find the model's own grid (tubelets or
# patches of 2x16x16 or 2x4x4, class tokens dropped; C2D's frames pooled to half).
GRIDS = {"c2d": (2, 4, 4), "mvit": (4, 4, 4), "swin": (4, 4, 4), "timesformer": (2, 14, 14),
         "uniformerv2": (4, 14, 14), "videomae": (8, 7, 7)}

# Configs that cannot be explained here, and the sentence (regex) their CamError must say.
_NEEDS = "needs a package that is not installed"
UNEXPLAINABLE: dict[str, str] = {
    "slowonly/slowonly_r50_8xb16-16x4x1-256e_kinetics400-flow.py": "modality Flow, not RGB",
    "tsn/tsn_imagenet-pretrained-r50_8xb32_5x1x3-110e_kinetics400-flow.py": "modality Flow, not RGB",
    "tsm/tsm_imagenet-pretrained-mobileone-s4_8xb16-1x1x16-50e_kinetics400-rgb.py": "only when mmpretrain",
    "tsm/tsm_imagenet-pretrained-mobileone-s4_deploy_8xb16-1x1x16-50e_kinetics400-rgb.py": "only when mmpretrain",
    "tsn/custom_backbones/tsn_imagenet-pretrained-dense161_8xb32-1x1x3-100e_kinetics400-rgb.py": _NEEDS,
    "tsn/custom_backbones/tsn_imagenet-pretrained-mobileone-s4_8xb32-1x1x8-100e_kinetics400-rgb.py": _NEEDS,
    "tsn/custom_backbones/tsn_imagenet-pretrained-mobileone-s4_deploy_8xb32-1x1x8-100e_kinetics400-rgb.py": _NEEDS,
    "tsn/custom_backbones/tsn_imagenet-pretrained-rn101-32x4d_8xb32-1x1x3-100e_kinetics400-rgb.py": _NEEDS,
    "tsn/custom_backbones/tsn_imagenet-pretrained-swin-transformer_32xb8-1x1x8-50e_kinetics400-rgb.py": _NEEDS,
    "tsn/custom_backbones/tsn_imagenet-pretrained-swin-transformer_8xb32-1x1x3-100e_kinetics400-rgb.py": _NEEDS,
    "uniformerv2/uniformerv2-base-p16-res224_clip-pre_u8_kinetics710-rgb.py": "has no test_pipeline",
    "uniformerv2/uniformerv2-large-p14-res224_clip-pre_u8_kinetics710-rgb.py": "has no test_pipeline",
    "uniformerv2/uniformerv2-large-p14-res336_clip-pre_u8_kinetics710-rgb.py": "has no test_pipeline",
}


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    """Seconds are measured with at most 2 threads (CI's cores); other modules get theirs back."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory) -> Path:
    """A synthetic H.264 clip (96 frames of 240x128, one object moving right over clutter): long enough for
    every config's sampling span (TPN 8x8, X3D 13x6), so frame indices never wrap around."""
    path = tmp_path_factory.mktemp("archs") / "clip.mp4"
    core.write_video(make_clip(3, label=1, frames=96, size=(128, 240)).frames, path, fps=12)
    return path


class Outcomes(dict):
    """Per-config outcomes, merged into build/support.json as each arrives (an interrupted sweep keeps its rows)."""

    def __setitem__(self, config: str, row: dict) -> None:
        super().__setitem__(config, row)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with open(RESULTS.with_suffix(".lock"), "w") as lock:  # shards of the sweep write in turn
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
            merged = {k: v for k, v in merged.items() if k in ALL_CONFIGS}  # rows of configs the wheel ships
            merged[config] = row
            with core.outputs.atomic_path(RESULTS) as tmp:
                Path(tmp).write_text(json.dumps(dict(sorted(merged.items())), indent=1, ensure_ascii=False))


@pytest.fixture(scope="module")
def results() -> Outcomes:
    return Outcomes()


def check_heatmaps(heatmaps: np.ndarray, frames: np.ndarray, frame_indices: np.ndarray) -> None:
    """Finite, in [0, 1], not constant, [V, T, H, W] at the input resolution, one per frame index."""
    assert heatmaps.ndim == 4 and heatmaps.shape == frames.shape[:4]
    assert heatmaps.shape[:2] == frame_indices.shape
    assert np.isfinite(heatmaps).all()
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1 + 1e-6
    assert heatmaps.max() > 0.99 and heatmaps.std() > 1e-3, "constant heatmap"


def check_frames_follow_frame_indices(cfg) -> None:
    """Each input frame is the source frame its index names (frames encode their index as grey level)."""
    video = np.repeat((np.arange(85, dtype=np.uint8) * 3)[:, None, None, None], 3, axis=-1)
    clip = build_inputs(cfg, np.ascontiguousarray(np.broadcast_to(video, (85, 128, 170, 3))))
    assert clip.frames.shape[:2] == clip.frame_indices.shape
    np.testing.assert_array_equal(clip.frames[..., 0].mean(axis=(2, 3)).round(), clip.frame_indices * 3)


def calibrate_batchnorm(handle, clip) -> None:
    """Measure BatchNorm's statistics on the clip, as training would have. With random weights and the
    default statistics (mean 0, variance 1) nothing rescales the activations, and dot-product non-local
    blocks, which square them, overflow to inf: a test artifact, not the model's."""
    norms = [m for m in handle.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batch
        norm.train()
    with torch.no_grad():
        class_scores(handle, handle.model.data_preprocessor(clip.data, False))
    for norm in norms:
        norm.eval()


def explain_config(config: str, video: Path, *, sweep: bool = True):
    """Load ``config`` (random weights, shrunk), explain ``video`` with the default layer and every method.

    Returns the outcome row (``error``: the CamError's sentence when it cannot be explained) and, when it
    can, the handle, the clip and what :func:`~core.cam.capture` captured. ``seconds`` is processor time (all
    threads: on a shared machine it does not grow with other work, as wall time does)."""
    started, wall = time.process_time(), time.perf_counter()
    row: dict = {"config": config, "architecture": config.split("/")[0]}
    cfg = small_config(config, sweep=sweep)
    try:
        handle = core.load_model(cfg, device="cpu")
        layers = core.list_layers(handle)
        clip = build_inputs(cfg, video)
    except core.CamError as err:
        row.update(error=str(err), seconds=round(time.process_time() - started, 1),
                   wall_seconds=round(time.perf_counter() - wall, 1))
        return row, None
    try:
        captured = capture(handle, clip)  # target_layer=None: the automatic layer
    except core.CamError as err:
        if "not finite" not in str(err):
            raise
        calibrate_batchnorm(handle, clip)
        row["note"] = "random weights overflow: BatchNorm statistics measured on the clip"
        captured = capture(handle, clip)
    features = captured.activations[0]  # [G, T', C, h, w]
    row.update(layer=captured.layers[0], input="x".join(map(str, clip.frames.shape[1:4])),
               grid="x".join(map(str, (features.shape[1], *features.shape[3:]))), methods={})
    for method in METHODS:
        heatmaps = heatmaps_of(captured, method).numpy()
        check_heatmaps(heatmaps, clip.frames, clip.frame_indices)
        row["methods"][method] = "ok"
    row.update(seconds=round(time.process_time() - started, 1), wall_seconds=round(time.perf_counter() - wall, 1))
    assert layers[0].candidate and layers[0].name == row["layer"] == core.resolve_layer(handle, None)
    flags = [info.candidate for info in layers]
    assert flags == sorted(flags, reverse=True) and not flags[-1]  # candidates first, then all modules
    check_frames_follow_frame_indices(cfg)
    return row, (handle, cfg, clip, captured)


def test_every_config_is_swept_and_every_structure_is_a_real_config():
    on_disk = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.py") if "_base_" not in p.parts)
    assert ALL_CONFIGS == on_disk and len(ALL_CONFIGS) == 125  # 119 in architecture folders, 6 custom_backbones
    assert set(UNEXPLAINABLE) <= set(ALL_CONFIGS) and set(STRUCTURES.values()) <= set(ALL_CONFIGS)


@pytest.mark.parametrize("config", list(STRUCTURES.values()), ids=list(STRUCTURES))
def test_structure_explains(config, clip_mp4):
    """One config per structure, with the checks the sweep leaves out: explain() equals the capture path,
    the model's own token grid, one map per 2D segment, and the family's layer rules."""
    row, explained = explain_config(config, clip_mp4, sweep=False)
    assert "error" not in row, row.get("error")
    handle, _cfg, clip, captured = explained
    folder = row["architecture"]
    result = core.explain(handle, clip_mp4)  # target_layer=None, views="center", Grad-CAM
    np.testing.assert_array_equal(heatmaps_of(captured, "gradcam").numpy(), result.heatmaps)
    inputs = handle.model.data_preprocessor(clip.data, False)["inputs"]
    assert result.heatmaps.shape[2:] == inputs.shape[-2:]  # the model's input resolution
    assert np.all(np.diff(result.frame_indices, axis=1) >= 0) and result.frame_indices.max() < 96
    features = captured.activations[0]
    if folder in GRIDS:
        assert (features.shape[1], *features.shape[3:]) == GRIDS[folder]
    if folder == "trn":  # a rawframes config explains a video file and says so
        assert any("swapped for video decoding" in note for note in result.notes)
    if handle.is_2d:  # one feature map per segment, in segment order, segments as the model expects
        segments = getattr(handle.model.backbone, "num_segments", None) or getattr(
            handle.model.cls_head, "num_segments", None) or clip.frames.shape[1]
        assert features.shape[:2] == (1, clip.frames.shape[1]) and clip.frames.shape[1] == segments
    if folder == "mvit":  # blocks return (tokens, size); after the last block only the class token counts
        earlier = [info.name for info in core.list_layers(handle) if info.candidate][-1]
        check_heatmaps(core.explain_inputs(handle, clip, target_layer=earlier).heatmaps, clip.frames,
                       clip.frame_indices)
        with pytest.raises(core.CamError, match="does not depend on layer backbone/blocks/15"):
            capture(handle, clip, target_layer="backbone/blocks/15")


def test_temporal_pooling_maps_every_input_frame(clip_mp4):
    """C2D pools time between its frame-wise 2D stages: 4 feature frames for 8 input frames are one
    [1, C, 4, h, w] map of the view (not 4 separate frame maps), upsampled to all 8 frames and
    normalised over the view, as a 3D model's are."""
    config = STRUCTURES["frame-wise 2D stages with temporal pooling"]
    cfg = small_config(config)
    cfg.test_pipeline[1]["clip_len"] = 8
    handle = core.load_model(cfg, device="cpu")
    clip = build_inputs(cfg, clip_mp4)
    captured = capture(handle, clip)
    assert captured.activations[0].shape[:2] == (1, 4)  # [views, T', C, h, w]
    heatmaps = heatmaps_of(captured).numpy()
    assert heatmaps.shape == (1, 8, 112, 112)
    assert heatmaps.min() == 0 and heatmaps.max() == pytest.approx(1)  # one normalisation for the view
    per_frame = heatmaps[0].reshape(8, -1)
    assert (per_frame.max(axis=1) < 0.999).any()  # not each frame scaled to [0, 1] on its own


def test_random_test_time_head_gives_the_same_map_twice_and_leaves_numpy_alone(clip_mp4):
    """TRN's relation head draws frame relations from numpy at test time; explanations must repeat."""
    handle = core.load_model(small_config("trn"), device="cpu")
    np.random.seed(123)
    first = core.explain(handle, clip_mp4, target=0)
    after_first = np.random.random()
    np.random.seed(123)
    second = core.explain(handle, clip_mp4, target=0)
    assert np.random.random() == after_first  # the caller's random stream is untouched
    assert np.array_equal(first.heatmaps, second.heatmaps) and np.array_equal(first.scores, second.scores)
    np.random.seed(7)
    assert np.array_equal(core.explain(handle, clip_mp4, target=0).heatmaps, first.heatmaps)


@pytest.mark.allconfigs
@pytest.mark.parametrize("config", SWEEP)
def test_config_explains(config, clip_mp4, results):
    """All 119 configs: explains with every method, or fails with the one sentence UNEXPLAINABLE expects."""
    try:
        row, _ = explain_config(config, clip_mp4)
    except Exception as err:  # recorded for the table, then the test fails
        results[config] = {"config": config, "architecture": config.split("/")[0],
                           "error": f"{type(err).__name__}: {core.errors.first_line(err)}"}
        raise
    results[config] = row
    if config in UNEXPLAINABLE:
        assert "error" in row and re.search(UNEXPLAINABLE[config], row["error"]), row
    else:
        assert "error" not in row, row["error"]
