"""Contrastive targets (core.target.Contrast): FinerCAM's weighted target against pytorch-grad-cam 1.5.7's
``FinerCAM`` on a 2D model, and Contrast(A, B) against Grad-CAM of the logit difference computed by hand
in float64 (full backward) on a 3D model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import sample_file
from gradcam_stubs import ClipScores, import_pytorch_grad_cam
from real_configs import small_config

import core
from core.cam import capture, heatmaps_of
from core.methods import METHODS, get_method
from core.target import (
    GROUND_TRUTH,
    PREDICTED,
    ClassIndex,
    ClassName,
    Contrast,
    Similar,
    parse_target,
    read_target,
    read_versus,
    target_of_key,
    with_versus,
)
from core.video import build_inputs

pgc = import_pytorch_grad_cam()
from pytorch_grad_cam.utils.image import scale_cam_image  # noqa: E402

A = 3


@pytest.fixture(scope="module")
def tsn():
    cfg = small_config("tsn")
    next(op for op in cfg.test_pipeline if op["type"] == "SampleFrames")["num_clips"] = 4
    handle = core.load_model(cfg, device="cpu")
    clip = build_inputs(cfg, sample_file("demo.mp4"))
    return handle, clip


@pytest.mark.parametrize("k", [3])  # FinerCAM's default comparison: its 3 most similar classes
def test_similar_equals_finercam(tsn, k):
    handle, clip = tsn
    captured = capture(handle, clip, target_layer="backbone/layer3", target=Contrast(ClassIndex(A), Similar(k)))
    frames = handle.model.data_preprocessor(clip.data, False)["inputs"][0]
    size = (frames.shape[-1], frames.shape[-2])
    oracle = pgc.FinerCAM(model=ClipScores(handle.model), target_layers=[handle.model.backbone.layer3])
    with oracle:
        theirs = oracle(input_tensor=frames, target_idx=A, comparison_categories=list(range(1, k + 1)))
    ours = get_method("gradcam")(captured.activations[0], captured.gradients[0])[0].numpy()
    ours = scale_cam_image(np.maximum(scale_cam_image(np.maximum(ours, 0), size), 0))
    # the same comparison classes as FinerCAM's argsort of |s - s_A|
    scores = captured.scores.numpy()
    assert captured.versus == [int(i) for i in np.argsort(np.abs(scores - scores[A]), kind="stable")[1:k + 1]]
    assert theirs.std() > 1e-3
    assert float(np.abs(ours - theirs).max()) < 1e-4
    plain = capture(handle, clip, target_layer="backbone/layer3", target=A)
    assert not torch.allclose(plain.gradients[0], captured.gradients[0])  # a contrast is not the plain map


def _gradcam64(a, g):
    """Grad-CAM of one time slice, float64: ReLU(Σ_c mean(g_c) a_c)."""
    return np.maximum(np.einsum("c,chw->hw", g.mean(axis=(1, 2)), a), 0)


def test_pair_equals_gradcam_of_the_logit_difference_by_hand():
    cfg = small_config("i3d")
    handle = core.load_model(cfg, device="cpu")
    clip = build_inputs(cfg, sample_file("demo.mp4"))
    b = 5
    captured = capture(handle, clip, target_layer="backbone/layer3", target=Contrast(ClassIndex(A), ClassIndex(b)))
    assert captured.target_class == A and captured.versus == [b]
    model = handle.model.double()
    try:
        saved = {}
        hook = model.backbone.layer3.register_forward_hook(lambda _m, _i, out: saved.setdefault("a", out))
        inputs = model.data_preprocessor(clip.data, False)["inputs"].double()
        feats, kwargs = model.extract_feat(inputs, test_mode=True)
        scores = model.cls_head(feats, **kwargs).mean(dim=0)
        hook.remove()
        (grad,) = torch.autograd.grad(scores[A] - scores[b], saved["a"])
        acts = saved["a"].detach().permute(0, 2, 1, 3, 4).numpy()
        grads = grad.permute(0, 2, 1, 3, 4).numpy()
    finally:
        model.float()
    reference = np.stack([[_gradcam64(a, g) for a, g in zip(va, vg, strict=True)]
                          for va, vg in zip(acts, grads, strict=True)])
    ours = get_method("gradcam")(captured.activations[0], captured.gradients[0]).numpy()

    def minmax(x):
        return (x - x.min()) / (x.max() - x.min() + 1e-20)

    assert reference.std() > 0
    assert float(np.abs(minmax(ours) - minmax(reference)).max()) < 1e-4
    # every gradient method takes the contrast's gradients
    for method, cls in METHODS.items():  # every CAM method (the attention methods capture attention instead)
        if not cls.needs_attention:
            assert np.isfinite(heatmaps_of(captured, method).numpy()).all()


def test_contrast_keys_and_parsing():
    classes = ["walk", "run", "jump", "swim"]
    assert read_versus("similar:3") == Similar(3)
    assert read_versus(" 2 ") == ClassIndex(2)
    assert read_versus(None) is None
    with pytest.raises(core.CamError, match="similar:K"):
        read_versus("similar:x")
    target = parse_target(with_versus(read_target("walk"), "jump"), classes)
    assert target == Contrast(ClassIndex(0), ClassIndex(2))
    for contrast in (target, Contrast(PREDICTED, GROUND_TRUTH), Contrast(ClassIndex(1), Similar(2), alpha=0.5)):
        assert target_of_key(contrast.key) == contrast
        assert read_target(contrast.key) == contrast
    assert read_target("contrast:walk:gt") == Contrast(ClassName("walk"), GROUND_TRUTH)
    assert parse_target("contrast:walk:gt", classes, ground_truth=True) == Contrast(ClassIndex(0), GROUND_TRUTH)
    same = Contrast(PREDICTED, GROUND_TRUTH)
    with pytest.raises(core.CamError, match="same class"):
        same.versus_classes(classes, torch.tensor([0.0, 3.0, 1.0, 2.0]), gt=1)
    assert same.versus_classes(classes, torch.tensor([0.0, 3.0, 1.0, 2.0]), gt=2) == [2]
    assert Contrast(ClassIndex(0), Similar(9)).versus_classes(classes, torch.tensor([0.0, 3.0, 1.0, 2.0])) == [2, 3, 1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_model import make_model

    return make_model(tmp_path_factory.mktemp("model"))


def test_vis_cam_and_batch_take_versus(tiny, tmp_path, capsys):
    import json

    from batch_support import make_clips
    from batch_support import run_cli as run_batch

    from core.vis_cam import main

    config, ckpt = tiny
    video = sample_file("demo.mp4")
    code = main([str(config), str(ckpt), str(video), "--device", "cpu", "--file-url", str(tmp_path / "c.txt"),
                 "--target-class", "c", "--versus", "similar:2"])
    assert code == 0, capsys.readouterr().err
    meta = json.loads((tmp_path / "c.json").read_text())
    assert meta["target_label"] == "c" and meta["contrast"]["target"] == "contrast:2:similar:2"
    assert len(meta["contrast"]["versus"]) == 2 and 2 not in meta["contrast"]["versus"]
    code = main([str(config), str(ckpt), str(video), "--device", "cpu", "--versus", "similar:x"])
    assert code == 2 and "similar:K" in capsys.readouterr().err
    # a batch of labelled clips, why the prediction rather than the ground truth: the first clip is labelled
    # with its prediction (no contrast: a failed row with the reason), the second with another class
    clips = tmp_path / "clips"
    clips.mkdir()
    paths = make_clips(clips, 2, broken=False)
    handle = core.load_model(config, ckpt, device="cpu")
    predicted = [core.explain(handle, path).predicted_class for path in paths]
    labels = [predicted[0], (predicted[1] + 1) % len(handle.classes)]
    listing = clips / "list.txt"
    listing.write_text("".join(f"{path.relative_to(clips)} {label}\n"
                               for path, label in zip(paths, labels, strict=True)))
    code, err = run_batch(capsys, config, ckpt, listing, "--out", tmp_path / "out", "--device", "cpu",
                          "--target", "predicted", "--versus", "gt", "--quiet")
    assert code == 3, err
    assert not list((tmp_path / "out").rglob("clip0.json"))
    meta = json.loads(next((tmp_path / "out").rglob("clip1.json")).read_text())
    assert meta["target_class"] == predicted[1] and meta["contrast"] == {
        "target": "contrast:predicted:gt", "versus": [labels[1]], "versus_labels": [handle.classes[labels[1]]]}
    assert "same class" in (tmp_path / "out" / "summary.csv").read_text()
