"""Scoring a test dump: pair its samples with the test annotation file, and compute what ``AccMetric`` prints.

A dump holds no file names (``PackActionInputs`` drops them): sample ``i`` is line ``i`` of the
test annotation file, which this module reads to name the videos.

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

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core import access
from core.annotations import read_list
from core.dumps.load import load_dump
from core.errors import CamError
from core.model import config_classes, read_label_map, test_dataset
from core.outputs import atomic_path, write_json
from core.target import GROUND_TRUTH, Target, parse_target
from core.unpickle import size_text as _size

CONFUSION_LIMIT = 256 << 20  # bytes of a dense confusion matrix (5,792 classes)


# --------------------------------------------------------------------------- inputs beside the dump


@dataclass(frozen=True)
class Annotation:
    """One line of a test annotation file: ``path label`` (videos) or ``path total_frames label``."""

    video: str
    label: int


def read_annotations(ann_file: str | os.PathLike, video_root: str | os.PathLike | None = None
                     ) -> list[Annotation]:
    """The samples of a test annotation file, their paths joined to ``video_root`` as MMAction2 does."""
    entries = read_list(ann_file, labelled=True, what="annotation file")
    return [Annotation(os.path.join(video_root, e.path) if video_root else e.path, int(e.label or 0))
            for e in entries]


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

    access.check(config, "Config")
    try:  # custom_imports are never imported: only the test set is read
        cfg = Config.fromfile(str(config), import_custom_modules=False)
    except FileNotFoundError as err:
        raise CamError(f"config {config} does not exist") from err
    except Exception as error:
        raise CamError(f"cannot read config {config} ({error.__class__.__name__}: {error})") from error
    dataset = test_dataset(cfg)
    root = dataset.get("data_root")
    prefix = dataset.get("data_prefix") or {}
    classes = config_classes(cfg)
    ann_file = _join_root(root, dataset.get("ann_file"))
    video_root = _join_root(root, prefix.get("video") or prefix.get("img"))
    base = _data_base(ann_file, Path(config))
    if base is not None:  # relative paths: from where tools/test.py ran, found by the annotation file
        ann_file = str(base / ann_file) if ann_file else None
        video_root = str(base / video_root) if video_root and not os.path.isabs(video_root) else video_root
    return TestSet(ann_file=ann_file, video_root=video_root, classes=classes)


def _data_base(ann_file: str | None, config: Path) -> Path | None:
    """The folder a relative ``ann_file`` starts from. MMAction2 resolves it from the folder ``tools/test.py`` ran
    in, which the config does not say: the current folder, else the config's folder or one of its ancestors
    (a dumped ``work_dirs/NAME/NAME.py`` sits two levels below the project), whichever holds the file."""
    if not ann_file or os.path.isabs(ann_file):
        return None
    folder = config.expanduser().resolve().parent
    for base in (Path.cwd(), folder, *list(folder.parents)[:4]):
        if (base / ann_file).is_file():
            return base
    return None


# --------------------------------------------------------------------------- which checkpoint made a dump

SOURCE_SUFFIX = ".source.json"


@dataclass(frozen=True)
class DumpSource:
    """The checkpoint (and config) that made a dump, as recorded beside it (``results.pkl.source.json``)."""

    checkpoint: str
    config: str | None = None
    recorded_by: str = ""  # who recorded it: "python -m core.mm test", "the Test results page", a test.py log
    checkpoint_stamp: tuple[float, int] | None = None  # (mtime, size) of the checkpoint when recorded

    @property
    def changed(self) -> bool:
        """True when the checkpoint file is no longer the one recorded (re-trained, replaced or gone)."""
        try:
            stat = Path(self.checkpoint).stat()
        except OSError:
            return True
        return self.checkpoint_stamp is not None and (stat.st_mtime, stat.st_size) != tuple(self.checkpoint_stamp)


def source_file(dump: str | os.PathLike) -> Path:
    """Where a dump's :class:`DumpSource` is kept: ``results.pkl`` -> ``results.pkl.source.json``."""
    dump = Path(dump)
    return dump.with_name(dump.name + SOURCE_SUFFIX)


