"""One result type and one way to files and back (core.result, core.formats.sidecar, core.heatmap_files.read_result) on
real explanations of a synthetic clip by the tiny real model: the result read back is the result written;
sidecars are checked against one schema (one sentence naming the bad field); heatmap values get one check;
npz sizes are checked before anything is allocated; opening a batch row runs no config."""

from __future__ import annotations

import dataclasses
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from tiny_model import write_tiny_config

import core
from core import gaze
from core.batch.cli import main as batch_main
from core.batch.store import read_outputs
from core.errors import CamError
from core.formats.sidecar import SCHEMA, to_sidecar
from core.formats.txt import write_heatmap_txt
from core.heatmap_files import check_heatmap_values, read_result
from core.limits import MAX_ARRAY_BYTES_ENV
from core.result import topk
from core.synthetic import make_clip


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """A 128x96 synthetic clip, the tiny model, and its center and all-views results written with their npz."""
    folder = tmp_path_factory.mktemp("results")
    (folder / "videos").mkdir()
    video = core.write_video(make_clip(3, label=1, frames=40, size=(96, 128)).frames, folder / "videos" / "clip.mp4",
                             fps=12)
    config = write_tiny_config(folder / "model", [video])
    handle = core.load_model(config, device="cpu", seed=1)
    made = {"folder": folder, "video": video, "config": config, "handle": handle}
    for views in ("center", "all"):
        made[views] = core.explain(handle, video, views=views)
        core.write_result(folder / f"{views}.txt", made[views], npz=True)
    return made


def _copy(made: dict, folder, name: str = "cam", views: str = "center", suffixes=(".txt", ".json", ".npz")):
    for suffix in suffixes:
        (folder / f"{name}{suffix}").write_bytes((made["folder"] / f"{views}{suffix}").read_bytes())
    return folder / f"{name}.txt"


def _fixations(path) -> None:
    """A fixation map of the clip's 128x96 frame: a diagonal of fixated pixels."""
    import cv2

    cv2.imwrite(str(path), np.eye(96, 128, dtype=np.uint8) * 255)


def _frame_error(frames: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(frames.astype(np.int64) - expected.astype(np.int64)).mean())


@pytest.mark.parametrize("views", ["center", "all"])
def test_the_result_read_back_is_the_result_written(made, views):
    written = made[views]
    for suffix in (".txt", ".json", ".npz"):  # any of its files opens it
        again = read_result(made["folder"] / f"{views}{suffix}")
        assert again.file_notes == [] and not again.legacy and again.inputs is None
        assert np.array_equal(again.heatmaps, written.heatmaps) and np.array_equal(again.scores, written.scores)
        assert np.array_equal(again.frame_indices, written.frame_indices) and np.array_equal(again.probs, written.probs)
        assert again.windows == written.windows and again.fps == pytest.approx(written.fps)
        assert (again.target_class, again.layer, again.method, again.video, again.views) == \
            (written.target_class, written.layer, written.method, written.video, written.views)
        assert to_sidecar(again) == json.loads(json.dumps(to_sidecar(written)))  # written back as it was
        assert topk(again, 3) == topk(written, 3) and again.predicted_label == written.predicted_label
        # the overlay frames come from the video through each view's window, not from a config
        assert again.frames.shape == written.frames.shape and _frame_error(again.frames, written.frames) < 6


