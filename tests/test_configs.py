"""Configs as users bring them: broken test pipelines end in one sentence, ``--cfg-options`` on either copy
of the test pipeline take effect (or are refused with the key that works), and ``vis_cam`` says what it did
and writes overlays with the app's proportions."""

from __future__ import annotations

import json
import re

import av
import pytest
import torch
from mmengine.config import Config
from tiny_model import make_model

import core
from core.demo import CHECKPOINT, CONFIG, demo_clip, write_clip
from core.model import load_config
from core.overlay import display_size
from core.vis_cam import main


@pytest.fixture(scope="module")
def clip_mp4(tmp_path_factory):
    """The demo's synthetic clip: 48 frames of 224x160."""
    return write_clip(demo_clip(), tmp_path_factory.mktemp("video") / "clip.mp4")


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, clip_mp4):
    return make_model(tmp_path_factory.mktemp("model"), [clip_mp4])


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def variant(config, tmp_path, old: str, new: str, suffix: str = ".py"):
    """The tiny config with ``old`` replaced by ``new`` (exactly once), written beside the tests."""
    text = config.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / f"variant{suffix}"
    path.write_text(text.replace(old, new))
    return path


def json_variant(config, tmp_path, edit) -> str:
    """The tiny config dumped as JSON (as MMEngine writes it), with ``edit(dict)`` applied."""
    path = tmp_path / "variant.json"
    Config.fromfile(str(config)).dump(str(path))
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def _wrong_field(data):
    data["test_pipeline"][1]["clip_lenn"] = data["test_pipeline"][1].pop("clip_len")


def _wrong_model_field(data):
    data["model"]["backbone"]["depthh"] = data["model"]["backbone"].pop("depth")


