"""core.access and the readers it guards (issue 13, items 3-7; issue 18, item 13): allowed folders with
symlinks followed, held by every reader while a page limits them and never in command lines; configs whose
custom_imports would run foreign code; a test dump given as a checkpoint; loopback addresses; the password."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from conftest import ROOT

import core
from core import access, dumps
from core.access import Roots, TrustRequired
from core.checkpoint import read_checkpoint
from core.errors import CamError
from core.model import load_config, read_label_map
from core.video import find_videos, probe_video


@pytest.fixture
def places(tmp_path) -> dict:
    """An allowed folder and a folder outside it, each holding a small secret file."""
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET-LINE\n")
    (inside / "labels.txt").write_text("a\nb\n")
    return {"inside": inside, "outside": outside, "roots": Roots.of([inside])}


def test_roots_allow_inside_and_refuse_outside_with_one_sentence(places):
    roots, inside, outside = places["roots"], places["inside"], places["outside"]
    assert roots.allows(inside) and roots.allows(inside / "labels.txt")
    assert roots.allows(inside / "new_folder" / "out")  # outputs need not exist yet
    for path in (outside / "secret.txt", inside / ".." / "outside" / "secret.txt", "/etc/passwd", inside.parent):
        assert not roots.allows(path)
        with pytest.raises(CamError, match=rf"is outside the folders this server may open \({inside}\).*"
                                           f"{access.ROOTS_ENV}") as err:
            roots.check(path, "Label map")
        assert "\n" not in str(err.value)


def test_symlinks_are_followed(places):
    inside, outside = places["inside"], places["outside"]
    (inside / "link.txt").symlink_to(outside / "secret.txt")
    (inside / "linked_folder").symlink_to(outside, target_is_directory=True)
    roots = places["roots"]
    assert not roots.allows(inside / "link.txt")
    assert not roots.allows(inside / "linked_folder" / "secret.txt")
    (inside / "loop").symlink_to(inside / "loop")
    assert not roots.allows(inside / "loop")  # a symlink loop is refused, not a crash


def test_default_roots_and_the_environment(monkeypatch, tmp_path):
    from core.demo import ASSETS, cache_dir, demo_video_path

    monkeypatch.delenv(access.ROOTS_ENV)
    monkeypatch.setenv("MMCAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    folders = access.configured_roots().folders
    for expected in (tmp_path, Path.home(), cache_dir(), ASSETS, demo_video_path()):
        assert expected.resolve() in folders
    monkeypatch.setenv(access.ROOTS_ENV, os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")]))
    folders = access.configured_roots(extra=[tmp_path / "uploads"]).folders
    assert folders[:2] == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())
    assert Path.home().resolve() not in folders
    assert ASSETS.resolve() in folders and (tmp_path / "uploads").resolve() in folders  # the app's own


def test_readers_hold_to_the_roots_a_page_set_and_command_lines_are_not_limited(places, demo_mp4, tmp_path):
    outside, inside = places["outside"], places["inside"]
    (outside / "clip.mp4").write_bytes(demo_mp4.read_bytes())
    (outside / "ann.txt").write_text("SECRET-LINE is not an annotation\n")
    (outside / "cfg.py").write_text("model = dict(type='Recognizer3D')\n")
    readers = {
        "Label map": lambda: read_label_map(outside / "secret.txt"),
        "Video": lambda: probe_video(outside / "clip.mp4"),
        "Folder": lambda: find_videos(outside),
        "Config": lambda: load_config(outside / "cfg.py"),
        "Checkpoint": lambda: read_checkpoint(outside / "secret.txt"),
        "Annotation file": lambda: dumps.read_annotations(outside / "ann.txt"),
        "Results pickle": lambda: dumps.load_dump(outside / "secret.txt"),
    }
    assert access.current() is None
    assert read_label_map(outside / "secret.txt") == ["SECRET-LINE"]  # no limit: a command line
    with access.limited(places["roots"]):
        for what, read in readers.items():
            with pytest.raises(CamError, match=f"^{what} .* is outside the folders") as err:
                read()
            assert "SECRET-LINE" not in str(err.value)
        assert read_label_map(inside / "labels.txt") == ["a", "b"]
    assert access.current() is None


def test_a_page_limit_reaches_the_threads_the_server_starts(places, monkeypatch):
    monkeypatch.setattr(access, "_process_roots", None)
    seen = []

    def in_thread() -> None:
        seen.append(access.current())

    page_roots, server_roots = places["roots"], Roots.of([places["outside"]])
    done = threading.Event()

    def page_run() -> None:  # a script run in its own thread, as Streamlit runs pages
        access.limit(page_roots, others=server_roots)
        seen.append(access.current())
        done.set()

    threading.Thread(target=page_run).start()
    done.wait(10)
    worker = threading.Thread(target=in_thread)  # e.g. a background batch
    worker.start()
    worker.join()
    assert seen == [page_roots, server_roots]


# --------------------------------------------------------------------------- configs that import code


def _marker_module(tmp_path: Path, monkeypatch) -> Path:
    """A module on sys.path that leaves a file behind when imported."""
    marker = tmp_path / "imported"
    (tmp_path / "mmcam_marker_mod.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mmcam_marker_mod", raising=False)
    return marker


@pytest.mark.parametrize("suffix", [".json", ".py"])
def test_custom_imports_outside_mmaction_are_refused_before_importing(tmp_path, monkeypatch, suffix):
    marker = _marker_module(tmp_path, monkeypatch)
    config = tmp_path / f"cfg{suffix}"
    body = {"model": {"type": "Recognizer3D"}, "custom_imports": {"imports": ["mmaction.models", "mmcam_marker_mod"],
                                                                 "allow_failed_imports": False}}
    config.write_text(json.dumps(body) if suffix == ".json" else "".join(f"{k} = {v!r}\n" for k, v in body.items()))
    with pytest.raises(TrustRequired, match=r"imports mmcam_marker_mod through custom_imports.*--trust-checkpoint") \
            as err:
        load_config(config)
    assert "mmaction.models" not in err.value.reason  # only the foreign module is named
    assert not marker.exists()
    with pytest.raises(TrustRequired):  # the same through load_model
        core.load_model(config, device="cpu")
    assert not marker.exists()
    dumps.read_test_set(config)  # reading a test set never imports
    assert not marker.exists()
    load_config(config, trust=True)  # the operator's trust imports as MMEngine would
    assert marker.read_text() == "ran"


def test_a_config_object_imports_its_modules_as_a_file_does(tmp_path, monkeypatch):
    """A Config handed over in memory (a batch's config shipped to Ray workers) is checked and imported too."""
    from mmengine.config import Config

    marker = _marker_module(tmp_path, monkeypatch)
    cfg = Config({"model": {"type": "Recognizer3D"}, "custom_imports": {"imports": ["mmcam_marker_mod"]}})
    with pytest.raises(TrustRequired, match="imports mmcam_marker_mod through custom_imports"):
        load_config(cfg)
    assert not marker.exists()
    load_config(cfg, trust=True)  # what a worker of a trusted batch does with the driver's config
    assert marker.read_text() == "ran"


def test_mmaction_custom_imports_need_no_trust(tmp_path):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"model": {"type": "Recognizer3D"},
                                  "custom_imports": {"imports": ["mmaction.models", "mmengine.model"]}}))
    assert load_config(config).custom_imports["imports"] == ["mmaction.models", "mmengine.model"]
    config.write_text(json.dumps({"model": {}, "custom_imports": {"imports": ["mmaction.no_such_module"]}}))
    with pytest.raises(CamError, match=r"no_such_module.*not installed"):
        load_config(config)


