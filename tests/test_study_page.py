"""The Study page (Streamlit AppTest): empty, a study of three runs with both baselines, a bad run folder."""

from __future__ import annotations

import pytest
from conftest import ROOT, allow_test_folders, plotly_array
from study_data import SEEN, make_study

from core.study import StudySpec, compute

PAGE = ROOT / "pages" / "6_Study.py"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_study(tmp_path_factory.mktemp("study_page"), videos=6)


def _page(runs=(), gaze=None, density=None):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(PAGE), default_timeout=120)
    app.session_state["study_source"] = "folders"
    app.session_state["study_runs"] = max(1, len(runs))
    for i, (name, folder) in enumerate(runs):
        app.session_state[f"study_name_{i}"] = name
        app.session_state[f"study_folder_{i}"] = str(folder)
    if gaze is not None:
        app.session_state["study_gaze"] = str(gaze)
    if density is not None:
        app.session_state["study_density"] = str(density)
    return app.run()


def test_empty_page_says_what_to_give():
    app = _page()
    assert not app.exception and "batch output folders" in app.info[0].value


@pytest.fixture(scope="module")
def studied(data, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:  # module scope: the autouse roots fixture is not applied yet
        allow_test_folders(patch, tmp_path_factory)
        app = _page([(run, data[run]) for run in ("good", "mid", "bad")], data["fixations"], data["density"])
        assert not app.exception and not app.error
        assert app.button(key="study_run").label == "Run the study"
        return app.button(key="study_run").click().run()


def test_summary_shows_every_run_and_baseline_with_the_best_marked(data, studied):
    app = studied
    assert not app.exception and not app.error
    table = app.dataframe[0].value
    assert list(table.index) == ["good", "mid", "bad", "center (baseline)", "others (baseline)"]
    assert "KL ↓" in table.columns and "AUC_Judd ↑" in table.columns and "sAUC ↑" in table.columns
    expected = compute(StudySpec(tuple((r, data[r]) for r in ("good", "mid", "bad")), data["fixations"],
                                 data["density"]))
    nss = expected.stat("good", "NSS")
    assert table.loc["good", "NSS ↑"].startswith(f"{nss['mean']:.3f} ± {nss['std']:.3f}")
    assert app.button(key="study_run").label == "Run it again"


def test_metric_charts_video_player_and_curves(studied):
    app = studied
    charts = app.get("plotly_chart")
    assert len(charts) == 5  # p-values, per run, per class, player, curves
    import json

    pvalues = json.loads(charts[0].proto.spec)
    assert pvalues["data"][0]["type"] == "heatmap" and len(pvalues["data"][0]["x"]) == 5
    player = json.loads(charts[3].proto.spec)
    assert len(player["frames"]) == len(SEEN)  # one slider step per frame the runs saw
    assert len(player["frames"][0]["layout"]["images"]) == 4  # gaze, good, mid, bad
    curves = json.loads(charts[4].proto.spec)
    good = [t for t in curves["data"] if t["name"] == "good"]
    assert len(good) == 7 and list(plotly_array(good[0]["x"])) == SEEN
    chosen = app.selectbox(key="study_metric").select("KL").run()
    assert not chosen.exception and "KL" in json.loads(chosen.get("plotly_chart")[0].proto.spec)["layout"]["title"][
        "text"]
    other = chosen.selectbox(key="study_video").select_index(3).run()
    assert not other.exception and not other.error


def test_downloads_are_offered(studied):
    labels = sorted(button.label for button in studied.get("download_button"))
    assert labels == sorted(["study.zip", "scores.csv", "summary.csv", "tests.csv", "report.md", "summary.png",
                             "distributions.png", "pvalues.png", "classes.png"])


def test_a_folder_that_is_no_batch_is_one_error(data, tmp_path):
    app = _page([("empty", tmp_path)], data["fixations"])
    app = app.button(key="study_run").click().run()
    assert not app.exception and len(app.error) == 1 and "not a batch output folder" in app.error[0].value
