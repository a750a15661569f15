"""core.dumps: real MMAction2 test dumps, the 0.x format, AccMetric's numbers, hostile pickles, the CLI."""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import re
import struct
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch._utils
from conftest import ROOT
from dump_data import ANNOTATIONS, make_real_dump

from core.dumps import (
    DumpUnpickler,
    Order,
    explain_target,
    filter_samples,
    load_dump,
    main,
    mean_class_accuracy,
    open_dump,
    read_annotations,
    read_dump,
    read_test_set,
    report_dict,
)
from core.errors import CamError
from core.target import GROUND_TRUTH, PREDICTED, ClassIndex
from core.unpickle import GLOBALS


@pytest.fixture(scope="session")
def real_dump(tmp_path_factory) -> dict:
    return make_real_dump(tmp_path_factory)


def test_real_dump_holds_only_allowed_globals(real_dump):
    data = real_dump["dump"].read_bytes()
    globals_ = {tuple(arg.split(" ")) for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert ("torch.storage", "_load_from_bytes") in globals_
    assert globals_ <= set(GLOBALS) and {GLOBALS[g].role for g in globals_} <= DumpUnpickler.ALLOWED
    samples = load_dump(real_dump["dump"])
    assert len(samples) == len(ANNOTATIONS)
    assert {"pred_score", "pred_label", "gt_label"} <= set(samples[0])
    assert isinstance(samples[0]["pred_score"], torch.Tensor) and samples[0]["pred_score"].shape == (7,)


def test_real_dump_metrics_equal_what_mmaction_logged(real_dump):
    report = read_dump(real_dump["dump"], real_dump["ann"], real_dump["root"])
    logged = real_dump["metrics"]
    assert report.acc_metric() == {k: logged[k] for k in ("acc/top1", "acc/top5", "acc/mean1")}
    assert {k: f"{v:.4f}" for k, v in report.acc_metric().items()} == real_dump["printed"]
    samples = load_dump(real_dump["dump"])
    assert report.pred.tolist() == [int(s["pred_label"]) for s in samples]
    assert report.gt.tolist() == [int(line.split()[1]) for line in ANNOTATIONS]
    assert report.videos == [str(real_dump["root"] / line.split()[0]) for line in ANNOTATIONS]
    assert report.holds_probabilities  # average_clips='prob'
    assert [s.score for s in report.samples()] == pytest.approx(
        [float(s["pred_score"].max()) for s in samples])
    assert report.pred.tolist() == [2, 3] * 3  # as the fixture arranged the head
    # class 3 is only predicted: MMAction2's acc/mean1 averages over 5 classes, the gt-only mean over 4
    assert report.mean_class_accuracy == pytest.approx(report.mean_class_accuracy_gt * 4 / 5)


def test_cli_json_from_config(real_dump, capsys):
    label_map = real_dump["config"].parent / "names.txt"
    label_map.write_text("".join(f"action {i}\n" for i in range(7)))
    assert main([str(real_dump["dump"]), "--config", str(real_dump["config"]),
                 "--label-map", str(label_map), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    report = read_dump(real_dump["dump"], real_dump["ann"], real_dump["root"])
    assert out["top1"] == report.top1 and out["top5"] == report.top5
    assert out["mean_class_accuracy"] == real_dump["metrics"]["acc/mean1"]
    assert out["classes"][3] == "action 3"
    confusion = np.array(out["confusion"])
    assert confusion.shape == (7, 7) and confusion.sum() == len(ANNOTATIONS)
    for sample in out["samples"]:  # rows are ground truth, columns predictions
        assert confusion[sample["gt_label"], sample["pred_label"]] >= 1
    assert [s["video"] for s in out["samples"]] == report.videos
    assert [c["count"] for c in out["per_class"]] == confusion.sum(axis=1).tolist()
    assert sum(p["count"] for p in out["confused_pairs"]) == int(confusion.sum() - np.trace(confusion))


def test_text_report(real_dump, capsys):
    assert main([str(real_dump["dump"]), "--ann-file", str(real_dump["ann"])]) == 0
    out = capsys.readouterr().out
    assert f"acc/top1  {real_dump['printed']['acc/top1']}" in out
    assert "acc/mean1 0.2000" in out  # as MMAction2 printed it, beside the gt-only mean
    assert "misclassified samples (4" in out and "class_4 -> class_2 (" in out and "demo.mp4" in out


def test_open_dump_takes_the_test_set_from_the_config_with_overrides(real_dump, tmp_path):
    report = open_dump(real_dump["dump"], config=real_dump["config"])
    assert report.videos == read_dump(real_dump["dump"], real_dump["ann"], real_dump["root"]).videos
    names = tmp_path / "names.txt"
    names.write_text("".join(f"action {i}\n" for i in range(7)))
    moved = tmp_path / "videos"
    report = open_dump(real_dump["dump"], config=real_dump["config"], video_root=moved, label_map=names)
    assert report.classes[3] == "action 3" and report.videos[0] == str(moved / "demo.mp4")
    with pytest.raises(CamError, match="is not here"):  # the overridden video folder has no videos
        explain_target(report, 0)
    other = tmp_path / "other.txt"
    other.write_text("demo.mp4 2\n")
    with pytest.raises(CamError, match="lists 1"):
        open_dump(real_dump["dump"], config=real_dump["config"], ann_file=other)


def test_explain_target_is_the_samples_video_and_chosen_class(real_dump):
    report = open_dump(real_dump["dump"], config=real_dump["config"])
    wrong = next(s for s in report.samples() if not s.correct)
    truth = explain_target(report, wrong.index, GROUND_TRUTH)
    predicted = explain_target(report, wrong.index, PREDICTED)
    assert explain_target(report, wrong.index, "gt") == truth  # user words parse as core.target does
    assert explain_target(report, wrong.index, ClassIndex(5)).target_class == 5
    assert truth.video == predicted.video == wrong.video and Path(wrong.video).is_file()
    assert (truth.target_class, predicted.target_class) == (wrong.gt_label, wrong.pred_label)
    assert truth.target_label == report.classes[wrong.gt_label] != predicted.target_label
    with pytest.raises(CamError, match="no sample 6"):
        explain_target(report, 6)
    with pytest.raises(CamError, match="names no videos"):
        explain_target(read_dump(real_dump["dump"]), 0)


def test_filter_samples_by_class_correctness_and_score():
    rng = np.random.default_rng(3)
    report = _report(rng.normal(size=(30, 4)).astype(np.float32), rng.integers(0, 4, size=30))
    everything = report.samples()
    assert filter_samples(everything) == everything
    wrong = filter_samples(everything, correct=False)
    assert wrong == [s for s in everything if s.gt_label != s.pred_label] and 0 < len(wrong) < 30
    cell = filter_samples(everything, gt=1, pred=2, order=Order.SCORE_DESCENDING)
    assert all((s.gt_label, s.pred_label) == (1, 2) for s in cell)
    assert len(cell) == int(report.confusion[1, 2]) and [s.score for s in cell] == sorted(
        (s.score for s in cell), reverse=True)
    lowest = filter_samples(everything, order="score-ascending")
    assert [s.score for s in lowest] == sorted(s.score for s in everything)
    with pytest.raises(CamError, match="order must be one of"):
        filter_samples(everything, order="random")


# --------------------------------------------------------------------------- metrics against MMAction2


def test_metrics_equal_mmaction_functions():
    from mmaction.evaluation.functional import mean_class_accuracy as mm_mean_class
    from mmaction.evaluation.functional import top_k_accuracy as mm_top_k

    rng = np.random.default_rng(0)
    for trial in range(20):
        scores = rng.normal(size=(40, 9)).astype(np.float32)
        gt = rng.integers(0, 3 + trial % 6, size=40)
        report = _report(scores, gt)
        assert [report.top1, report.top5] == mm_top_k(list(scores), gt.tolist(), (1, 5))
        assert report.mean_class_accuracy == mm_mean_class(list(scores), gt.tolist())


def test_mean_class_accuracy_counts_classes_only_predicted():
    # gt classes {0, 1}; class 2 is predicted once and never true.
    gt, pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    # per class: 0 -> 1/2, 1 -> 2/2, 2 -> no samples, counted 0 by MMAction2
    assert mean_class_accuracy(gt, pred) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert mean_class_accuracy(gt, pred, gt_only=True) == pytest.approx((0.5 + 1.0) / 2)
    from mmaction.evaluation.functional import mean_class_accuracy as mm_mean_class

    scores = np.eye(3)[pred]
    assert mm_mean_class(list(scores), gt.tolist()) == pytest.approx(0.5)
    report = _report(scores, gt)
    assert report.mean_class_accuracy == pytest.approx(0.5)
    assert report.mean_class_accuracy_gt == pytest.approx(0.75)
    assert [c.accuracy for c in report.per_class()] == [0.5, 1.0, None]
    assert report.confusion.tolist() == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]  # rows: ground truth
    assert [(p.gt, p.pred, p.count) for p in report.confused_pairs()] == [(0, 2, 1)]
    assert report.occurring.tolist() == [0, 1, 2]
    assert report.confusion_over(np.array([2, 0])).tolist() == [[0, 0], [1, 1]]  # rows gt 2, 0; columns pred 2, 0


def test_per_class_and_pairs_equal_the_dense_confusion_matrix():
    rng = np.random.default_rng(5)
    report = _report(rng.normal(size=(300, 12)).astype(np.float32), rng.integers(0, 12, size=300))
    dense = report.confusion
    assert [c.count for c in report.per_class()] == dense.sum(axis=1).tolist()
    assert [c.correct for c in report.per_class()] == np.diag(dense).tolist()
    off = dense - np.diag(np.diag(dense))
    pairs = report.confused_pairs(1000)
    assert sum(p.count for p in pairs) == off.sum() and all(off[p.gt, p.pred] == p.count for p in pairs)
    assert [p.count for p in pairs] == sorted((p.count for p in pairs), reverse=True)
    shown = report.occurring
    assert (report.confusion_over(shown) == dense[np.ix_(shown, shown)]).all()


def test_many_classes_report_without_a_dense_matrix():
    # 1 sample, 10,000 classes: the dense matrix would take 763 MiB; everything else works
    scores = np.zeros((2, 10_000), np.float32)
    scores[0, 7], scores[1, 9_999] = 1, 1
    report = _report(scores, np.array([7, 3]))
    assert report.top1 == 0.5 and report.per_class()[7].accuracy == 1.0
    assert report.confusion_over(report.occurring).tolist() == [[0, 0, 1], [0, 1, 0], [0, 0, 0]]
    with pytest.raises(CamError, match=r"confusion matrix over 10000 classes would take 762.9 MiB"):
        _ = report.confusion


def _report(scores: np.ndarray, gt: np.ndarray):
    from core.dumps import DumpReport

    return DumpReport(scores=scores, gt=gt, classes=[f"class_{i}" for i in range(scores.shape[1])])


# --------------------------------------------------------------------------- 0.x format, inputs


def _write(path: Path, obj, protocol: int = 2) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 5])
def test_legacy_score_list(tmp_path, protocol):
    scores = [np.array([2.0, 0.5, -1.0], np.float32), np.array([0.1, 0.2, 3.0], np.float32)]
    dump = _write(tmp_path / "out.pkl", scores, protocol)
    with pytest.raises(CamError, match="annotation"):
        read_dump(dump)
    ann = tmp_path / "rawframes.txt"
    ann.write_text("clips/a 10 0\nclips/b 12 1\n")  # rawframes lines: path total_frames label
    report = read_dump(dump, ann, "frames", classes=["run", "jump", "swim"])
    assert report.legacy and report.gt.tolist() == [0, 1] and report.pred.tolist() == [0, 2]
    assert report.videos == [os.path.join("frames", "clips/a"), os.path.join("frames", "clips/b")]
    assert not report.holds_probabilities  # raw scores: the sample score is their softmax
    expected = np.exp(scores[0]) / np.exp(scores[0]).sum()
    assert report.samples()[0].score == pytest.approx(float(expected.max()))
    assert report_dict(report)["per_class"][2]["name"] == "swim"


