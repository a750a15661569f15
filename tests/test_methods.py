"""CAM methods against pytorch-grad-cam (2D) and float64 references of the published formulas (3D).

2D: a TSN (ResNet-50, random weights) clip; pytorch-grad-cam runs its own hooks and full backward on
the same preprocessed frames; our maps come from the truncated backward. Both are put through
pytorch-grad-cam's own normalisation (``scale_cam_image``: per-image min-max, bilinear resize,
min-max again) and must agree within 1e-4.
3D: an I3D clip; activations and gradients come from a float64 copy of the model with an ordinary
full backward, the formulas are written out below in numpy, per feature-map time slice.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import sample_file
from gradcam_stubs import ClipScores, import_pytorch_grad_cam
from real_configs import small_config

import core
from core.cam import Captured, capture, heatmaps_of
from core.methods import METHODS, Method, get_method, parse_method
from core.video import build_inputs

pgc = import_pytorch_grad_cam()
from pytorch_grad_cam.utils.image import scale_cam_image  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection  # noqa: E402

ORACLES = {"gradcam": pgc.GradCAM, "gradcampp": pgc.GradCAMPlusPlus, "xgradcam": pgc.XGradCAM,
           "layercam": pgc.LayerCAM, "hirescam": pgc.HiResCAM, "eigencam": pgc.EigenCAM}
TARGET = 3  # a fixed class, so both sides explain the same score
MAX_DIFFS: dict[str, float] = {}


def test_every_method_has_an_oracle():
    """CAM methods here; the attention methods' oracles (the authors' code) are in tests/test_attention.py."""
    assert {name for name, cls in METHODS.items() if not cls.needs_attention} == set(ORACLES)
    assert {name for name, cls in METHODS.items() if cls.needs_attention} == {"rollout", "attn-grad"}


@pytest.fixture(scope="module")
def tsn():
    demo_mp4 = sample_file("demo.mp4")
    cfg = small_config("tsn")
    next(op for op in cfg.test_pipeline if op["type"] == "SampleFrames")["num_clips"] = 4  # segments
    handle = core.load_model(cfg, device="cpu")
    clip = build_inputs(cfg, demo_mp4)
    captured = capture(handle, clip, target_layer="backbone/layer3", target=TARGET)
    frames = handle.model.data_preprocessor(clip.data, False)["inputs"][0]  # [N, 3, H, W]
    return handle, captured, frames


def _scaled(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """pytorch-grad-cam's normalisation of one layer's per-image maps (resize, then aggregate)."""
    return scale_cam_image(np.maximum(scale_cam_image(np.maximum(cam, 0), size), 0))


@pytest.mark.parametrize("method", sorted(ORACLES))
def test_2d_matches_pytorch_grad_cam(method, tsn):
    handle, captured, frames = tsn
    size = (frames.shape[-1], frames.shape[-2])
    ours = get_method(method)(captured.activations[0], captured.gradients[0])[0].numpy()  # [N, h, w]
    oracle = ORACLES[method](model=ClipScores(handle.model), target_layers=[handle.model.backbone.layer3])
    with oracle:
        theirs = oracle(input_tensor=frames, targets=[ClassifierOutputTarget(TARGET)])
    if method == "eigencam":  # the SVD's sign is arbitrary there; we fix it (see core.methods.EigenCAM)
        projection = get_2d_projection(captured.activations[0][0].numpy())
        flips = [_scaled(sign * projection, size) for sign in (1, -1)]
        assert min(np.abs(flip - theirs).max() for flip in flips) < 1e-4  # the oracle is one of the two
        theirs = min(flips, key=lambda flip: np.abs(flip - _scaled(ours, size)).max())
    diff = float(np.abs(_scaled(ours, size) - theirs).max())
    MAX_DIFFS[f"2d/{method}"] = diff
    assert theirs.shape == (frames.shape[0], *frames.shape[-2:])
    assert theirs.std() > 1e-3  # a real map, not a constant one
    assert diff < 1e-4


# float64 references of the published formulas on one time slice: a, g are [C, h, w].
def _gradcam(a, g):
    return np.einsum("c,chw->hw", g.mean(axis=(1, 2)), a)


def _gradcampp(a, g):  # Chattopadhay et al. eq. 19, closed form for exp(score)
    alpha = g**2 / (2 * g**2 + a.sum(axis=(1, 2))[:, None, None] * g**3 + 1e-6)
    alpha = np.where(g != 0, alpha, 0)
    return np.einsum("c,chw->hw", (alpha * np.maximum(g, 0)).sum(axis=(1, 2)), a)


def _xgradcam(a, g):  # Fu et al. eq. 8
    return np.einsum("c,chw->hw", (g * a / (a.sum(axis=(1, 2))[:, None, None] + 1e-7)).sum(axis=(1, 2)), a)


def _layercam(a, g):  # Jiang et al. eq. 5
    return (np.maximum(g, 0) * a).sum(axis=0)


def _hirescam(a, g):  # Draelos & Carin
    return (g * a).sum(axis=0)


def _eigencam(a, g):  # Muhammad & Yeasin: first principal component of the pixels, sign by activation mass
    x = a.reshape(a.shape[0], -1).T
    x = x - x.mean(axis=0)
    projection = x @ np.linalg.svd(x, full_matrices=False)[2][0]
    mass = a.sum(axis=0).ravel()
    return (projection * np.sign(projection @ (mass - mass.mean()) or 1.0)).reshape(a.shape[1:])


REFERENCES = {"gradcam": _gradcam, "gradcampp": _gradcampp, "xgradcam": _xgradcam, "layercam": _layercam,
              "hirescam": _hirescam, "eigencam": _eigencam}


@pytest.fixture(scope="module")
def i3d():
    """Our captured tensors (float32, truncated backward) and float64 full-backward references."""
    demo_mp4 = sample_file("demo.mp4")
    cfg = small_config("i3d")
    handle = core.load_model(cfg, device="cpu")
    clip = build_inputs(cfg, demo_mp4)
    captured = capture(handle, clip, target_layer="backbone/layer3", target=TARGET)
    model = handle.model.double()
    try:
        saved = {}
        layer = model.backbone.layer3
        hook = layer.register_forward_hook(lambda _m, _i, out: saved.setdefault("a", out))
        inputs = model.data_preprocessor(clip.data, False)["inputs"].double()
        feats, kwargs = model.extract_feat(inputs, test_mode=True)
        score = model.cls_head(feats, **kwargs).mean(dim=0)[TARGET]
        hook.remove()
        (grad,) = torch.autograd.grad(score, saved["a"])
        activations = saved["a"].detach().permute(0, 2, 1, 3, 4).numpy()  # [V, T, C, h, w]
        gradients = grad.permute(0, 2, 1, 3, 4).numpy()
    finally:
        model.float()
    return captured, activations, gradients


def _minmax(cam: np.ndarray) -> np.ndarray:
    cam = cam - cam.min()
    return cam / (cam.max() + 1e-20)


@pytest.mark.parametrize("method", sorted(REFERENCES))
def test_3d_matches_float64_reference(method, i3d):
    captured, activations, gradients = i3d
    assert captured.activations[0].shape == activations.shape
    ours = get_method(method)(captured.activations[0], captured.gradients[0]).numpy()  # [V, T, h, w]
    reference = np.maximum(np.stack([[REFERENCES[method](a, g) for a, g in zip(view_a, view_g, strict=True)]
                                     for view_a, view_g in zip(activations, gradients, strict=True)]), 0)
    diff = float(np.abs(_minmax(ours) - _minmax(reference)).max())
    MAX_DIFFS[f"3d/{method}"] = diff
    assert reference.std() > 0
    assert diff < 1e-4


@pytest.mark.parametrize("method", sorted(ORACLES))
def test_3d_time_slices_are_the_2d_case(method, i3d):
    """Per time slice, our 3D maps are pytorch-grad-cam's 2D maps of that slice (a T=1 video is an image)."""
    captured = i3d[0]
    acts, grads = captured.activations[0], captured.gradients[0]
    ours = get_method(method)(acts, grads).numpy()
    oracle = object.__new__(ORACLES[method])  # only its (stateless) formula is used
    for t in range(acts.shape[1]):
        theirs = np.maximum(oracle.get_cam_image(None, None, None, acts[:, t].numpy(), grads[:, t].numpy(),
                                                 False), 0)
        if method == "eigencam":
            theirs = min((np.maximum(s * theirs, 0) for s in (1, -1)), key=lambda x: np.abs(x - ours[:, t]).max())
        np.testing.assert_allclose(_minmax(ours[:, t]), _minmax(theirs), atol=1e-4)


