"""Faithfulness, frame importance and sanity checks (core.evaluate) against outside references on the same
model and input: torchcam 0.5's DeletionInsertionMetric and ClassificationMetric, Captum's FeatureAblation,
scipy's spearmanr and gaussian_filter. Models: a tiny 3D recognizer with six views (ThreeCrop x 2 clips), a
tiny 2D recognizer with three crops of four segments, and the demo checkpoint."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from real_configs import ARCHS, small_config

import core
from core.demo import demo_paths, write_clip
from core.evaluate import cli, faithfulness, frame_importance, random_heatmaps, sanity_check, summary_columns
from core.evaluate.perturb import baseline_of, clip_of, counts_of, ranks_of, view_inputs
from core.model import class_scores
from core.synthetic import make_clip

torchcam_metrics = pytest.importorskip("torchcam.metrics", reason="torchcam 0.5 (a test oracle) is not installed")

TINY_3D = """
default_scope = 'mmaction'
model = dict(
    type='Recognizer3D',
    backbone=dict(type='ResNet3dSlowOnly', depth=18, pretrained=None, base_channels=8, conv1_kernel=(1, 7, 7),
                  conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1)),
    cls_head=dict(type='I3DHead', in_channels=64, num_classes=5, spatial_type='avg', dropout_ratio=0.0,
                  average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=2, num_clips=2, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 48)),
    dict(type='ThreeCrop', crop_size=48),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
"""

TINY_2D = """
default_scope = 'mmaction'
model = dict(
    type='Recognizer2D',
    backbone=dict(type='ResNet', depth=18, pretrained=None, torchvision_pretrain=False, num_stages=2,
                  out_indices=(1, ), strides=(1, 2), dilations=(1, 1)),
    cls_head=dict(type='TSNHead', num_classes=4, in_channels=128, spatial_type='avg',
                  consensus=dict(type='AvgConsensus', dim=1), dropout_ratio=0.0, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCHW'))
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=4, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 48)),
    dict(type='ThreeCrop', crop_size=48),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')]
"""


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A synthetic clip of a moving object (no real data needed)."""
    return write_clip(make_clip(3, label=1, frames=24, size=(72, 96)), tmp_path_factory.mktemp("clip") / "clip.mp4")


@pytest.fixture(scope="module")
def tiny3d(tmp_path_factory, video):
    """Tiny 3D recognizer (random weights, saved as a checkpoint), all six views, and its Grad-CAM result."""
    folder = tmp_path_factory.mktemp("tiny3d")
    config = folder / "tiny3d.py"
    config.write_text(TINY_3D)
    torch.save({"state_dict": core.load_model(config, device="cpu", seed=1).model.state_dict()}, folder / "tiny.pth")
    handle = core.load_model(config, folder / "tiny.pth", device="cpu")
    return handle, core.explain(handle, video, views="all")


@pytest.fixture(scope="module")
def tiny2d(tmp_path_factory, video):
    """Tiny 2D recognizer (random weights), three crops of four segments, and its Grad-CAM result."""
    path = tmp_path_factory.mktemp("tiny2d") / "tiny2d.py"
    path.write_text(TINY_2D)
    handle = core.load_model(path, device="cpu", seed=2)
    return handle, core.explain(handle, video, views="all")


@pytest.fixture(scope="module")
def demo():
    paths = demo_paths()
    handle = core.load_model(paths["config"], paths["checkpoint"], "cpu")
    return handle, core.explain(handle, paths["video"]), paths["video"]


def _inputs(handle, result) -> torch.Tensor:
    """Each view's normalised input [V, C, T, H, W], taken apart here independently of core.evaluate."""
    clip = core.build_inputs(handle.cfg, result.video, views=result.views)
    inputs = handle.model.data_preprocessor(clip.data, False)["inputs"]
    num_views, num_frames = result.heatmaps.shape[:2]
    if handle.is_2d:
        return inputs[0].reshape(num_views, num_frames, *inputs.shape[2:]).transpose(1, 2)
    return inputs[0]


class Recognizer(torch.nn.Module):
    """The recognizer as a plain classifier of views [N, C, T, H, W] -> class scores [N, K]."""

    def __init__(self, handle):
        super().__init__()
        self.handle = handle

    def forward(self, x):
        x = x.transpose(1, 2).contiguous() if self.handle.is_2d else x.unsqueeze(0)
        return class_scores(self.handle, {"inputs": x})