def test_explain_inputs_returns_the_result_with_its_inputs(made):
    handle = made["handle"]
    clip = core.build_inputs(handle.cfg, made["video"])
    result = core.explain_inputs(handle, clip)
    assert isinstance(result, core.ExplainResult) and result.inputs is clip and result.windows == clip.windows
    with pytest.raises(TypeError):  # a value, not a dict: no item access, no changes after construction
        result["heatmaps"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.target_class = 0  # type: ignore[misc]
    assert "inputs=" not in repr(result) and "inputs" not in to_sidecar(result)
    assert result.source_size == clip.source_size and result.view_boxes == clip.view_boxes
    assert result.crop_box == clip.crop_box and result.view_flips == clip.view_flips


def test_sidecars_carry_a_schema_and_older_ones_are_read(made, tmp_path):
    txt = _copy(made, tmp_path)
    meta = json.loads(txt.with_suffix(".json").read_text())
    assert meta["schema"] == SCHEMA
    del meta["schema"]  # as written before the field existed
    txt.with_suffix(".json").write_text(json.dumps(meta))
    assert read_result(txt).windows == made["center"].windows
    txt.with_suffix(".json").write_text(json.dumps({**meta, "schema": SCHEMA + 1}))
    with pytest.raises(CamError, match=f"schema version {SCHEMA + 1}"):
        read_result(txt)


def _damaged(meta: dict, case: str):
    views, frames = len(meta["frame_indices"]), len(meta["frame_indices"][0])
    return {
        "source_size": {**meta, "source_size": [0, 0]},
        "fps": {**meta, "fps": "fast"},
        "frame_indices": {**meta, "frame_indices": [[-3] * frames] * views},
        "crop_box": {**meta, "crop_box": [10, 0, 5, 20]},
        "view_boxes": {**meta, "view_boxes": [[0, 0, 10_000, 20]] * views},
        "view_flips": {**meta, "view_flips": ["yes"] * views},
        "target_class": {**meta, "target_class": "walk"},
        "shape": {**meta, "shape": [views, frames, 64, -64]},
        "notes": {**meta, "notes": 5},
        "nan fps": {**meta, "fps": float("nan")},
    }[case]


@pytest.mark.parametrize("case", ["source_size", "fps", "frame_indices", "crop_box", "view_boxes", "view_flips",
                                  "target_class", "shape", "notes", "nan fps"])
def test_a_malformed_sidecar_is_one_sentence_naming_its_field(made, tmp_path, case):
    txt = _copy(made, tmp_path)
    meta = json.loads(txt.with_suffix(".json").read_text())
    txt.with_suffix(".json").write_text(json.dumps(_damaged(meta, case)))
    field = case.split()[-1]
    with pytest.raises(CamError) as caught:
        read_result(txt)
    assert f'"{field}"' in str(caught.value) and "\n" not in str(caught.value)
    _fixations(tmp_path / "fix.png")
    with pytest.raises(CamError, match=f'"{field}"'):  # gaze reads the same way (no ZeroDivisionError, ...)
        gaze.score_file(txt, tmp_path / "fix.png")


@pytest.mark.parametrize("text, message", [("[" * 100_000 + "]" * 100_000, "nested too deeply"),
                                           ("[1, 2]", "not an object"), ("{", "not readable JSON")])
def test_a_sidecar_that_is_no_object_is_one_error_line(made, tmp_path, capsys, text, message):
    txt = _copy(made, tmp_path)
    txt.with_suffix(".json").write_text(text)
    _fixations(tmp_path / "fix.png")
    assert gaze.main([str(txt), str(tmp_path / "fix.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_heatmap_values_get_one_check_everywhere(made, tmp_path):
    txt = _copy(made, tmp_path, suffixes=(".txt", ".json"))
    _fixations(tmp_path / "fix.png")
    maps = made["center"].heatmaps.copy()
    maps[0, 2, 5, 5] = np.nan
    write_heatmap_txt(txt, maps)
    with pytest.raises(CamError, match="heatmap frame 2 holds NaN or infinite values") as from_file:
        read_result(txt)
    with pytest.raises(CamError) as from_gaze:
        gaze.score_file(txt, tmp_path / "fix.png")
    assert str(from_gaze.value) == str(from_file.value)
    maps[0, 2, 5, 5] = -0.5  # out of range: read and scored, with the same note
    write_heatmap_txt(txt, maps)
    (note,) = read_result(txt).file_notes
    assert "outside [0, 1]" in note and note == check_heatmap_values(maps, txt.name)[0]
    assert note in gaze.score_file(txt, tmp_path / "fix.png", region="frame").notes


def _npz_declaring(path, shape: tuple[int, ...], data: bytes) -> None:
    """An npz whose ``heatmaps`` member declares ``shape`` (float32) and holds ``data``, deflated."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("heatmaps.npy", header.getvalue() + data)


def test_npz_sizes_are_checked_before_anything_is_allocated(made, tmp_path, monkeypatch):
    txt = _copy(made, tmp_path, suffixes=(".txt", ".json"))
    _npz_declaring(txt.with_suffix(".npz"), (12_000, 160, 240), bytes(1000))  # 1.8 GB declared, 1 kB held
    assert txt.with_suffix(".npz").stat().st_size < 2000
    tracemalloc.start()
    try:
        with pytest.raises(CamError, match=r"declares 1.7 GiB but its file can hold at most"):
            read_result(txt)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    # a real deflated npz holding that much (zeros compress 1000:1) is refused above the cap, which is overridable
    alone = tmp_path / "alone.npz"
    np.savez_compressed(alone, heatmaps=np.zeros((4, 40, 256, 256), np.float32))  # 42 MB in 40 kB
    monkeypatch.setenv(MAX_ARRAY_BYTES_ENV, str(10 * 2**20))
    with pytest.raises(CamError, match=f"more than the 10.0 MiB allowed; raise {MAX_ARRAY_BYTES_ENV}"):
        read_result(alone)
    with pytest.raises(CamError, match=f"more than the 10.0 KiB allowed; raise {MAX_ARRAY_BYTES_ENV}"):
        monkeypatch.setenv(MAX_ARRAY_BYTES_ENV, str(10 * 2**10))  # a heatmap txt is held to the same cap
        core.read_heatmap_txt(txt)
    monkeypatch.setenv(MAX_ARRAY_BYTES_ENV, str(2**30))
    assert read_result(alone).heatmaps.shape == (4, 40, 256, 256)
    np.savez(alone, heatmaps=np.zeros((1, 2, 4, 4), np.float32), frame_indices=np.zeros(10**6, np.int64))
    with pytest.raises(CamError, match="does not fit heatmaps"):  # arrays that contradict the heatmaps' shape
        read_result(alone)


def test_opening_a_batch_row_never_runs_its_config(made, tmp_path, capsys):
    out = tmp_path / "out"
    assert batch_main([str(made["config"]), "none", str(made["video"].parent), "--out", str(out), "--quiet"]) == 0
    marker = tmp_path / "ran.txt"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('the config ran')\n")
    meta = json.loads((out / "clip.json").read_text())
    (out / "clip.json").write_text(json.dumps({**meta, "config": str(evil)}))
    result = read_outputs(out, "clip")
    assert not marker.exists()
    assert result.file_notes == [] and result.frames is not None  # cut from the source video by the sidecar
    assert _frame_error(result.frames, made["center"].frames) < 6


def test_one_header_rule_for_finding_and_reading_heatmap_files(made, tmp_path):
    good = _copy(made, tmp_path, "good", suffixes=(".txt",))
    other = tmp_path / "other.txt"
    other.write_text("Frame 0 - Heatmap values of the thesis, see below\n0.1 0.2\n")
    with pytest.raises(CamError, match="not a heatmap file"):
        core.read_heatmap_txt(other)
    assert gaze.find_heatmap_files(tmp_path) == [good]
