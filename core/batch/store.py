"""The output folder of a batch: each video's files, what makes a video "done", and summary.csv.

Every file is written to a temporary name and renamed into place; the JSON sidecar goes last and
carries a ``batch_key`` (model, layer, method, target, views, and the video file's size and mtime).
A video is done when its sidecar holds the current key and its other files exist, so a run killed at
any moment loses at most the videos in flight, and a rerun skips exactly the finished ones.
``summary.csv`` is rebuilt from the sidecars on disk whenever a run starts, so it never lacks a result
whose files are there (not even after ``kill -9`` of a ``--force`` run). A sidecar's ``evaluation``
(``--evaluate``) gives the row its :data:`EVALUATION_FIELDS`, so they survive a resume as the rest does.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from mmengine.config import Config

from core.batch.spec import BatchSpec
from core.batch.tasks import BatchTask
from core.cam import ExplainResult
from core.errors import CamError
from core.evaluate.faithfulness import SUMMARY_COLUMNS
from core.formats.sidecar import read_sidecar, to_sidecar
from core.heatmap_files import read_result, write_result
from core.outputs import atomic_path
from core.overlay import result_overlays, write_video

SUMMARY_NAME = "summary.csv"


class Status(StrEnum):
    """A summary row's ``status``: the video was explained, or failed (the reason in ``error``)."""

    OK = "ok"
    FAILED = "failed"


MANIFEST_NAME = ".batch.json"  # the run's request (see core.batch.job); hidden: no video output can be named so
SUMMARY_FIELDS = ("video", "name", "status", "target_class", "target_label", "score", "predicted_class",
                  "predicted_label", "gt_class", "gt_label", "frames", "constant_frames", "seconds", "decode_seconds",
                  "error")
EVALUATION_FIELDS = SUMMARY_COLUMNS  # deletion_auc, insertion_auc, random_deletion_auc, random_insertion_auc,
# average_drop: written (before ``error``) when the run evaluates or a row has them
_PARTIAL_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part(\.[A-Za-z0-9]+)?$")  # atomic_path's temporary names


@dataclass(frozen=True)
class Outputs:
    """The files of one video under the output folder."""

    txt: Path
    json: Path
    npz: Path
    mp4: Path | None  # the overlay video, when asked for

    def all(self) -> list[Path]:
        return [p for p in (self.txt, self.npz, self.mp4, self.json) if p is not None]


def output_paths(out_dir: str | Path, task: BatchTask, *, overlay: bool = False) -> Outputs:
    base = Path(out_dir) / task.name
    return Outputs(base.with_name(base.name + ".txt"), base.with_name(base.name + ".json"),
                   base.with_name(base.name + ".npz"), base.with_name(base.name + ".mp4") if overlay else None)


def fingerprint(path: str | Path) -> list[int]:
    """``[size, mtime_ns]`` of a file; ``[entries, mtime_ns]`` of a rawframes folder."""
    path = Path(path)
    stat = path.stat()
    size = sum(1 for _ in path.iterdir()) if path.is_dir() else stat.st_size
    return [int(size), int(stat.st_mtime_ns)]


