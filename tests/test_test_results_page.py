"""The Test results page (Streamlit AppTest) on a dump written by MMAction2's real tools/test.py: the
accuracies come from core.dumps, the filters narrow the sample table, and Explain opens the explorer on
the sample's video with the dump's model, explaining the chosen class."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import streamlit as st
import torch
from conftest import ROOT, plotly_array
from dump_data import make_real_dump
from mm_data import trained_project
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
    app.session_state["dump_source"] = "paths"
    return app.switch_page(PAGE).run()


def _opened(real_dump) -> AppTest:
    app = _page()
    app.text_input(key="dump_path").input(str(real_dump["dump"])).run()
    app.text_input(key="dump_config").input(str(real_dump["config"])).run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    return app


def _select(app: AppTest, label: str):
    """The selectbox with this label (its key carries the class names, see the page's names_key)."""
    (box,) = [b for b in app.selectbox if b.label == label]
    return box


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
    assert "scaleanchor" not in charts["dump_confusion"]["layout"]["yaxis"]  # square cells held it to a third
    bars = charts["dump_per_class"]["data"][0]
    assert plotly_array(bars["y"]).tolist() == sorted(c.accuracy for c in report.per_class() if c.count)

    table = app.dataframe[-1].value
    assert table["sample"].tolist() == list(range(len(report.gt)))
    app.radio(key="dump_show").set_value("wrong").run()
    table = app.dataframe[-1].value
    wrong = [s.index for s in report.samples() if not s.correct]
    assert table["sample"].tolist() == wrong and not table["right"].any()
    _select(app, "Ground truth").set_value(1).run()
    table = app.dataframe[-1].value
    assert table["sample"].tolist() == [i for i in wrong if report.gt[i] == 1]
    assert set(table["ground truth"]) == {report.classes[1]}
    _select(app, "Ground truth").set_value(-1).run()
    app.radio(key="dump_show").set_value("all").run()
    app.selectbox(key="dump_order").set_value(dumps.Order.SCORE_ASCENDING).run()
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
    app.radio(key="model_source").set_value("paths").run()
    assert app.button(key="dump_explain").disabled  # no model given yet
    app.text_input(key="config_path").input(str(real_dump["config"])).run()
    app.text_input(key="checkpoint_path").input(str(real_dump["checkpoint"])).run()
    app.radio(key="dump_show").set_value("wrong").run()
    report = dumps.read_dump(real_dump["dump"], real_dump["ann"], real_dump["root"])
    # test.mp4's samples are all predicted class 3, which no sample has
    sample = next(s for s in report.samples() if not s.correct and s.pred_label == 3)
    _select(app, "Sample").set_value(sample.index).run()
    app.radio(key="dump_target").set_value("gt").run()
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


# --------------------------------------------------------------------------- on a run trained with core.mm (issue 18)


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> dict:
    return trained_project(tmp_path_factory)


def _sidebar_text(app: AppTest) -> str:
    return " ".join(c.value for c in app.sidebar.caption)


def test_class_names_follow_the_config_given_after_the_pickle(project):
    app = _page()
    app.text_input(key="dump_path").input(str(project["dump"])).run()
    unnamed = _select(app, "Sample")
    assert "class_0" in unnamed.options[0]  # no config yet: the dump alone names no classes
    app.text_input(key="dump_config").input(str(project["config"])).run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    named = _select(app, "Sample")
    report = dumps.open_dump(project["dump"], config=project["config"])
    assert named.options[0] == _label(report, 0) and "class_" not in " ".join(named.options)
    assert named.key != unnamed.key  # a new widget identity: the browser drops the old label text
    table = app.dataframe[-1].value
    assert set(table["ground truth"]) <= set(report.classes)
    assert all(o == "Any" or o.split(": ", 1)[1] in report.classes for o in _select(app, "Ground truth").options)


def _label(report: dumps.DumpReport, index: int) -> str:
    sample = report.samples()[index]
    mark = "✓" if sample.correct else "✗"
    return (f"#{index} {Path(sample.video).name}: {report.classes[sample.gt_label]} → "
            f"{report.classes[sample.pred_label]} ({sample.score:.2f}) {mark}")


def _opened_project(project, dump: Path | None = None) -> AppTest:
    app = _page()
    app.text_input(key="dump_path").input(str(dump or project["dump"])).run()
    app.text_input(key="dump_config").input(str(project["config"])).run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    return app


def _biased_checkpoint(project, folder: Path, cls: int) -> Path:
    """epoch_2.pth with the head's bias for ``cls`` raised: it predicts ``cls`` for every video."""
    checkpoint = torch.load(project["checkpoint"], map_location="cpu", weights_only=False)
    checkpoint["state_dict"]["cls_head.fc_cls.bias"][cls] += 100.0
    path = folder / "biased.pth"
    torch.save({"state_dict": checkpoint["state_dict"], "meta": {}}, path)
    return path


def test_the_dumps_checkpoint_is_offered_and_a_mismatch_warned(project, tmp_path):
    app = _opened_project(project)
    assert "made by **epoch_2.pth** (recorded by python -m core.mm test)" not in _sidebar_text(app)
    text = _sidebar_text(app)  # both paths in full, used only on the button (issue 22.3)
    assert f"made by checkpoint `{project['checkpoint']}` with config `{project['config']}`" in text
    assert "(recorded by python -m core.mm test); they are used only if you press the button" in text
    assert app.radio(key="model_source").value != "paths"  # nothing preset yet
    app.button(key="dump_use_origin").click().run()
    assert app.radio(key="model_source").value == "paths"
    assert app.text_input(key="checkpoint_path").value == str(project["checkpoint"])
    assert app.text_input(key="config_path").value == str(project["config"])
    assert not app.main.warning and not app.button(key="dump_explain").disabled
    other = _biased_checkpoint(project, tmp_path, 0)
    app.text_input(key="checkpoint_path").input(str(other)).run()
    (warning,) = app.main.warning
    assert "biased.pth" in warning.value and "epoch_2.pth" in warning.value


def test_explain_warns_when_the_explorer_contradicts_the_dump(project, tmp_path):
    report = dumps.open_dump(project["dump"], config=project["config"])
    forced = next(c for c in range(4) if c != report.pred[0])
    biased = _biased_checkpoint(project, tmp_path, forced)
    for checkpoint, warned in ((project["checkpoint"], False), (biased, True)):
        app = _opened_project(project)
        app.radio(key="model_source").set_value("paths").run()
        app.text_input(key="config_path").input(str(project["config"])).run()
        app.text_input(key="checkpoint_path").input(str(checkpoint)).run()
        _select(app, "Sample").set_value(0).run()
        app.radio(key="dump_target").set_value("predicted").run()
        app.button(key="dump_explain").click().run()
        assert not app.exception, app.exception
        assert app.title[0].value == "Grad-CAM explorer" and not app.error, [e.value for e in app.error]
        assert app.subheader[0].value == f"Explained: {report.classes[report.pred[0]]}"  # the dump's prediction
        warnings = [w.value for w in app.main.warning]
        if warned:
            (text,) = warnings
            assert text.startswith(f"The test dump (sample #0) predicted {report.classes[report.pred[0]]} for this "
                                   f"video, but this model predicts {report.classes[forced]} here.")
            assert "not the checkpoint that made these results (epoch_2.pth)" in text
        else:
            assert warnings == []  # the checkpoint that made the dump predicts what the dump says


def test_remember_which_checkpoint_made_a_dump(project, tmp_path):
    dump = tmp_path / "results.pkl"  # a copy: no record beside it, no test.py log
    dump.write_bytes(project["dump"].read_bytes())
    app = _opened_project(project, dump)
    assert "made by" not in _sidebar_text(app)
    app.radio(key="model_source").set_value("paths").run()
    app.text_input(key="config_path").input(str(project["config"])).run()
    app.text_input(key="checkpoint_path").input(str(project["checkpoint"])).run()
    app.button(key="dump_remember").click().run()
    source = dumps.read_source(dump)
    assert source.checkpoint == str(project["checkpoint"]) and source.recorded_by == "the Test results page"
    assert f"made by checkpoint `{project['checkpoint']}`" in _sidebar_text(app)
    assert all(b.key != "dump_remember" for b in app.button)  # remembered: the record is offered instead


@pytest.mark.parametrize("target", ["gt", "both"])
def test_explain_all_mistakes_runs_a_batch(project, tmp_path, target):
    from core.batch import read_summary
    from core.batch.job import job_for

    report = dumps.open_dump(project["dump"], config=project["config"])
    wrong = [s for s in report.samples() if not s.correct]
    assert wrong, "the two-epoch model should make mistakes on the test clips"
    app = _opened_project(project)
    app.button(key="dump_use_origin").click().run()
    out = tmp_path / "explained"
    app.text_input(key="dump_batch_out").input(str(out)).run()
    app.radio(key="dump_batch_target").set_value(target).run()
    start = app.button(key="dump_batch_start")
    assert start.label == "Explain all mistakes" and not start.disabled
    start.click().run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    folders = [out] if target == "gt" else [out / "ground_truth", out / "prediction"]
    assert job_for(folders[-1]) is None or target == "gt"  # one batch at a time: the second waits
    for folder in folders:
        _job(folder)
    listed = (out / "samples.txt").read_text().splitlines()
    assert listed == [f"{Path(s.video).name} {s.gt_label}" for s in wrong]  # relative to the videos' folder
    for folder, key in zip(folders, ["gt", "predicted"], strict=False):
        rows = sorted(read_summary(folder), key=lambda r: r["name"])  # test_N: sample order
        assert [r["name"] for r in rows] == [Path(s.video).stem for s in wrong]
        assert all(r["status"] == "ok" for r in rows)
        assert [int(r["gt_class"]) for r in rows] == [s.gt_label for s in wrong]
        expected = [s.gt_label for s in wrong] if key == "gt" else [s.pred_label for s in wrong]
        assert [int(r["target_class"]) for r in rows] == expected  # the checkpoint that made the dump agrees
    app.run()  # the finished batches, each opening on the Batch page
    (opener, *_) = [b for b in app.button if b.key.startswith("dump_batch_open_")]
    opener.click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Batch" and app.text_input(key="batch_out").value == str(folders[0])
    assert any(m.value.startswith(f"**Summary** · {len(wrong)} explained · 0 failed") for m in app.markdown)


# ------------------------------------------------------------- the model picked is the one that runs (issue 23)


def _job(folder: Path):
    from core.batch.job import job_for

    deadline = time.monotonic() + 300
    while job_for(folder) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    job = job_for(folder)
    assert job is not None, folder
    job.join(300)
    assert job.progress().phase == "finished", job.progress().error
    return job


def test_a_batch_runs_the_checkpoint_that_made_the_dump_whatever_the_sidebar_shows(project, tmp_path):
    app = _opened_project(project)  # the sidebar still shows the built-in demo: not the model that made the dump
    assert any("With **epoch_2.pth**, the checkpoint that made these results" in c.value for c in app.main.caption)
    out = tmp_path / "explained"
    app.text_input(key="dump_batch_out").input(str(out)).run()
    app.button(key="dump_batch_start").click().run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    request = _job(out).request
    assert Path(request.checkpoint) == project["checkpoint"] and Path(request.config) == project["config"]


def test_a_batch_asks_for_the_checkpoint_when_the_dump_does_not_say(project, tmp_path):
    dump = tmp_path / "results.pkl"  # a copy: no record beside it, no test.py log
    dump.write_bytes(project["dump"].read_bytes())
    app = _opened_project(project, dump)
    assert app.button(key="dump_batch_start").disabled  # never the sidebar's (demo) model instead
    assert any("Give the checkpoint that made these results" in i.value for i in app.main.info)
    app.text_input(key="dump_batch_checkpoint").input(str(project["checkpoint"])).run()
    out = tmp_path / "explained"
    app.text_input(key="dump_batch_out").input(str(out)).run()
    app.button(key="dump_batch_start").click().run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    assert Path(_job(out).request.checkpoint) == project["checkpoint"]
    assert Path(dumps.read_source(dump).checkpoint) == project["checkpoint"]  # remembered from now on


def test_a_label_map_given_here_names_the_classes_in_the_explorer(project, tmp_path):
    report = dumps.open_dump(project["dump"], config=project["config"])
    names = [f"named_{c}" for c in range(len(report.classes))]
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(names) + "\n")
    app = _opened_project(project)
    app.text_input(key="dump_label_map").input(str(labels)).run()
    app.button(key="dump_use_origin").click().run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    app.switch_page("explorer.py").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any("labels.txt (the label map given for this model" in c.value for c in app.sidebar.caption)
    app.radio(key="video_source").set_value("path").run()
    app.text_input(key="video_path").input(report.samples()[0].video).run()
    app.button(key="run_gradcam").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert app.subheader[0].value.removeprefix("Explained: ") in names


