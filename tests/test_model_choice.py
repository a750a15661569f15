"""The model a user picked is the model that runs (issue 23, part 1), in Streamlit's AppTest: the model and video
choices survive visits to other pages, and a checkpoint rewritten at the same path is a new result after Run
(never the old one from a cache or the rendering cache)."""

from __future__ import annotations

import pytest
import streamlit as st
import torch
from conftest import ROOT, sample_file
from streamlit.testing.v1 import AppTest
from tiny_model import CLASSES, make_model

import core


@pytest.fixture
def tiny(tmp_path) -> tuple:
    return make_model(tmp_path / "tiny")


def _explorer() -> AppTest:
    st.cache_data.clear()
    return AppTest.from_file(str(ROOT / "explorer.py"), default_timeout=120).run()


def _pick(app: AppTest, config, checkpoint, video) -> AppTest:
    app.radio(key="model_source").set_value("paths").run()
    app.text_input(key="config_path").input(str(config)).run()
    app.text_input(key="checkpoint_path").input(str(checkpoint)).run()
    app.radio(key="device").set_value("cpu").run()
    app.radio(key="video_source").set_value("path").run()
    app.text_input(key="video_path").input(str(video)).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    return app


def _choices(app: AppTest) -> tuple:
    return (app.radio(key="model_source").value, app.text_input(key="config_path").value,
            app.text_input(key="checkpoint_path").value, app.radio(key="device").value)


def test_the_model_and_video_picked_survive_other_pages(tiny):
    config, checkpoint = tiny
    video = sample_file("demo.mp4")
    app = _pick(_explorer(), config, checkpoint, video)
    picked = ("paths", str(config), str(checkpoint), "cpu")
    for page in ("pages/2_Batch.py", "pages/4_Test_results.py", "pages/3_Gaze_comparison.py", "explorer.py"):
        app.switch_page(page).run()
        assert not app.exception, (page, app.exception)
        if page != "pages/3_Gaze_comparison.py":  # (a page without a model picker in between)
            assert _choices(app) == picked, page
    assert app.radio(key="video_source").value == "path" and app.text_input(key="video_path").value == str(video)
    assert not app.button(key="run_gradcam").disabled


def _predicting(checkpoint, config, cls: int) -> None:
    """Rewrite ``checkpoint`` in place so that the model predicts ``cls`` for every video (as MMEngine rewrites
    epoch_N.pth when training again into the same work_dir)."""
    handle = core.load_model(config, str(checkpoint), "cpu")
    state = handle.model.state_dict()
    state["cls_head.fc_cls.bias"][cls] += 100.0
    torch.save({"state_dict": state, "meta": {"dataset_meta": {"classes": CLASSES}}}, checkpoint)


def _explained(app: AppTest) -> str:
    app.button(key="run_gradcam").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    return app.subheader[0].value


def test_a_checkpoint_rewritten_at_the_same_path_is_explained_anew(tiny):
    config, checkpoint = tiny
    app = _pick(_explorer(), config, checkpoint, sample_file("demo.mp4"))
    first = _explained(app)
    predicted = CLASSES.index(first.removeprefix("Explained: "))
    other = (predicted + 1) % len(CLASSES)
    _predicting(checkpoint, config, other)
    app.run()
    assert any("changed on disk since this result" in i.value for i in app.info)  # the old result is not shown
    assert not app.subheader
    assert _explained(app) == f"Explained: {CLASSES[other]}"
    captions = " ".join(c.value for c in app.main.caption)
    assert f"predicted: {CLASSES[other]}" in captions
