"""The Training runs page (Streamlit AppTest) on a run trained and tested with MMAction2's own scripts through
core.mm: curves from scalars.json, checkpoint epochs and the best one, the dump and the checkpoint that made it,
opened on the Test results page."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from conftest import ROOT, plotly_array
from mm_data import trained_project
from streamlit.testing.v1 import AppTest

from core import dumps, runs

PAGE = "pages/1_Training_runs.py"


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> dict:
    return trained_project(tmp_path_factory)


def _page(root) -> AppTest:
    st.cache_data.clear()
    app = AppTest.from_file(str(ROOT / "explorer.py"), default_timeout=120).run()
    app.session_state["runs_source"] = "folder"
    app = app.switch_page(PAGE).run()
    app.text_input(key="runs_root").input(str(root)).run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    return app


def test_curves_checkpoints_and_the_dump_of_a_run(project):
    app = _page(project["root"])
    assert app.title[0].value == "Training runs"
    log = runs.read_training_log(project["work_dir"])
    chart = json.loads(next(c for c in app.get("plotly_chart") if c.key == "runs_curves").proto.spec)
    traces = {t["name"]: t for t in chart["data"]}
    assert plotly_array(traces["loss"]["y"]).tolist() == [r["loss"] for r in log.train]
    assert plotly_array(traces["loss"]["x"]).tolist() == [1, 2, 3, 4]  # iterations
    assert plotly_array(traces["acc/top1"]["x"]).tolist() == [1, 2]  # epochs
    assert plotly_array(traces["acc/top1"]["y"]).tolist() == [r["acc/top1"] for r in log.val]
    (best_name,) = [n for n in traces if n.startswith("best: ")]
    best = next(i for i in runs.describe_checkpoints(runs.find_runs(project["work_dir"])[0]) if i.best)
    assert best_name == f"best: {best.path.name}"
    assert plotly_array(traces[best_name]["y"]).tolist() == [best.val["acc/top1"]]

    checkpoints, tested = (d.value for d in app.dataframe)
    by_name = checkpoints.set_index("checkpoint")
    assert by_name.loc["epoch_2.pth", "epoch"] == 2 and by_name.loc["epoch_2.pth", "latest"]
    assert by_name.loc[best.path.name, "best"] == "★ by acc/top1"
    assert by_name.loc["epoch_1.pth", "acc/top1"] == log.val[0]["acc/top1"]


    assert tested["results"].tolist() == [str(project["dump"].resolve())]
    assert tested["checkpoint"].tolist() == ["epoch_2.pth"] and tested["epoch"].tolist() == [2]
    assert tested["acc/top1"].tolist() == [project["metrics"]["acc/top1"]]
    assert tested["known from"].tolist() == ["python -m core.mm test"]

    app.button(key="runs_open_dump").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Test results"
    assert app.text_input(key="dump_path").value == str(project["dump"].resolve())
    assert app.text_input(key="dump_config").value == str(project["work_dir"].resolve() / "tiny_r3d.py")
    report = dumps.open_dump(project["dump"], config=project["config"])
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Top-1 accuracy"] == f"{report.top1:.2%}" and not app.main.error  # its dumped config reads it


def test_a_folder_without_runs_says_so(tmp_path):
    app = _page(tmp_path)
    assert "No MMAction2 runs here" in app.sidebar.info[0].value


def test_the_curves_of_several_runs_on_one_chart(project, tmp_path):
    import shutil

    root = tmp_path / "work_dirs"
    for name in ("tsn", "i3d"):  # two runs (the second's losses doubled, so the curves differ)
        shutil.copytree(project["work_dir"], root / name)
    (scalars,) = (root / "i3d").glob("*/vis_data/scalars.json")
    lines = [json.loads(line) for line in scalars.read_text().splitlines()]
    scalars.write_text("".join(json.dumps({**r, **({"loss": 2 * r["loss"]} if "loss" in r else {})}) + "\n"
                               for r in lines))
    app = _page(root)
    shown = app.selectbox(key="runs_page_run").value
    other = next(str(root / n) for n in ("tsn", "i3d") if str(root / n) != shown)
    app.multiselect(key="runs_page_compare").select(other).run()
    assert not app.exception and not app.main.error, [e.value for e in app.main.error]
    chart = json.loads(next(c for c in app.get("plotly_chart") if c.key == "runs_compared").proto.spec)
    traces = {t["name"]: t for t in chart["data"]}
    for name in ("tsn", "i3d"):
        log = runs.read_training_log(root / name)
        assert plotly_array(traces[f"{name} · loss"]["y"]).tolist() == [r["loss"] for r in log.train]
        assert plotly_array(traces[f"{name} · acc/top1"]["y"]).tolist() == [r["acc/top1"] for r in log.val]
    assert traces["tsn · loss"]["line"]["color"] != traces["i3d · loss"]["line"]["color"]
