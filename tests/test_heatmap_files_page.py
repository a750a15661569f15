"""The Heatmap files page (Streamlit AppTest) on files written by core.vis_cam: ours (sidecar, npz, the
source video's frames) and a legacy printed one are scrubbed with the explorer's viewer; two files are
compared with a difference map per frame and per-frame correlations from core.compare."""

from __future__ import annotations

import json

import numpy as np
import pytest
import streamlit as st
from conftest import ROOT, plotly_array
from heatmap_data import copy_result, make_heatmap_files
from streamlit.testing.v1 import AppTest

import core
from core.compare import compare_results
from core.heatmap_files import read_result

PAGE = "pages/5_Heatmap_files.py"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    return make_heatmap_files(tmp_path_factory)


def _page(*paths, video=None) -> AppTest:
    st.cache_data.clear()
    app = AppTest.from_file(str(ROOT / "explorer.py"), default_timeout=120).run()
    app.switch_page(PAGE)
    if paths:
        app.session_state["hm_paths"] = "\n".join(str(p) for p in paths)
    if video:
        app.session_state["hm_video"] = str(video)
    app.run()
    assert not app.exception, app.exception
    return app


def _charts(app: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def _scrubbed(app: AppTest) -> list[dict]:
    """The animated figures (the viewer's frame view, the comparison)."""
    return [spec for spec in _charts(app) if spec.get("frames")]


def test_empty_page_says_what_to_open():
    app = _page()
    assert app.title[0].value == "Heatmap files" and "heatmap txt files" in app.main.info[0].value


def test_our_file_is_shown_like_the_explorers_result(files):
    app = _page(files["layer4"])
    assert not app.error and app.subheader[0].value == "layer4"
    assert "layer backbone/layer4" in app.caption[0].value and "demo.mp4" in app.caption[0].value
    (frames,) = _scrubbed(app)
    assert len(frames["frames"]) == 16 and len(frames["frames"][0]["layout"]["images"]) == 2  # heatmap, overlay
    assert "source frame 0 ·" in frames["layout"]["sliders"][0]["steps"][0]["label"]
    assert len(app.get("video")) == 1  # the overlay video
    assert len(app.get("plotly_chart")) == 4  # frame view, timeline, saliency, top-k (from the npz)
    labels = {b.label for b in app.get("download_button")}
    assert {"Heatmaps (txt)", "Sidecar (json)", "Arrays (npz)", "Overlay video (mp4)"} <= labels


def test_legacy_file_shows_its_frames_alone(files):
    app = _page(files["legacy"], video=files["video"])
    assert not app.error and app.caption[0].value.startswith("Legacy file (no sidecar)")
    assert any("has no sidecar" in i.value for i in app.info)
    (frames,) = _scrubbed(app)
    assert len(frames["frames"]) == 16 and len(frames["frames"][0]["layout"]["images"]) == 1  # heatmap only
    assert not app.get("video")
    assert len(app.get("plotly_chart")) == 3  # frame view, timeline, saliency


def test_two_files_compared(files):
    app = _page(files["layer4"], files["layer3"], files["legacy"])
    assert not app.error
    assert app.dataframe[0].value["file"].tolist() == ["layer4", "layer3", "legacy"]
    assert app.selectbox(key="hm_a").value == "layer4" and app.selectbox(key="hm_b").value == "layer3"
    expected = compare_results(read_result(files["layer4"]), read_result(files["layer3"]))
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Saliency correlation"] == f"{expected.saliency_correlation:.3f}"
    assert metrics["Mean per-frame correlation"] == f"{np.nanmean(expected.correlation):.3f}"
    compared = next(spec for spec in _scrubbed(app) if len(spec["frames"][0]["layout"]["images"]) == 3)
    assert len(compared["frames"]) == 16  # A, B and A − B for each of the 16 frames
    assert [a["text"] for a in compared["layout"]["annotations"]] == ["layer4", "layer3", "layer4 − layer3"]
    step = compared["layout"]["sliders"][0]["steps"][3]["label"]
    assert step.endswith(f"r = {expected.correlation[3]:.2f}")
    curves = next(spec for spec in _charts(app) if spec["layout"].get("title", {}).get("text") == "Per frame")
    assert curves["data"][0]["name"] == "correlation"
    assert np.allclose(plotly_array(curves["data"][0]["y"], dtype=float), expected.correlation, atol=1e-6)

    app.selectbox(key="hm_b").select("legacy").run()  # the same heatmaps, printed: no difference
    assert any("no sidecar" in i.value for i in app.info)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Saliency correlation"] == "1.000" and metrics["Mean |A − B|"] == "0.000"


def test_uploaded_files_keep_their_sidecar(files):
    app = _page()
    app.radio(key="hm_source").set_value("Upload").run()
    uploads = [(p.name, p.read_bytes(), "application/octet-stream") for p in sorted(files["folder"].glob("layer4.*"))]
    uploader = app.file_uploader(key="hm_upload")
    for name, data, mime in uploads:
        uploader.upload(name, data, mime)
    app.run()
    assert not app.exception and not app.error
    assert app.subheader[0].value == "layer4" and "layer backbone/layer4" in app.caption[0].value


def test_unreadable_file_is_one_error_and_the_others_still_open(files, tmp_path):
    broken = tmp_path / "broken.txt"
    broken.write_text("not a heatmap file")
    app = _page(broken, files["layer4"])
    (error,) = app.error
    assert error.value.startswith("broken.txt: ") and "not a heatmap file" in error.value
    assert app.subheader[0].value == "layer4"


def test_damaged_files_are_one_sentence_and_odd_values_a_note(files, tmp_path):
    """A sidecar field of the wrong type or NaN heatmaps: one st.error naming the file and what is wrong (never
    Streamlit's exception box); heatmaps outside [0, 1] open, with a note."""
    fast = copy_result(files["layer4"], tmp_path, "fast", (".txt", ".json"))
    meta = json.loads(fast.with_suffix(".json").read_text())
    fast.with_suffix(".json").write_text(json.dumps({**meta, "fps": "fast"}))
    maps = core.read_heatmap_txt(files["layer4"])
    for name, value in (("nan", np.nan), ("negative", -0.25)):
        txt = copy_result(files["layer4"], tmp_path, name, (".json",))
        maps[3, 0, 0] = value
        core.write_heatmap_txt(txt, maps)
    app = _page(fast, tmp_path / "nan.txt", tmp_path / "negative.txt")
    assert not app.exception
    errors = [e.value for e in app.error]
    assert len(errors) == 2 and errors[0].startswith("fast.txt: ") and '"fps" must be a positive number' in errors[0]
    assert errors[1].startswith("nan.txt: ") and "heatmap frame 3 holds NaN or infinite values" in errors[1]
    assert app.subheader[0].value == "negative" and any("outside [0, 1]" in i.value for i in app.info)
