"""The explorer's "versus" picker (contrastive maps) and its "Whole video" mode, driven by Streamlit's AppTest on
the built-in demo."""

from __future__ import annotations

import json

import numpy as np
import pytest
import streamlit as st
from conftest import ROOT
from streamlit.testing.v1 import AppTest

import core
from core import demo
from core.target import ClassIndex, Contrast, Similar
from core.whole_video import read_timeline
from pages.ui.whole_video import seek_of


@pytest.fixture
def app() -> AppTest:
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "explorer.py"), default_timeout=300)
    at.run()
    assert not at.exception
    return at


def _run(at: AppTest) -> AppTest:
    at.button(key="run_gradcam").click().run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error]
    return at


def test_versus_picker_explains_the_contrast(app):
    paths = demo.demo_paths()
    handle = core.load_model(paths["config"], paths["checkpoint"], "auto")
    app.selectbox(key="target").select_index(1 + 1).run()  # class 1 ("moving right")
    versus = app.selectbox(key="versus")
    assert versus.options[:2] == ["— (no contrast)", "its 3 most similar classes (FinerCAM)"]
    versus.select_index(2 + 0).run()  # class 0
    _run(app)
    expected = core.explain(handle, paths["video"], target=Contrast(ClassIndex(1), ClassIndex(0)))
    assert app.subheader[0].value == f"Explained: {expected.target_label}"
    spec = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert spec  # the result is shown
    app.selectbox(key="versus").select_index(1).run()  # similar:3
    _run(app)
    similar = core.explain(handle, paths["video"], target=Contrast(ClassIndex(1), Similar(3)))
    assert similar.extra["contrast"]["versus"] and app.subheader[0].value == f"Explained: {similar.target_label}"


def test_whole_video_mode_timeline_seeks_and_downloads(app):
    app.toggle(key="whole_video").set_value(True).run()
    _run(app)
    assert app.subheader[0].value.startswith("Whole video: ")
    assert len(app.get("video")) == 1
    chart = json.loads(app.get("plotly_chart")[0].proto.spec)
    widths = {trace["name"]: trace["line"]["width"] for trace in chart["data"]}
    txt = next((core.demo.cache_dir() / "whole_video").rglob("*.txt"))
    timeline = read_timeline(txt)
    explained = {timeline.classes[int(t)] for t in timeline.targets}
    assert {name for name, width in widths.items() if width == 4} == explained  # the explained class bold
    assert len(chart["data"][0]["x"]) == len(timeline.starts)
    labels = [b.label for b in app.get("download_button")]
    assert "Timeline (csv)" in labels
    assert core.read_heatmap_txt(txt).shape[0] == core.probe_video(demo.demo_paths()["video"]).frames
    # a click on the timeline (what Streamlit sends the page) seeks the player to that time
    assert seek_of([{"x": 2.5, "y": 0.4, "curve_number": 0}]) == 2.5 and seek_of([]) is None
    app.session_state["whole_video_seek"] = float(np.round(timeline.centers[-1]))
    app.run()
    assert app.get("video")[0].proto.start_time == int(np.round(timeline.centers[-1]))
