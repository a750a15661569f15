"""One parser for list and annotation lines (core.annotations), used by the batch and by the test dumps."""

from __future__ import annotations

import pytest

from core.annotations import ListEntry, parse_line, read_list
from core.batch import collect_tasks
from core.dumps import read_annotations
from core.errors import CamError


@pytest.mark.parametrize(("line", "expected"), [
    ("clips/a.mp4 3", ListEntry("clips/a.mp4", 3, None, 7)),  # VideoDataset: path label
    ("frames/walk 16 4", ListEntry("frames/walk", 4, 16, 7)),  # RawframeDataset: path total_frames label
    ("  /abs/b.mp4  ", ListEntry("/abs/b.mp4", None, None, 7)),  # a plain list
    ("my clips/holiday 2.mp4", ListEntry("my clips/holiday 2.mp4", None, None, 7)),  # spaces: one plain path
    ("a.mp4 -1", ListEntry("a.mp4 -1", None, None, 7)),  # MMAction2 writes no negative labels
    ("a.mp4 x 3", ListEntry("a.mp4 x 3", None, None, 7)),
    ("", None), ("   ", None), ("# a comment", None),
])
def test_parse_line(line, expected):
    assert parse_line(line, 7) == expected
    if expected is not None:
        assert expected.rawframes == (expected.total_frames is not None)


def test_batch_and_dumps_read_the_same_file_the_same_way(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "frames" / "walk").mkdir(parents=True)
    (tmp_path / "frames" / "walk" / "img_00001.jpg").write_bytes(b"x")
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / "clips" / name).write_bytes(b"x")
    annotation = tmp_path / "val.txt"
    annotation.write_text("clips/a.mp4 3\n\n# note\nframes/walk 16 4\nclips/b.mp4 0\n")
    samples = read_annotations(annotation, tmp_path)
    tasks = collect_tasks([annotation])
    assert [(s.video, s.label) for s in samples] == [(t.video, t.gt_class) for t in tasks] == [
        (str(tmp_path / "clips/a.mp4"), 3), (str(tmp_path / "frames/walk"), 4), (str(tmp_path / "clips/b.mp4"), 0)]
    assert [t.name for t in tasks] == ["clips/a", "frames/walk", "clips/b"]
    assert [t.origin for t in tasks] == ["val.txt line 1", "val.txt line 4", "val.txt line 5"]
    assert [e.line for e in read_list(annotation)] == [1, 4, 5]


def test_annotation_files_need_labels_and_text(tmp_path):
    (tmp_path / "plain.txt").write_text("a.mp4 1\nb.mp4\n")
    with pytest.raises(CamError, match="line 2 is neither `path label`"):
        read_list(tmp_path / "plain.txt", labelled=True)
    assert [e.label for e in read_list(tmp_path / "plain.txt")] == [1, None]
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00a.mp4 1\n")
    with pytest.raises(CamError, match="Cannot read annotation file .* as text"):
        read_annotations(tmp_path / "binary.txt")
    with pytest.raises(CamError, match="does not exist"):
        read_annotations(tmp_path / "missing.txt")
