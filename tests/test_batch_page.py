"""The explorer's Batch page (AppTest): start in the background, live progress, stop, resume, open a row."""

from __future__ import annotations

import json

import pytest
from batch_support import batch_fixtures, make_clips
from conftest import ROOT

from core.batch import read_summary
from core.batch.job import job_for
from core.target import ClassName

PAGE = str(ROOT / "pages" / "2_Batch.py")
AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


model, clips, handle = batch_fixtures(4)


def page(model, source, out) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.run()
    app.radio(key="model_source").set_value("paths").run()  # the main page's picker
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

    reopened = AppTest.from_file(PAGE, default_timeout=60)  # a new session on the same folder, its model not picked
    reopened.run()
    reopened.text_input(key="batch_out").input(str(out)).run()
    assert any("interrupted batch" in w.value for w in reopened.warning)
    # the page never loads the model a file names: with no model (or the built-in demo's) Resume waits
    assert reopened.button(key="batch_resume").disabled
    assert str(model[0]) in " ".join(e.value for e in [*reopened.info, *reopened.markdown])
    reopened = page(model, videos, out)  # the same model picked: nothing differs, Resume at once
    assert "batch_resume_confirm" not in [c.key for c in reopened.checkbox]
    assert not reopened.button(key="batch_resume").disabled
    reopened.button(key="batch_resume").click().run()
    wait_for(out)
    assert job_for(out).progress().phase == "finished"
    assert [r["status"] for r in read_summary(out)] == ["ok"] * 8
    reopened.run()
    assert not reopened.warning and not errors(reopened)
    assert len(reopened.dataframe[0].value) == 8


def test_resume_takes_model_trust_folder_and_ray_from_the_page_not_the_file(model, clips, tmp_path):
    out = tmp_path / "copied"
    out.mkdir()
    request = {"config": "/elsewhere/evil.py", "checkpoint": "/elsewhere/evil.pth", "inputs": [str(clips)],
               "out": "/elsewhere/out", "options": {"target": "b", "method": "gradcam"}, "device": "auto",
               "label_map": None, "cfg_options": None, "trust_checkpoint": True, "use_frames": False,
               "video_root": None, "workers": None, "ray": "ray://10.9.8.7:10001"}
    (out / ".batch.json").write_text(json.dumps({"request": request, "videos": 5, "started": 0, "command": "x"}))
    app = page(model, clips, out)
    differences = "".join(m.value for m in app.markdown)
    for named in ("checkpoint: recorded /elsewhere/evil.pth", "config: recorded /elsewhere/evil.py",
                  f"output folder: recorded /elsewhere/out, now {out}", "Ray: recorded ray://10.9.8.7:10001"):
        assert named in differences
    assert app.button(key="batch_resume").disabled
    app.checkbox(key="batch_resume_confirm").check().run()
    app.button(key="batch_resume").click().run()
    job = job_for(out)
    wait_for(out)
    ran = job.request
    assert (ran.config, ran.checkpoint, ran.out, ran.ray, ran.trust_checkpoint) == \
        (str(model[0]), str(model[1]), str(out), None, False)
    assert ran.inputs == [str(clips)] and ran.options.target == ClassName("b")  # what to explain: from the file
    assert job.progress().phase == "finished" and len(read_summary(out)) == 5
    assert {json.loads(p.read_text())["target_class"] for p in out.rglob("clip*.json")} == {1}


def test_start_is_primary_and_long_names_show_whole(model, tmp_path):
    videos = tmp_path / "videos"
    make_clips(videos, 1, broken=False)
    long_name = "abseiling/a_rather_long_video_name_from_a_real_dataset_000417_000427"
    (videos / "abseiling").mkdir()
    (videos / "clip0.mp4").rename(videos / f"{long_name}.mp4")
    out = tmp_path / "out"
    app = page(model, videos, out)
    assert app.button(key="batch_start").proto.type == "primary"
    app.button(key="batch_start").click().run()
    wait_for(out)
    app.run()
    assert app.button(key="batch_start").proto.type == "primary"
    columns = json.loads(app.dataframe[0].proto.columns)
    name = next(c for k, c in columns.items() if "name" in k)
    assert name["width"] >= 8 * len(long_name) and name["pinned"] and "double-click" in name["help"]
