"""The gaze comparison page (Streamlit AppTest): one txt with per-frame gaze (scores labelled with their
direction, the fixations-only warning, the frame-by-frame player with the per-frame scores under it), a batch
folder (per-class summary in label order), a bad path."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import ROOT, plotly_array
from gaze_data import make_clip_gaze, make_frame_gaze, make_wide

from core import gaze

PAGE = ROOT / "pages" / "3_Gaze_comparison.py"
LABELS = ("walk", "run")  # the label map's order: not the alphabetical one


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = make_frame_gaze(make_clip_gaze(make_wide(tmp_path_factory.mktemp("page"))))
    for label, name in (("walk", "a"), ("run", "b"), ("run", "c")):
        (folder / "batch" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "wide.txt", folder / "batch" / label / f"{name}.txt")
        meta = json.loads((folder / "wide.json").read_text())
        meta.update(video=str(folder / f"{name}.mp4"), batch={"gt_label": label, "gt_class": LABELS.index(label)})
        (folder / "batch" / label / f"{name}.json").write_text(json.dumps(meta))
    (folder / "gaze").mkdir()
    for name, source in (("a", "fix.png"), ("b", "fix_shift.png"), ("c", "fix.png")):
        shutil.copy(folder / source, folder / "gaze" / f"{name}.png")
    return folder


def _page(**inputs):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(PAGE), default_timeout=60)
    app.session_state["gaze_source"] = "paths"
    for key, value in inputs.items():
        app.session_state[f"gaze_{key}"] = value if isinstance(value, bool) else str(value)
    return app.run()


def _titles(table) -> list[str]:
    """The column headers a dataframe shows (its column config's labels, else the column names)."""
    config = json.loads(table.proto.columns or "{}")
    return [config.get(f"col:{name}", config.get(name, {})).get("label") or name for name in table.value.columns]


def _player(app) -> dict:
    (spec,) = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")
               if json.loads(chart.proto.spec).get("frames")]
    return spec


def test_empty_page_explains_what_to_give():
    app = _page()
    assert not app.exception and "heatmap txt" in app.info[0].value


def test_one_txt_with_per_frame_gaze(data):
    app = _page(heatmaps=data / "wide.txt", fixations=data / "fix_frames", density=data / "dens_frames.mp4")
    assert not app.exception and not app.error
    expected = gaze.score_file(data / "wide.txt", data / "fix_frames", data / "dens_frames.mp4")
    table = app.dataframe[0].value
    assert list(table.columns) == list(gaze.METRICS)
    assert table.iloc[0].to_numpy() == pytest.approx(list(expected.clip.values()))
    assert _titles(app.dataframe[0]) == ["AUC_Judd ↑", "AUC_Borji ↑", "NSS ↑", "CC ↑", "SIM ↑", "KL ↓"]
    assert "↓ lower is better: KL" in app.caption[1].value and not app.warning  # a density: CC, SIM, KL are fine
    assert len(app.get("image")) == 3 and len(app.get("plotly_chart")) == 1  # saliency, gaze, overlay; player
    (start,) = [info.value for info in app.info if "numbered from 1" in info.value]
    assert "use “First frame's number in gaze folders” in the sidebar to change" in start
    assert "--start-index" not in start  # the page has its own control for it


