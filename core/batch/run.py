"""One batch driver, two executors.

:func:`drive` owns a run from start to end, whatever explains the videos: it checks the options and the
outputs once, opens the executor (which loads the model and resolves the :class:`BatchSpec`), computes
the batch key, holds the output folder's lock and feeds a :class:`BatchWriter` the typed outcomes
(:class:`Explained`, :class:`Failed`) the executor yields. Executors:

- :class:`LocalExecutor`: one model in this process; decoding the next videos runs in threads while the
  current one is explained, and the writer's thread writes the previous one meanwhile;
- :class:`~core.batch.cluster.RayExecutor`: actors on a Ray cluster, each holding one model.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Protocol

from mmengine.config import Config

from core.batch.quiet import native_messages_dropped
from core.batch.spec import (
    BatchOptions,
    BatchSpec,
    Explained,
    Failed,
    ModelFiles,
    Outcome,
    Written,
    check_targets,
    decode,
    explain_clip,
    resolve_spec,
)
from core.batch.store import Outputs, batch_key, class_label, locked, output_paths, video_key
from core.batch.tasks import BatchTask
from core.batch.writer import BatchReport, BatchWriter, EventHandler, prepare_output
from core.errors import CamError, describe_error
from core.geometry import Views
from core.model import ModelHandle
from core.outputs import check_apart, check_writable_folder
from core.video import ClipInputs
from core.whole_video import explain_whole_video

__all__ = [
    "BatchOptions", "BatchReport", "BatchSpec", "BatchWriter", "EventHandler", "Executor", "Explained", "Failed",
    "LocalExecutor", "ModelFiles", "Opened", "Outcome", "check_outputs_apart", "drive", "resolve_spec", "run_batch",
]


class Opened(NamedTuple):
    """What an opened executor tells the driver: the resolved settings and the model's files (its batch key)."""

    spec: BatchSpec
    config: str
    cfg: Config
    checkpoint: str | None


class Executor(Protocol):
    """Where videos are explained. The driver calls :meth:`open` once, iterates :meth:`outcomes` once, and
    always calls :meth:`close`."""

    files: tuple[str | None, ...]  # what it reads besides the videos (config, checkpoint, label map)

    def open(self, options: BatchOptions) -> Opened:
        """Load the model(s) and resolve ``options``; CamError when they do not fit the model."""
        ...

    def outcomes(self, todo: list[BatchTask], started: Callable[[BatchTask], None],
                 stop: threading.Event | None) -> Iterator[Outcome]:
        """One outcome per video of ``todo`` (in any order), ``started(task)`` as each begins; once ``stop``
        is set no new video starts and the iteration ends when those in flight are in."""
        ...

    def close(self) -> None:
        ...


def check_outputs_apart(tasks: list[BatchTask], out_dir: str | Path, overlay: bool,
                        files: tuple[str | None, ...] = ()) -> None:
    """Refuse a run whose outputs would overwrite one of its inputs (a video, the config, the checkpoint)."""
    outputs = (path for task in tasks for path in output_paths(out_dir, task, overlay=overlay).all())
    check_apart(outputs, [*(task.video for task in tasks), *files], "pick another --out folder")


def drive(executor: Executor, tasks: list[BatchTask], out_dir: str | Path, options: BatchOptions | None = None,
          *, on_event: EventHandler | None = None, stop: threading.Event | None = None,
          manifest: dict | None = None) -> BatchReport:
    """Explain ``tasks`` with ``executor`` and write their files under ``out_dir``.

    Finished videos (same model, layer, method, target and views) are skipped unless ``options.force``;
    a video that fails becomes a ``failed`` row and the others go on. Setting ``stop`` ends the run
    after the videos being explained. ``manifest`` (the run's request) is written as ``.batch.json``.
    Raises CamError, before any model is loaded where it can, for bad options, inputs or outputs.
    """
    options = options or BatchOptions()
    options.check()
    check_outputs_apart(tasks, out_dir, options.overlay, executor.files)
    check_writable_folder(out_dir)
    try:
        opened = executor.open(options)
        check_targets(tasks, opened.spec)
        key = batch_key(config=opened.config, cfg=opened.cfg, checkpoint=opened.checkpoint, spec=opened.spec)
        out = prepare_output(out_dir)
        with locked(out):
            writer = BatchWriter(out, tasks, key, options, opened.spec.classes, on_event, manifest)
            if options.whole_video:
                if not isinstance(executor, LocalExecutor):
                    raise CamError("--whole-video runs on one local model (its outputs are written as they come); "
                                   "drop --ray.")
                executor.write_whole = lambda task: (writer.outputs(task), video_key(key, task))
            todo = writer.begin()
            try:
                for outcome in executor.outcomes(todo, writer.started, stop):
                    writer.take(outcome)
            finally:
                report = writer.close(stopped=stop is not None and stop.is_set())
            return report
    finally:
        executor.close()