def test_vis_cam_cli_refuses_a_json_config_that_imports_code(tmp_path):
    """The issue's reproduction: a json config printed the Zen of Python through vis_cam."""
    config = tmp_path / "zen.json"
    config.write_text(json.dumps({"model": {"type": "Recognizer3D"}, "custom_imports": {"imports": ["this"]}}))
    run = subprocess.run([sys.executable, "-m", "core.vis_cam", str(config), "none", str(tmp_path / "x.mp4")],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "Beautiful is better than ugly" not in run.stdout + run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: Config ")
    assert "imports this through custom_imports" in run.stderr


# --------------------------------------------------------------------------- a dump is not a checkpoint


def mmaction_style_dump(path: Path) -> Path:
    """What tools/test.py --dump writes (mmengine dumps with pickle protocol 2): per-sample dicts of tensors."""
    samples = [{"pred_score": torch.softmax(torch.randn(4), 0), "pred_label": torch.tensor([1]),
                "gt_label": torch.tensor([i % 4])} for i in range(3)]
    path.write_bytes(pickle.dumps(samples, protocol=2))
    return path


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_dump_given_as_checkpoint_is_named_not_trusted(tmp_path):
    dump = mmaction_style_dump(tmp_path / "results.pkl")
    for trust in (False, True):
        with pytest.raises(CamError, match=r"is a test results pickle \(what tools/test.py --dump writes\), not a "
                                           r"checkpoint") as err:
            read_checkpoint(dump, trust_checkpoint=trust)
        assert "trust" not in str(err.value).lower()
    legacy = tmp_path / "legacy.pkl"  # a 0.x dump: a list of score lists
    legacy.write_bytes(pickle.dumps([[0.1, 0.9], [0.7, 0.3]], protocol=2))
    with pytest.raises(CamError, match="is a test results pickle"):
        read_checkpoint(legacy)


def test_a_pickle_that_is_no_checkpoint_is_refused_even_when_trusted(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"state_dict": Payload(marker)}, protocol=2))
    with pytest.raises(CamError, match="is a pickle but not a PyTorch checkpoint"):
        read_checkpoint(evil, trust_checkpoint=True)
    assert not marker.exists()


