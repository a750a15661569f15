"""Explain many videos with one loaded model: decoding of the next videos runs in threads while the
current one is explained, and writing overlaps the next explanation.

:class:`BatchWriter` is the driver's side (skip finished videos, write results, keep summary.csv);
the local runner here and the Ray runner (:mod:`core.batch.cluster`) both feed it.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from core.batch.store import (
    MANIFEST_NAME,
    Outputs,
    Summary,
    batch_key,
    done_sidecar,
    failed_row,
    locked,
    output_paths,
    remove_partials,
    result_row,
    video_key,
    write_outputs,
)
from core.batch.tasks import BatchTask
from core.cam import ExplainResult, explain_inputs, make_result, resolve_layer
from core.errors import CamError, describe_error
from core.export import write_json
from core.methods import get_method
from core.model import ModelHandle
from core.overlay import colormap_lut
from core.target import parse_target, target_of_key
from core.video import ClipInputs, build_inputs

EventHandler = Callable[[str, BatchTask, "dict | None"], None]  # (kind, task, row): skipped/started/ok/failed


@dataclass
class BatchOptions:
    """How to explain each video and what to write."""

    target_layer: str | None = None
    target: int | str | None = None  # None: predicted class; "gt": the annotation's label
    method: str = "gradcam"
    views: str = "center"
    overlay: bool = False  # also write the H.264 overlay mp4
    alpha: float = 0.5
    colormap: str = "viridis"
    fps: float = 5.0
    force: bool = False  # recompute finished videos too

    def check(self) -> None:
        """Fail on a bad option before any model is loaded."""
        get_method(self.method)
        colormap_lut(self.colormap)
        if not 0 <= self.alpha <= 1:
            raise CamError(f"--alpha must be between 0 and 1, not {self.alpha}.")
        if self.views not in ("center", "all"):
            raise CamError(f"views must be 'center' or 'all', not {self.views!r}.")


@dataclass
class BatchReport:
    """How a run ended: the summary rows of all finished videos and counts."""

    rows: list[dict]
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    stopped: bool = False
    seconds: float = 0.0
    pending: int = 0  # videos neither finished nor failed (a stopped run)

    @property
    def exit_code(self) -> int:
        """0 when every video is explained, 3 when some failed."""
        return 3 if self.failed else 0


@dataclass(frozen=True)
class BatchSpec:
    """The resolved explanation settings (the same on every worker)."""

    layer: str
    method: str
    target: int | str  # class index, "predicted" or "gt"
    views: str
    classes: list[str] = field(default_factory=list)


def resolve_spec(handle: ModelHandle, options: BatchOptions) -> BatchSpec:
    """Resolve the layer, method and target against the loaded model (CamError when one is wrong)."""
    layer = resolve_layer(handle, options.target_layer)
    method = get_method(options.method).name
    target = parse_target(options.target, handle.classes, ground_truth=True).key
    return BatchSpec(layer, method, target, options.views, list(handle.classes))


def check_targets(tasks: list[BatchTask], spec: BatchSpec) -> None:
    """Ground-truth labels must exist for ``--target gt`` and fit the model's classes."""
    for task in tasks:
        if spec.target == "gt" and task.gt_class is None:
            raise CamError(f"--target gt needs ground-truth labels, but {task.video} has none; "
                           "pass an annotation file (path label).")
        if task.gt_class is not None and not 0 <= task.gt_class < len(spec.classes):
            raise CamError(f"The label {task.gt_class} of {task.video} is out of range; the model has "
                           f"{len(spec.classes)} classes.")


def decode(cfg, task: BatchTask, views: str) -> tuple[ClipInputs, float]:
    """Model inputs of a task and the seconds they took."""
    start = time.perf_counter()
    return build_inputs(cfg, task.video, views=views), time.perf_counter() - start


def explain_clip(handle: ModelHandle, clip: ClipInputs, task: BatchTask, spec: BatchSpec) -> ExplainResult:
    """The explanation of one decoded video under ``spec``."""
    out = explain_inputs(handle, clip, target_layer=spec.layer, target=target_of_key(spec.target),
                         method=spec.method, gt=task.gt_class)
    return make_result(handle, clip, out, video=task.video, views=spec.views)


