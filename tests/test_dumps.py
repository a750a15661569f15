"""core.dumps: real MMAction2 test dumps, the 0.x format, AccMetric's numbers, hostile pickles, the CLI."""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
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


@pytest.fixture(scope="session")
def real_dump(tmp_path_factory) -> dict:
    return make_real_dump(tmp_path_factory)


def test_real_dump_holds_only_allowed_globals(real_dump):
    data = real_dump["dump"].read_bytes()
    globals_ = {tuple(arg.split(" ")) for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}
    assert ("torch.storage", "_load_from_bytes") in globals_
    assert globals_ <= set(DumpUnpickler._ALLOWED)
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
    truth = explain_target(report, wrong.index, "ground truth")
    predicted = explain_target(report, wrong.index, "prediction")
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
    cell = filter_samples(everything, gt=1, pred=2, order="score, highest first")
    assert all((s.gt_label, s.pred_label) == (1, 2) for s in cell)
    assert len(cell) == int(report.confusion[1, 2]) and [s.score for s in cell] == sorted(
        (s.score for s in cell), reverse=True)
    lowest = filter_samples(everything, order="score, lowest first")
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
