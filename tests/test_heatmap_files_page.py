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
from core.overlay import frame_label

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


def _steps(spec: dict) -> list[str]:
    return [step["label"] for step in spec["layout"]["sliders"][0]["steps"]]


def test_legacy_file_is_one_notice_positions_and_no_sidecar(files):
    """A txt without sidecar: one notice (what it lacks and how to see it over its video), its frames labelled
    by their position in the file, and no sidecar to download (it would record unknown frames as facts)."""
    app = _page(files["legacy"])
    assert not app.error and not app.warning
    (notice,) = app.main.info
    assert "has no sidecar" in notice.value and "Give its source video in the sidebar" in notice.value
    assert not any(c.value.startswith("Legacy") for c in app.caption)
    (frames,) = _scrubbed(app)
    assert len(frames["frames"]) == 16 and len(frames["frames"][0]["layout"]["images"]) == 1  # heatmap only
    assert _steps(frames)[3] == "Frame 4/16 · position 3 in the file"
    timeline = next(spec for spec in _charts(app)
                    if spec["layout"].get("title", {}).get("text") == "Activation per frame")
    assert timeline["layout"]["xaxis"]["title"]["text"] == "position in the file"
    assert not app.get("video")
    assert len(app.get("plotly_chart")) == 3  # frame view, timeline, saliency
    assert [b.label for b in app.get("download_button")] == ["Frame view (png)", "Heatmaps (txt)", "Arrays (npz)"]
    assert app.sidebar.caption[-1].value.startswith("Give their source video above")


def test_legacy_file_placed_on_the_video_given(files):
    """With a source video the legacy frames go over it: sampled evenly by default, or a clip of every k-th
    frame, through the centred window or the whole frame; labels and the one notice say it is assumed."""
    from core.heatmap_files import legacy_frame_indices

    total = core.probe_video(files["video"]).frames
    app = _page(files["legacy"], video=files["video"])
    assert not app.error
    (notice,) = app.main.info
    assert "has no sidecar" in notice.value and "Placed on demo.mp4 by assumption" in notice.value
    (frames,) = _scrubbed(app)
    assert len(frames["frames"][0]["layout"]["images"]) == 2 and len(app.get("video")) == 1  # overlay, its video
    evenly = legacy_frame_indices(16, total)
    assert _steps(frames)[3] == f"Frame 4/16 · position 3 in the file · source frame {evenly[3]} (assumed)"
    assert "Sidecar (json)" not in [b.label for b in app.get("download_button")]
    app.radio(key="hm_sampling").set_value("stride").run()
    app.number_input(key="hm_stride").set_value(3).run()
    app.radio(key="hm_window").set_value("frame").run()
    assert not app.exception and not app.error
    (frames,) = _scrubbed(app)
    strided = legacy_frame_indices(16, total, 3)
    assert [label.split("source frame ")[1].split(" ")[0] for label in _steps(frames)] == [str(i) for i in strided]
    assert "3 apart" in app.main.info[0].value and "whole 340×256 frame" in app.main.info[0].value


LONG = "arm_wrestling_competition_final_round_camera_2_take_07"  # a video name tables must show whole


@pytest.fixture(scope="module")
def others(files, tmp_path_factory) -> dict:
    """layer3's heatmaps said to be of another video; layer4 and layer3 seen through a 224×160 window of the
    340×256 frame (heatmap pixels 1.4 times wider than high)."""
    folder = tmp_path_factory.mktemp("others")
    made = {}
    for name, source, changes in (("other", "layer3", {"video": f"/elsewhere/{LONG}.mp4"}),
                                  ("wide4", "layer4", {"crop_box": [58, 48, 282, 208],
                                                       "view_boxes": [[58, 48, 282, 208]] * 2}),
                                  ("wide3", "layer3", {"crop_box": [58, 48, 282, 208],
                                                       "view_boxes": [[58, 48, 282, 208]] * 2})):
        txt = copy_result(files[source], folder, name)
        meta = json.loads(txt.with_suffix(".json").read_text())
        txt.with_suffix(".json").write_text(json.dumps({**meta, **changes}))
        made[name] = txt
    return made


def test_file_table_names_each_files_video(files, others):
    app = _page(files["layer4"], others["other"], files["legacy"])
    table = app.dataframe[0].value
    assert table["file"].tolist() == ["layer4", "other", "legacy"]
    assert table["video"].tolist() == ["demo.mp4", f"{LONG}.mp4", "unknown (no sidecar)"]
    columns = json.loads(app.dataframe[0].proto.columns)
    assert columns["video"]["width"] >= 8 * len(f"{LONG}.mp4") and columns["file"]["pinned"]


def test_files_of_different_videos_are_compared_only_when_asked(files, others):
    app = _page(files["layer4"], others["other"])
    assert app.selectbox(key="hm_a").value == "layer4" and app.selectbox(key="hm_b").value == "other"
    (error,) = app.main.error
    assert f"layer4 explains demo.mp4 and other explains {LONG}.mp4" in error.value
    assert not app.metric and not [s for s in _scrubbed(app) if len(s["frames"][0]["layout"]["images"]) == 3]
    app.checkbox(key="hm_other_videos").check().run()
    assert not app.main.error and "two different clips" in app.main.warning[0].value
    expected = compare_results(read_result(files["layer4"]), read_result(others["other"]), other_videos=True)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Saliency correlation"] == f"{expected.saliency_correlation:.3f}"


def test_compared_saliency_keeps_the_videos_proportions(others):
    """Through a 224×160 window a 64×64 heatmap pixel is 1.4 times wider than high: the comparison's frames
    and its saliency maps are drawn so (the single view already was)."""
    app = _page(others["wide4"], others["wide3"])
    assert not app.error
    saliency = next(spec for spec in _charts(app)
                    if spec["layout"].get("annotations", [{}])[0].get("text", "").startswith("Saliency"))
    for axis in ("yaxis", "yaxis2", "yaxis3"):
        assert saliency["layout"][axis]["scaleratio"] == pytest.approx(1 / 1.4)
    compared = next(spec for spec in _scrubbed(app) if len(spec["frames"][0]["layout"]["images"]) == 3)
    assert compared["layout"]["yaxis"]["scaleratio"] == pytest.approx(1 / 1.4)


def test_png_download_takes_the_frame_the_player_shows(files):
    """The PNG follows the player's frame, which the browser reports through the page's frame reader
    (``viewer.player_frame``; tests/test_explorer_e2e.py drags the real slider in Chromium)."""
    app = _page(files["layer4"])
    assert not [s for s in app.get("slider") if s.label == "Frame for the PNG"]
    assert app.caption[-1].value == "PNG of the frame the player shows: Frame 1/16 · view 1 · source frame 0 · 0.00 s"
    (reader,) = [el for el in app.main.children.values() for el in _walk(el) if el.type == "bidi_component"]
    app.session_state[reader.key] = {"frame": 9}
    app.run()
    label = frame_label(read_result(files["layer4"]), 9)
    assert app.caption[-1].value == f"PNG of the frame the player shows: Frame 10/16 · {label}"


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def test_two_files_compared(files):
    app = _page(files["layer4"], files["layer3"], files["legacy"])
    assert not app.error
    assert app.dataframe[0].value["file"].tolist() == ["layer4", "layer3", "legacy"]
    assert app.dataframe[0].value["video"].tolist() == ["demo.mp4", "demo.mp4", "unknown (no sidecar)"]
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
    app.radio(key="hm_source").set_value("upload").run()
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