class BatchWriter:
    """The output folder of one run: skips finished videos, writes results, keeps summary.csv, reports events."""

    def __init__(self, out_dir: str | Path, tasks: list[BatchTask], key: dict, options: BatchOptions,
                 on_event: EventHandler | None = None, manifest: dict | None = None) -> None:
        self.out_dir, self.tasks, self.key, self.options = Path(out_dir), tasks, key, options
        self.manifest = manifest
        self.on_event = on_event or (lambda kind, task, row: None)
        self.summary = Summary(out_dir, tasks)
        self.report = BatchReport(rows=[])
        self.started = time.perf_counter()
        self._saver = ThreadPoolExecutor(1, thread_name_prefix="batch-write")
        self._saving: tuple[BatchTask, Future] | None = None

    def outputs(self, task: BatchTask) -> Outputs:
        return output_paths(self.out_dir, task, overlay=self.options.overlay)

    def pending(self) -> list[BatchTask]:
        """Tasks still to do; finished ones are reported as skipped and keep their files."""
        remove_partials(self.out_dir)
        if self.manifest is not None:
            write_json(self.out_dir / MANIFEST_NAME, self.manifest)
        todo = []
        for task in self.tasks:
            payload = None if self.options.force else done_sidecar(self.outputs(task), video_key(self.key, task))
            if payload is None:
                todo.append(task)
                continue
            row = result_row(task, payload)
            self.summary.add(row, write=False)
            self.report.skipped += 1
            self.on_event("skipped", task, row)
        self.summary.write()
        self.report.pending = len(todo)
        return todo

    def write(self, task: BatchTask, result: ExplainResult, *, seconds: float, decode_seconds: float) -> dict:
        """Write one video's files (sidecar last); returns its summary row. Thread-safe per task."""
        gt = task.gt_class
        batch = {"name": task.name, "gt_class": gt, "gt_label": result.classes[gt] if gt is not None else None,
                 "score": float(result.probs[result.target_class]), "seconds": round(seconds, 3),
                 "decode_seconds": round(decode_seconds, 3)}
        overlay_options = dict(alpha=self.options.alpha, colormap=self.options.colormap, fps=self.options.fps)
        payload = write_outputs(self.outputs(task), result, key=video_key(self.key, task), batch=batch,
                                overlay_options=overlay_options)
        return result_row(task, payload)

    def save(self, task: BatchTask, result: ExplainResult, *, seconds: float, decode_seconds: float) -> None:
        """:meth:`write` on the writer's thread while the caller goes on (the next explanation); the write
        before it is recorded first, waiting for it if it is still running, so one write is in flight."""
        self.drain()
        self._saving = (task, self._saver.submit(self.write, task, result, seconds=seconds,
                                                 decode_seconds=decode_seconds))

    def drain(self) -> None:
        """Record the write in flight, if any; a write that failed (disk full, permissions) fails that video only."""
        if self._saving is None:
            return
        task, future = self._saving
        self._saving = None
        try:
            self.record(task, future.result())
        except Exception as err:
            self.fail(task, err)

    def close(self) -> None:
        """Wait for the write in flight (the run may be ending on an error) and stop the writer's thread."""
        self._saver.shutdown(wait=True)

    def start(self, task: BatchTask) -> None:
        self.on_event("started", task, None)

    def record(self, task: BatchTask, row: dict) -> None:
        """Count a finished (ok or failed) video, update summary.csv (see :class:`Summary`) and report it."""
        self.summary.add(row)
        self.report.pending -= 1
        if row["status"] == "ok":
            self.report.ok += 1
        else:
            self.report.failed += 1
        self.on_event(row["status"], task, row)

    def fail(self, task: BatchTask, err: BaseException | str, seconds: float | None = None) -> None:
        self.record(task, failed_row(task, err if isinstance(err, str) else describe_error(err), seconds))

    def finish(self, stopped: bool = False) -> BatchReport:
        self.drain()
        self.close()
        self.summary.write()
        remove_partials(self.out_dir)
        self.report.rows = self.summary.sorted_rows()
        self.report.stopped = stopped
        self.report.seconds = time.perf_counter() - self.started
        return self.report


def prepare_output(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CamError(f"--out {out} is a file; pass a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CamError(f"Cannot create the output folder {out}: {err.strerror}.") from None
    return out


def check_outputs_apart(tasks: list[BatchTask], out_dir: Path, overlay: bool) -> None:
    """Refuse a run whose outputs would overwrite one of its inputs."""
    inputs = {Path(t.video).resolve() for t in tasks}
    for task in tasks:
        for path in output_paths(out_dir, task, overlay=overlay).all():
            if path.resolve() in inputs:
                raise CamError(f"Writing {path} would overwrite an input video; pick another --out folder.")


def run_batch(
    handle: ModelHandle,
    tasks: list[BatchTask],
    out_dir: str | Path,
    options: BatchOptions | None = None,
    *,
    decode_workers: int = 1,
    on_event: EventHandler | None = None,
    stop: threading.Event | None = None,
    manifest: dict | None = None,
) -> BatchReport:
    """Explain ``tasks`` with the loaded model and write their files under ``out_dir``.

    Finished videos (same model, layer, method, target and views) are skipped unless ``options.force``;
    a video that fails becomes a ``failed`` row and the others go on. Setting ``stop`` ends the run
    after the video being explained. ``manifest`` (the run's request) is written as ``.batch.json``.
    """
    options = options or BatchOptions()
    options.check()
    check_outputs_apart(tasks, Path(out_dir), options.overlay)
    spec = resolve_spec(handle, options)
    check_targets(tasks, spec)
    key = batch_key(config=handle.config, cfg=handle.cfg, checkpoint=handle.checkpoint, layer=spec.layer,
                    method=spec.method, target=spec.target, views=spec.views, classes=spec.classes)
    out = prepare_output(out_dir)
    with locked(out):
        writer = BatchWriter(out, tasks, key, options, on_event, manifest)
        todo = iter(writer.pending())
        decoder = ThreadPoolExecutor(max(1, decode_workers), thread_name_prefix="batch-decode")
        ahead: collections.deque = collections.deque()
        stopped = False

        def fill() -> None:
            while len(ahead) < max(1, decode_workers) + 1 and (task := next(todo, None)) is not None:
                ahead.append((task, decoder.submit(decode, handle.cfg, task, spec.views)))

        try:
            fill()
            while ahead:
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                task, future = ahead.popleft()
                fill()
                writer.start(task)
                start = time.perf_counter()
                try:
                    clip, decode_seconds = future.result()
                    start = time.perf_counter()
                    result = explain_clip(handle, clip, task, spec)
                except Exception as err:  # one unreadable or unexplainable video must not end the batch
                    writer.fail(task, err, time.perf_counter() - start)
                    continue
                writer.save(task, result, seconds=time.perf_counter() - start, decode_seconds=decode_seconds)
        finally:
            decoder.shutdown(wait=True, cancel_futures=True)
            writer.close()
        return writer.finish(stopped)