class LocalExecutor:
    """Videos explained in this process by one model (loaded on :meth:`open` from :class:`ModelFiles`, or
    given loaded). ``decode_workers`` threads decode ahead (default 1; 2 on a GPU, which outpaces one);
    ``quiet`` keeps decoders' native messages off stderr (:mod:`core.batch.quiet`)."""

    def __init__(self, model: ModelHandle | ModelFiles, *, decode_workers: int | None = None,
                 quiet: bool = False) -> None:
        self.model, self.decode_workers, self.quiet = model, decode_workers, quiet
        if isinstance(model, ModelFiles):
            self.files: tuple[str | None, ...] = (model.config, model.checkpoint, model.label_map)
        else:
            self.files = (model.config, model.checkpoint)
        self.handle: ModelHandle | None = None
        self.spec: BatchSpec | None = None
        self.options: BatchOptions | None = None
        # whole-video runs: where each video's files go and its batch key (set by drive(); None: one clip a video)
        self.write_whole: Callable[[BatchTask], tuple[Outputs, dict]] | None = None

    def open(self, options: BatchOptions) -> Opened:
        handle = self.model.load() if isinstance(self.model, ModelFiles) else self.model
        self.handle, self.spec, self.options = handle, resolve_spec(handle, options), options
        return Opened(self.spec, handle.config, handle.cfg, handle.checkpoint)

    def _decode(self, task: BatchTask, views: Views) -> tuple[ClipInputs, float]:
        assert self.handle is not None
        if not self.quiet:
            return decode(self.handle.cfg, task, views)
        with native_messages_dropped():
            return decode(self.handle.cfg, task, views)

    def outcomes(self, todo: list[BatchTask], started: Callable[[BatchTask], None],
                 stop: threading.Event | None) -> Iterator[Outcome]:
        handle, spec = self.handle, self.spec
        assert handle is not None and spec is not None, "open() first"
        if self.write_whole is not None:
            yield from self._whole_videos(todo, started, stop)
            return
        workers = self.decode_workers or (2 if handle.device.type == "cuda" else 1)
        decoder = ThreadPoolExecutor(max(1, workers), thread_name_prefix="batch-decode")
        pending = iter(todo)
        ahead: collections.deque = collections.deque()

        def fill() -> None:
            while len(ahead) < max(1, workers) + 1 and (task := next(pending, None)) is not None:
                ahead.append((task, decoder.submit(self._decode, task, spec.views)))

        try:
            fill()
            while ahead and not (stop is not None and stop.is_set()):
                task, future = ahead.popleft()
                fill()
                started(task)
                start = time.perf_counter()
                try:
                    clip, decode_seconds = future.result()
                    start = time.perf_counter()
                    result = explain_clip(handle, clip, task, spec)
                except Exception as err:  # one unreadable or unexplainable video must not end the batch
                    yield Failed(task, describe_error(err), time.perf_counter() - start)
                    continue
                yield Explained(task, result, time.perf_counter() - start, decode_seconds)
        finally:
            decoder.shutdown(wait=True, cancel_futures=True)

    def _whole_videos(self, todo: list[BatchTask], started: Callable[[BatchTask], None],
                      stop: threading.Event | None) -> Iterator[Outcome]:
        """Each video explained over its whole length, its files written as the windows come
        (:func:`core.whole_video.explain_whole_video`; an interrupted video resumes by window)."""
        handle, spec, options, write_whole = self.handle, self.spec, self.options, self.write_whole
        assert handle is not None and spec is not None and options is not None and write_whole is not None
        for task in todo:
            if stop is not None and stop.is_set():
                return
            started(task)
            start = time.perf_counter()
            try:
                if task.origin is not None and not Path(task.video).exists():
                    raise CamError(f"{task.video} does not exist ({task.origin}); check the list or --video-root.")
                outputs, key = write_whole(task)
                outputs.txt.parent.mkdir(parents=True, exist_ok=True)
                batch = {"name": task.name, "gt_class": task.gt_class,
                         "gt_label": class_label(spec.classes, task.gt_class)}
                report = explain_whole_video(
                    handle, task.video, outputs.txt, target=spec.target, target_layer=spec.layer, method=spec.method,
                    gt=task.gt_class, stride=options.window_stride, frame_interval=options.frame_interval,
                    batch_size=options.window_batch, overlay_path=outputs.mp4, alpha=options.alpha,
                    colormap=options.colormap, batch_key=key, batch=batch)
                payload = json.loads(outputs.json.read_text(encoding="utf-8"))
            except Exception as err:  # one unreadable or unexplainable video must not end the batch
                yield Failed(task, describe_error(err), time.perf_counter() - start)
                continue
            yield Written(task, payload, report.seconds, report.decode_seconds)

    def close(self) -> None:
        self.handle = None


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
    """:func:`drive` with a :class:`LocalExecutor` around an already loaded model."""
    return drive(LocalExecutor(handle, decode_workers=decode_workers), tasks, out_dir, options,
                 on_event=on_event, stop=stop, manifest=manifest)