def record_source(dump: str | os.PathLike, *, checkpoint: str | os.PathLike, config: str | os.PathLike | None = None,
                  recorded_by: str = "") -> DumpSource:
    """Remember beside ``dump`` which checkpoint (and config) made it; paths are stored absolute."""
    checkpoint = Path(checkpoint).expanduser().absolute()
    try:
        stat = checkpoint.stat()
    except OSError as err:
        raise CamError(f"checkpoint {checkpoint} does not exist; pick the checkpoint that made the dump") from err
    source = DumpSource(str(checkpoint), str(Path(config).expanduser().absolute()) if config else None, recorded_by,
                        (stat.st_mtime, stat.st_size))
    write_json(source_file(dump), {"checkpoint": source.checkpoint, "config": source.config,
                                   "recorded_by": recorded_by, "checkpoint_stamp": list(source.checkpoint_stamp or ())})
    return source


def read_source(dump: str | os.PathLike) -> DumpSource | None:
    """The :class:`DumpSource` recorded beside ``dump``, or None when nothing is recorded. It is data (paths to
    show and offer), never something to run by itself."""
    path = source_file(dump)
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        checkpoint, config = payload["checkpoint"], payload.get("config")
        stamp = payload.get("checkpoint_stamp") or None
        if not isinstance(checkpoint, str) or not (config is None or isinstance(config, str)):
            raise TypeError("paths must be strings")
        stamp = (float(stamp[0]), int(stamp[1])) if stamp else None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise CamError(f"{path} is not a readable dump source record ({error.__class__.__name__}); delete it "
                       "and tie the dump to its checkpoint again") from error
    return DumpSource(checkpoint, config, str(payload.get("recorded_by") or ""), stamp)


# --------------------------------------------------------------------------- metrics (numpy)


