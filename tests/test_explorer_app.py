"""The explorer page driven by Streamlit's AppTest: the demo is preselected and runs, results are
cached per combination, and bad input (corrupt upload, unknown layer, missing files, absent GPU)
becomes one readable error while the app stays usable.

Tests that are not about the demo itself run on the demo when the checkout has ``core.demo``, else
on a tiny real model (tests/tiny_model.py) picked by paths, so they never depend on it."""

from __future__ import annotations

import json
import threading

import pytest
import streamlit as st
import torch
from conftest import ROOT, sample_file
from streamlit.testing.v1 import AppTest
from tiny_model import write_tiny_config

import core
from pages.ui import cache
from pages.ui.viewer import warm_player

try:
    from core import demo

    demo.demo_paths()  # the checkpoint may not be committed yet
except (ImportError, core.CamError):
    demo = None

TIMEOUT = 120  # the first run builds the model and probes its layers


@pytest.fixture
def app() -> AppTest:
    st.cache_data.clear()  # results from other tests must not answer for this one (models may stay loaded)
    at = AppTest.from_file(str(ROOT / "explorer.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


@pytest.fixture
def ready(app, tmp_path) -> AppTest:
    """The app with a model and a video chosen: the demo (preselected) or, without it, a tiny real model."""
    if demo is None:
        video = sample_file("demo.mp4")
        app.radio(key="model_source").set_value("paths").run()
        app.text_input(key="config_path").input(str(write_tiny_config(tmp_path / "tiny", [video]))).run()
        app.radio(key="video_source").set_value("path").run()
        app.text_input(key="video_path").input(str(video)).run()
    assert not _errors(app)
    return app


@pytest.fixture
def explain_calls(monkeypatch) -> list:
    """Count calls into the real ``core.explain`` (the app's cache must answer repeated combinations)."""
    calls, real = [], core.explain

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(core, "explain", counting)
    return calls


def _run(at: AppTest) -> AppTest:
    at.button(key="run_gradcam").click().run()
    assert not at.exception, at.exception
    return at


def _frame_spec(at: AppTest) -> dict:
    """The Plotly frame view's figure (the chart with animation frames)."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec.get("frames"):
            return spec
    raise AssertionError("no frame view among the Plotly charts")


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_demo_is_preselected_and_runs(app, explain_calls):
    if demo is None:
        pytest.skip("the built-in demo (core/demo.py and its assets) is not in this checkout")
    paths = demo.demo_paths()
    assert app.radio(key="model_source").value == "demo"
    assert app.radio(key="video_source").value == "demo"
    info = core.probe_video(paths["video"])
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Frames"] == str(info.frames) and metrics["Resolution"] == f"{info.width}×{info.height}"
    assert not _errors(app)

    _run(app)
    assert not _errors(app) and len(explain_calls) == 1
    expected = core.explain(core.load_model(paths["config"], paths["checkpoint"], "auto"), paths["video"])
    assert app.subheader[0].value == f"Explained: {expected.target_label}"
    spec = _frame_spec(app)
    assert len(spec["frames"]) == expected.heatmaps.shape[0] * expected.heatmaps.shape[1]
    steps = spec["layout"]["sliders"][0]["steps"]
    assert [step["args"][0] for step in steps] == [[frame["name"]] for frame in spec["frames"]]
    first, last = steps[0]["label"], steps[-1]["label"]
    assert f"source frame {expected.frame_indices[0, 0]} ·" in first and first.endswith(" s")
    assert f"source frame {expected.frame_indices[-1, -1]} ·" in last
    assert len(app.get("plotly_chart")) == 5  # (hidden: the preloaded library), frame view, timeline, saliency, top-k
    assert len(app.get("video")) == 1
    labels = [b.label for b in app.get("download_button")]
    assert {"Heatmaps (txt)", "Sidecar (json)", "Arrays (npz)", "Overlay video (mp4)",
            "Frame view (png)"} <= set(labels)

    calls_before = len(explain_calls)
    _run(app)  # the same combination again: answered by the cache
    assert len(explain_calls) == calls_before and app.subheader[0].value == f"Explained: {expected.target_label}"


def test_target_class_by_name_with_top5_probabilities(ready, explain_calls):
    app = ready
    _run(app)
    target = app.selectbox(key="target")
    options = target.options
    assert options[0] == "Predicted class"
    top = [o for o in options[1:6] if " — " in o]
    assert len(top) == min(5, len(options) - 1)
    probs = [float(o.rsplit(" — ", 1)[1].rstrip("%")) for o in top]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 100.5
    runner_up = top[1].rsplit(" — ", 1)[0]
    index = options.index(top[1]) - 1
    target.select_index(index + 1).run()
    assert any("settings changed" in i.value for i in app.info)
    _run(app)
    assert app.subheader[0].value == f"Explained: {runner_up}" and len(explain_calls) == 2
    assert not _errors(app)


def test_every_cam_method_from_the_picker(ready):
    app = ready
    methods = app.selectbox(key="method").options
    cam_methods = [m for m, cls in core.METHODS.items() if not cls.needs_attention]
    assert methods[0] == "Grad-CAM" and len(methods) == len(cam_methods)  # no attention methods for a CNN
    for label in methods:
        app.selectbox(key="method").select(label).run()
        _run(app)
        assert not _errors(app), label
        assert any(f"· {label} ·" in c.value for c in app.caption), label
        assert len(_frame_spec(app)["frames"]) >= 2


def test_switching_videos_keeps_the_model_loaded(monkeypatch, rawframes_dir, ready):
    loads, real = [], core.load_model
    monkeypatch.setattr(core, "load_model", lambda *a, **k: loads.append(a) or real(*a, **k))
    st.cache_resource.clear()
    at = ready
    _run(at)
    at.radio(key="video_source").set_value("path").run()
    at.text_input(key="video_path").input(str(rawframes_dir)).run()
    assert any("rawframes folder" in m.value for m in at.markdown)
    assert {m.label: m.value for m in at.metric}["Frames"] == str(core.probe_video(rawframes_dir).frames)
    _run(at)
    assert not _errors(at) and len(loads) == 1
    assert at.subheader[0].value.startswith("Explained: ")


def test_corrupt_upload_is_one_error_and_the_app_recovers(ready):
    app = ready
    source = app.radio(key="video_source").value
    app.radio(key="video_source").set_value("upload").run()
    app.file_uploader(key="video_upload").upload("broken.mp4", b"\x00\x01 definitely not a video " * 100,
                                                 "video/mp4").run()
    assert not app.exception
    (error,) = _errors(app)
    assert "could not be decoded" in error and "Traceback" not in error
    assert not any(b.key == "run_gradcam" and not b.disabled for b in app.button)
    uploads = app.session_state["mmcam_upload_folder"].path
    assert not [p for p in uploads.rglob("*") if p.is_file()]  # a refused upload is deleted at once
    app.radio(key="video_source").set_value(source).run()
    _run(app)
    assert not _errors(app) and app.subheader[0].value.startswith("Explained: ")


def test_unknown_layer_is_one_error_and_the_app_recovers(ready):
    app = ready
    app.text_input(key="layer_typed").input("backbone/no_such_layer").run()
    _run(app)
    (error,) = _errors(app)
    assert "no layer 'backbone/no_such_layer'" in error and "Candidates:" in error
    assert not app.subheader  # no stale result shown as if it answered
    app.text_input(key="layer_typed").input("").run()
    layer = next(o for o in app.selectbox(key="layer").options[1:] if o.startswith("backbone/layer1"))
    app.selectbox(key="layer").select(layer).run()
    _run(app)
    assert not _errors(app)
    assert any("layer backbone/layer1 " in c.value for c in app.caption)


def test_training_run_from_a_work_dirs_folder(tmp_path, app):
    video = sample_file("demo.mp4")
    run = tmp_path / "work_dirs" / "tiny_run"
    config = write_tiny_config(tmp_path / "cfg", [video], num_classes=3)
    run.mkdir(parents=True)
    (run / "tiny_run.py").write_text(config.read_text())
    handle = core.load_model(config, None, "cpu", seed=3)
    torch.save({"state_dict": handle.model.state_dict(),
                "meta": {"dataset_meta": {"classes": ["jump", "run", "sit"]}}}, run / "best_acc_top1_epoch_4.pth")
    app.radio(key="model_source").set_value("runs").run()
    app.text_input(key="runs_root").input(str(tmp_path)).run()
    assert app.selectbox(key="training_run").value.name == "tiny_run"
    assert app.selectbox(key="run_checkpoint").value.name == "best_acc_top1_epoch_4.pth"
    app.radio(key="video_source").set_value("path").run()
    app.text_input(key="video_path").input(str(video)).run()
    _run(app)
    assert not _errors(app)
    label = app.subheader[0].value.removeprefix("Explained: ")
    assert label in ("jump", "run", "sit")


def test_missing_config_and_absent_gpu_are_one_error_each(app, tmp_path):
    app.radio(key="video_source").set_value("path").run()
    app.text_input(key="video_path").input(str(sample_file("demo.mp4"))).run()
    app.radio(key="model_source").set_value("paths").run()
    app.text_input(key="config_path").input(str(tmp_path / "no_such_config.py")).run()
    (error,) = _errors(app)
    assert "does not exist" in error
    assert app.button(key="run_gradcam").disabled
    if not torch.cuda.is_available():
        app.text_input(key="config_path").input(str(write_tiny_config(tmp_path, [sample_file("demo.mp4")]))).run()
        app.radio(key="device").set_value("cuda").run()
        (error,) = _errors(app)
        assert "no CUDA GPU" in error
        app.radio(key="device").set_value("auto").run()
        assert not _errors(app)


def test_about_page_renders():
    at = AppTest.from_file(str(ROOT / "pages" / "9_About.py"), default_timeout=30).run()
    assert not at.exception and at.title[0].value.startswith("About")


def test_the_servers_warm_up_runs_its_steps_and_draws_every_figure_of_a_tiny_result():
    """explorer.py, imported by the server, warms up on a background thread that swallows errors (best effort): a
    broken step would only be slower, silently, so the steps are run here in the open."""
    warm_player()
    done = threading.Event()
    cache.warm_up(done.set)
    assert done.wait(300), "the warm-up never reached its steps (MMAction2's registries failed to import)"