def test_frame_by_frame_player_with_the_scores_under_it(data):
    """Saliency, gaze and overlay of every frame the model saw are scrubbed in the browser; under them each
    metric's per-frame scores over the source frame, with a marker that each step moves to its frame."""
    app = _page(heatmaps=data / "wide.txt", fixations=data / "fix_frames", density=data / "dens_frames.mp4")
    expected = gaze.score_file(data / "wide.txt", data / "fix_frames", data / "dens_frames.mp4")
    spec = _player(app)
    seen = sorted({int(f) for f in np.ravel(expected.result.frame_indices)})
    assert len(spec["frames"]) == len(seen) and all(len(f["layout"]["images"]) == 3 for f in spec["frames"])
    steps = [step["label"] for step in spec["layout"]["sliders"][0]["steps"]]
    assert steps[1] == f"Frame 2/{len(seen)} · source frame {seen[1]} · {seen[1] / expected.result.fps:.2f} s"
    curves = [trace for trace in spec["data"] if trace.get("name") in gaze.METRICS]
    assert [trace["name"] for trace in curves] == list(gaze.METRICS)
    scored = {row["frame"]: row for row in expected.frames}
    for trace in curves:  # a gap (None) between the two clips' frames
        frames = [f for f in trace["x"] if f is not None]
        assert frames == [f for f in seen if f in scored] and trace["x"][8] is None
        assert [y for y in trace["y"] if y is not None] == pytest.approx([scored[f][trace["name"]] for f in frames])
    markers = spec["frames"][5]["traces"]
    assert len(markers) == len(curves)
    assert all(plotly_array(d["x"]).tolist() == [seen[5], seen[5]] for d in spec["frames"][5]["data"])
    titles = [spec["layout"][axis]["title"]["text"] for axis in sorted(spec["layout"], key=len)
              if axis.startswith("yaxis") and spec["layout"][axis].get("title")]
    assert titles == [gaze.metric_title(m) for m in gaze.METRICS]


def test_fixation_points_alone_are_flagged_and_blurring_fixes_it(data):
    """Without a density CC, SIM and KL compare with the fixation points: the page says what that means and
    suggests its own controls; ticking the blur makes the density as the fixation maker does."""
    app = _page(heatmaps=data / "wide.txt", fixations=data / "fix_frames")
    (warning,) = app.warning
    assert "computed against the fixation points themselves" in warning.value
    assert "“Density (optional)” in the sidebar" in warning.value and "--density" not in warning.value
    assert "“Blur the fixations into a density” in the sidebar" in warning.value
    plain = app.dataframe[0].value.iloc[0]
    blurred = _page(heatmaps=data / "wide.txt", fixations=data / "fix_frames", blur=True)
    assert not blurred.warning and not blurred.error
    expected = gaze.score_file(data / "wide.txt", data / "fix_frames", blur="auto")
    assert blurred.dataframe[0].value.iloc[0].to_numpy() == pytest.approx(list(expected.clip.values()))
    assert blurred.dataframe[0].value.iloc[0]["CC"] > plain["CC"] + 0.3
    assert any("blurred with a Gaussian" in info.value for info in blurred.info)


def test_batch_folder_per_class(data):
    app = _page(heatmaps=data / "batch", fixations=data / "gaze")
    assert not app.exception and not app.error
    clips = app.dataframe[0].value
    assert sorted(clips["video"]) == ["a", "b", "c"] and set(clips["class"]) == {"walk", "run"}
    nss = dict(zip(clips["video"], clips["NSS"], strict=True))
    assert nss["a"] == nss["c"] > nss["b"] + 0.5  # b's gaze is the shifted one
    summary = app.dataframe[1].value
    assert summary["class"].tolist() == list(LABELS)  # label order, not alphabetical
    runs = clips[clips["class"] == "run"]["NSS"]
    assert summary["n"].tolist() == ["1", "2"]
    assert summary.iloc[1]["NSS ↑"] == f"{runs.mean():.3f} ± {runs.std(ddof=0):.3f}"
    assert summary.columns[-1] == "KL ↓"
    charts = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    assert len(charts) == len(gaze.METRICS)  # one box plot per metric
    assert charts[-1]["layout"]["title"]["text"] == "KL (lower is better)"
    assert charts[0]["layout"]["xaxis"]["categoryarray"] == list(LABELS)
    assert app.get("download_button")
    assert app.selectbox(key="gaze_video").options[0].startswith(clips["video"][0])
    chosen = app.selectbox(key="gaze_video").select_index(2).run()
    assert not chosen.exception and chosen.main.header[-1].value == clips["video"][2]


def test_bad_path_is_one_error(data, tmp_path):
    app = _page(heatmaps=tmp_path / "missing.txt", fixations=data / "fix.png")
    assert not app.exception and len(app.error) == 1 and "does not exist" in app.error[0].value
