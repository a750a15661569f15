"""Every page under the operator's rules (Streamlit AppTest; issue 13 items 3-7, issue 14 items 2 and 11,
issue 18 item 13): trust only from MMCAM_TRUST_CHECKPOINTS, every path field and every path read from inside
a file held to MMCAM_ROOTS, uploads in a random per-session folder and gone when refused, a password before
any page renders when the server is reachable from elsewhere, and caches that see a file rewritten in place."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from conftest import ROOT, sample_file
from heatmap_data import copy_result, legacy_text, make_heatmap_files
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest
from test_access import Payload, mmaction_style_dump
from tiny_model import make_model

from core import access
from core.checkpoint import read_checkpoint

PAGES = [ROOT / "explorer.py", *sorted((ROOT / "pages").glob("[0-9]*.py"))]
REFUSED = "is outside the folders this server may open"
SECRET = "SECRET-LINE"
TIMEOUT = 120


def _texts(node) -> list[str]:
    """Every text the page shows (values, labels, captions, chart specs), walking the element tree."""
    found = []
    for attr in ("value", "label", "body"):
        try:
            value = getattr(node, attr, None)
        except Exception:  # (some elements compute values lazily from protos)
            value = None
        if isinstance(value, str):
            found.append(value)
    proto = getattr(node, "proto", None)
    if proto is not None:
        found.append(str(proto))
    for child in getattr(node, "children", {}).values():
        found += _texts(child)
    return found


def _kinds(node) -> list[str]:
    kinds = [node.type] if getattr(node, "type", None) not in (None, "main", "sidebar", "event", "root") else []
    for child in getattr(node, "children", {}).values():
        kinds += _kinds(child)
    return kinds


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _app(page: str | Path = "explorer.py", state: dict | None = None) -> AppTest:
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def places(tmp_path, monkeypatch) -> dict:
    """MMCAM_ROOTS is one folder; beside it, outside, a folder with a secret file, a video and a config."""
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET}\n{SECRET} 2\n")
    monkeypatch.setenv(access.ROOTS_ENV, str(inside))
    monkeypatch.setenv("MMCAM_UPLOADS", str(tmp_path / "uploads"))  # not under the roots
    return {"inside": inside, "outside": outside, "secret": outside / "secret.txt"}


# --------------------------------------------------------------------------- allowed folders


PATH_FIELDS = [  # (page, what to pick first, the path field, a file or a folder)
    ("explorer.py", {"model_source": "paths"}, "config_path", "file"),
    ("explorer.py", {"model_source": "paths"}, "checkpoint_path", "file"),
    ("explorer.py", {}, "label_map", "file"),
    ("explorer.py", {"model_source": "runs"}, "runs_root", "folder"),
    ("explorer.py", {"video_source": "path"}, "video_path", "file"),
    ("explorer.py", {"video_source": "folder"}, "video_folder", "folder"),
    ("pages/2_Batch.py", {}, "batch_input", "folder"),
    ("pages/2_Batch.py", {}, "batch_video_root", "folder"),
    ("pages/2_Batch.py", {}, "batch_out", "folder"),
    ("pages/3_Gaze_comparison.py", {"gaze_source": "paths"}, "gaze_heatmaps", "file"),
    ("pages/3_Gaze_comparison.py", {"gaze_source": "paths"}, "gaze_fixations", "folder"),
    ("pages/3_Gaze_comparison.py", {"gaze_source": "paths"}, "gaze_density", "file"),
    ("pages/4_Test_results.py", {"dump_source": "paths"}, "dump_path", "file"),
    ("pages/4_Test_results.py", {"dump_source": "paths"}, "dump_config", "file"),
    ("pages/4_Test_results.py", {"dump_source": "paths"}, "dump_ann", "file"),
    ("pages/4_Test_results.py", {"dump_source": "paths"}, "dump_label_map", "file"),
    ("pages/4_Test_results.py", {"dump_source": "paths"}, "dump_video_root", "folder"),
    ("pages/5_Heatmap_files.py", {}, "hm_paths", "file"),
    ("pages/5_Heatmap_files.py", {}, "hm_video", "file"),
]


@pytest.mark.parametrize("page, first, key, kind", PATH_FIELDS, ids=[f"{p}:{k}" for p, _, k, _ in PATH_FIELDS])
def test_every_path_field_refuses_what_lies_outside_the_roots(places, page, first, key, kind):
    path = places["secret"] if kind == "file" else places["outside"]
    at = _app(page, {**first, key: str(path)})
    refusals = [e for e in _errors(at) if REFUSED in e]
    assert len(refusals) == 1, _errors(at)
    assert refusals[0].startswith(f"Path {path} {REFUSED} ({places['inside']}")
    assert not any(SECRET in text for text in _texts(at._tree))


def test_a_symlink_inside_to_a_file_outside_is_refused(places):
    link = places["inside"] / "labels.txt"
    link.symlink_to(places["secret"])
    at = _app("explorer.py", {"label_map": str(link)})
    assert any(REFUSED in e for e in _errors(at))
    assert not any(SECRET in text for text in _texts(at._tree))


def test_a_sidecars_video_outside_the_roots_is_not_opened(places, tmp_path_factory):
    files = make_heatmap_files(tmp_path_factory)
    txt = copy_result(files["layer4"], places["inside"], "clip")
    video = places["outside"] / "clip.mp4"
    video.write_bytes(files["video"].read_bytes())
    sidecar = txt.with_suffix(".json")
    sidecar.write_text(sidecar.read_text().replace(str(files["video"]), str(video)))
    at = _app("pages/5_Heatmap_files.py", {"hm_paths": str(txt)})
    notes = [i.value for i in at.info]
    assert any(f"Video {video} {REFUSED}" in note for note in notes), notes


def test_a_configs_annotation_file_outside_the_roots_is_not_read(places):
    inside = places["inside"]
    dump = mmaction_style_dump(inside / "results.pkl")
    config = inside / "test_cfg.py"
    config.write_text("model = dict(type='Recognizer3D')\n"
                      f"test_dataloader = dict(dataset=dict(ann_file={str(places['secret'])!r}, "
                      f"data_prefix=dict(video={str(inside)!r})))\n")
    at = _app("pages/4_Test_results.py", {"dump_source": "paths", "dump_path": str(dump), "dump_config": str(config)})
    assert any(e.startswith(f"Annotation file {places['secret']} {REFUSED}") for e in _errors(at)), _errors(at)
    assert not any(SECRET in text for text in _texts(at._tree))


# --------------------------------------------------------------------------- trust is the operator's


@pytest.fixture
def evil_checkpoint(places) -> dict:
    config, checkpoint = make_model(places["inside"] / "model")
    marker = places["inside"] / "pwned"
    ckpt = read_checkpoint(checkpoint)
    ckpt["meta"]["evil"] = Payload(marker)
    torch.save(ckpt, places["inside"] / "evil.pth")
    return {"config": config, "checkpoint": places["inside"] / "evil.pth", "marker": marker}


def _paths(config, checkpoint) -> dict:
    return {"model_source": "paths", "config_path": str(config),
            "checkpoint_path": str(checkpoint)}


def test_without_the_operator_there_is_no_trust_to_tick(evil_checkpoint):
    at = _app("explorer.py", _paths(evil_checkpoint["config"], evil_checkpoint["checkpoint"]))
    assert not [c for c in at.checkbox if c.key == "trust_checkpoint"]
    assert any(f"{access.TRUST_ENV}=1" in c.value for c in at.caption)
    (error,) = _errors(at)
    assert "needs `posix.system`" in error and f"{access.TRUST_ENV}=1" in error
    assert "--trust-checkpoint" not in error  # the page's advice, not a command-line flag
    assert not evil_checkpoint["marker"].exists()


def test_trust_handed_over_by_another_page_is_not_honoured(evil_checkpoint):
    from pages.ui.pickers import HANDOFF

    handoff = {"config": str(evil_checkpoint["config"]), "checkpoint": str(evil_checkpoint["checkpoint"]),
               "label_map": None, "device": "cpu", "trust": True, "video": str(sample_file("demo.mp4")),
               "target": None, "run": True}
    at = _app("explorer.py", {HANDOFF: handoff, "trust_checkpoint": True})
    assert any("needs `posix.system`" in e for e in _errors(at))
    assert not evil_checkpoint["marker"].exists()


def test_the_operator_lets_visitors_tick_trust(evil_checkpoint, monkeypatch):
    monkeypatch.setenv(access.TRUST_ENV, "1")
    at = _app("explorer.py", _paths(evil_checkpoint["config"], evil_checkpoint["checkpoint"]))
    (error,) = _errors(at)
    assert "tick “Trust this checkpoint and config”" in error and "--trust-checkpoint" not in error
    assert not evil_checkpoint["marker"].exists()
    at.checkbox(key="trust_checkpoint").check().run()
    assert not _errors(at) and evil_checkpoint["marker"].exists()


def test_a_dump_given_as_checkpoint_is_named_on_the_page(evil_checkpoint, places):
    dump = mmaction_style_dump(places["inside"] / "results.pkl")
    at = _app("explorer.py", _paths(evil_checkpoint["config"], dump))
    (error,) = _errors(at)
    assert "is a test results pickle" in error and "Test results page" in error
    assert "trust" not in error.lower()


# --------------------------------------------------------------------------- uploads


def _upload_dump(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="dump_source").set_value("upload").run()
    at.file_uploader(key="dump_upload").upload(name, data, "application/octet-stream").run()
    assert not at.exception, at.exception
    return at


def _uploaded_files(at: AppTest) -> list[Path]:
    folder = at.session_state["mmcam_upload_folder"].path
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_pages_take_uploads_only_through_the_checked_widget(page):
    """Uploads go to the session's folder and are deleted when refused only through pickers.upload_input."""
    assert "st.file_uploader(" not in page.read_text(), f"{page.name}: use pages.ui.pickers.upload_input"


