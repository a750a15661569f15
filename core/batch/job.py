"""A batch as a request (what to run, kept beside its outputs as ``.batch.json``) and as a background job.

The command line executes a :class:`BatchRequest` in the foreground; the explorer's Batch page starts a
:class:`BatchJob` (a thread with its own model) and polls :meth:`BatchJob.progress`. Jobs are kept per
output folder for the life of the process, so a reopened page finds a running batch again, and the
``.batch.json`` of an interrupted one tells which videos and settings to resume.

A ``.batch.json`` is data from a folder, not an instruction: :func:`resume_request` takes what runs
code (the config, the checkpoint and whether to trust it, the label map, the output folder, the Ray
address) from the caller and only the videos and explanation settings from the file, and names every
recorded value it overrides; ``trust_checkpoint`` is never read back from a file.
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from core.batch.run import Executor, LocalExecutor, drive
from core.batch.spec import BatchOptions, ModelFiles
from core.batch.store import MANIFEST_NAME, Status
from core.batch.tasks import BatchTask, collect_tasks
from core.batch.writer import BatchReport, Event, EventHandler
from core.errors import CamError, describe_error
from core.evaluate.perturb import Baseline
from core.geometry import Views
from core.target import choice_text, read_target

_VALUE_FLAGS = ("--video-root", "--target-layer-name", "--target-class", "--label-map", "--method", "--device",
                "--alpha", "--colormap", "--fps", "--workers", "--steps", "--baseline", "--blur-sigma",
                "--window-stride", "--frame-interval", "--window-batch")  # in this order


def _unless(value: object, default: object) -> object:
    return None if value == default else value


def _option_values(o: BatchOptions) -> dict[str, object]:
    """The explanation options a command line must name (None: the default, or not used by these options)."""
    default, evaluating = BatchOptions(), o.evaluate
    return {"--target-layer-name": o.target_layer, "--target-class": choice_text(o.target),
            "--method": _unless(o.method, default.method), "--alpha": _unless(o.alpha, default.alpha),
            "--colormap": _unless(o.colormap, default.colormap),
            "--fps": _unless(o.fps, default.fps) if o.overlay else None,
            "--steps": _unless(o.steps, default.steps) if evaluating else None,
            "--baseline": _unless(o.baseline, default.baseline) if evaluating else None,
            "--blur-sigma": _unless(o.blur_sigma, default.blur_sigma) if evaluating and o.baseline is Baseline.BLUR
            else None,
            "--window-stride": o.window_stride if o.whole_video else None,
            "--frame-interval": o.frame_interval if o.whole_video else None,
            "--window-batch": _unless(o.window_batch, default.window_batch) if o.whole_video else None}


@dataclass
class BatchRequest:
    """Everything a batch run needs, as the command line names it."""

    config: str
    checkpoint: str | None
    inputs: list[str]
    out: str
    options: BatchOptions = field(default_factory=BatchOptions)
    device: str = "auto"
    label_map: str | None = None
    cfg_options: dict | None = None
    trust_checkpoint: bool = False  # the operator's choice; never read back from .batch.json
    use_frames: bool = False
    video_root: str | None = None
    workers: int | None = None  # local: decoding threads; Ray: CPU actors
    ray: str | None = None  # None: local; "local": a local Ray instance; else the cluster address

    def command(self) -> str:
        """The equivalent ``python -m core.batch`` command line (e.g. to run it on a cluster)."""
        o = self.options
        words = ["python", "-m", "core.batch", self.config, self.checkpoint or "none", *self.inputs, "--out", self.out]
        flags = {"--use-frames": self.use_frames, "--all-views": o.views is Views.ALL, "--overlay": o.overlay,
                 "--force": o.force, "--trust-checkpoint": self.trust_checkpoint, "--evaluate": o.evaluate,
                 "--whole-video": o.whole_video}
        given = {"--video-root": self.video_root, "--label-map": self.label_map, "--workers": self.workers,
                 "--device": None if self.device == "auto" else self.device, **_option_values(o)}
        values = {flag: given[flag] for flag in _VALUE_FLAGS}
        words += [flag for flag, on in flags.items() if on]
        for flag, value in values.items():
            if value is not None:
                words += [flag, str(value)]
        if self.cfg_options:
            words += ["--cfg-options", *(f"{k}={_cfg_value(v)}" for k, v in self.cfg_options.items())]
        if self.ray is not None:
            words += ["--ray"] + ([] if self.ray == "local" else [self.ray])
        return shlex.join(words)

    @property
    def model(self) -> ModelFiles:
        return ModelFiles(self.config, self.checkpoint, self.device, self.label_map, self.cfg_options,
                          self.trust_checkpoint)

    def to_json(self) -> dict:
        payload = asdict(self)
        payload["options"]["target"] = choice_text(self.options.target)
        return payload

    @classmethod
    def from_json(cls, payload: dict) -> BatchRequest:
        """A request read back from ``.batch.json``: ``trust_checkpoint`` is always False (a file never
        decides to unpickle anything); the target is read as the command line reads it."""
        payload = dict(payload)
        options = dict(payload.get("options", {}))
        options["target"] = read_target(options.get("target"), ground_truth=True)
        payload["options"] = BatchOptions(**{k: v for k, v in options.items()
                                             if k in BatchOptions.__dataclass_fields__})
        payload["trust_checkpoint"] = False
        request = cls(**{k: v for k, v in payload.items() if k in cls.__dataclass_fields__})
        request.check()
        return request

    def check(self) -> None:
        """CamError for a value the command line would refuse: a ``.batch.json`` is a file anyone may have
        edited, so what it records is held to the CLI's own types and ranges before it is shown or resumed."""
        self.options.check()
        if type(self.inputs) is not list or not all(type(i) is str for i in self.inputs):
            raise CamError(f"inputs must be a list of paths, not {self.inputs!r}.")
        for name in ("config", "out", "device"):
            if type(getattr(self, name)) is not str:
                raise CamError(f"{name} must be a path or name, not {getattr(self, name)!r}.")
        for name in ("checkpoint", "label_map", "video_root", "ray"):
            if getattr(self, name) is not None and type(getattr(self, name)) is not str:
                raise CamError(f"{name} must be a path or none, not {getattr(self, name)!r}.")
        if type(self.use_frames) is not bool:
            raise CamError(f"use_frames must be true or false, not {self.use_frames!r}.")
        if self.workers is not None and (type(self.workers) is not int or self.workers < 1):
            raise CamError(f"--workers must be a whole number of 1 or more, not {self.workers!r}.")
        if self.cfg_options is not None and (type(self.cfg_options) is not dict
                                             or not all(type(k) is str for k in self.cfg_options)):
            raise CamError(f"cfg_options must map keys to values, not {self.cfg_options!r}.")