class Extractor:
    """What torchcam's metrics need of a CAM extractor: here a fixed map (ours, or the random ranking's)."""

    def __init__(self, model, cam):
        self.model, self.cam = model, cam

    def __call__(self, class_idx, scores):
        return [self.cam]

    def fuse_cams(self, cams):
        return cams[0]

    def _hooks_off(self):
        return nullcontext()


def _softmax(scores):
    return scores.softmax(-1)


def _torchcam(handle, result, cam, *, steps, baseline, sigma=5.0, curves=False):
    """torchcam 0.5's deletion/insertion AUCs (means over the views, fed as its batch) and its Average Drop /
    Increase in Confidence for the map ``cam``; with ``curves``, its curves driven with our ranking."""
    x = _inputs(handle, result)
    model = Recognizer(handle)
    base = torch.stack([baseline_of(view, baseline, sigma) for view in x])
    metric = torchcam_metrics.DeletionInsertionMetric(Extractor(model, cam), _softmax, steps=steps, batch_size=5,
                                                      baseline=lambda inputs: base)
    metric.update(x, class_idx=result.target_class)
    classification = torchcam_metrics.ClassificationMetric(Extractor(model, cam), _softmax)
    classification.update(x, class_idx=result.target_class)
    if not curves:
        return metric.summary(), classification.summary()
    with torch.no_grad():
        original = model(x).softmax(-1)[:, result.target_class]
    target = torch.full((len(x),), result.target_class)
    ranks = torch.stack([ranks_of(view) for view in cam])
    return [c.mean(0) if c.dim() > 1 else c for c in metric._compute_curves(x, base, ranks, target, original)]


def test_deletion_insertion_match_torchcam_on_six_views(tiny3d):
    handle, result, baseline = *tiny3d, "blur"
    assert result.heatmaps.shape[0] == 6
    ours = faithfulness(handle, result, steps=4, baseline=baseline, batch_size=7, random=False)
    aucs, classification = _torchcam(handle, result, torch.from_numpy(result.heatmaps), steps=4, baseline=baseline)
    assert ours.deletion_auc == pytest.approx(aucs["deletion_auc"], abs=1e-5)
    assert ours.insertion_auc == pytest.approx(aucs["insertion_auc"], abs=1e-5)
    assert ours.average_drop == pytest.approx(classification["avg_drop"], abs=1e-5)
    assert ours.increase_in_confidence == pytest.approx(classification["conf_increase"], abs=1e-9)
    # the score is each view's softmax probability: averaged, it is what the model reports for the clip
    assert ours.score == pytest.approx(float(result.probs[result.target_class]), abs=1e-5)


def test_curves_and_random_ranking_match_torchcam(tiny3d):
    handle, result = tiny3d
    ours = faithfulness(handle, result, steps=4, baseline="static", batch_size=4, seed=2)
    fractions, deletion, insertion = _torchcam(handle, result, torch.from_numpy(result.heatmaps), steps=4,
                                               baseline="static", curves=True)
    np.testing.assert_allclose(ours.fractions, fractions.numpy(), atol=1e-7)
    np.testing.assert_allclose(ours.deletion, deletion.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.insertion, insertion.numpy(), atol=1e-5)
    noise = random_heatmaps(handle, clip_of(handle, result), result.layer, result.target_class, seed=2)
    aucs, _ = _torchcam(handle, result, noise, steps=4, baseline="static")
    assert ours.random_deletion_auc == pytest.approx(aucs["deletion_auc"], abs=1e-5)
    assert ours.random_insertion_auc == pytest.approx(aucs["insertion_auc"], abs=1e-5)


def test_deletion_insertion_match_torchcam_on_a_2d_recognizer(tiny2d):
    handle, result = tiny2d
    assert handle.is_2d and result.heatmaps.shape[:2] == (3, 4)
    ours = faithfulness(handle, result, steps=3, baseline="static", random=False)
    aucs, classification = _torchcam(handle, result, torch.from_numpy(result.heatmaps), steps=3, baseline="static")
    assert ours.deletion_auc == pytest.approx(aucs["deletion_auc"], abs=1e-5)
    assert ours.insertion_auc == pytest.approx(aucs["insertion_auc"], abs=1e-5)
    assert ours.average_drop == pytest.approx(classification["avg_drop"], abs=1e-5)
    assert np.isnan(ours.random_deletion_auc) and ours.random_deletion is None