def test_numpy_1_pickles_are_read(tmp_path):
    """numpy 1.x writes numpy.core, numpy 2 numpy._core: both read under either numpy."""
    data = pickle.dumps([np.arange(4, dtype=np.float32)], protocol=2)
    new = data.replace(b"numpy.core.multiarray", b"numpy._core.multiarray")  # as numpy 2 writes it
    old = new.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # as numpy 1.x wrote it
    assert old != new
    for name, payload in (("old.pkl", old), ("new.pkl", new)):
        (tmp_path / name).write_bytes(payload)
        assert load_dump(tmp_path / name)[0].tolist() == [0, 1, 2, 3]


def test_annotation_must_match_the_dump(tmp_path):
    dump = _write(tmp_path / "d.pkl", [
        {"pred_score": torch.tensor([0.9, 0.1]), "gt_label": torch.tensor([0])},
        {"pred_score": torch.tensor([0.3, 0.7]), "gt_label": torch.tensor([1])}])
    (tmp_path / "short.txt").write_text("a.mp4 0\n")
    with pytest.raises(CamError, match="2 samples"):
        read_dump(dump, tmp_path / "short.txt")
    (tmp_path / "other.txt").write_text("a.mp4 0\nb.mp4 0\n")
    with pytest.raises(CamError, match="line 2"):
        read_dump(dump, tmp_path / "other.txt")
    (tmp_path / "bad.txt").write_text("a.mp4\n")
    with pytest.raises(CamError, match="line 1"):
        read_annotations(tmp_path / "bad.txt")
    with pytest.raises(CamError, match="3 class names"):
        read_dump(dump, classes=["a", "b", "c"])
    assert read_dump(dump).top1 == 1.0