def test_an_upload_named_with_backslashes_opens_under_its_stored_name(places):
    dump = mmaction_style_dump(places["inside"] / "results.pkl")
    at = _upload_dump(_app("pages/4_Test_results.py", {"dump_source": "paths"}), "..\\..\\x.pkl", dump.read_bytes())
    assert not _errors(at), _errors(at)
    assert any(m.label == "Top-1 accuracy" for m in at.metric)
    assert [p.name for p in _uploaded_files(at)] == ["x.pkl"]


def test_a_refused_upload_is_deleted_at_once(places):
    marker = places["inside"] / "pwned"
    at = _upload_dump(_app("pages/4_Test_results.py", {"dump_source": "paths"}), "results.pkl",
                      pickle.dumps([Payload(marker)]))
    (error,) = _errors(at)
    assert "posix.system" in error and not marker.exists()
    assert _uploaded_files(at) == []
    at.run()  # a rerun does not store it again
    assert _uploaded_files(at) == [] and len(_errors(at)) == 1


def test_uploads_live_in_a_random_folder_per_session_that_only_it_may_open(places):
    dump = mmaction_style_dump(places["inside"] / "results.pkl").read_bytes()
    first = _upload_dump(_app("pages/4_Test_results.py", {"dump_source": "paths"}), "results.pkl", dump)
    second = _app("pages/4_Test_results.py", {"dump_source": "paths"})
    first_folder = first.session_state["mmcam_upload_folder"].path
    assert first_folder != second.session_state["mmcam_upload_folder"].path
    assert first_folder.parent == Path(os.environ["MMCAM_UPLOADS"]) and len(first_folder.name) > 20
    (stored,) = _uploaded_files(first)
    second.text_input(key="dump_path").input(str(stored)).run()  # another session's upload, typed as a path
    assert any(REFUSED in e for e in _errors(second))
    first.radio(key="dump_source").set_value("paths").run()
    first.text_input(key="dump_path").input(str(stored)).run()  # the session's own upload is allowed
    assert not _errors(first) and any(m.label == "Top-1 accuracy" for m in first.metric)


