"""The gaze comparison page (Streamlit AppTest): one txt with per-frame gaze, a batch folder, a bad path."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import ROOT
from gaze_data import make_clip_gaze, make_frame_gaze, make_wide

from core import gaze

PAGE = ROOT / "pages" / "3_Gaze_comparison.py"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = make_frame_gaze(make_clip_gaze(make_wide(tmp_path_factory.mktemp("page"))))
    for label, name in (("walk", "a"), ("run", "b"), ("run", "c")):
        (folder / "batch" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "wide.txt", folder / "batch" / label / f"{name}.txt")
        meta = json.loads((folder / "wide.json").read_text())
        meta.update(video=str(folder / f"{name}.mp4"), batch={"gt_label": label})
        (folder / "batch" / label / f"{name}.json").write_text(json.dumps(meta))
    (folder / "gaze").mkdir()
    for name, source in (("a", "fix.png"), ("b", "fix_shift.png"), ("c", "fix.png")):
        shutil.copy(folder / source, folder / "gaze" / f"{name}.png")
    return folder


def _page(**inputs):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(PAGE), default_timeout=60)
    for key, value in inputs.items():
        app.session_state[f"gaze_{key}"] = str(value)
    return app.run()


def test_empty_page_explains_what_to_give():
    app = _page()
    assert not app.exception and "heatmap txt" in app.info[0].value


def test_one_txt_with_per_frame_gaze(data):
    app = _page(heatmaps=data / "wide.txt", fixations=data / "fix_frames", density=data / "dens_frames.mp4")
    assert not app.exception and not app.error
    expected = gaze.score_file(data / "wide.txt", data / "fix_frames", data / "dens_frames.mp4")
    table = app.dataframe[0].value
    assert list(table.columns) == list(gaze.METRICS)
    assert table.iloc[0].to_numpy() == pytest.approx(np.round(list(expected.clip.values()), 4))
    assert len(app.get("image")) == 3 and len(app.get("plotly_chart")) == 1  # saliency, gaze, overlay; curves
    assert any("numbered from 1" in info.value for info in app.info)


def test_batch_folder_per_class(data):
    app = _page(heatmaps=data / "batch", fixations=data / "gaze")
    assert not app.exception and not app.error
    clips = app.dataframe[0].value
    assert sorted(clips["video"]) == ["a", "b", "c"] and set(clips["class"]) == {"walk", "run"}
    nss = dict(zip(clips["video"], clips["NSS"], strict=True))
    assert nss["a"] == nss["c"] > nss["b"] + 0.5  # b's gaze is the shifted one
    assert len(app.get("plotly_chart")) == len(gaze.METRICS)  # one box plot per metric
    assert app.get("download_button")
    assert app.selectbox(key="gaze_video").options[0].startswith(clips["video"][0])
    chosen = app.selectbox(key="gaze_video").select_index(2).run()
    assert not chosen.exception and chosen.main.header[-1].value == clips["video"][2]


def test_bad_path_is_one_error(data, tmp_path):
    app = _page(heatmaps=tmp_path / "missing.txt", fixations=data / "fix.png")
    assert not app.exception and len(app.error) == 1 and "does not exist" in app.error[0].value