def test_test_set_from_config(tmp_path):
    config = tmp_path / "cfg.py"
    config.write_text(textwrap.dedent("""
        dataset_meta = dict(classes=('run', 'jump'))
        test_dataloader = dict(dataset=dict(type='RepeatDataset', times=2, dataset=dict(
            type='RawframeDataset', data_root='/data/set', ann_file='test.txt',
            data_prefix=dict(img='frames'))))
    """))
    test_set = read_test_set(config)
    assert test_set.ann_file == "/data/set/test.txt"
    assert test_set.video_root == "/data/set/frames"
    assert test_set.classes == ["run", "jump"]


# --------------------------------------------------------------------------- hostile and broken files


class _System:
    """Pickles as ``os.system(command)``: code run by any plain pickle.load."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _LoadFromBytes:
    """Pickles as ``torch.storage._load_from_bytes(data)``, as tensors in dumps do."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self):
        return torch.storage._load_from_bytes, (self.data,)


def test_reduce_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    dump = _write(tmp_path / "evil.pkl", [_System(f"touch {marker}")])
    with pytest.raises(CamError, match=r"`(posix|os)\.system`") as error:
        load_dump(dump)
    assert not marker.exists()
    assert "\n" not in str(error.value)
    pickle.loads(dump.read_bytes())  # the payload is live: plain pickle runs it
    assert marker.exists()