# --------------------------------------------------------------------------- the password


@pytest.fixture
def served_on():
    before = st_config.get_option("server.address")
    yield lambda address: st_config.set_option("server.address", address)
    st_config.set_option("server.address", before)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_page_renders_beyond_loopback_without_a_password(page, served_on):
    served_on("0.0.0.0")
    at = _app(page)
    (error,) = _errors(at)
    assert "listens on 0.0.0.0" in error and f"{access.PASSWORD_ENV}=" in error and "127.0.0.1" in error
    assert _kinds(at._tree) == ["error"]  # nothing but the refusal


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_page_asks_for_the_password_first(page, served_on, monkeypatch):
    served_on("0.0.0.0")
    monkeypatch.setenv(access.PASSWORD_ENV, "correct horse battery")
    at = _app(page)
    assert sorted(_kinds(at._tree)) == ["button", "form", "text_input", "title"], _kinds(at._tree)
    at.text_input(key="mmcam_password").input("correct horse")
    at.button(key="mmcam_login_submit").click().run()  # submitted with the form, as a browser does
    assert _errors(at) == ["Wrong password."]
    assert "text_input" in _kinds(at._tree) and len(at.text_input) == 1


def test_the_right_password_opens_every_page_of_the_session(served_on, monkeypatch):
    served_on("192.168.1.20")
    monkeypatch.setenv(access.PASSWORD_ENV, "correct horse battery")
    at = _app("explorer.py")
    assert not [r for r in at.radio if r.key == "model_source"]
    at.text_input(key="mmcam_password").input("correct horse battery")
    at.button(key="mmcam_login_submit").click().run()
    assert not _errors(at) and at.radio(key="model_source").value == "demo"
    assert "mmcam_password" not in at.session_state
    at.switch_page("pages/9_About.py").run()
    assert at.title[0].value.startswith("About")


