"""The explorer's Evaluate part (pages/ui/evaluate.py) driven by Streamlit's AppTest on the demo: the figures it
shows are core.evaluate's for the same model and video, results are cached per explanation and options, the
sanity check leaves the shared model as it was, and Compare methods shows all six methods."""

from __future__ import annotations

import json

import numpy as np
import pytest
import streamlit as st
import torch
from conftest import ROOT, plotly_array
from streamlit.testing.v1 import AppTest

import core

demo = pytest.importorskip("core.demo", reason="core/demo.py (the built-in demo) is not in this checkout")
TIMEOUT = 300


@pytest.fixture
def explained() -> AppTest:
    """The explorer with the demo explained (Grad-CAM, predicted class) and 3 curve steps chosen."""
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "explorer.py"), default_timeout=TIMEOUT)
    at.run()
    at.button(key="run_gradcam").click().run()
    assert not at.exception and not at.error
    at.number_input(key="eval_steps").set_value(3).run()
    return at


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _chart(at: AppTest, title: str) -> dict:
    for spec in _charts(at):
        texts = [a.get("text", "") for a in spec["layout"].get("annotations", [])]
        texts.append(spec["layout"].get("title", {}).get("text", ""))
        if any(title in text for text in texts):
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def _demo_result():
    paths = demo.demo_paths()
    handle = core.load_model(paths["config"], paths["checkpoint"], "auto")
    result = core.explain(handle, paths["video"])
    return handle, result


def test_faithfulness_and_frame_importance_are_core_figures_and_cached(explained, monkeypatch):
    at = explained
    at.selectbox(key="eval_baseline").set_value("static").run()
    at.button(key="eval_run").click().run()
    assert not at.exception and not at.error
    handle, result = _demo_result()
    expected = core.faithfulness(handle, result, steps=3, baseline="static")
    verdict = expected.verdict()
    shown = [box.value for box in (at.success if verdict.supported else at.warning)]
    assert verdict.text in shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Deletion AUC"] == f"{expected.deletion_auc:.3f}"
    assert metrics["Insertion AUC"] == f"{expected.insertion_auc:.3f}"
    curves = _chart(at, "Deletion · AUC")
    np.testing.assert_allclose(plotly_array(curves["data"][0]["y"], float), expected.deletion, atol=1e-6)
    np.testing.assert_allclose(plotly_array(curves["data"][1]["y"], float), expected.random_deletion, atol=1e-6)

    importance = core.frame_importance(handle, result, baseline="static")
    frames = _chart(at, "Frame importance")
    bars = next(trace for trace in frames["data"] if trace["type"] == "bar")
    np.testing.assert_allclose(plotly_array(bars["y"], float), importance.drop.reshape(-1), atol=1e-6)
    timeline_title = "Activation per frame"
    timeline = _chart(at, timeline_title)  # the frame-importance figure repeats the viewer's timeline
    viewer = next(spec for spec in _charts(at) if spec["layout"].get("title", {}).get("text") == timeline_title)
    np.testing.assert_allclose(plotly_array(bars["x"], float), plotly_array(viewer["data"][0]["x"], float))
    np.testing.assert_allclose(plotly_array(timeline["data"][0]["x"], float), plotly_array(bars["x"], float))

    calls = []
    real = core.faithfulness
    monkeypatch.setattr(core, "faithfulness", lambda *a, **k: calls.append(k) or real(*a, **k))
    at.run()  # the same explanation and options: answered by the cache
    assert not calls and verdict.text in [box.value for box in [*at.success, *at.warning]]
    at.selectbox(key="eval_baseline").set_value("zeros").run()
    assert not any(m.label == "Deletion AUC" for m in at.metric)  # other options: only on request
    at.button(key="eval_run").click().run()
    assert [c["baseline"] for c in calls] == ["zeros"] and not at.error


def test_sanity_check_and_compare_methods(explained):
    at = explained
    spec = demo.demo_paths()
    loaded = core.load_model(spec["config"], spec["checkpoint"], "auto")  # the state the shared model must keep
    at.button(key="eval_sanity").click().run()
    assert not at.exception and not at.error
    boxes = [box.value for box in [*at.success, *at.warning]]
    assert any(text.startswith("The sanity check") for text in boxes)
    rho = _chart(at, "Sanity check: cascading randomisation")
    assert rho["data"][0]["x"][0] == "cls_head" and rho["data"][0]["x"][-1] == "backbone/conv1"
    from pages.ui import cache

    shared = cache.model(at.session_state["run_key"].model).model  # the app's loaded model, shared by sessions
    assert all(torch.equal(a, b) for a, b in zip(shared.state_dict().values(), loaded.model.state_dict().values(),
                                                 strict=True))

    at.button(key="eval_compare").click().run()
    assert not at.exception and not at.error
    (table,) = at.dataframe
    cams = [m.label for m in core.METHODS.values() if not m.needs_attention]  # the demo is a CNN
    assert list(table.value.index) == [*cams, "random ranking"]
    maps = _chart(at, "EigenCAM")
    titles = [a["text"] for a in maps["layout"]["annotations"]]
    assert titles == cams
    assert len(maps["frames"]) == 16 and all(len(f["layout"]["images"]) == 6 for f in maps["frames"])
    assert any("Most faithful here" in c.value for c in at.caption)
