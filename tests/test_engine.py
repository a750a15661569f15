"""Our Grad-CAM equals MMAction2's own GradCAM on real configs, at a fraction of its cost."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_file
from real_configs import I3D, SLOWFAST, TSN, shrunk

import core
from core.video import build_inputs

CASES = {
    "tsn": (TSN, "backbone/layer4/1/relu", dict(num_clips=2, size=96)),
    "i3d": (I3D, "backbone/layer4/1/relu", dict(num_clips=2, size=96, clip_len=8)),
    "slowfast": (SLOWFAST, "backbone/slow_path/layer4/1/relu", dict(num_clips=1, size=96, clip_len=16)),
}


def mmaction_gradcam(cfg, layer, video, views, target=None):
    """MMAction2's GradCAM (the oracle) on its own freshly built model with the same weights."""
    from mmaction.utils import GradCAM

    handle = core.load_model(cfg, device="cpu")
    data = build_inputs(cfg, video, views=views).data
    if target is not None:
        data["data_samples"][0].set_gt_label(torch.tensor([target]))
    maps, preds = GradCAM(handle.model, layer)._calculate_localization_map(data, use_labels=target is not None)
    return maps.detach().numpy(), preds.detach().numpy()[0]


@pytest.mark.parametrize("name", list(CASES))
def test_equals_mmaction_gradcam_all_views(name, demo_mp4):
    """Multi-crop, multi-clip inputs (the centre view at the default layer: tests/test_layouts.py)."""
    views = "all"
    path, layer, shrink = CASES[name]
    cfg = shrunk(path, **shrink)
    handle = core.load_model(cfg, device="cpu")
    result = core.explain(handle, demo_mp4, target_layer=layer, views=views)
    expected, preds = mmaction_gradcam(cfg, layer, demo_mp4, views)
    assert result.heatmaps.shape == (*result.frames.shape[:4],)
    np.testing.assert_allclose(result.heatmaps, expected.reshape(result.heatmaps.shape), atol=1e-4, rtol=0)
    np.testing.assert_allclose(result.scores, preds, atol=1e-4)
    assert result.target_class == int(preds.argmax())
    assert 0 <= result.heatmaps.min() and result.heatmaps.max() <= 1 and result.heatmaps.std() > 0


def test_explicit_target_equals_mmaction_with_labels(demo_mp4):
    cfg = shrunk(I3D, num_clips=1, size=96, clip_len=8)
    handle = core.load_model(cfg, device="cpu")
    result = core.explain(handle, demo_mp4, target_layer="backbone.layer3", target=7)
    expected, _ = mmaction_gradcam(cfg, "backbone/layer3", demo_mp4, "center", target=7)
    assert result.target_class == 7 and result.layer == "backbone/layer3"
    np.testing.assert_allclose(result.heatmaps, expected.reshape(result.heatmaps.shape), atol=1e-4, rtol=0)


def test_no_parameter_gradients_and_model_untouched(demo_mp4):
    handle = core.load_model(shrunk(I3D, num_clips=1, size=96, clip_len=8), device="cpu")
    before = {k: v.clone() for k, v in handle.model.state_dict().items()}
    core.explain(handle, demo_mp4)
    assert all(p.grad is None for p in handle.model.parameters())
    assert not handle.model._forward_hooks and all(not m._forward_hooks for m in handle.model.modules())
    assert all(torch.equal(before[k], v) for k, v in handle.model.state_dict().items())
    assert torch.is_grad_enabled()


def test_frames_and_indices_follow_the_pipeline(demo_mp4):
    cfg = shrunk(I3D, num_clips=2, size=96, clip_len=8)
    result = core.explain(core.load_model(cfg, device="cpu"), demo_mp4, views="all")
    assert result.heatmaps.shape == (6, 8, 96, 96) and result.frames.shape == (6, 8, 96, 96, 3)
    # 3 crops x 2 clips, crop-major: the clip's source frames repeat for every crop
    assert np.array_equal(result.frame_indices[0], result.frame_indices[2])
    assert not np.array_equal(result.frame_indices[0], result.frame_indices[1])
    assert (np.diff(result.frame_indices[0]) == 2).all()  # frame_interval=2
    assert result.frame_indices.max() < 280 and result.source_size == (340, 256)


def test_default_layer_and_layer_list():
    handle = core.load_model(shrunk(SLOWFAST, num_clips=1, size=96, clip_len=16), device="cpu")
    layers = core.list_layers(handle)
    assert layers[0].name == "backbone/slow_path/layer4" and layers[0].candidate
    assert {"backbone/fast_path/layer4", "backbone/slow_path/layer3"} <= {i.name for i in layers if i.candidate}
    assert not layers[-1].candidate and len(layers) > 50
    assert core.resolve_layer(handle, None) == "backbone/slow_path/layer4"


