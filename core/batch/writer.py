"""The driver's side of a run: the output folder's files, summary.csv, the counts, and the events.

One :class:`BatchWriter` per run, whatever executes the videos: :meth:`~BatchWriter.begin` says which
videos are left, :meth:`~BatchWriter.take` records each :data:`~core.batch.spec.Outcome` (an explained
video's files are written on the writer's thread while the executor goes on), :meth:`~BatchWriter.close`
ends the run and returns its :class:`BatchReport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.batch.spec import BatchOptions, Explained, Failed, Outcome, Written, evaluation_of
from core.batch.store import (
    MANIFEST_NAME,
    Outputs,
    Status,
    Summary,
    class_label,
    failed_row,
    is_done,
    output_paths,
    remove_partials,
    result_row,
    result_sidecar,
    rows_on_disk,
    video_key,
    write_outputs,
)
from core.batch.tasks import BatchTask
from core.errors import CamError, describe_error
from core.outputs import write_json


class Event(StrEnum):
    """What happened to a task, as a writer reports it to its :data:`EventHandler` (the last two are also the
    summary row's :class:`~core.batch.store.Status`)."""

    SKIPPED = "skipped"  # done by an earlier run (its row is passed)
    STARTED = "started"  # an executor began explaining it (no row yet)
    OK = "ok"
    FAILED = "failed"


EventHandler = Callable[[Event, BatchTask, "dict | None"], None]  # (event, task, row)


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


def _unwritable(out_dir: Path, err: OSError) -> CamError:
    return CamError(f"Cannot write to the output folder {out_dir} ({err.strerror or type(err).__name__}); "
                    "pick a folder you can write to.")


def prepare_output(out_dir: str | Path) -> Path:
    """Create the output folder (CamError when it cannot be)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CamError(f"--out {out} is a file; pass a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CamError(f"Cannot create the output folder {out}: {err.strerror}.") from err
    return out


class BatchWriter:
    """The output folder of one run: skips finished videos, writes results, keeps summary.csv, reports events."""

    def __init__(self, out_dir: str | Path, tasks: list[BatchTask], key: dict, options: BatchOptions,
                 classes: list[str], on_event: EventHandler | None = None, manifest: dict | None = None) -> None:
        self.out_dir, self.tasks, self.key, self.options = Path(out_dir), tasks, key, options
        self.classes, self.manifest = classes, manifest
        self.on_event = on_event or (lambda kind, task, row: None)
        self.evaluation = evaluation_of(options)
        self.summary = Summary(out_dir, tasks, evaluate=self.evaluation is not None)
        self.report = BatchReport(rows=[])
        self._t0 = time.perf_counter()
        self._saver = ThreadPoolExecutor(1, thread_name_prefix="batch-write")
        self._saving: tuple[BatchTask, Future] | None = None

    def outputs(self, task: BatchTask) -> Outputs:
        return output_paths(self.out_dir, task, overlay=self.options.overlay)

    def begin(self) -> list[BatchTask]:
        """The videos still to do. Finished ones are reported as skipped and keep their files; summary.csv
        starts from every result on disk, so it never lacks one, whatever happens to this run."""
        try:
            remove_partials(self.out_dir)
            if self.manifest is not None:
                write_json(self.out_dir / MANIFEST_NAME, {**self.manifest, "finished": None})
            todo, on_disk = [], {}
            for task in self.tasks:
                payload = result_sidecar(self.outputs(task))
                if payload is not None:
                    on_disk[task.name] = payload
                if payload is None or self.options.force or not self._done(task, payload):
                    todo.append(task)
            for row in rows_on_disk(self.out_dir, self.tasks, on_disk):
                self.summary.add(row, write=False)
            self.summary.write()
        except OSError as err:
            raise _unwritable(self.out_dir, err) from err
        left = {task.name for task in todo}
        for task in (task for task in self.tasks if task.name not in left):
            self.report.skipped += 1
            self.on_event(Event.SKIPPED, task, self.summary.rows[task.name])
        self.report.pending = len(todo)
        return todo

    def _done(self, task: BatchTask, payload: dict) -> bool:
        """Its sidecar holds this run's key (the video unchanged), every file it asks for is there, and with
        ``--evaluate`` an evaluation with this run's settings (without, any evaluation it has is kept)."""
        try:
            key = video_key(self.key, task)
        except OSError:  # the video is gone: not done, it fails when it is explained
            return False
        if self.evaluation is not None and not self.evaluation.matches(payload.get("evaluation")):
            return False
        return is_done(payload, self.outputs(task), key)

    def started(self, task: BatchTask) -> None:
        """An executor began explaining ``task``."""
        self.on_event(Event.STARTED, task, None)

    def take(self, outcome: Outcome) -> None:
        """Record one outcome; an explained video is written while the caller goes on (one write in flight)."""
        if isinstance(outcome, Failed):
            self._record(outcome.task, failed_row(outcome.task, outcome.reason, outcome.seconds, self.classes))
            return
        if isinstance(outcome, Written):  # its files are on disk already
            self._drain()
            self._record(outcome.task, result_row(outcome.task, outcome.payload))
            return
        self._drain()
        self._saving = (outcome.task, self._saver.submit(self._write, outcome))

    def _write(self, outcome: Explained) -> dict:
        """Write one video's files (sidecar last); returns its summary row."""
        task, result = outcome.task, outcome.result
        score = None if result.probs is None else float(result.probs[result.target_class])  # explain() sets probs
        batch = {"name": task.name, "gt_class": task.gt_class, "gt_label": class_label(result.classes, task.gt_class),
                 "score": score, "seconds": round(outcome.seconds, 3),
                 "decode_seconds": round(outcome.decode_seconds, 3)}
        overlay_options = dict(alpha=self.options.alpha, colormap=self.options.colormap, fps=self.options.fps)
        payload = write_outputs(self.outputs(task), result, key=video_key(self.key, task), batch=batch,
                                overlay_options=overlay_options)
        return result_row(task, payload)

    def _drain(self) -> None:
        """Record the write in flight, if any; a write that failed (disk full, permissions) fails that video only."""
        if self._saving is None:
            return
        task, future = self._saving
        self._saving = None
        try:
            row = future.result()
        except Exception as err:
            row = failed_row(task, describe_error(err), None, self.classes)
        self._record(task, row)

    def _record(self, task: BatchTask, row: dict) -> None:
        """Count a finished (ok or failed) video, update summary.csv (see :class:`Summary`) and report it."""
        self.summary.add(row)
        self.report.pending -= 1
        status = Status(row["status"])
        if status is Status.OK:
            self.report.ok += 1
        else:
            self.report.failed += 1
        self.on_event(Event(status), task, row)

    def close(self, stopped: bool = False) -> BatchReport:
        """Wait for the write in flight, write summary.csv, remove leftovers; the run's report. Called once,
        also when the run ends on an error (what was finished is recorded before the error goes on)."""
        try:
            self._drain()
        finally:
            self._saver.shutdown(wait=True)
        self.summary.write()
        remove_partials(self.out_dir)
        self.report.stopped = stopped and self.report.pending > 0
        if self.manifest is not None and not self.report.pending:
            write_json(self.out_dir / MANIFEST_NAME, {**self.manifest, "finished": time.time()})
        self.report.rows = self.summary.sorted_rows()
        self.report.seconds = time.perf_counter() - self._t0
        return self.report