def test_a_real_checkpoint_still_asks_for_trust(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {"evil": Payload(marker)}}, tmp_path / "evil.pth")
    with pytest.raises(TrustRequired, match=r"needs `posix.system`.*pass --trust-checkpoint") as err:
        read_checkpoint(tmp_path / "evil.pth")
    assert "--" not in err.value.reason  # pages give their own advice
    assert not marker.exists()


# --------------------------------------------------------------------------- serving beyond this machine


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("", False), (None, False), ("192.168.1.20", False),
    ("10.0.0.5", False), ("no-such-host.invalid", False)])
def test_loopback_addresses(address, loopback):
    assert access.is_loopback(address) is loopback


def test_password_comparison(monkeypatch):
    assert access.password_matches("correct horse", "correct horse")
    assert not access.password_matches("correct hors", "correct horse")
    assert not access.password_matches("", "correct horse")
    assert access.password_matches("pässwörd", "pässwörd")  # not ASCII: compare_digest needs bytes
    monkeypatch.setenv(access.PASSWORD_ENV, "s3cret")
    assert access.server_password() == "s3cret"
    monkeypatch.setenv(access.PASSWORD_ENV, "")
    assert access.server_password() is None


@pytest.mark.parametrize("value, trusted", [("1", True), ("yes", True), ("TRUE", True), ("0", False), ("", False),
                                            (None, False)])
def test_operator_trust_comes_from_the_environment(monkeypatch, value, trusted):
    if value is None:
        monkeypatch.delenv(access.TRUST_ENV, raising=False)
    else:
        monkeypatch.setenv(access.TRUST_ENV, value)
    assert access.operator_trusts_checkpoints() is trusted


def test_a_server_honours_trust_only_from_its_operator(tmp_path, monkeypatch, places):
    """Whatever asks for trust inside a server (a page, a .batch.json replayed by Resume), the operator decides."""
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": {"evil": Payload(marker)}}, tmp_path / "evil.pth")
    _marker_module(tmp_path, monkeypatch)
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"model": {}, "custom_imports": {"imports": ["mmcam_marker_mod"]}}))
    roots = Roots.of([tmp_path])
    with access.limited(roots):
        with pytest.raises(TrustRequired):
            read_checkpoint(tmp_path / "evil.pth", trust_checkpoint=True)
        with pytest.raises(TrustRequired):
            load_config(config, trust=True)
        assert not marker.exists() and not (tmp_path / "imported").exists()
        monkeypatch.setenv(access.TRUST_ENV, "1")
        read_checkpoint(tmp_path / "evil.pth", trust_checkpoint=True)
        assert marker.exists()
