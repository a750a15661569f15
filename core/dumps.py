"""Test dumps: read the predictions MMAction2's ``tools/test.py`` writes, safely, and score them.

Two formats are understood:

* 1.x ``--dump``: a list with one dict per test sample (``pred_score`` tensor over classes,
  ``pred_label``, ``gt_label`` and a few meta keys such as ``img_shape``, ``num_classes``).
* 0.x ``--out``: a list of score arrays; the labels then come from the annotation file.

A dump holds no file names (``PackActionInputs`` drops them): sample ``i`` is line ``i`` of the
test annotation file, which this module reads to name the videos.

Users share these pickles, so they are never given to ``pickle.load``: :class:`DumpUnpickler`
allows only the globals real dumps contain, and replaces ``torch.storage._load_from_bytes``
(which calls ``torch.load(weights_only=False)`` on bytes from the file) with a
``weights_only=True`` load.

Metrics match what MMAction2's ``AccMetric`` prints (``acc/top1``, ``acc/top5``, ``acc/mean1``),
including ``mean_class_accuracy``'s quirk: it averages over the classes found in the ground truth
*or* the predictions, a class that is only predicted counting 0. The mean over ground-truth
classes alone is reported beside it as ``mean_class_accuracy_gt``.

Scores: dumps made with ``average_clips='prob'`` (the usual test setting) already hold
probabilities (the mean of the clips' softmaxes); dumps made with ``'score'`` hold averaged raw
scores. A row that is non-negative and sums to 1 is taken as probabilities, anything else is
passed through a softmax before a sample's ``score`` (probability of its predicted class) is read.
"""

from __future__ import annotations

import argparse
import codecs
import collections
import io
import json
import os
import pickle
import re
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch._utils

from core.checkpoint import numpy_core
from core.errors import CamError, run_command
from core.model import read_label_map


def _refuse(name: str) -> CamError:
    return CamError(f"refused to read the dump: it asks for the global `{name}`, which MMAction2 "
                    "test dumps never contain (a tampered or foreign pickle?)")


def _encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it: bytes stored as latin-1 text."""
    try:
        latin1 = codecs.lookup(encoding).name == "iso8859-1"
    except (LookupError, TypeError):
        latin1 = False
    if not isinstance(text, str) or not latin1 or errors != "strict":
        raise _refuse(f"_codecs.encode with {encoding!r}")
    return codecs.encode(text, "latin-1")


def _load_storage(data: Any) -> torch.storage.TypedStorage:
    """Safe stand-in for ``torch.storage._load_from_bytes``: plain tensor data only."""
    if not isinstance(data, bytes):
        raise _refuse("torch.storage._load_from_bytes on something other than bytes")
    try:
        storage = torch.load(io.BytesIO(data), weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        raise _refuse(found.group(1) if found else "inside a tensor's storage") from None
    except Exception as error:  # torch raises many kinds on damaged bytes
        raise CamError(f"the tensor data inside the dump is damaged ({error.__class__.__name__})") from None
    if not isinstance(storage, torch.storage.TypedStorage):
        raise _refuse(f"torch.storage._load_from_bytes returning {type(storage).__name__}")
    return storage


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` after checking the view stays inside its storage."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise _refuse(f"torch._utils._rebuild_tensor_v2 over {type(storage).__name__}")
    dims = (tuple(size) if isinstance(size, (tuple, list)) else None,
            tuple(stride) if isinstance(stride, (tuple, list)) else None)
    ints = [offset, *(dims[0] or ()), *(dims[1] or ())]
    if (None in dims or len(dims[0]) != len(dims[1])
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ints)):
        raise CamError("the dump holds a tensor with an invalid shape, stride or offset")
    if backward_hooks:
        raise _refuse("a tensor with backward hooks")
    elements = storage._size()  # .size() warns that TypedStorage is deprecated
    if 0 not in dims[0]:
        last = offset + sum((n - 1) * s for n, s in zip(*dims, strict=True))
        if last >= elements:
            raise CamError("the dump holds a tensor that reaches past the end of its data")
    return torch._utils._rebuild_tensor_v2(storage, offset, dims[0], dims[1], bool(requires_grad),
                                           collections.OrderedDict())


def _allowed_globals() -> dict[tuple[str, str], Any]:
    multiarray = numpy_core().multiarray
    allowed: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _encode,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch.storage", "_load_from_bytes"): _load_storage,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for package in ("numpy.core", "numpy._core"):  # numpy 1.x writes numpy.core, 2.x numpy._core
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numpy_core().numeric._frombuffer
    return allowed


class DumpUnpickler(pickle.Unpickler):
    """Unpickler that admits only the globals MMAction2 test dumps hold; all else is refused."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _refuse(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _refuse("a persistent id")