def batch_key(*, config: str | Path, cfg: Config, checkpoint: str | Path | None, spec: BatchSpec) -> dict:
    """What determines a video's outputs apart from the video itself: the config (its path and a hash
    of its merged content, ``--cfg-options`` included), the checkpoint's path, size and mtime, the
    layer, method, target (its ``key``: an index, ``"predicted"`` or ``"gt"``), views and class names."""
    merged = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    ckpt = None
    if checkpoint is not None:
        stat = Path(checkpoint).stat()
        ckpt = {"path": str(Path(checkpoint).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    key = {
        "config": {"path": str(Path(config).resolve()), "sha1": hashlib.sha1(merged.encode()).hexdigest()},
        "checkpoint": ckpt,
        "layer": spec.layer,
        "method": spec.method,
        "target": spec.target.key,
        "views": spec.views,
        **({"whole_video": spec.whole_video} if spec.whole_video else {}),
        "classes_sha1": hashlib.sha1("\n".join(spec.classes).encode()).hexdigest(),
    }
    return json.loads(json.dumps(key))  # the form it takes once read back from a sidecar


def video_key(key: dict, task: BatchTask) -> dict:
    """The batch key of one video: ``key`` plus the video's size and mtime."""
    return {**key, "video": fingerprint(task.video)}


def result_sidecar(outputs: Outputs) -> dict | None:
    """The sidecar of a video whose results are on disk (sidecar, txt and npz), whatever run wrote it; None
    when there is none or it is no result's (read by :func:`core.formats.sidecar.read_sidecar`, size-capped)."""
    if not outputs.json.is_file():
        return None
    try:
        payload = read_sidecar(outputs.json)
    except CamError:
        return None
    if not (outputs.txt.is_file() and outputs.npz.is_file()):
        return None
    try:  # a sidecar that cannot make a summary row (edited, foreign) is not a result
        result_row(BatchTask("", ""), payload)
    except (TypeError, ValueError, AttributeError):
        return None
    return payload


def is_done(payload: dict, outputs: Outputs, key: dict) -> bool:
    """A sidecar marks its video done when it holds ``key`` and every file of ``outputs`` exists."""
    return payload.get("batch_key") == key and all(p.is_file() for p in outputs.all())


def done_sidecar(outputs: Outputs, key: dict) -> dict | None:
    """The sidecar of a finished video (matching ``key`` and with all its files), else None."""
    payload = result_sidecar(outputs)
    return payload if payload is not None and is_done(payload, outputs, key) else None


def write_outputs(outputs: Outputs, result: ExplainResult, *, key: dict, batch: dict,
                  overlay_options: dict | None = None) -> dict:
    """Write the overlay (optional), txt, npz, then the sidecar; returns the sidecar's content."""
    outputs.txt.parent.mkdir(parents=True, exist_ok=True)
    if outputs.mp4 is not None:
        options = dict(overlay_options or {})
        fps = options.pop("fps", 5.0)
        blended = result_overlays(result, **options)
        if blended is None:
            raise CamError(f"{result.video_stem}: no frames came back with the heatmaps, so no overlay video can be "
                           "written; run without the overlay video.")
        write_video(blended, outputs.mp4, fps=fps)
    write_result(outputs.txt, result, npz=True, batch_key=key, batch=batch)
    return to_sidecar(result, batch_key=key, batch=batch)


def result_row(task: BatchTask, payload: dict) -> dict:
    """The summary row of a finished video, from its sidecar: the one place a result becomes a row (a new
    summary column is a new key here, its value written into the sidecar's ``batch`` part)."""
    batch = payload.get("batch") or {}
    shape = payload.get("shape", [0, 0])
    evaluation = payload.get("evaluation") or {}
    row = {
        "video": task.video, "name": task.name, "status": Status.OK.value,
        "target_class": payload.get("target_class"), "target_label": payload.get("target_label"),
        "score": round(float(batch.get("score", float("nan"))), 6),
        "predicted_class": payload.get("predicted_class"), "predicted_label": payload.get("predicted_label"),
        "gt_class": batch.get("gt_class"), "gt_label": batch.get("gt_label"),
        "frames": int(np.prod(shape[:-2])) if isinstance(shape, list) and len(shape) > 2 else 0,
        "constant_frames": _count(payload.get("constant_frames")),  # blank: a sidecar from before the field
        "seconds": batch.get("seconds"), "decode_seconds": batch.get("decode_seconds"), "error": "",
    }
    if evaluation:
        row.update({name: _rounded(evaluation.get(name)) for name in EVALUATION_FIELDS})
        if evaluation.get("error"):  # explained, but the map could not be measured (e.g. constant)
            row["error"] = f"evaluate: {evaluation['error']}"
    return row


def _count(flags: object) -> int | None:
    """How many heatmap frames a sidecar's ``constant_frames`` (``[V][T]`` bools) marks constant."""
    if flags is None:
        return None
    return int(np.asarray(flags, dtype=bool).sum())


def _rounded(value: object) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float):
        raise ValueError(f"not a number: {value!r}")  # a sidecar edited by hand is no result
    return round(float(value), 6)


def class_label(classes: list[str], index: int | None) -> str | None:
    """The name of class ``index`` (None when there is none or it is out of range)."""
    return classes[index] if index is not None and 0 <= index < len(classes) else None


def failed_row(task: BatchTask, error: str, seconds: float | None = None, classes: list[str] | None = None) -> dict:
    return {"video": task.video, "name": task.name, "status": Status.FAILED.value, "gt_class": task.gt_class,
            "gt_label": class_label(classes or [], task.gt_class),
            "seconds": None if seconds is None else round(seconds, 3), "error": error}


class Summary:
    """``summary.csv``: one row per video, this run's in input order, then rows of earlier runs into the
    same folder whose results are still on disk; rewritten (atomically) at most once every ``interval``
    seconds while rows come in (a rewrite costs O(rows)), and on :meth:`write`."""

    def __init__(self, out_dir: str | Path, tasks: list[BatchTask], interval: float = 1.0, *,
                 evaluate: bool = False) -> None:
        self.path = Path(out_dir) / SUMMARY_NAME
        self.evaluate = evaluate  # write the evaluation columns even before a row has them
        self.order = {task.name: i for i, task in enumerate(tasks)}
        self.rows: dict[str, dict] = {}
        self.interval, self.written = interval, -float("inf")

    def add(self, row: dict, *, write: bool = True) -> None:
        self.rows[row["name"]] = row
        if write and time.monotonic() - self.written >= self.interval:
            self.write()

    def sorted_rows(self) -> list[dict]:
        return sorted(self.rows.values(), key=lambda row: (self.order.get(row["name"], len(self.order)), row["name"]))

    def fields(self) -> tuple[str, ...]:
        """:data:`SUMMARY_FIELDS`, with :data:`EVALUATION_FIELDS` before ``error`` when the run evaluates or
        any row (this run's or an earlier one's) has an evaluation."""
        if self.evaluate or any(row.get(EVALUATION_FIELDS[0]) is not None for row in self.rows.values()):
            return (*SUMMARY_FIELDS[:-1], *EVALUATION_FIELDS, SUMMARY_FIELDS[-1])
        return SUMMARY_FIELDS

    def write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.fields(), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in self.sorted_rows())
        with atomic_path(self.path) as tmp:
            tmp.write_text(buffer.getvalue(), encoding="utf-8")
        self.written = time.monotonic()