def test_unknown_layer_lists_candidates():
    handle = core.load_model(shrunk(TSN, num_clips=2, size=64), device="cpu")
    with pytest.raises(core.CamError, match=r"no layer 'backbone/layer9'.*backbone/layer4"):
        core.resolve_layer(handle, "backbone/layer9")


@pytest.mark.parametrize("target, message", [(400, "out of range"), ("no such class", "Unknown class")])
def test_bad_target(target, message, demo_mp4):
    handle = core.load_model(shrunk(TSN, num_clips=2, size=64), device="cpu")
    with pytest.raises(core.CamError, match=message):
        core.explain(handle, demo_mp4, target=target)


def test_target_by_class_name(demo_mp4, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"action {i}\n" for i in range(400)))
    handle = core.load_model(shrunk(TSN, num_clips=2, size=64), device="cpu", label_map=labels)
    result = core.explain(handle, demo_mp4, target="Action 12")
    assert result.target_class == 12 and result.target_label == "action 12"


def test_rawframes_folder_and_array_input(rawframes_dir):
    handle = core.load_model(shrunk(TSN, num_clips=3, size=64), device="cpu")
    result = core.explain(handle, rawframes_dir)
    assert result.heatmaps.shape == (1, 3, 64, 64)
    assert result.frame_indices.min() >= 0 and result.frame_indices.max() <= 9  # 10 frames, 0-based
    import cv2

    frames = np.stack([cv2.imread(str(rawframes_dir / f"img_{i:05}.jpg"))[..., ::-1] for i in range(1, 11)])
    from_array = core.explain(handle, frames)
    np.testing.assert_allclose(from_array.heatmaps, result.heatmaps, atol=1e-5)
    assert np.array_equal(from_array.frame_indices, result.frame_indices)


def test_demo_video_from_shared_data():
    """Real-world decoding: the real demo.mp4's frame count, size, rate and duration."""
    info = core.probe_video(shared_file("demo.mp4"))
    assert (info.frames, info.width, info.height) == (280, 340, 256) and info.fps == pytest.approx(28)
    assert info.duration == pytest.approx(10.0)


@pytest.mark.parametrize("name", ["i3d", "tsn"])
def test_each_view_records_the_window_it_saw(name):
    """ThreeCrop (I3D) and TenCrop (TSN, with mirrored views): view v is window view_boxes[v] of its source
    frames, resized (and mirrored when view_flips[v]). On the real demo.mp4: the resampling tolerance (4 grey
    levels) is set for natural images, which the synthetic clips' sharp block texture exceeds."""
    import decord

    demo_mp4 = shared_file("demo.mp4")
    from core.heatmap_files import crop_to_heatmap

    path, _, options = CASES[name]
    clip = build_inputs(shrunk(path, **options), demo_mp4, views="all")
    crops = 3 if name == "i3d" else 10
    assert len(clip.view_boxes) == len(clip.view_flips) == len(clip.frames) == crops * (len(clip.frames) // crops)
    assert clip.view_flips == ([False] * len(clip.frames) if name == "i3d" else [False, True] * 5)
    reader = decord.VideoReader(str(demo_mp4))

    def error(view: int, box, flip: bool) -> float:
        cut = crop_to_heatmap(reader.get_batch(clip.frame_indices[view].tolist()).asnumpy(), box,
                              clip.frames.shape[3:1:-1])
        cut = cut[:, :, ::-1] if flip else cut
        return float(np.abs(cut.astype(np.int64) - clip.frames[view].astype(np.int64)).mean())

    for view, (box, flip) in enumerate(zip(clip.view_boxes, clip.view_flips, strict=True)):
        assert error(view, box, flip) < 4
    assert error(0, clip.view_boxes[-1], clip.view_flips[0]) > 10  # another view's window does not fit
    if name == "tsn":
        assert error(1, clip.view_boxes[1], False) > 10  # a mirrored view is not its unmirrored crop
    x0, y0, x1, y1 = clip.crop_box
    assert (x0, y0) == (min(b[0] for b in clip.view_boxes), min(b[1] for b in clip.view_boxes))
    assert (x1, y1) == (max(b[2] for b in clip.view_boxes), max(b[3] for b in clip.view_boxes))
    center = build_inputs(shrunk(path, **options), demo_mp4)
    assert center.view_boxes == [center.crop_box] * len(center.frames) and not any(center.view_flips)
