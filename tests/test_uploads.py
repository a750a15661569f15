"""core.uploads (issue 13, item 6; issue 14, item 11): one sanitised name to store and look up an upload,
a folder per session with a random name, refused uploads gone at once, the folder gone with the session."""

from __future__ import annotations

import gc
import stat

import pytest
from heatmap_data import make_heatmap_files

import core
from core.errors import CamError
from core.uploads import UploadFolder, safe_name, upload_root


@pytest.mark.parametrize("sent, stored", [
    ("x.pkl", "x.pkl"), ("..\\..\\x.pkl", "x.pkl"), ("../../x.pkl", "x.pkl"), ("C:\\Users\\me\\clip.mp4", "clip.mp4"),
    ("dir/My Clip.MP4", "My Clip.MP4")])
def test_one_sanitised_name(sent, stored, tmp_path):
    assert safe_name(sent) == stored
    uploads = UploadFolder(tmp_path)  # kept: the folder goes with the object
    [path] = uploads.save([(sent, b"data")])
    assert path.name == stored and path.read_bytes() == b"data"  # stored and found under the same name


@pytest.mark.parametrize("sent", ["", "../", "..", ".hidden", "a/.", "dir\\"])
def test_unusable_names_are_refused(sent, tmp_path):
    with pytest.raises(CamError, match="not a usable file name"):
        UploadFolder(tmp_path).save([(sent, b"x")])
    assert not any(tmp_path.rglob("*.*"))


def test_session_folders_are_random_private_and_removed_with_the_session(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCAM_UPLOADS", str(tmp_path / "uploads"))
    first, second = UploadFolder(), UploadFolder()
    assert first.path.parent == second.path.parent == upload_root() == tmp_path / "uploads"
    assert first.path != second.path and len(first.path.name) > 20  # nobody can compute where uploads are
    [a] = first.save([("clip.mp4", b"same bytes")])
    [b] = second.save([("clip.mp4", b"same bytes")])
    assert a != b and a.is_relative_to(first.path) and b.is_relative_to(second.path)
    assert stat.S_IMODE(upload_root().stat().st_mode) == 0o700
    assert first.save([("clip.mp4", b"same bytes")]) == [a]  # the same upload again: the same path
    [c] = first.save([("clip.mp4", b"other bytes")])
    assert c != a and a.read_bytes() == b"same bytes"  # a second file of the same name does not replace it
    folder = first.path
    del first
    gc.collect()
    assert not folder.exists() and b.exists()
    second.remove()
    assert not second.path.exists()


def test_refused_files_are_deleted_at_once(tmp_path):
    uploads = UploadFolder(tmp_path)
    [path] = uploads.save([("results.pkl", b"not a pickle")])
    uploads.discard([path])
    assert not path.exists() and not path.parent.exists()
    with pytest.raises(CamError, match="not one of the file types"):
        uploads.save([("clip.mp4", b"x"), ("notes.txt", b"y")], suffixes=[".mp4"])
    with pytest.raises(CamError, match="empty"):
        uploads.save([("clip.mp4", b"")])
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
    outside = tmp_path / "keep.txt"
    outside.write_text("not an upload")
    uploads.discard([outside])  # only this session's uploads are ever deleted
    assert outside.exists()


def test_video_upload_keeps_its_content(tmp_path, demo_mp4):
    uploads = UploadFolder(tmp_path)
    [path] = uploads.save([("My Clip.MP4", demo_mp4.read_bytes())], suffixes=[".mp4"])
    assert path.name == "My Clip.MP4"
    assert core.probe_video(path).frames == core.probe_video(demo_mp4).frames


def test_files_uploaded_together_stay_side_by_side(tmp_path_factory, tmp_path):
    files = make_heatmap_files(tmp_path_factory)
    payload = [(p.name, p.read_bytes()) for p in sorted(files["folder"].glob("layer4.*"))]
    uploads = UploadFolder(tmp_path)
    paths = uploads.save(payload)
    assert [p.name for p in paths] == ["layer4.json", "layer4.npz", "layer4.txt"]
    assert len({p.parent for p in paths}) == 1
    assert uploads.save(reversed(payload)) == paths[::-1]  # same files, same folder
    assert core.read_heatmap_txt(paths[2]).shape == core.read_heatmap_txt(files["layer4"]).shape
    assert uploads.save([("layer4.txt", b"other")])[0].parent != paths[0].parent