def top_k_accuracy(scores: np.ndarray, gt: np.ndarray, k: int) -> float:
    """Share of samples whose label is among the ``k`` best scores (as MMAction2 ranks them)."""
    best = np.argsort(scores, axis=1)[:, -k:][:, ::-1]
    return float(np.logical_or.reduce(best == gt[:, None], axis=1).mean())


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[num_classes, num_classes]``: rows are ground truth, columns predictions.

    Refused (one sentence) when the dense matrix would pass :data:`CONFUSION_LIMIT` bytes; use
    :meth:`DumpReport.confusion_over` for the classes that occur."""
    if num_classes * num_classes * 8 > CONFUSION_LIMIT:
        raise CamError(f"a confusion matrix over {num_classes} classes would take "
                       f"{_size(num_classes * num_classes * 8)}; take it over the classes that occur "
                       "(DumpReport.confusion_over)")
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
        """The dense ``[C, C]`` confusion matrix (refused past :data:`CONFUSION_LIMIT`)."""
        return confusion_matrix(self.gt, self.pred, len(self.classes))

    @cached_property
    def occurring(self) -> np.ndarray:
        """The classes that have test samples or predictions, ascending (the rest are empty rows and columns)."""
        return np.union1d(self.gt, self.pred)

    def confusion_over(self, classes: np.ndarray) -> np.ndarray:
        """The confusion matrix restricted to ``classes`` (rows ground truth, columns predictions, in that order)."""
        classes = np.asarray(classes, dtype=np.int64)
        position = np.full(len(self.classes), -1, dtype=np.int64)
        position[classes] = np.arange(len(classes))
        rows, cols = position[self.gt], position[self.pred]
        keep = (rows >= 0) & (cols >= 0)
        return confusion_matrix(rows[keep], cols[keep], len(classes))

    def per_class(self) -> list[ClassAccuracy]:
        counts = np.bincount(self.gt, minlength=len(self.classes))
        hits = np.bincount(self.gt[self.correct], minlength=len(self.classes))
        return [ClassAccuracy(i, name, int(counts[i]), int(hits[i]),
                              float(hits[i] / counts[i]) if counts[i] else None)
                for i, name in enumerate(self.classes)]

    def confused_pairs(self, limit: int = 10) -> list[ConfusedPair]:
        """The most frequent (ground truth, wrong prediction) pairs, most frequent first."""
        wrong = ~self.correct
        pairs, counts = np.unique(np.stack([self.gt[wrong], self.pred[wrong]], axis=1), axis=0, return_counts=True)
        order = sorted(range(len(counts)), key=lambda i: (-counts[i], *pairs[i].tolist()))[:limit]
        return [ConfusedPair(int(pairs[i][0]), int(pairs[i][1]), self.classes[pairs[i][0]], self.classes[pairs[i][1]],
                             int(counts[i])) for i in order]

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
    classes = read_label_map(Path(label_map)) if label_map else test_set.classes
    return read_dump(path, ann_file=ann_file or test_set.ann_file, video_root=video_root or test_set.video_root,
                     classes=classes)


@dataclass(frozen=True)
class ExplainTarget:
    """What the explorer needs to explain one test sample."""

    video: str
    target_class: int
    target_label: str


def explain_target(report: DumpReport, index: int, target: Target | str = GROUND_TRUTH) -> ExplainTarget:
    """Sample ``index``'s video and the class to explain: its ground truth (:data:`core.target.GROUND_TRUTH`),
    the class the dump predicted for it (:data:`core.target.PREDICTED`) or a :class:`~core.target.ClassIndex`.
    A string is read by :func:`core.target.parse_target` (``"gt"``, ``"predicted"``, a class name)."""
    chosen = parse_target(target, report.classes, ground_truth=True)
    if not 0 <= index < len(report.gt):
        raise CamError(f"there is no sample {index}: the dump has {len(report.gt)}")
    if not report.videos:
        raise CamError("the dump names no videos: give the test annotation file (or the config) to explain a sample")
    video = report.videos[index]
    if not Path(video).exists():
        raise CamError(f"sample {index}'s video {video} is not here: give the folder the annotation paths are "
                       "relative to (the video root)")
    label = chosen.resolve(report.classes, report.scores[index], int(report.gt[index]))
    return ExplainTarget(video, label, report.classes[label])


class Order(StrEnum):
    """How :func:`filter_samples` sorts (ties keep sample order)."""

    SAMPLE = "sample"
    SCORE_ASCENDING = "score-ascending"  # least confident first
    SCORE_DESCENDING = "score-descending"


def filter_samples(samples: list[Sample], *, gt: int | None = None, pred: int | None = None,
                   correct: bool | None = None, order: Order | str = Order.SAMPLE) -> list[Sample]:
    """The samples of ground-truth class ``gt``, predicted class ``pred`` and correctness ``correct``
    (None: any), in ``order``."""
    try:
        order = Order(order)
    except ValueError:
        raise CamError(f"the order must be one of {', '.join(o.value for o in Order)}, not {order!r}") from None
    chosen = [s for s in samples if (gt is None or s.gt_label == gt) and (pred is None or s.pred_label == pred)
              and (correct is None or s.correct == correct)]
    if order is Order.SCORE_ASCENDING:
        return sorted(chosen, key=lambda s: (s.score, s.index))
    if order is Order.SCORE_DESCENDING:
        return sorted(chosen, key=lambda s: (-s.score, s.index))
    return sorted(chosen, key=lambda s: s.index)


SAMPLE_LIST = "samples.txt"


def write_sample_list(report: DumpReport, samples: list[Sample], path: str | os.PathLike) -> Path:
    """An MMAction2 annotation list (``video label``, the ground truth) of ``samples``, for ``core.batch``:
    paths relative to the videos' common folder (:func:`sample_root`), so the batch's outputs mirror it."""
    if not samples:
        raise CamError("no samples to explain: the filters leave none")
    if not report.videos:
        raise CamError("the dump names no videos: give the test annotation file (or the config) to explain samples")
    root = sample_root(report, samples)
    missing = [report.videos[s.index] for s in samples if not Path(report.videos[s.index]).exists()]
    if missing:
        raise CamError(f"{len(missing)} of the {len(samples)} videos are not here (e.g. {missing[0]}): give the "
                       "folder the annotation paths are relative to (the video root)")
    lines = [f"{os.path.relpath(report.videos[s.index], root)} {s.gt_label}\n" for s in samples]
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    return path


def sample_root(report: DumpReport, samples: list[Sample]) -> Path:
    """The deepest folder that holds the videos of ``samples``."""
    assert report.videos is not None
    return Path(os.path.commonpath([str(Path(report.videos[s.index]).absolute().parent) for s in samples]))


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