def _cfg_value(value: object) -> str:
    """A ``--cfg-options`` value as MMEngine's DictAction reads it back."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def manifest_of(request: BatchRequest, total: int) -> dict:
    """What ``.batch.json`` holds: the request, its video count, when it started, the command line."""
    return json.loads(json.dumps({"request": request.to_json(), "videos": total, "started": time.time(),
                                  "command": request.command()}, default=str))


def read_manifest(out_dir: str | Path) -> dict | None:
    """The ``.batch.json`` of an output folder (``request`` as a :class:`BatchRequest`), or None.
    ``finished`` is the time the run ended with every video done, None while it runs or after it was
    stopped or killed (absent in files written before it existed)."""
    try:
        payload = json.loads((Path(out_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
        payload["request"] = BatchRequest.from_json(payload["request"])
        payload["videos"] = int(payload["videos"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError, CamError):  # (CamError: a value out of range)
        return None
    return payload


def resume_request(recorded: BatchRequest, model: ModelFiles, out: str, ray: str | None = None,
                   options: BatchOptions | None = None) -> tuple[BatchRequest, list[str]]:
    """The request that finishes a recorded batch with the caller's ``model`` (config, checkpoint, trust,
    label map, device), output folder and Ray address; only the videos, the explanation settings and the
    cfg-options come from the record. Returns it with one sentence per value that differs from the caller's
    (config, checkpoint, label map, output folder, Ray address: the caller's are used; cfg-options and each
    explanation setting that differs from ``options``, the caller's choice: the recorded ones are used), for
    the user to confirm before anything runs."""
    request = BatchRequest(config=model.config, checkpoint=model.checkpoint, inputs=list(recorded.inputs), out=out,
                           options=recorded.options, device=model.device, label_map=model.label_map,
                           cfg_options=recorded.cfg_options, trust_checkpoint=model.trust_checkpoint,
                           use_frames=recorded.use_frames, video_root=recorded.video_root,
                           workers=recorded.workers if ray == recorded.ray else None, ray=ray)
    differences = []
    for what, was, now in (("config", recorded.config, model.config),
                           ("checkpoint", recorded.checkpoint, model.checkpoint),
                           ("label map", recorded.label_map, model.label_map)):
        if _spelled(was) != _spelled(now):
            differences.append(f"{what}: recorded {was or 'none'}, now {now or 'none'}")
    if _spelled(recorded.out) != _spelled(out):
        differences.append(f"output folder: recorded {recorded.out}, now {out}")
    if recorded.ray != ray:
        differences.append(f"Ray: recorded {recorded.ray or 'none (local)'}, now {ray or 'none (local)'}")
    if (recorded.cfg_options or None) != (model.cfg_options or None):
        differences.append(f"cfg-options: recorded {_cfg_text(recorded.cfg_options)} (used), chosen "
                           f"{_cfg_text(model.cfg_options)}")
    if options is not None:
        for name in BatchOptions.__dataclass_fields__:
            was, now = getattr(recorded.options, name), getattr(options, name)
            if name == "target":
                was, now = choice_text(was), choice_text(now)
            if was != now:
                differences.append(f"{name}: recorded {was} (used), chosen {now}")
    return request, differences


def _cfg_text(options: dict | None) -> str:
    return " ".join(f"{k}={_cfg_value(v)}" for k, v in options.items()) if options else "none"


def _spelled(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().absolute())


def execute(request: BatchRequest, on_event: EventHandler | None = None,
            stop: threading.Event | None = None,
            on_tasks: Callable[[list[BatchTask]], None] | None = None, *, quiet: bool = False) -> BatchReport:
    """Run a request in this thread (local or on Ray); ``on_tasks(tasks)`` hears the video list first;
    ``quiet`` keeps decoders' native messages off stderr."""
    if request.workers is not None and request.workers < 1:
        raise CamError(f"--workers must be at least 1, not {request.workers}.")
    tasks = collect_tasks(request.inputs, use_frames=request.use_frames, video_root=request.video_root)
    if on_tasks is not None:
        on_tasks(tasks)
    executor: Executor
    if request.ray is not None:
        from core.batch.cluster import RayExecutor

        executor = RayExecutor(request.model, address=request.ray, workers=request.workers)
    else:
        executor = LocalExecutor(request.model, decode_workers=request.workers, quiet=quiet)
    return drive(executor, tasks, request.out, request.options, on_event=on_event, stop=stop,
                 manifest=manifest_of(request, len(tasks)))


class Phase(StrEnum):
    """Where a background job is: starting (loading the model), running, stopping (finishing the video in
    hand), then finished, stopped or error."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FINISHED = "finished"
    STOPPED = "stopped"
    ERROR = "error"


@dataclass
class BatchProgress:
    """A snapshot of a job, safe to read from any thread."""

    phase: Phase
    total: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    current: str | None = None
    rows: list[dict] = field(default_factory=list)  # finished videos, in the order they finished
    error: str | None = None
    elapsed: float = 0.0
    eta: float | None = None  # seconds left, from the pace of the videos explained so far

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.skipped

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def already_complete(self) -> bool:
        """The run found every video done before it started (it explained nothing and nothing failed)."""
        return self.phase == "finished" and self.total > 0 and self.skipped == self.total


class BatchJob:
    """A batch running in a background thread (its own model), which can be stopped."""

    def __init__(self, request: BatchRequest) -> None:
        self.request = request
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = BatchProgress(Phase.STARTING)
        self._started = time.perf_counter()
        self._first_explained: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"batch {request.out}", daemon=True)
        self.report: BatchReport | None = None

    def start(self) -> BatchJob:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish the video being explained, then end (a later run resumes)."""
        self._stop.set()
        with self._lock:
            if self._state.phase in (Phase.STARTING, Phase.RUNNING):
                self._state.phase = Phase.STOPPING

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def progress(self) -> BatchProgress:
        with self._lock:
            state = BatchProgress(**{**self._state.__dict__, "rows": list(self._state.rows)})
        state.elapsed = time.perf_counter() - self._started
        explained = state.ok + state.failed
        if self._first_explained is not None and explained and state.total:
            pace = (time.perf_counter() - self._first_explained) / explained
            state.eta = pace * (state.total - state.done)
        return state

    def _on_tasks(self, tasks: list[BatchTask]) -> None:
        with self._lock:
            self._state.total = len(tasks)

    def _on_event(self, event: Event, task: BatchTask, row: dict | None) -> None:
        with self._lock:
            state = self._state
            match event:
                case Event.STARTED:
                    state.current = task.name
                    if self._first_explained is None:
                        self._first_explained = time.perf_counter()
                    if state.phase is Phase.STARTING:
                        state.phase = Phase.RUNNING
                    return
                case Event.OK:
                    state.ok += 1
                case Event.FAILED:
                    state.failed += 1
                case Event.SKIPPED:
                    state.skipped += 1
            if row is not None:
                state.rows.append(row)

    def _run(self) -> None:
        try:
            self.report = execute(self.request, self._on_event, self._stop, self._on_tasks, quiet=True)
            phase, error = (Phase.STOPPED if self.report.stopped else Phase.FINISHED), None
        except CamError as err:
            phase, error = Phase.ERROR, str(err)
        except Exception as err:  # shown as one line on the page; the thread must not die silently
            phase, error = Phase.ERROR, describe_error(err)
        with self._lock:
            self._state.phase, self._state.error, self._state.current = phase, error, None


_JOBS: dict[str, BatchJob] = {}
_JOBS_LOCK = threading.Lock()


def _folder_key(out_dir: str | Path) -> str:
    return str(Path(out_dir).expanduser().resolve())


def job_for(out_dir: str | Path) -> BatchJob | None:
    """The job (running or finished) this process started on ``out_dir``, if any."""
    with _JOBS_LOCK:
        return _JOBS.get(_folder_key(out_dir))


def start_job(request: BatchRequest) -> BatchJob:
    """Start ``request`` in the background; refuses while another job writes to the same folder."""
    key = _folder_key(request.out)
    with _JOBS_LOCK:
        if key in _JOBS and _JOBS[key].running:
            raise CamError(f"A batch is already running on {request.out}; stop it or wait for it to end.")
        _JOBS[key] = BatchJob(request).start()
        return _JOBS[key]


def start_jobs_in_turn(requests: list[BatchRequest]) -> BatchJob:
    """Start the first request now and each next one when the previous ends (one model at a time: they share
    the CPU or GPU); returns the first job. A later request that cannot start (e.g. another batch writes to its
    folder) is logged and skipped, as it ends up not started."""
    first, rest = start_job(requests[0]), requests[1:]
    if rest:
        def in_turn() -> None:
            first.join()
            for request in rest:
                try:
                    start_job(request).join()
                except CamError as err:
                    logging.getLogger(__name__).error("batch on %s not started: %s", request.out, err)

        threading.Thread(target=in_turn, name="batches in turn", daemon=True).start()
    return first


def interrupted(manifest: dict | None, rows: list[dict]) -> bool:
    """Whether the folder's recorded batch (its :func:`read_manifest`, and its summary ``rows``) ended before
    every video was done: killed, stopped, or failed to start."""
    if manifest is None:
        return False
    if "finished" in manifest:  # written by runs that mark their end
        return manifest["finished"] is None
    done = sum(r.get("status") in tuple(Status) for r in rows)
    return done < manifest["videos"]