def load_dump(path: str | os.PathLike) -> list:
    """The list stored in a test dump, read with :class:`DumpUnpickler` (never ``pickle.load``)."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = DumpUnpickler(file).load()
    except CamError:
        raise
    except FileNotFoundError:
        raise CamError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise CamError(f"{path} is a folder, not a results pickle") from None
    except Exception as error:
        raise CamError(f"{path} is not a readable results pickle (truncated or not a pickle: "
                       f"{error.__class__.__name__}: {error})") from None
    if not isinstance(data, list) or not data:
        what = "an empty list" if isinstance(data, list) else type(data).__name__
        raise CamError(f"{path} holds {what}, not a list of per-sample predictions")
    return data


# --------------------------------------------------------------------------- inputs beside the dump


@dataclass(frozen=True)
class Annotation:
    """One line of a test annotation file: ``path label`` (videos) or ``path total_frames label``."""

    video: str
    label: int


def read_annotations(ann_file: str | os.PathLike, video_root: str | os.PathLike | None = None
                     ) -> list[Annotation]:
    """The samples of a test annotation file, their paths joined to ``video_root`` as MMAction2 does."""
    try:
        lines = Path(ann_file).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CamError(f"annotation file {ann_file} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CamError(f"cannot read annotation file {ann_file} as text "
                       f"({error.__class__.__name__})") from None
    annotations = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (2, 3) or not all(f.isdigit() for f in fields[1:]):
            raise CamError(f"line {number} of {ann_file} is neither `path label` nor "
                           f"`path total_frames label`: {line.strip()!r}")
        video = os.path.join(video_root, fields[0]) if video_root else fields[0]
        annotations.append(Annotation(video, int(fields[-1])))
    return annotations


@dataclass(frozen=True)
class TestSet:
    """What a config's ``test_dataloader`` says about the samples behind a dump."""

    ann_file: str | None
    video_root: str | None
    classes: list[str] | None


def _join_root(root: str | None, path: str | None) -> str | None:
    if not path or not root or os.path.isabs(path):
        return path or None
    return os.path.join(root, path)


def read_test_set(config: str | os.PathLike) -> TestSet:
    """Annotation file, video root (``data_prefix.video`` or ``.img``) and classes from a config."""
    from mmengine.config import Config

    try:
        cfg = Config.fromfile(str(config))
    except FileNotFoundError:
        raise CamError(f"config {config} does not exist") from None
    except Exception as error:
        raise CamError(f"cannot read config {config} ({error.__class__.__name__}: {error})") from None
    dataset = (cfg.get("test_dataloader") or {}).get("dataset") or {}
    while "dataset" in dataset or "datasets" in dataset:  # RepeatDataset, ConcatDataset, ...
        dataset = dataset.get("dataset") or dataset["datasets"][0]
    root = dataset.get("data_root")
    prefix = dataset.get("data_prefix") or {}
    classes = ((cfg.get("dataset_meta") or {}).get("classes")
               or (dataset.get("metainfo") or {}).get("classes"))
    return TestSet(ann_file=_join_root(root, dataset.get("ann_file")),
                   video_root=_join_root(root, prefix.get("video") or prefix.get("img")),
                   classes=[str(c) for c in classes] if classes else None)


# --------------------------------------------------------------------------- metrics (numpy)


