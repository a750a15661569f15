"""Layer layouts (tokens, channels-last), pathways (SlowFast), segments (2D), decoding swaps, TIN's shift,
and equality with MMAction2's own GradCAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from real_configs import small_config

import core
from core.cam import Captured, capture, heatmaps_of
from core.errors import CamError
from core.reshape import BackboneInput, to_feature_map
from core.tin import tin_shift
from core.video import build_inputs

torch.manual_seed(0)
GRID = torch.randn(2, 5, 4, 3, 6)  # [B, C, T', h, w]: a 4-frame 48x96 input seen through 16-pixel patches


def geometry(**kw) -> BackboneInput:
    return BackboneInput(**{**dict(batch=2, frames=8, height=48, width=96, temporal_patch=2), **kw})


def test_channels_first_maps_pass_through_untouched():
    assert to_feature_map(GRID, geometry()) is GRID
    frames = GRID[:, :, 0]
    assert to_feature_map(frames, geometry(frames=1)) is frames


def test_swin_channels_last():  # SwinTransformer3D stages: [B, T', h, w, C]
    assert torch.equal(to_feature_map(GRID.permute(0, 2, 3, 4, 1), geometry()), GRID)


def test_videomae_tokens():  # PatchEmbed: conv3d(...).flatten(2).transpose(1, 2), no class token
    tokens = GRID.flatten(2).transpose(1, 2)
    assert torch.equal(to_feature_map(tokens, geometry()), GRID)


def test_mvit_tokens_with_class_token():  # MViT: cat((cls_token, patches), dim=1)
    tokens = torch.cat([torch.randn(2, 1, 5), GRID.flatten(2).transpose(1, 2)], dim=1)
    assert torch.equal(to_feature_map(tokens, geometry(class_token=True)), GRID)
    assert torch.equal(to_feature_map(tokens, geometry(class_token=False)), GRID)  # found without the hint


def test_timesformer_space_major_tokens():  # TimeSformer: '(b p) t m -> b (p t) m' after the class token
    patches = GRID.permute(0, 3, 4, 2, 1).reshape(2, -1, 5)  # (h w t) order
    tokens = torch.cat([torch.randn(2, 1, 5), patches], dim=1)
    assert torch.equal(to_feature_map(tokens, geometry(class_token=True, space_major=True, temporal_patch=1,
                                                        frames=4)), GRID)


def test_uniformerv2_sequence_first_frames_in_batch():  # [1 + HW, N*T, C] with frames folded as (n t)
    per_frame = GRID.permute(0, 2, 3, 4, 1).reshape(2 * 4, 3 * 6, 5)
    tokens = torch.cat([torch.randn(8, 1, 5), per_frame], dim=1).permute(1, 0, 2)
    assert torch.equal(to_feature_map(tokens, geometry(frames=4, temporal_patch=1, class_token=True)), GRID)


def test_2d_tokens_become_frame_maps():
    frames = GRID[:, :, 0]  # [N, C, h, w]
    tokens = frames.flatten(2).transpose(1, 2)
    assert torch.equal(to_feature_map(tokens, geometry(frames=1, temporal_patch=1)), frames)


def test_attention_maps_are_refused_in_one_sentence():
    with pytest.raises(CamError, match=r"not a feature map of the 48x96 input"):
        to_feature_map(torch.randn(2, 8, 393, 96), geometry())
    with pytest.raises(CamError, match="not a token grid"):
        to_feature_map(torch.randn(3, 5, 4), geometry())  # no dim is a multiple of the batch (2)


def test_tin_shift_matches_mmcv_kernel():
    data = torch.randn(2, 5, 6, 4)  # [N, T, C, HW]
    shift = torch.tensor([[1, -2, 0], [3, -1, 7]], dtype=torch.int32)  # [N, groups]
    expected = torch.zeros_like(data)  # mmcv's CUDA kernel: out[t + s] = in[t] inside the clip
    for n in range(2):
        for c in range(6):
            s = int(shift[n, c // 2])
            for t in range(5):
                if 0 <= t + s < 5:
                    expected[n, t + s, c] = data[n, t, c]
    assert torch.equal(tin_shift(data, shift), expected)


@pytest.fixture(scope="module")
def slowfast():
    cfg = small_config("slowfast")
    handle = core.load_model(cfg, device="cpu")
    return handle, build_inputs(cfg, core_demo())


def core_demo():
    from conftest import sample_file

    return sample_file("demo.mp4")


def test_slowfast_pathways_and_their_combined_view(slowfast):
    handle, clip = slowfast
    slow, fast = "backbone/slow_path/layer4", "backbone/fast_path/layer4"
    candidates = [info.name for info in core.list_layers(handle) if info.candidate]
    assert candidates[:2] == [slow, f"{slow}+{fast}"] and fast in candidates
    both = capture(handle, clip, target_layer=f"{slow}+{fast}")
    assert [a.shape[1] for a in both.activations] == [2, 16]  # slow: T/8 frames, fast: all 16
    one = [heatmaps_of(Captured([name], [a], [g], both.view_scores, both.target_class, both.size))
           for name, a, g in zip(both.layers, both.activations, both.gradients, strict=True)]
    combined = heatmaps_of(both)
    mean = (one[0] + one[1]) / 2
    low, high = mean.amin(dim=(1, 2, 3), keepdim=True), mean.amax(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(combined, (mean - low) / (high - low + 1e-20))
    fast_only = core.explain_inputs(handle, clip, target_layer=fast.replace("/", "."))
    assert fast_only.layer == fast
    np.testing.assert_allclose(fast_only.heatmaps, one[1].numpy(), atol=1e-6)
    assert not np.allclose(fast_only.heatmaps, one[0].numpy(), atol=1e-2)


def test_tsn_segments_map_to_their_frames(demo_mp4):
    """TSN scores each segment on its own: reversing the segments reverses the heatmaps exactly."""
    cfg = small_config("tsn")
    handle = core.load_model(cfg, device="cpu")
    clip = build_inputs(cfg, demo_mp4)
    forward = core.explain_inputs(handle, clip).heatmaps
    clip.data["inputs"] = [x.flip(0) for x in clip.data["inputs"]]
    backward = core.explain_inputs(handle, clip).heatmaps
    np.testing.assert_allclose(backward, forward[:, ::-1], atol=1e-5)
    assert not np.allclose(forward, forward[:, ::-1], atol=1e-2)


def test_video_config_on_rawframes_says_so(rawframes_dir):
    handle = core.load_model(small_config("tsn"), device="cpu")
    result = core.explain(handle, rawframes_dir)
    assert any("swapped for rawframes" in note for note in result.notes)
    assert result.heatmaps.shape[:2] == result.frame_indices.shape


@pytest.mark.parametrize("folder", ["tsn", "i3d", "slowfast"])
def test_equals_mmaction2_gradcam(folder, demo_mp4):
    from mmaction.utils import GradCAM

    cfg = small_config(folder)
    handle = core.load_model(cfg, device="cpu")
    clip = build_inputs(cfg, demo_mp4)
    ours = core.explain_inputs(handle, clip)
    theirs, _ = GradCAM(handle.model, ours.layer)._calculate_localization_map(clip.data, use_labels=False)
    np.testing.assert_array_equal(ours.heatmaps, theirs.numpy().reshape(ours.heatmaps.shape))