def test_why_b_rather_than_a_explains_the_cell_with_the_contrast(project):
    from collections import Counter

    from pages.ui.contrast import cell_folder

    report = dumps.open_dump(project["dump"], config=project["config"])
    cells = Counter((s.gt_label, s.pred_label) for s in report.samples() if not s.correct)
    (gt, pred), count = cells.most_common(1)[0]
    app = _opened_project(project)
    assert all(b.key != "dump_why" for b in app.button)  # no cell picked: no question
    app.session_state["dump_gt"], app.session_state["dump_pred"] = gt, pred  # what a cell click sets
    app.run()
    a, b = report.classes[gt], report.classes[pred]
    assert f"Why {b} rather than {a}?" in [s.value for s in app.subheader]
    button = app.button(key="dump_why")
    assert button.label == f"Why {b} rather than {a}? ({count} samples)" and not button.disabled
    button.click().run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    folder = cell_folder(Path(project["dump"]).with_name(f"{Path(project['dump']).stem}_explained"), gt, pred)
    job = _job(folder)
    assert Path(job.request.checkpoint) == project["checkpoint"]  # the dump's model, not the sidebar's demo
    sidecars = [json.loads(p.read_text()) for p in folder.rglob("*.json") if not p.name.startswith(".")]
    assert len(sidecars) == count
    assert all(m["contrast"] == {"target": f"contrast:{pred}:{gt}", "versus": [gt], "versus_labels": [a]}
               and m["target_class"] == pred for m in sidecars)
    app.run()  # the grid: a row of frames per sample
    assert len(app.get("image")) == min(count, 8) * 8
    app.toggle(key="dump_why_single").set_value(True).run()
    assert len(app.get("image")) == min(count, 8) * 8 + 3
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    titles = [m.value for m in app.markdown if m.value.startswith("**Grad-CAM(") or m.value.startswith("**Contrast(")]
    assert titles == [f"**Grad-CAM({b})**", f"**Grad-CAM({a})**", f"**Contrast({b}, {a})**"]