def test_heatmaps_of_normalises_each_view(i3d):
    captured = i3d[0]
    for method in ORACLES:
        heatmaps = heatmaps_of(captured, method).numpy()
        assert heatmaps.shape == captured.size
        assert np.isclose(heatmaps.max(axis=(1, 2, 3)), 1).all() and (heatmaps.min(axis=(1, 2, 3)) == 0).all()


def test_gradient_free_method_needs_no_backward(i3d):
    captured = i3d[0]
    no_grads = Captured(captured.layers, captured.activations, [None], captured.view_scores,
                        captured.target_class, captured.size)
    np.testing.assert_array_equal(heatmaps_of(no_grads, "eigencam"), heatmaps_of(captured, "eigencam"))
    with pytest.raises(core.CamError, match="needs gradients"):
        heatmaps_of(no_grads, "gradcam")


@pytest.mark.parametrize("spelling", ["Grad-CAM++", "gradcam_pp", "XGrad-CAM", "layer-cam", "HiResCAM", "EIGENCAM",
                                      "Rollout", "attn_grad", "attngrad"])
def test_method_names(spelling):
    assert get_method(spelling).name in METHODS and parse_method(spelling) is get_method(spelling).name


def test_every_method_name_is_one_class_of_methods():
    assert list(METHODS) == list(Method) and all(cls.name is name for name, cls in METHODS.items())


def test_unknown_method_is_one_clear_sentence():
    with pytest.raises(core.CamError, match="Unknown CAM method 'scorecam'; choose one of gradcam"):
        get_method("scorecam")


def teardown_module():
    if MAX_DIFFS:
        print("\nmax |ours - reference| after the same normalisation:",
              ", ".join(f"{k}={v:.1e}" for k, v in sorted(MAX_DIFFS.items())))