def test_payload_inside_tensor_bytes_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    inner = io.BytesIO()
    torch.save(_System(f"touch {marker}"), inner, _use_new_zipfile_serialization=False)
    dump = _write(tmp_path / "evil.pkl", [{"pred_score": _LoadFromBytes(inner.getvalue())}])
    with pytest.raises(CamError, match=r"(posix|os)\.system"):
        load_dump(dump)
    assert not marker.exists()
    pickle.loads(dump.read_bytes())  # torch's own _load_from_bytes runs it (weights_only=False)
    assert marker.exists()


class _OutOfBounds:
    def __reduce__(self):
        storage = torch.tensor([1.0, 2.0, 3.0]).untyped_storage()
        typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.float32, _internal=True)
        return torch._utils._rebuild_tensor_v2, (typed, 0, (10000,), (1,), False, OrderedDict())


def test_tensor_past_its_storage_is_refused(tmp_path):
    dump = _write(tmp_path / "oob.pkl", [{"pred_score": _OutOfBounds(), "gt_label": torch.tensor([0])}])
    with pytest.raises(CamError, match="past the end"):
        load_dump(dump)


def test_broken_files(tmp_path):
    good = pickle.dumps([{"pred_score": torch.rand(5), "gt_label": torch.tensor([1])}], protocol=2)
    (tmp_path / "cut.pkl").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.pkl").write_text("demo.mp4 0\n")
    (tmp_path / "empty.pkl").write_bytes(b"")
    for name in ("cut.pkl", "text.pkl", "empty.pkl"):
        with pytest.raises(CamError, match="not a readable results pickle"):
            load_dump(tmp_path / name)
    with pytest.raises(CamError, match="does not exist"):
        load_dump(tmp_path / "missing.pkl")
    with pytest.raises(CamError, match="holds dict"):
        load_dump(_write(tmp_path / "dict.pkl", {"a": 1}))