def test_curve_points_follow_the_definition():
    assert counts_of(100, 20) == [*range(0, 100, 5), 100]
    assert counts_of(101, 20) == [*range(0, 101, 6), 101]  # step = ceil(101 / 20) = 6
    assert counts_of(7, 20) == list(range(8))
    assert counts_of(10, 1) == [0, 10]
    ranks = ranks_of(torch.tensor([0.5, 0.9, 0.5, 0.1, 0.9]))
    assert ranks.tolist() == [2, 0, 3, 4, 1]  # highest first, ties by flat index


def test_frame_importance_matches_captum(tiny3d, tiny2d):
    attr = pytest.importorskip("captum.attr", reason="Captum (a test oracle) is not installed")
    for (handle, result), baseline in ((tiny3d, "static"), (tiny2d, "blur")):
        ours = frame_importance(handle, result, baseline=baseline, batch_size=3)
        x = _inputs(handle, result)
        model = Recognizer(handle)
        ablation = attr.FeatureAblation(lambda inputs, model=model: model(inputs).softmax(-1))
        num_frames = x.shape[2]
        mask = torch.arange(num_frames).view(1, 1, num_frames, 1, 1).expand(1, *x.shape[1:])
        for view in range(len(x)):
            with torch.no_grad():
                captum = ablation.attribute(x[view:view + 1], baselines=baseline_of(x[view], baseline)[None],
                                            target=result.target_class, feature_mask=mask)
            np.testing.assert_allclose(ours.drop[view], captum[0, 0, :, 0, 0].numpy(), atol=1e-5)
        heatmaps = result.heatmaps.astype(np.float64)
        np.testing.assert_allclose(ours.mass, heatmaps.sum(axis=(2, 3)) / heatmaps.sum(axis=(1, 2, 3))[:, None],
                                   atol=1e-6)
        np.testing.assert_array_equal(ours.frame_indices, result.frame_indices)


def test_a_result_read_back_from_its_files_rebuilds_the_same_input(tiny3d, tmp_path):
    """A result from files (or a batch) keeps no model input: it is rebuilt from its video and scores the same."""
    handle, result = tiny3d
    core.write_result(tmp_path / "clip_cam.txt", result, npz=True)
    again = core.read_result(tmp_path / "clip_cam.txt")
    assert again.inputs is None and result.inputs is not None
    kept, rebuilt = (faithfulness(handle, r, steps=4, random=False) for r in (result, again))
    np.testing.assert_allclose(rebuilt.deletion, kept.deletion, atol=1e-6)
    np.testing.assert_allclose(rebuilt.insertion, kept.insertion, atol=1e-6)
    assert rebuilt.average_drop == pytest.approx(kept.average_drop, abs=1e-6)
    shifted = replace(again, frame_indices=again.frame_indices + 1)
    with pytest.raises(core.CamError, match="no longer gives the frames"):
        faithfulness(handle, shifted, steps=4)


def test_baselines_match_their_definitions(tiny3d):
    from scipy.ndimage import gaussian_filter

    handle, result = tiny3d
    x = view_inputs(handle, clip_of(handle, result))[0]
    assert not baseline_of(x, "zeros").any()
    np.testing.assert_allclose(baseline_of(x, "static").numpy(), x.mean(dim=1, keepdim=True).expand_as(x).numpy(),
                               atol=1e-6)
    for sigma in (1.1, 2.0):
        blurred = gaussian_filter(x.double().numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=3.0)
        np.testing.assert_allclose(baseline_of(x, "blur", sigma).numpy(), blurred, atol=1e-5)


def test_random_ranking_has_the_maps_granularity(demo):
    handle, result, _ = demo
    clip = clip_of(handle, result)
    noise = random_heatmaps(handle, clip, result.layer, result.target_class, seed=5)
    captured = core.cam.capture(handle, clip, target_layer=result.layer, gradients=False)
    grid = captured.activations[0].shape  # [1, T', C, h, w]
    drawn = torch.rand((grid[0], grid[1], grid[3], grid[4]), generator=torch.Generator().manual_seed(5))
    expected = F.interpolate(drawn[:, None], size=result.heatmaps.shape[1:], mode="trilinear", align_corners=False)
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    np.testing.assert_allclose(noise.numpy(), expected[:, 0].numpy(), atol=1e-6)
    again = random_heatmaps(handle, clip, result.layer, result.target_class, seed=5)
    assert torch.equal(noise, again)