def _cell(value: object) -> object:
    """A summary cell: "" for None; a name that is not valid UTF-8 (a file named in another encoding: its
    undecodable bytes are kept as surrogates) with those bytes written as ``\xff``, so that it is named, in
    valid UTF-8, and the summary can be written."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return os.fsencode(value).decode("utf-8", "backslashreplace")
    return value


def rows_on_disk(out_dir: str | Path, tasks: list[BatchTask], sidecars: dict[str, dict]) -> list[dict]:
    """Summary rows of what is in ``out_dir`` before a run, kept until the run replaces them: a row per
    task whose results are there (``sidecars``, by name), a row per other batch result found under the
    folder (earlier runs over other inputs), and the previous summary.csv's failed rows of the tasks."""
    out = Path(out_dir)
    names = {task.name for task in tasks}
    rows = [result_row(task, sidecars[task.name]) for task in tasks if task.name in sidecars]
    for path in sorted(out.rglob("*.json")):
        relative = path.relative_to(out)
        name = relative.with_suffix("").as_posix()
        if name in names or any(part.startswith(".") for part in relative.parts):
            continue
        payload = result_sidecar(output_paths(out, BatchTask("", name)))
        if payload is not None and "batch_key" in payload:
            rows.append(result_row(BatchTask(str(payload.get("video", "")), name), payload))
    try:
        previous = read_summary(out)
    except (csv.Error, ValueError):  # not a summary this code wrote: nothing to keep from it
        previous = []
    rows += [{k: (v or None) for k, v in row.items()} for row in previous
             if row.get("status") == Status.FAILED and row.get("name") in names and row["name"] not in sidecars]
    return rows


def read_summary(out_dir: str | Path) -> list[dict]:
    """Rows of an output folder's summary.csv (empty when there is none)."""
    path = Path(out_dir) / SUMMARY_NAME
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def remove_partials(out_dir: str | Path) -> int:
    """Delete temporary files that a killed run left under ``out_dir``; returns how many."""
    count = 0
    for path in Path(out_dir).rglob(".*"):
        if path.is_file() and _PARTIAL_RE.match(path.name):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                count += 1
    return count


def _lock_folder(out_dir: str | Path) -> int | None:
    """An open descriptor of ``out_dir`` holding its exclusive lock, or None when another process holds it.

    The lock is on the folder itself (``flock`` of a directory descriptor), not on a file in it: a lock
    file deleted on release lets a waiting process lock the old file while a third creates a new one."""
    fd = os.open(out_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextlib.contextmanager
def locked(out_dir: str | Path) -> Iterator[None]:
    """Hold the output folder for one run; a second run on it fails at once (the lock dies with its process)."""
    fd = _lock_folder(out_dir)
    if fd is None:
        raise CamError(f"Another batch is writing to {out_dir}; wait for it to end or pick another --out.")
    try:
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def is_locked(out_dir: str | Path) -> bool:
    """True while a run (in any process) holds ``out_dir``."""
    try:
        fd = _lock_folder(out_dir)
    except OSError:  # not a folder (yet)
        return False
    if fd is None:
        return True
    os.close(fd)
    return False


def read_outputs(out_dir: str | Path, name: str, *, frames: bool = True) -> ExplainResult:
    """The finished result of ``name`` under ``out_dir``, read from its files (:func:`core.heatmap_files.read_result`:
    no config or model runs); with ``frames``, the model's windows of the source video's frames for overlays,
    or a note in ``file_notes`` saying why there are none."""
    paths = output_paths(out_dir, BatchTask("", name))
    if not paths.json.is_file() or not paths.npz.is_file():
        raise CamError(f"{name} has no finished outputs in {out_dir}; run the batch on it first.")
    return read_result(paths.json, frames=frames)