def top_k_accuracy(scores: np.ndarray, gt: np.ndarray, k: int) -> float:
    """Share of samples whose label is among the ``k`` best scores (as MMAction2 ranks them)."""
    best = np.argsort(scores, axis=1)[:, -k:][:, ::-1]
    return float(np.logical_or.reduce(best == gt[:, None], axis=1).mean())


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[num_classes, num_classes]``: rows are ground truth, columns predictions."""
    return np.bincount(gt * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def mean_class_accuracy(gt: np.ndarray, pred: np.ndarray, gt_only: bool = False) -> float:
    """Mean per-class accuracy as MMAction2 computes it: over classes in ``gt`` or ``pred``.

    A class that is only predicted has no samples and counts as 0. With ``gt_only`` the mean
    runs over the ground-truth classes alone.
    """
    classes = np.unique(gt) if gt_only else np.union1d(gt, pred)
    count = np.bincount(gt, minlength=classes.max() + 1)[classes]
    hits = np.bincount(gt[gt == pred], minlength=classes.max() + 1)[classes]
    return float(np.mean([h / c if c else 0.0 for h, c in zip(hits.tolist(), count.tolist(), strict=True)]))


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class ClassAccuracy:
    index: int
    name: str
    count: int  # test samples of this class
    correct: int
    accuracy: float | None  # None when the class has no test sample


@dataclass(frozen=True)
class ConfusedPair:
    gt: int
    pred: int
    gt_name: str
    pred_name: str
    count: int


@dataclass(frozen=True)
class Sample:
    index: int
    gt_label: int
    pred_label: int
    score: float  # probability of the predicted class
    video: str | None

    @property
    def correct(self) -> bool:
        return self.gt_label == self.pred_label


@dataclass(frozen=True)
class DumpReport:
    """A test dump with its labels: ``scores`` [N, C] as dumped, ``gt`` [N], ``videos`` or None."""

    scores: np.ndarray
    gt: np.ndarray
    classes: list[str]
    videos: list[str] | None = None
    legacy: bool = False  # True for the 0.x ``--out`` format

    @cached_property
    def pred(self) -> np.ndarray:
        return np.argmax(self.scores, axis=1)

    @cached_property
    def correct(self) -> np.ndarray:
        return self.pred == self.gt

    @cached_property
    def holds_probabilities(self) -> bool:
        """True when each row is already a distribution (``average_clips='prob'``)."""
        scores = self.scores.astype(np.float64)
        return bool((scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3))

    @cached_property
    def probabilities(self) -> np.ndarray:
        scores = self.scores.astype(np.float64)
        return scores if self.holds_probabilities else softmax(scores)

    @cached_property
    def top1(self) -> float:
        return top_k_accuracy(self.scores, self.gt, 1)

    @cached_property
    def top5(self) -> float:
        return top_k_accuracy(self.scores, self.gt, 5)

    @property
    def mean_class_accuracy(self) -> float:
        return mean_class_accuracy(self.gt, self.pred)

    @property
    def mean_class_accuracy_gt(self) -> float:
        return mean_class_accuracy(self.gt, self.pred, gt_only=True)

    def acc_metric(self) -> dict[str, float]:
        """The numbers MMAction2's ``AccMetric`` logs, under the same keys."""
        return {"acc/top1": self.top1, "acc/top5": self.top5, "acc/mean1": self.mean_class_accuracy}

    @cached_property
    def confusion(self) -> np.ndarray:
        return confusion_matrix(self.gt, self.pred, len(self.classes))

    def per_class(self) -> list[ClassAccuracy]:
        counts, hits = self.confusion.sum(axis=1), np.diag(self.confusion)
        return [ClassAccuracy(i, name, int(counts[i]), int(hits[i]),
                              float(hits[i] / counts[i]) if counts[i] else None)
                for i, name in enumerate(self.classes)]

    def confused_pairs(self, limit: int = 10) -> list[ConfusedPair]:
        """The most frequent (ground truth, wrong prediction) pairs, most frequent first."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        gt, pred = np.nonzero(off)
        order = sorted(zip(gt.tolist(), pred.tolist(), strict=True), key=lambda p: (-off[p], p))[:limit]
        return [ConfusedPair(g, p, self.classes[g], self.classes[p], int(off[g, p])) for g, p in order]

    def samples(self) -> list[Sample]:
        score = self.probabilities[np.arange(len(self.gt)), self.pred]
        return [Sample(i, int(self.gt[i]), int(self.pred[i]), float(score[i]),
                       self.videos[i] if self.videos else None) for i in range(len(self.gt))]


def _as_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = (value.float() if value.dtype in (torch.float16, torch.bfloat16) else value).numpy()
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        raise CamError(f"{what} is a {type(value).__name__}, not a numeric tensor or array")
    return value


def _parse(data: list) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Scores [N, C], labels [N] (None for 0.x dumps) and whether the dump is 0.x."""
    legacy = not isinstance(data[0], dict)
    rows, labels = [], []
    for i, item in enumerate(data):
        if legacy:
            rows.append(_as_array(item, f"sample {i} of the dump"))
            continue
        if not isinstance(item, dict) or "pred_score" not in item:
            raise CamError(f"sample {i} of the dump is not a dict with a `pred_score`")
        if isinstance(item["pred_score"], dict):
            raise CamError("the dump holds several score streams per sample (RGBPoseConv3D), "
                           "which this report does not cover")
        rows.append(_as_array(item["pred_score"], f"`pred_score` of sample {i}"))
        label = _as_array(item.get("gt_label"), f"`gt_label` of sample {i}").reshape(-1)
        if label.size != 1:
            raise CamError(f"sample {i} has {label.size} labels: multi-label dumps are not covered")
        labels.append(int(label[0]))
    if any(row.ndim != 1 or row.shape != rows[0].shape for row in rows):
        raise CamError(f"the dump's score rows differ in shape (sample 0 has {rows[0].shape}): one score "
                       "per class and sample is expected (test_cfg average_clips 'prob' or 'score')")
    return np.stack(rows), (None if legacy else np.array(labels, dtype=np.int64)), legacy