BROKEN = {
    "scale as a list": (lambda c, t: variant(c, t, "dict(type='Resize', scale=(-1, 64))",
                                             "dict(type='Resize', scale=[-1, 64])"),
                        r"test_pipeline\[3\] \(Resize\) is invalid \(TypeError: Scale must be float or tuple"),
    "unknown transform": (lambda c, t: variant(c, t, "dict(type='ThreeCrop', crop_size=64)",
                                               "dict(type='ThreeCropp', crop_size=64)"),
                          r"test_pipeline\[4\] has type 'ThreeCropp', which MMAction2 does not know"),
    "json with a wrong pipeline field": (lambda c, t: json_variant(c, t, _wrong_field),
                                         r"test_pipeline\[1\] \(SampleFrames\) is invalid \(TypeError: .*clip_len"),
    "json with a wrong model field": (lambda c, t: json_variant(c, t, _wrong_model_field),
                                      r"model cannot be built \(TypeError: .*depthh"),
    "pipeline that is not a list": (lambda c, t: json_variant(c, t, lambda d: d.update(test_pipeline="abc")),
                                    r"has no test_pipeline \(the list of transforms"),
    "step without a type": (lambda c, t: json_variant(c, t, lambda d: d["test_pipeline"][2].pop("type")),
                            r"test_pipeline\[2\] is \{\}, not a transform with a `type`"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_test_pipeline_is_one_error_line(case, model_files, clip_mp4, tmp_path, capsys):
    config, ckpt = model_files
    make, message = BROKEN[case]
    bad = make(config, tmp_path)
    before = set(tmp_path.rglob("*"))
    code, _, err = run_cli(capsys, bad, ckpt, clip_mp4, "--device", "cpu", "--file-url", tmp_path / "cam.txt")
    lines = [line for line in err.splitlines() if not line.startswith("[vis_cam]")]
    assert code == 2 and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(message, lines[0]), err
    assert set(tmp_path.rglob("*")) == before  # nothing written
    with pytest.raises(core.CamError, match=message):  # the library says the same
        core.explain(core.load_model(bad, ckpt, device="cpu"), clip_mp4)


def test_dataloader_pipeline_options_change_the_inputs(model_files, clip_mp4, tmp_path, capsys):
    """MMAction2's tools read test_dataloader.dataset.pipeline, vis_cam.py reads test_pipeline: an option on
    either one takes effect while the config keeps them equal."""
    config, ckpt = model_files
    for key in ("test_dataloader.dataset.pipeline.1.num_clips", "test_pipeline.1.num_clips"):
        cfg = load_config(config, {key: 1})
        assert cfg.test_pipeline[1]["num_clips"] == 1 == cfg.test_dataloader.dataset.pipeline[1]["num_clips"]
    code, _, err = run_cli(capsys, config, ckpt, clip_mp4, "--device", "cpu", "--all-views", "--file-url",
                           tmp_path / "cam.txt", "--cfg-options", "test_dataloader.dataset.pipeline.1.num_clips=1")
    assert code == 0, err
    assert json.loads((tmp_path / "cam.json").read_text())["shape"] == [3, 8, 64, 64]  # 3 crops x 1 clip, not 2


def test_option_on_an_unused_pipeline_is_refused_with_the_key_that_works(model_files, tmp_path):
    config, _ = model_files
    other = variant(config, tmp_path, "pipeline=test_pipeline, test_mode=True",
                    "pipeline=train_pipeline, test_mode=True")
    with pytest.raises(core.CamError, match=r"test_dataloader\.dataset\.pipeline\.1\.num_clips would be ignored.*"
                                            r"set test_pipeline\.1\.num_clips instead"):
        load_config(other, {"test_dataloader.dataset.pipeline.1.num_clips": 1})
    assert load_config(other, {"test_pipeline.1.num_clips": 1}).test_pipeline[1]["num_clips"] == 1
    with pytest.raises(core.CamError, match=r"--cfg-options test_pipeline.9.num_clips could not be applied"):
        load_config(config, {"test_pipeline.9.num_clips": 1})


def test_vis_cam_without_outputs_says_what_it_explained(clip_mp4, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, CONFIG, CHECKPOINT, clip_mp4, "--device", "cpu")
    assert code == 0
    rows = out.strip().splitlines()
    assert len(rows) == 4 and sum("<- explained" in row for row in rows) == 1  # the demo's 4 classes
    assert "moving right  <- explained" in out  # the clip's class, predicted by the demo model
    assert "nothing written" in err and "--file-url" in err and "--out-filename" in err
    assert not list(tmp_path.iterdir())


def test_overlay_video_keeps_the_source_proportions_as_the_app_does(clip_mp4, tmp_path, capsys):
    """The demo model sees 224x160 frames squashed to 112x112; the overlay unsquashes them (display_size)."""
    out = tmp_path / "cam.mp4"
    code, _, err = run_cli(capsys, CONFIG, CHECKPOINT, clip_mp4, "--device", "cpu", "--out-filename", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        frames = sum(1 for _ in container.decode(video=0))
    result = core.explain(core.load_model(CONFIG, CHECKPOINT, device="cpu"), clip_mp4)
    assert result.heatmaps.shape[2:] == (112, 112)
    expected = display_size(result)  # what the app shows
    assert size == (expected[0] // 2 * 2, expected[1] // 2 * 2) and frames == result.heatmaps.shape[1]
    assert size[0] / size[1] == pytest.approx(224 / 160, rel=0.02)
    code, _, err = run_cli(capsys, CONFIG, CHECKPOINT, clip_mp4, "--device", "cpu", "--out-filename",
                           tmp_path / "wide.mp4", "--target-resolution", "280", "-1")
    with av.open(str(tmp_path / "wide.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (280, 200)



def test_probe_is_explicit_state_of_the_handle(model_files):
    """The layer list and the default layer come from one typed probe the handle owns, made on first need."""
    from core.model import ModelProbe
    from core.reshape import BackboneInput

    config, ckpt = model_files
    handle = core.load_model(config, ckpt, device="cpu")
    assert not hasattr(handle, "_cache")
    layers = core.list_layers(handle)  # a fresh handle: no explain or resolve_layer first
    probe = handle.probe()
    assert isinstance(probe, ModelProbe) and handle.probe() is probe  # computed once, then kept
    assert isinstance(probe.backbone_input, BackboneInput) and probe.backbone_input.frames == 8
    assert layers[0].name == core.resolve_layer(handle, None) == "backbone/layer4"
    assert dict(probe.shapes)["backbone/layer4"] == layers[0].shape


def test_scores_that_overflow_are_refused_not_drawn(model_files, clip_mp4):
    """Broken weights give NaN scores, and every CAM method would give NaN heatmaps: say so instead."""
    config, ckpt = model_files
    handle = core.load_model(config, ckpt, device="cpu")
    with torch.no_grad():
        handle.model.backbone.conv1.conv.weight[0, 0, 0, 0, 0] = float("inf")
    with pytest.raises(core.CamError, match="class scores are not finite"):
        core.explain(handle, clip_mp4)
