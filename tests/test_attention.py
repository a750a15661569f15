"""Attention rollout and gradient-weighted attention against the authors' published code, and on MMAction2's configs.

The references below are transcribed from the published code and run on the attention maps that the published
harnesses collect themselves (forward hooks on ``attn_drop``, as vit-explain's ``VITAttentionRollout`` does;
``attn.register_hook`` for the gradients, as Chefer et al.'s ViT does), from a small VideoMAE transformer with
sharpened random weights. Ours come from :func:`core.cam.capture` (its own hooks, the row-vector composition of
:mod:`core.attention`) and are compared on the token grid, within 1e-5 of the map's maximum.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import sample_file
from real_configs import small_config

import core
from core import attention
from core.cam import capture, class_scores, heatmaps_of
from core.methods import AttentionGrad, AttentionRollout, get_method
from core.video import build_inputs

GRID = (2, 4, 4)  # T' x h x w of the small VideoMAE: 4 frames of 64x64, tubelets of 2 x 16 x 16


# --- jacobgil/vit-explain, vit_rollout.py (commit 1d68f22), function ``rollout`` -----------------------------------
def reference_rollout(attentions, discard_ratio, head_fusion, rows_keepdim=False):
    result = torch.eye(attentions[0].size(-1))
    with torch.no_grad():
        for attention in attentions:  # the published name (shadows core.attention here)
            if head_fusion == "mean":
                attention_heads_fused = attention.mean(axis=1)
            elif head_fusion == "max":
                attention_heads_fused = attention.max(axis=1)[0]
            elif head_fusion == "min":
                attention_heads_fused = attention.min(axis=1)[0]
            # Drop the lowest attentions, but don't drop the class token
            flat = attention_heads_fused.view(attention_heads_fused.size(0), -1)
            _, indices = flat.topk(int(flat.size(-1) * discard_ratio), -1, False)
            indices = indices[indices != 0]
            flat[0, indices] = 0
            I = torch.eye(attention_heads_fused.size(-1))  # noqa: E741 (the published name)
            a = (attention_heads_fused + 1.0 * I) / 2
            # Published: ``a / a.sum(dim=-1)``, which broadcasts the row sums along the last axis (divides column j
            # by row sum j). Rows of mean-fused, undiscarded attention already sum to 1, so there it changes nothing
            # and is kept verbatim; for max/min fusion and discarding, the paper's row re-normalisation is applied.
            a = a / a.sum(dim=-1, keepdim=True) if rows_keepdim else a / a.sum(dim=-1)
            result = torch.matmul(a, result)
    return result  # the published function then reads result[0, 0, 1:] (class token) and divides by its max


# --- hila-chefer/Transformer-MM-Explainability (ICCV 2021), Transformer_MM_explainability_ViT.ipynb; the same
# rule 5 / rule 6 functions as hila-chefer/Transformer-Explainability's baselines/ViT code ---------------------------
def avg_heads(cam, grad):  # rule 5 from paper
    cam = cam.reshape(-1, cam.shape[-2], cam.shape[-1])
    grad = grad.reshape(-1, grad.shape[-2], grad.shape[-1])
    cam = grad * cam
    cam = cam.clamp(min=0).mean(dim=0)
    return cam


def apply_self_attention_rules(R_ss, cam_ss):  # rule 6 from paper
    R_ss_addition = torch.matmul(cam_ss, R_ss)
    return R_ss_addition


def reference_relevance(maps, grads):  # generate_relevance after the backward: R = I; R += rule6(R, rule5(A, dA))
    num_tokens = maps[0].shape[-1]
    R = torch.eye(num_tokens, num_tokens)
    for cam, grad in zip(maps, grads, strict=True):
        cam = avg_heads(cam, grad)
        R += apply_self_attention_rules(R, cam).detach()
    return R  # the notebook returns R[0, 1:] (class token)


@pytest.fixture(scope="module")
def small_vit():
    """A 3-block VideoMAE (embed 48, 4 heads) on 4 frames of 64x64, query/key weights sharpened so the attention
    is far from uniform, and one clip of the demo video."""
    cfg = small_config("videomae")
    cfg.merge_from_dict({"model.backbone.embed_dims": 48, "model.backbone.depth": 3, "model.backbone.num_heads": 4,
                         "model.backbone.img_size": 64, "model.backbone.num_frames": 4,
                         "model.cls_head.in_channels": 48})
    for op in cfg.test_pipeline:
        if op["type"] == "SampleFrames":
            op["clip_len"] = 4
        elif op["type"] == "Resize":
            op["scale"] = (-1, 64)
        elif op["type"] in ("CenterCrop", "ThreeCrop"):
            op["crop_size"] = 64
    cfg.test_dataloader.dataset.pipeline = cfg.test_pipeline
    torch.manual_seed(0)
    handle = core.load_model(cfg, device="cpu")
    with torch.no_grad():
        for block in handle.model.backbone.blocks:
            block.attn.qkv.weight[:96] *= 6.0  # q and k rows
    clip = build_inputs(cfg, sample_file("demo.mp4"))
    return handle, clip


def _published_harness(handle, clip, target: int):
    """Attention maps, their gradients of the target score, and the scores, collected the published way."""
    model = handle.model
    maps, grads = [], []

    def keep(_module, _inputs, output):
        maps.append(output.detach().clone())
        output.register_hook(lambda g: grads.append(g.detach().clone()))

    hooks = [m.register_forward_hook(keep) for n, m in model.named_modules() if "attn_drop" in n]
    try:
        data = model.data_preprocessor(clip.data, False)
        output = class_scores(handle, data)
        one_hot = torch.zeros_like(output)
        one_hot[0, target] = 1
        model.zero_grad()
        torch.sum(one_hot * output).backward(retain_graph=True)
    finally:
        for hook in hooks:
            hook.remove()
    return maps, grads[::-1], output.detach()  # gradients arrive last block first


def _max_normalised(x: torch.Tensor) -> np.ndarray:
    x = x.double()
    return (x / x.max()).numpy()


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_rollout_equals_vit_explain(small_vit, fusion):
    handle, clip = small_vit
    maps, _, _ = _published_harness(handle, clip, target=0)
    result = reference_rollout(maps, 0.0, fusion, rows_keepdim=fusion != "mean")
    ours = capture(handle, clip, method=AttentionRollout(head_fusion=fusion))
    assert ours.relevance is not None and ours.relevance.shape == (1, *GRID)
    expected = result[0].mean(dim=0).reshape(GRID)  # VideoMAE has no class token: the mean of the rows
    np.testing.assert_allclose(_max_normalised(ours.relevance[0]), _max_normalised(expected), atol=1e-5)
    assert np.abs(_max_normalised(expected) - _max_normalised(expected).mean()).max() > 0.05  # not a flat map


def test_attention_gradient_equals_chefer(small_vit):
    handle, clip = small_vit
    target = 2
    maps, grads, output = _published_harness(handle, clip, target)
    R = reference_relevance(maps, grads)
    ours = capture(handle, clip, method="attn-grad", target=target)
    assert ours.target_class == target and ours.relevance is not None
    expected = R.mean(dim=0).reshape(GRID)
    np.testing.assert_allclose(_max_normalised(ours.relevance[0]), _max_normalised(expected), atol=1e-5)
    assert torch.equal(ours.view_scores, output)


def test_class_token_row_equals_the_references(small_vit):
    """With a class token, the map is row 0 of the published products (result[0, 0], R[0]): the same recorded
    events read out from token 0, through :func:`core.attention.compose`. The reference's ``discard_ratio``
    spares entry [0, 0] ("don't drop the class token"), so it is compared here, where token 0 is one."""
    handle, clip = small_vit
    maps, grads, _ = _published_harness(handle, clip, target=1)
    for method, expected in ((AttentionRollout(), reference_rollout(maps, 0.0, "mean")[0, 0]),
                             (AttentionRollout(discard_ratio=0.9),
                              reference_rollout([a.clone() for a in maps], 0.9, "mean", rows_keepdim=True)[0, 0]),
                             (AttentionRollout("max", 0.5),
                              reference_rollout([a.clone() for a in maps], 0.5, "max", rows_keepdim=True)[0, 0]),
                             (AttentionGrad(), reference_relevance(maps, grads)[0])):
        fused = [method.fuse(a, g if method.needs_gradients else None) for a, g in zip(maps, grads, strict=True)]
        events = [attention.Event("joint", True, f"b{i}", (1, f.shape[-1]), fused=f) for i, f in enumerate(fused)]
        row = attention.compose(events, method.step)[0]
        np.testing.assert_allclose(_max_normalised(row), _max_normalised(expected), atol=1e-5)


def test_recording_is_undone_even_on_error(small_vit):
    handle, _clip = small_vit
    model = handle.model
    with pytest.raises(RuntimeError, match="boom"), \
            attention.recording(model, AttentionGrad().fuse, gradients=True):
        assert all(m.attn_drop._forward_hooks for m in model.backbone.modules() if hasattr(m, "attn_drop"))
        raise RuntimeError("boom")
    assert not any(m._forward_hooks for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())


def _depth_reduced(arch: str):
    """The config with two blocks (its structure otherwise unchanged), one view of small inputs."""
    cfg = small_config(arch, sweep=True)  # 112x112 inputs
    two = {"videomae": {"model.backbone.depth": 2},
           "timesformer": {"model.backbone.num_transformer_layers": 2},
           "uniformerv2": {"model.backbone.layers": 2, "model.backbone.return_list": [0, 1],
                           "model.backbone.n_layers": 2, "model.backbone.mlp_dropout": [0.5, 0.5]}}[arch]
    cfg.merge_from_dict(two)
    return cfg


# the map follows the model's token grid: VideoMAE's tubelets, TimeSformer's frames, UniFormerV2's frames
GRIDS = {"videomae": (8, 7, 7), "timesformer": (2, 7, 7), "uniformerv2": (4, 7, 7)}


@pytest.mark.parametrize("arch", list(GRIDS))
def test_mmaction2_transformers_explain_with_logits_unchanged(arch):
    cfg = _depth_reduced(arch)
    handle = core.load_model(cfg, device="cpu")
    video = sample_file("demo.mp4")
    clip = build_inputs(cfg, video)
    with torch.no_grad():
        plain = class_scores(handle, handle.model.data_preprocessor(clip.data, False))
    for method in ("rollout", "attn-grad"):
        captured = capture(handle, clip, method=method)
        assert (captured.view_scores - plain).abs().max() <= 1e-6
        assert captured.relevance is not None and captured.relevance.shape == (1, *GRIDS[arch])
        assert captured.relevance.min() >= 0 and captured.relevance.max() > 0
        heatmaps = heatmaps_of(captured, method)
        assert heatmaps.shape == (1, *clip.frames.shape[1:4]) and heatmaps.max() == pytest.approx(1)
    assert not any(m._forward_hooks for m in handle.model.modules())
    assert not any("forward" in m.__dict__ for m in handle.model.modules())
    assert all(p.requires_grad for p in handle.model.parameters())  # frozen during attn-grad only
    result = core.explain(handle, video, method="attn-grad")
    assert result.method == "attn-grad" and result.layer == captured.layers[0]
    assert result.layer.endswith("/1")  # the last of the two blocks
    earlier = core.explain(handle, video, method="rollout", target_layer=result.layer.rsplit("/", 1)[0] + "/0")
    assert earlier.layer.endswith("/0") and not np.allclose(earlier.heatmaps, core.explain(
        handle, video, method="rollout").heatmaps)
    if arch == "videomae":  # core.evaluate takes the result as it takes a CAM's: deletion/insertion vs random
        scores = core.faithfulness(handle, result, steps=4)
        assert scores.method == "attn-grad" and scores.layer == result.layer
        assert np.isfinite([scores.deletion_auc, scores.insertion_auc, scores.random_deletion_auc,
                            scores.random_insertion_auc]).all()


def test_a_cnn_and_refused_transformers_get_one_sentence():
    handle = core.load_model(small_config("i3d"), device="cpu")
    clip = build_inputs(handle.cfg, sample_file("demo.mp4"))
    with pytest.raises(core.CamError, match=r"^Attention rollout needs attention layers .* ResNet3d has none; "):
        capture(handle, clip, method="rollout")
    for arch, name in (("swin", "SwinTransformer3D"), ("mvit", "MViT")):
        backbone = core.load_model(small_config(arch), device="cpu").model.backbone
        with pytest.raises(core.CamError, match=f"^Gradient-weighted attention is not available for {name}: "):
            attention.check_backbone(backbone, get_method("attn-grad").label)