def read_dump(path: str | os.PathLike, ann_file: str | os.PathLike | None = None,
              video_root: str | os.PathLike | None = None, classes: list[str] | None = None) -> DumpReport:
    """Read a test dump safely and pair sample ``i`` with line ``i`` of ``ann_file``."""
    scores, gt, legacy = _parse(load_dump(path))
    annotations = read_annotations(ann_file, video_root) if ann_file else None
    if annotations is not None:
        if len(annotations) != len(scores):
            raise CamError(f"the dump has {len(scores)} samples but {ann_file} lists {len(annotations)}: "
                           "give the annotation file of the test set that made the dump")
        ann_labels = np.array([a.label for a in annotations], dtype=np.int64)
        if gt is not None and (ann_labels != gt).any():
            line = int(np.argmax(ann_labels != gt))
            raise CamError(f"line {line + 1} of {ann_file} has label {ann_labels[line]} but the dump says "
                           f"{gt[line]}: the annotation file does not belong to this dump")
        gt = ann_labels
    if gt is None:
        raise CamError(f"{path} is a 0.x dump that holds no labels: give the test annotation file")
    num_classes = scores.shape[1]
    if gt.min() < 0 or gt.max() >= num_classes:
        raise CamError(f"label {gt.max() if gt.max() >= num_classes else gt.min()} is outside the "
                       f"{num_classes} classes the dump scores")
    if classes is not None and len(classes) != num_classes:
        raise CamError(f"{len(classes)} class names are given but the dump scores {num_classes} classes")
    return DumpReport(scores=scores, gt=gt, legacy=legacy,
                      classes=list(classes) if classes else [f"class_{i}" for i in range(num_classes)],
                      videos=[a.video for a in annotations] if annotations else None)


def open_dump(path: str | os.PathLike, *, config: str | os.PathLike | None = None,
              ann_file: str | os.PathLike | None = None, video_root: str | os.PathLike | None = None,
              label_map: str | os.PathLike | None = None) -> DumpReport:
    """:func:`read_dump` with the test set taken from ``config`` (its ``test_dataloader`` and classes),
    each of ``ann_file``, ``video_root`` and ``label_map`` overriding what the config says."""
    test_set = read_test_set(config) if config else TestSet(None, None, None)
    classes = read_label_map(label_map) if label_map else test_set.classes
    return read_dump(path, ann_file=ann_file or test_set.ann_file, video_root=video_root or test_set.video_root,
                     classes=classes)


TARGETS = ("ground truth", "prediction")


@dataclass(frozen=True)
class ExplainTarget:
    """What the explorer needs to explain one test sample."""

    video: str
    target_class: int
    target_label: str


def explain_target(report: DumpReport, index: int, target: str = "ground truth") -> ExplainTarget:
    """Sample ``index``'s video and the class to explain: its ground truth or its prediction (``TARGETS``)."""
    if target not in TARGETS:
        raise CamError(f"the target must be one of {', '.join(TARGETS)}, not {target!r}")
    if not 0 <= index < len(report.gt):
        raise CamError(f"there is no sample {index}: the dump has {len(report.gt)}")
    if not report.videos:
        raise CamError("the dump names no videos: give the test annotation file (or the config) to explain a sample")
    video = report.videos[index]
    if not Path(video).exists():
        raise CamError(f"sample {index}'s video {video} is not here: give the folder the annotation paths are "
                       "relative to (the video root)")
    label = int(report.gt[index] if target == TARGETS[0] else report.pred[index])
    return ExplainTarget(video, label, report.classes[label])