def test_a_set_password_is_asked_on_loopback_too(served_on, monkeypatch):
    """Behind a reverse proxy the server listens on loopback: a password the operator set still counts."""
    served_on("127.0.0.1")
    monkeypatch.setenv(access.PASSWORD_ENV, "pw")
    assert [t.key for t in _app("pages/9_About.py").text_input] == ["mmcam_password"]
    monkeypatch.delenv(access.PASSWORD_ENV)
    assert _app("pages/9_About.py").title[0].value.startswith("About")


# --------------------------------------------------------------------------- caches see rewritten files


def _class_options(at: AppTest) -> list[str]:
    return at.selectbox(key="target").options[1:]


def test_a_checkpoint_rewritten_in_place_is_reloaded(places):
    config, checkpoint = make_model(places["inside"] / "model")
    at = _app("explorer.py", _paths(config, checkpoint))
    assert _class_options(at) == list("abcde")
    ckpt = read_checkpoint(checkpoint)
    ckpt["meta"]["dataset_meta"]["classes"] = list("vwxyz")
    torch.save(ckpt, checkpoint)
    at.run()
    assert _class_options(at) == list("vwxyz")


def _top1(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Top-1 accuracy")


def test_a_dump_rewritten_in_place_is_read_again(places):
    dump = places["inside"] / "results.pkl"

    def write(hits: int) -> None:
        samples = [{"pred_score": torch.eye(4)[i % 4], "pred_label": torch.tensor([i % 4]),
                    "gt_label": torch.tensor([i % 4 if i < hits else (i + 1) % 4])} for i in range(4)]
        dump.write_bytes(pickle.dumps(samples, protocol=2))

    write(1)
    at = _app("pages/4_Test_results.py", {"dump_source": "paths", "dump_path": str(dump)})
    assert _top1(at) == "25.00%"
    write(3)
    at.run()
    assert _top1(at) == "75.00%"


def test_a_heatmap_txt_rewritten_in_place_is_read_again(places):
    txt = places["inside"] / "old.txt"
    rng = np.random.default_rng(0)
    txt.write_text(legacy_text(rng.random((3, 4, 5)).astype(np.float32)))
    at = _app("pages/5_Heatmap_files.py", {"hm_paths": str(txt)})
    frames = [spec for spec in map(_spec, at.get("plotly_chart")) if spec.get("frames")]
    assert len(frames[0]["frames"]) == 3
    txt.write_text(legacy_text(rng.random((5, 4, 5)).astype(np.float32)))
    at.run()
    frames = [spec for spec in map(_spec, at.get("plotly_chart")) if spec.get("frames")]
    assert len(frames[0]["frames"]) == 5


def _spec(chart) -> dict:
    return json.loads(chart.proto.spec)