def test_on_the_demo_gradcam_beats_the_random_ranking_on_insertion(demo):
    handle, result, _ = demo
    scores = faithfulness(handle, result, steps=10, batch_size=16)
    assert scores.insertion_auc > scores.random_insertion_auc + 0.3
    assert scores.score > 0.9 and scores.deletion[0] == pytest.approx(scores.score)
    assert scores.verdict().text  # plain words either way (deletion with the zeros baseline: see docs/evaluate.md)
    columns = summary_columns(handle, result, steps=2)
    assert list(columns) == list(core.evaluate.SUMMARY_COLUMNS) and all(np.isfinite(list(columns.values())))


def test_spearman_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    for a, b in ((rng.normal(size=500), rng.normal(size=500)),
                 (rng.integers(0, 5, 400).astype(float), rng.integers(0, 3, 400).astype(float)),  # many ties
                 (np.r_[np.zeros(300), rng.random(100)], np.r_[rng.random(100), np.zeros(300)])):
        assert core.evaluate.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert np.isnan(core.evaluate.spearman(np.zeros(10), np.arange(10)))


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@pytest.mark.parametrize("method", ["gradcam", "eigencam"])
def test_sanity_check_randomises_top_down_and_leaves_the_model_as_it_was(tiny3d, video, method):
    from scipy.stats import spearmanr

    handle, _ = tiny3d
    before, parameters = _state(handle.model), [id(p) for p in handle.model.parameters()]
    check = sanity_check(handle, video, method=method, seed=3)
    after = handle.model.state_dict()
    assert list(after) == list(before) and all(torch.equal(before[k], after[k]) for k in before)
    assert [id(p) for p in handle.model.parameters()] == parameters
    assert check.steps == ["cls_head", "backbone/layer4", "backbone/layer3", "backbone/layer2", "backbone/layer1",
                           "backbone/conv1"]
    assert check.maps.shape == (len(check.steps), *check.original.shape)
    fresh = core.explain(handle, video, method=method)
    np.testing.assert_allclose(check.original, fresh.heatmaps, atol=1e-6)  # the trained model's own map
    expected = [np.mean([spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(check.original, step, strict=True)])
                for step in check.maps]  # per view, averaged
    np.testing.assert_allclose(check.rho, expected, atol=1e-9)  # NaN where a randomised map became constant
    assert check.random_class != check.target_class and 0 <= check.random_class < handle.num_classes
    if method == "eigencam":  # gradient-free: a new head cannot change it, nor can another class
        assert check.rho[0] == pytest.approx(1.0) and check.random_logit_rho == pytest.approx(1.0)
        assert not check.verdict().supported and "cls_head" in check.verdict().text
    else:
        assert not check.rho[0] > 0.99
    assert json.dumps(check.to_dict(), allow_nan=False)
    again = sanity_check(handle, video, method=method, seed=3)
    np.testing.assert_array_equal(again.rho, check.rho)  # the seed fixes every draw


def test_bad_input_is_one_sentence(tiny3d):
    handle, result = tiny3d
    for options, words in ((dict(steps=0), "steps must be a positive"), (dict(baseline="noise"), "Unknown baseline"),
                           (dict(blur_sigma=-1.0), "blur sigma"), (dict(batch_size=0), "batch_size")):
        with pytest.raises(core.CamError, match=words):
            faithfulness(handle, result, **options)
    with pytest.raises(core.CamError, match="every view needs a map"):
        faithfulness(handle, replace(result, heatmaps=result.heatmaps[:2], frames=None, frame_indices=None,
                                     windows=None))
    flat = result.heatmaps.copy()
    flat[4] = 0.0
    with pytest.raises(core.CamError, match="View 5 has no map"):
        frame_importance(handle, replace(result, heatmaps=flat))
    with pytest.raises(core.CamError, match="in memory"):
        faithfulness(handle, replace(result, video="<array>", inputs=None))  # frames explained without a file
    with pytest.raises(core.CamError, match="which class"):
        faithfulness(handle, replace(result, target_class=None))