ORDERS = ("sample order", "score, lowest first", "score, highest first")


def filter_samples(samples: list[Sample], *, gt: int | None = None, pred: int | None = None,
                   correct: bool | None = None, order: str = ORDERS[0]) -> list[Sample]:
    """The samples of ground-truth class ``gt``, predicted class ``pred`` and correctness ``correct``
    (None: any), in one of the ``ORDERS`` (ties keep sample order)."""
    if order not in ORDERS:
        raise CamError(f"the order must be one of {', '.join(ORDERS)}, not {order!r}")
    chosen = [s for s in samples if (gt is None or s.gt_label == gt) and (pred is None or s.pred_label == pred)
              and (correct is None or s.correct == correct)]
    if order == ORDERS[1]:
        return sorted(chosen, key=lambda s: (s.score, s.index))
    if order == ORDERS[2]:
        return sorted(chosen, key=lambda s: (-s.score, s.index))
    return sorted(chosen, key=lambda s: s.index)


def report_dict(report: DumpReport, pairs: int = 10) -> dict:
    """Everything the CLI's ``--json`` prints, as plain JSON types."""
    return {
        "format": "0.x" if report.legacy else "1.x",
        "num_samples": len(report.gt),
        "classes": report.classes,
        "scores_are_probabilities": report.holds_probabilities,
        "top1": report.top1,
        "top5": report.top5,
        "mean_class_accuracy": report.mean_class_accuracy,
        "mean_class_accuracy_gt": report.mean_class_accuracy_gt,
        "per_class": [vars(c) for c in report.per_class()],
        "confusion": report.confusion.tolist(),
        "confused_pairs": [vars(p) for p in report.confused_pairs(pairs)],
        "samples": [{k: v for k, v in vars(s).items() if k != "video" or report.videos}
                    for s in report.samples()],
    }


# --------------------------------------------------------------------------- CLI


def format_report(report: DumpReport, pairs: int = 10, wrong: int = 20) -> str:
    """The readable report the CLI prints."""
    kind = "probabilities" if report.holds_probabilities else "raw scores (softmax taken for `score`)"
    lines = [f"{len(report.gt)} samples, {len(report.classes)} classes, "
             f"{'0.x' if report.legacy else '1.x'} dump holding {kind}",
             f"acc/top1  {report.top1:.4f}",
             f"acc/top5  {report.top5:.4f}",
             f"acc/mean1 {report.mean_class_accuracy:.4f}  (MMAction2: over classes in ground truth or "
             "predictions, only-predicted classes count 0)",
             f"mean class accuracy over ground-truth classes {report.mean_class_accuracy_gt:.4f}",
             "", "per class (classes present in ground truth or predictions):"]
    predicted = set(report.pred.tolist())
    for c in report.per_class():
        if c.count or c.index in predicted:
            acc = f"{c.accuracy:.4f}" if c.accuracy is not None else "  -   "
            lines.append(f"  {c.index:>4} {acc}  {c.correct:>5}/{c.count:<5} {c.name}")
    confused = report.confused_pairs(pairs)
    if confused:
        lines += ["", "most confused (ground truth -> prediction):"]
        lines += [f"  {p.count:>5}  {p.gt_name} -> {p.pred_name}" for p in confused]
    misses = [s for s in report.samples() if not s.correct]
    if misses:
        lines += ["", f"misclassified samples ({len(misses)}, first {min(wrong, len(misses))}):"]
        lines += [f"  #{s.index:<5} {report.classes[s.gt_label]} -> {report.classes[s.pred_label]} "
                  f"({s.score:.3f}){'  ' + s.video if s.video else ''}" for s in misses[:wrong]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.dumps", description=(
        "Score a results pickle from MMAction2's tools/test.py --dump (or 0.x --out), read safely."))
    parser.add_argument("results", help="results pickle (RESULTS.pkl)")
    parser.add_argument("--ann-file", help="test annotation file: sample i is its line i")
    parser.add_argument("--video-root", help="folder the annotation paths are relative to")
    parser.add_argument("--label-map", help="class names, one per line (wins over the config's)")
    parser.add_argument("--config", help="config whose test_dataloader gives ann_file and data_prefix")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)

    def action() -> int:
        report = open_dump(args.results, config=args.config, ann_file=args.ann_file, video_root=args.video_root,
                           label_map=args.label_map)
        print(json.dumps(report_dict(report)) if args.json else format_report(report))
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
