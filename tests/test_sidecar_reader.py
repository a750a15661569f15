"""One reader of sidecar files: ``core.formats.sidecar.read_sidecar`` (size-capped, a JSON object) under the batch's
and the study's readers, and ``core.formats.sidecar.peek``, the checked look that listings take."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from core.batch.store import output_paths, result_sidecar
from core.batch.tasks import BatchTask
from core.errors import CamError
from core.formats import sidecar
from core.geometry import Views
from core.methods import Method, method_label
from core.study.inputs import _sidecar_facts


def _write(path, payload) -> None:
    path.write_text(json.dumps(payload), encoding="utf-8")


def test_peek_reads_the_listing_fields_checked(tmp_path):
    side = tmp_path / "clip.json"
    _write(side, {"video": "/data/clip.mp4", "frame_indices": [[0, 4, 8]], "method": "gradcam", "extra": 1})
    facts = sidecar.peek(side)
    assert facts.video == "/data/clip.mp4" and facts.method == "gradcam" and facts.layer is None
    np.testing.assert_array_equal(facts.frame_indices, [[0, 4, 8]])
    _write(side, {"video": "clip.mp4", "frame_indices": [[0, -4]]})
    with pytest.raises(CamError, match='"frame_indices" must be'):
        sidecar.peek(side)


def test_the_study_matches_videos_through_peek(tmp_path):
    txt = tmp_path / "x.txt"
    _write(tmp_path / "x.json", {"video": "/data/clip.mp4", "frame_indices": [[3, 1, 3]]})
    assert _sidecar_facts(txt) == ("clip", [1, 3])
    _write(tmp_path / "x.json", {"video": "/data/clip.mp4", "frame_indices": "[[1]]"})
    with pytest.raises(CamError, match='"frame_indices" must be'):
        _sidecar_facts(txt)


def test_the_batch_store_reads_sidecars_through_the_capped_reader(tmp_path, monkeypatch):
    outputs = output_paths(tmp_path, BatchTask("clip.mp4", "clip"))
    outputs.txt.write_text("Frame 0 - Heatmap values:\n0.5\n")
    outputs.npz.write_bytes(b"")
    _write(outputs.json, {"target_class": 1, "shape": [1, 1, 1, 1]})
    assert result_sidecar(outputs) == {"target_class": 1, "shape": [1, 1, 1, 1]}
    monkeypatch.setattr(sidecar, "MAX_SIDECAR_BYTES", 8)  # the cap every sidecar reader now shares
    assert result_sidecar(outputs) is None
    monkeypatch.undo()
    outputs.json.write_text("[1, 2]")
    assert result_sidecar(outputs) is None


def test_method_and_views_read_as_their_names_and_an_unknown_name_stays_text():
    """Known names come back as :class:`~core.methods.Method` / :class:`~core.geometry.Views` members (equal to
    their text, so old readers keep working); a name of another version is kept as written, not refused; and
    the sidecar written back is the same JSON, byte for byte."""
    heatmaps = np.zeros((1, 2, 3, 3), np.float32)
    meta = {"method": "gradcampp", "views": "all", "shape": [1, 2, 3, 3]}
    result = sidecar.from_sidecar(meta, heatmaps)
    assert result.method is Method.GRADCAMPP and result.views is Views.ALL
    as_text = replace(result, method="gradcampp", views="all")  # what this version wrote before the names were typed
    assert type(as_text.method) is str
    assert json.dumps(sidecar.to_sidecar(result)) == json.dumps(sidecar.to_sidecar(as_text))
    assert '"method": "gradcampp", "views": "all"' in json.dumps(sidecar.to_sidecar(result))
    foreign = sidecar.from_sidecar({"method": "scorecam", "views": "five-crop"}, heatmaps)
    assert type(foreign.method) is str and foreign.method == "scorecam"
    assert type(foreign.views) is str and foreign.views == "five-crop"
    assert method_label(foreign.method) == "scorecam" and method_label(result.method) == "Grad-CAM++"
    unknown = sidecar.from_sidecar({}, heatmaps)
    assert unknown.method == "" and unknown.views is Views.CENTER
