"""The Test results page (Streamlit AppTest) on a dump written by MMAction2's real tools/test.py: the
accuracies come from core.dumps, the filters narrow the sample table, and Explain opens the explorer on
the sample's video with the dump's model, explaining the chosen class."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from conftest import ROOT, plotly_array
from dump_data import make_real_dump
from streamlit.testing.v1 import AppTest

from core import dumps

PAGE = "pages/4_Test_results.py"


@pytest.fixture(scope="session")
def real_dump(tmp_path_factory) -> dict:
    return make_real_dump(tmp_path_factory)


def _page() -> AppTest:
    """The page as the running app shows it: opened from the explorer (its main script)."""
    st.cache_data.clear()
    app = AppTest.from_file(str(ROOT / "explorer.py"), default_timeout=120).run()
    return app.switch_page(PAGE).run()


def _opened(real_dump) -> AppTest:
    app = _page()
    app.text_input(key="dump_path").input(str(real_dump["dump"])).run()
    app.text_input(key="dump_config").input(str(real_dump["config"])).run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    return app


def test_empty_page_says_what_to_give():
    app = _page()
    assert not app.exception and app.title[0].value == "Test results"
    assert "results pickle" in app.main.info[0].value


def test_accuracies_confusion_and_filters(real_dump):
    app = _opened(real_dump)
    report = dumps.read_dump(real_dump["dump"], real_dump["ann"], real_dump["root"])
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Top-1 accuracy"] == f"{report.top1:.2%}"
    assert metrics["Top-5 accuracy"] == f"{report.top5:.2%}"
    assert metrics["Mean class accuracy"] == f"{report.mean_class_accuracy:.2%}"  # MMAction2's acc/mean1
    assert metrics["Mean over ground-truth classes"] == f"{report.mean_class_accuracy_gt:.2%}"

    charts = {chart.key: json.loads(chart.proto.spec) for chart in app.get("plotly_chart")}
    heat, cells = charts["dump_confusion"]["data"]
    shown = sorted(set(report.gt.tolist()) | set(report.pred.tolist()))
    assert plotly_array(heat["z"]).tolist() == report.confusion[shown][:, shown].tolist()
    clickable = {(int(gt), int(pred)) for gt, pred, _ in plotly_array(cells["customdata"])}
    assert clickable == set(zip(report.gt.tolist(), report.pred.tolist(), strict=True))
    bars = charts["dump_per_class"]["data"][0]
    assert plotly_array(bars["y"]).tolist() == sorted(c.accuracy for c in report.per_class() if c.count)

    table = app.dataframe[-1].value
    assert table["sample"].tolist() == list(range(len(report.gt)))
    app.radio(key="dump_show").set_value("Wrong").run()
    table = app.dataframe[-1].value
    wrong = [s.index for s in report.samples() if not s.correct]
    assert table["sample"].tolist() == wrong and not table["right"].any()
    app.selectbox(key="dump_gt").set_value(1).run()
    table = app.dataframe[-1].value
    assert table["sample"].tolist() == [i for i in wrong if report.gt[i] == 1]
    assert set(table["ground truth"]) == {report.classes[1]}
    app.selectbox(key="dump_gt").set_value(-1).run()
    app.radio(key="dump_show").set_value("All").run()
    app.selectbox(key="dump_order").set_value("score, lowest first").run()
    scores = app.dataframe[-1].value["score"].tolist()
    assert scores == sorted(scores) and len(scores) == len(report.gt)


def test_bad_pickle_is_one_error(real_dump, tmp_path):
    broken = tmp_path / "results.pkl"
    broken.write_bytes(real_dump["dump"].read_bytes()[:100])
    app = _page()
    app.text_input(key="dump_path").input(str(broken)).run()
    assert not app.exception
    (error,) = app.main.error
    assert "not a readable results pickle" in error.value


def test_explain_opens_the_explorer_on_the_sample(real_dump):
    app = _opened(real_dump)
    app.radio(key="model_source").set_value("Config and checkpoint paths").run()
    assert app.button(key="dump_explain").disabled  # no model given yet
    app.text_input(key="config_path").input(str(real_dump["config"])).run()
    app.text_input(key="checkpoint_path").input(str(real_dump["checkpoint"])).run()
    app.radio(key="dump_show").set_value("Wrong").run()
    report = dumps.read_dump(real_dump["dump"], real_dump["ann"], real_dump["root"])
    # test.mp4's samples are all predicted class 3, which no sample has
    sample = next(s for s in report.samples() if not s.correct and s.pred_label == 3)
    app.selectbox(key="dump_sample").set_value(sample.index).run()
    app.radio(key="dump_target").set_value("ground truth").run()
    app.button(key="dump_explain").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Grad-CAM explorer"  # the explorer, with the sample handed over
    assert app.text_input(key="config_path").value == str(real_dump["config"])
    assert app.text_input(key="checkpoint_path").value == str(real_dump["checkpoint"])
    assert app.text_input(key="video_path").value == sample.video
    assert app.selectbox(key="target").value == sample.gt_label
    assert not app.error, [e.value for e in app.error]
    # it explained at once: the ground truth of a wrongly predicted sample
    assert app.subheader[0].value == f"Explained: {report.classes[sample.gt_label]}"
    assert any(f"predicted: {report.classes[sample.pred_label]}" in c.value for c in app.caption)
