"""The explorer's Batch page (AppTest): start in the background, live progress, stop, resume, open a row."""

from __future__ import annotations

import pytest
from batch_support import batch_fixtures, make_clips
from conftest import ROOT

from core.batch import read_summary
from core.batch.job import job_for

PAGE = str(ROOT / "pages" / "2_Batch.py")
AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


model, clips = batch_fixtures(4)


def page(model, source, out) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.run()
    app.radio(key="model_source").set_value("Config and checkpoint paths").run()  # the main page's picker
    app.text_input(key="config_path").input(str(model[0]))
    app.text_input(key="checkpoint_path").input(str(model[1])).run()
    app.radio(key="device").set_value("cpu")
    app.text_input(key="batch_input").input(str(source))
    app.text_input(key="batch_out").input(str(out))
    return app.run()


def wait_for(out, timeout: float = 90) -> None:
    job = job_for(out)
    assert job is not None
    job.join(timeout)
    assert not job.running


def errors(app) -> list[str]:
    """Errors on the page (the model picker's note that a checkout lacks the built-in demo aside)."""
    return [e.value for e in app.error if "built-in demo is not part" not in e.value]


def test_start_shows_progress_then_the_summary_and_opens_a_row_from_its_files(model, clips, tmp_path):
    out = tmp_path / "out"
    app = page(model, clips, out)
    assert not errors(app) and "python -m core.batch" in app.code[0].value
    app.button(key="batch_start").click().run()
    assert not errors(app)
    wait_for(out)
    app.run()
    rows = read_summary(out)
    assert [r["status"] for r in rows] == ["failed", "ok", "ok", "ok", "ok"]  # broken.mp4 first
    assert any("4 explained · 1 failed" in m.value for m in app.markdown)
    assert len(app.dataframe[0].value) == 5
    model[1].rename(model[1].with_name("moved.pth"))  # opening a row must not need the model
    try:
        app.selectbox(key="batch_open").select("sub/clip1").run()
    finally:
        model[1].with_name("moved.pth").rename(model[1])
    assert not errors(app) and any("sub/clip1" in h.value for h in app.subheader)
    assert not [i.value for i in app.info if "heatmaps alone" in i.value]  # the frames were decoded again
    assert app.get("video") and len(app.get("plotly_chart")) >= 3  # the explorer's viewer: overlay, frames, charts
    assert "source frame" in str(app.get("plotly_chart")[0].proto)


def test_stop_then_reopen_and_resume(model, tmp_path):
    videos = tmp_path / "videos"
    make_clips(videos, 8, broken=False)
    out = tmp_path / "out"
    app = page(model, videos, out)
    app.button(key="batch_start").click().run()
    job = job_for(out)
    assert job.running and app.get("progress")  # the live view while the model loads
    assert "videos" in app.get("progress")[0].proto.text
    app.button(key="batch_stop").click().run()
    wait_for(out)
    progress = job.progress()
    assert progress.phase == "stopped" and progress.ok < 8

    reopened = AppTest.from_file(PAGE, default_timeout=60)  # a new session on the same folder, no model picked
    reopened.run()
    reopened.text_input(key="batch_out").input(str(out)).run()
    assert any("interrupted batch" in w.value for w in reopened.warning)
    reopened.button(key="batch_resume").click().run()
    wait_for(out)
    assert job_for(out).progress().phase == "finished"
    assert [r["status"] for r in read_summary(out)] == ["ok"] * 8
    reopened.run()
    assert not reopened.warning and not errors(reopened)
    assert len(reopened.dataframe[0].value) == 8