def _cli(capsys, *args):
    code = cli.main([*map(str, args), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def test_command_line_reports_and_writes_json(tiny3d, video, tmp_path, capsys):
    config, checkpoint = tiny3d[0].config, tiny3d[0].checkpoint
    report = tmp_path / "report.json"
    code, out, err = _cli(capsys, config, checkpoint, video, "--steps", 3, "--sanity", "--json", "--out", report)
    assert code == 0, err
    data = json.loads(out)
    assert data == json.loads(report.read_text())
    assert set(data) >= {"faithfulness", "frame_importance", "sanity", "method", "layer", "target_class"}
    assert set(core.evaluate.SUMMARY_COLUMNS) <= set(data["faithfulness"])
    assert data["faithfulness"]["steps"] == 3 and len(data["faithfulness"]["fractions"]) == 4
    assert data["sanity"]["steps"][0] == "cls_head" and isinstance(data["sanity"]["verdict"], str)
    code, out, err = _cli(capsys, config, checkpoint, video, "--steps", 2, "--baseline", "static")
    assert code == 0 and "deletion AUC" in out and "verdict:" in out and "source frame" in out


@pytest.mark.parametrize("args, words", [(("--steps", 0), "steps must be a positive"),
                                         (("--baseline", "noise"), "Unknown baseline"),
                                         (("--out", "report.txt"), "must end in .json")])
def test_command_line_bad_input_is_one_error_line(tiny3d, video, capsys, args, words):
    code, out, err = _cli(capsys, tiny3d[0].config, tiny3d[0].checkpoint, video, *args)
    assert code == 2 and not out
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err


@pytest.fixture
def slow_only(request):
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a sweep over every architecture: run it with -m slow")


@pytest.mark.slow
@pytest.mark.parametrize("folder", sorted(ARCHS))
def test_every_architecture_evaluates(folder, video, slow_only):
    """Faithfulness, frame importance and the sanity check on one real config per architecture (random weights,
    shrunk test pipeline): finite figures, the score of the input equals the model's, the model is left as it was."""
    handle = core.load_model(small_config(folder), device="cpu")
    result = core.explain(handle, video)
    scores = faithfulness(handle, result, steps=2, batch_size=4)
    assert np.isfinite([scores.deletion_auc, scores.insertion_auc, scores.random_deletion_auc,
                        scores.random_insertion_auc, scores.average_drop]).all()
    assert scores.score == pytest.approx(float(result.probs[result.target_class]), abs=1e-4)
    importance = frame_importance(handle, result, batch_size=4)
    assert importance.drop.shape == result.heatmaps.shape[:2] and np.isfinite(importance.drop).all()
    before = _state(handle.model)
    check = sanity_check(handle, video, target_layer=result.layer)
    assert all(torch.equal(before[k], v) for k, v in handle.model.state_dict().items())
    assert check.steps[0] == "cls_head" and len(check.steps) >= 3 and check.maps.shape[1:] == result.heatmaps.shape


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_gives_the_cpu_figures(demo):
    handle, result, video = demo
    gpu = core.load_model(handle.config, handle.checkpoint, "cuda")
    on_gpu = core.explain(gpu, video)
    cpu_scores, gpu_scores = faithfulness(handle, result, steps=4), faithfulness(gpu, on_gpu, steps=4)
    for name in core.evaluate.SUMMARY_COLUMNS:
        assert getattr(gpu_scores, name) == pytest.approx(getattr(cpu_scores, name), abs=1e-3), name
    np.testing.assert_allclose(frame_importance(gpu, on_gpu).drop, frame_importance(handle, result).drop, atol=1e-3)
    before = _state(gpu.model)
    sanity_check(gpu, video)
    assert all(torch.equal(before[k], v) for k, v in gpu.model.state_dict().items())


def test_every_faithfulness_column_is_one_registry_row_and_a_field():
    """SUMMARY_COLUMNS (the batch's summary.csv) and the tables' labels come from FAITHFULNESS_METRICS."""
    import dataclasses

    from core.evaluate.faithfulness import FAITHFULNESS_METRICS, Faithfulness

    fields = {f.name for f in dataclasses.fields(Faithfulness)}
    assert core.evaluate.SUMMARY_COLUMNS == tuple(FAITHFULNESS_METRICS) and set(FAITHFULNESS_METRICS) <= fields
    assert [FAITHFULNESS_METRICS[n].label for n in ("deletion_auc", "insertion_auc", "average_drop")] == \
        ["deletion AUC ↓", "insertion AUC ↑", "average drop ↓"]
