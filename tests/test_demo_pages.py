"""Every page that reads results opens on the built-in demo (Streamlit AppTest), its first source: Training runs
the demo's curves, Test results MMAction2's own dump of the demo model, Gaze comparison a demo batch against the
demo gaze, Study the two demo models against the demo gaze (run at once). The figures shown are checked against
what ``core`` computes from the same files."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from conftest import ROOT, plotly_array
from streamlit.testing.v1 import AppTest

from core import demo_data, dumps, gaze, runs
from core.study import StudySpec, compute

pytestmark = pytest.mark.skipif(not demo_data.LABELS_ONLY.is_file(), reason="the labels-only demo model is absent")


def _open(page: str) -> AppTest:
    """``page`` as a new visitor sees it: the explorer first, then the page, nothing picked."""
    st.cache_data.clear()
    app = AppTest.from_file(str(ROOT / "explorer.py"), default_timeout=240).run()
    app = app.switch_page(page).run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    return app


def test_training_runs_open_on_the_demo_runs_and_curves(demo_data_cache):
    app = _open("pages/1_Training_runs.py")
    assert app.radio(key="runs_source").value == "demo"
    labels_only = demo_data.MODELS[1]
    app.selectbox(key="runs_page_run").set_value(str(demo_data.run_folder(labels_only))).run()
    log = runs.read_training_log(demo_data.run_folder(labels_only))
    chart = json.loads(next(c for c in app.get("plotly_chart") if c.key == "runs_curves").proto.spec)
    traces = {t["name"]: t for t in chart["data"]}
    assert plotly_array(traces["loss"]["y"]).tolist() == [r["loss"] for r in log.train]
    assert plotly_array(traces["acc/top1"]["y"]).tolist() == [r["acc/top1"] for r in log.val]
    app.selectbox(key="runs_page_run").set_value(str(demo_data.run_folder())).run()
    tested = app.dataframe[-1].value
    assert tested["results"].tolist() == [str(demo_data.dump())]


def test_test_results_open_on_the_demo_dump(demo_data_cache):
    app = _open("pages/4_Test_results.py")
    assert app.radio(key="dump_source").value == "demo"
    report = dumps.open_dump(demo_data.dump(), config=demo_data.run_config())
    top1 = next(m for m in app.metric if m.label == "Top-1 accuracy")
    assert top1.value == f"{report.top1:.2%}" and report.top1 < 1  # a few mistakes to explain
    assert any("made by" in c.value for c in app.caption)


def test_gaze_comparison_opens_on_a_demo_batch_against_the_demo_gaze(demo_data_cache):
    app = _open("pages/3_Gaze_comparison.py")
    assert app.radio(key="gaze_source").value == "demo"
    expected, _ = gaze.score_path(demo_data.batch(), demo_data.gaze())
    table = next(d.value for d in app.dataframe if "video" in d.value.columns and len(d.value) == len(expected))
    assert table["NSS"].round(6).tolist() == [round(r.clip["NSS"], 6) for r in expected]


def test_study_opens_on_the_two_demo_models_and_runs_at_once(demo_data_cache):
    app = _open("pages/6_Study.py")
    assert app.radio(key="study_source").value == "demo"
    key, result = app.session_state["study_result"]
    assert key[0] == StudySpec.demo()
    assert result.to_json()["summary"] == compute(StudySpec.demo()).to_json()["summary"]
    assert [m.name for m in demo_data.MODELS] == result.runs[:2]