def test_cli_error_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "text.pkl").write_text("not a pickle\n")
    run = subprocess.run([sys.executable, "-m", "core.dumps", str(tmp_path / "text.pkl"), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stdout == ""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in run.stderr


# --------------------------------------------------------------------------- declared sizes (issue 13.8)


def _ops(obj) -> bytes:
    """The opcodes that push ``obj`` (a constant) in a protocol-2 pickle, without PROTO and STOP."""
    return pickle.dumps(obj, protocol=2)[2:-1]


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _traced_peak(action) -> tuple[BaseException | None, int]:
    """Run ``action`` and return (its exception, the peak bytes Python and numpy allocated meanwhile)."""
    import tracemalloc

    tracemalloc.start()
    try:
        action()
        error = None
    except BaseException as caught:  # (returned to the test)
        error = caught
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, peak


def test_small_file_declaring_a_huge_array_is_refused_before_allocating(tmp_path):
    # 97 bytes: a 0.x dump of one uninitialised int8 array of 300 MB (numpy's _reconstruct with its shape)
    dump = tmp_path / "huge.pkl"
    dump.write_bytes(b"\x80\x02]" + _global("numpy._core.multiarray", "_reconstruct") + _global("numpy", "ndarray")
                     + _ops((300_000_000,)) + _ops("b") + b"\x87Ra.")
    assert len(dump.read_bytes()) < 120
    error, peak = _traced_peak(lambda: load_dump(dump))
    assert isinstance(error, CamError), error
    assert "declares an array of 286.1 MiB" in str(error) and "\n" not in str(error)
    assert peak < 5_000_000


def test_tensor_view_larger_than_the_file_is_refused(tmp_path):
    class Broadcast:  # one stored float seen as 50,000 (stride 0): what made a 437-byte dump ask for 18.6 GiB
        def __reduce__(self):
            typed = torch.storage.TypedStorage(wrap_storage=torch.tensor([0.5]).untyped_storage(),
                                               dtype=torch.float32, _internal=True)
            return torch._utils._rebuild_tensor_v2, (typed, 0, (50_000,), (0,), False, OrderedDict())

    dump = _write(tmp_path / "wide.pkl", [{"pred_score": Broadcast(), "gt_label": torch.tensor([0])}])
    with pytest.raises(CamError, match=r"declares a tensor of 195.3 KiB, more array data than a .* file can hold"):
        load_dump(dump)


def test_storage_declaring_more_than_its_bytes_is_refused(tmp_path):
    blob = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]).storage().__reduce__()[1][0]  # the legacy torch.save bytes
    assert blob.count(b"K\x05N") == 1  # the element count in its persistent id
    forged = blob.replace(b"K\x05N", b"J" + struct.pack("<i", 2**30) + b"N")  # 4 GiB of floats
    dump = _write(tmp_path / "storage.pkl", [{"pred_score": _LoadFromBytes(forged), "gt_label": torch.tensor([0])}])
    error, peak = _traced_peak(lambda: load_dump(dump))
    assert isinstance(error, CamError)
    assert re.search(r"a tensor storage declares 4.0 GiB but only \d+ bytes", str(error))
    assert peak < 5_000_000


def test_declared_byte_length_beyond_the_file_allocates_nothing(tmp_path):
    dump = tmp_path / "bytes.pkl"
    dump.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 30) + b"ab.")  # BINBYTES8 of 1 GiB, 2 present
    error, peak = _traced_peak(lambda: load_dump(dump))
    assert isinstance(error, CamError) and "not a readable results pickle" in str(error), error
    assert peak < 5_000_000


def test_bytes_reused_many_times_are_counted_each_time(tmp_path):
    text = "x" * 65536  # stored once, turned into bytes 200 times through the memo: 13 MB from a 71 KB file
    body = b"X" + struct.pack("<I", len(text)) + text.encode() + b"q\x010"  # memo 1, then off the stack
    body += (_global("_codecs", "encode") + b"h\x01" + _ops("latin1") + b"\x86Ra") * 200
    dump = tmp_path / "memo.pkl"
    dump.write_bytes(b"\x80\x02]" + body + b".")
    with pytest.raises(CamError, match=r"a byte string of 64.0 KiB, more array data than a 70.7 KiB file can hold"):
        load_dump(dump)


def test_absolute_cap_is_overridable(tmp_path, monkeypatch):
    dump = _write(tmp_path / "d.pkl", [{"pred_score": torch.rand(400), "gt_label": torch.tensor([3])}] * 4)
    monkeypatch.setenv("MMCAM_DUMP_MAX_BYTES", "2000")
    with pytest.raises(CamError, match="set MMCAM_DUMP_MAX_BYTES to a larger number of bytes"):
        load_dump(dump)
    assert len(load_dump(dump, max_bytes=1 << 20)) == 4  # a parameter overrides the environment
    monkeypatch.setenv("MMCAM_DUMP_MAX_BYTES", "lots")
    with pytest.raises(CamError, match="is not a number of bytes"):
        load_dump(dump)
    monkeypatch.delenv("MMCAM_DUMP_MAX_BYTES")
    assert len(load_dump(dump)) == 4


def test_array_state_must_match_its_shape(tmp_path):
    dump = tmp_path / "short.pkl"  # an array of 1,000,000 float32 whose BUILD brings 8 bytes
    state = (1, (1_000_000,), None, False, b"\0" * 8)
    raw = _ops(state).replace(b"N", _global("numpy", "dtype") + _ops(("f4", False, True)) + b"R", 1)
    dump.write_bytes(b"\x80\x03]" + _global("numpy._core.multiarray", "_reconstruct") + _global("numpy", "ndarray")
                     + _ops((0,)) + _ops(b"b") + b"\x87R" + raw + b"ba.")
    with pytest.raises(CamError, match="does not match its shape"):
        load_dump(dump)


# --------------------------------------------------------------------------- state of shared objects (issue 13.9)

TAMPER = r'''
import importlib, json, pickle, sys
import numpy as np
import torch
from core.dumps import load_dump

def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"

def const(obj):
    return pickle.dumps(obj, protocol=2)[2:-1]

def setattrs(module, name, attrs):  # [module.name] after BUILD (None, attrs): setattr on the global itself
    return b"\x80\x02]" + glob(module, name) + const((None, attrs)) + b"ba."

NUMERIC = "numpy._core.numeric" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core.numeric"  # numpy 1.x
frombuffer = importlib.import_module(NUMERIC)._frombuffer
before = (frombuffer.__name__, frombuffer.__defaults__)
attacks = {
    "encode defaults": setattrs("_codecs", "encode", {"__defaults__": ("utf-8", "ignore")}),
    "rebuild renamed": setattrs("torch._utils", "_rebuild_tensor_v2",
                                {"__name__": "renamed", "__defaults__": (True, {"hook": 1}, None)}),
    "numpy renamed": setattrs(NUMERIC, "_frombuffer", {"__name__": "renamed"}),
    "load_from_bytes dict": b"\x80\x02]" + glob("torch.storage", "_load_from_bytes") + const({"x": 1}) + b"ba.",
    "setitem on a global": b"\x80\x02]" + glob("collections", "OrderedDict") + const("k") + const(1) + b"sa.",
}
folder = sys.argv[1]
out = {}
for name, payload in attacks.items():
    path = f"{folder}/evil.pkl"
    open(path, "wb").write(payload)
    try:
        load_dump(path)
        out[name] = "loaded"
    except Exception as error:
        out[name] = f"{type(error).__name__}: {error}"
valid = [{"pred_score": torch.tensor([0.25, 0.75]), "gt_label": torch.tensor([1]), "tag": b"\xff\x00bytes"}]
open(f"{folder}/valid.pkl", "wb").write(pickle.dumps(valid, protocol=2))
try:
    loaded = load_dump(f"{folder}/valid.pkl")
    out["valid"] = [loaded[0]["pred_score"].tolist(), loaded[0]["tag"].hex()]
except Exception as error:
    out["valid"] = f"{type(error).__name__}: {error}"
out["numpy unchanged"] = (frombuffer.__name__, frombuffer.__defaults__) == before
print(json.dumps(out))
'''


def test_a_crafted_dump_cannot_change_the_reader_for_the_next_one(tmp_path):
    run = subprocess.run([sys.executable, "-c", TAMPER, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    for attack in ("encode defaults", "rebuild renamed", "numpy renamed", "load_from_bytes dict",
                   "setitem on a global"):
        assert out[attack].startswith("CamError: refused to read the dump"), (attack, out[attack])
    assert "an object it did not build" in out["rebuild renamed"]
    assert out["valid"] == [[0.25, 0.75], "ff006279746573"]  # the same process reads a valid dump unharmed
    assert out["numpy unchanged"]
