"""A batch as a request (what to run, kept beside its outputs as ``.batch.json``) and as a background job.

The command line executes a :class:`BatchRequest` in the foreground; the explorer's Batch page starts a
:class:`BatchJob` (a thread with its own model) and polls :meth:`BatchJob.progress`. Jobs are kept per
output folder for the life of the process, so a reopened page finds a running batch again, and the
``.batch.json`` of an interrupted one tells how to resume it.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.batch.run import BatchOptions, BatchReport, EventHandler
from core.batch.store import MANIFEST_NAME
from core.errors import CamError, describe_error


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
    trust_checkpoint: bool = False
    use_frames: bool = False
    video_root: str | None = None
    workers: int | None = None  # local: decoding threads; Ray: CPU actors
    ray: str | None = None  # None: local; "local": a local Ray instance; else the cluster address

    def command(self) -> str:
        """The equivalent ``python -m core.batch`` command line (e.g. to run it on a cluster)."""
        o, default = self.options, BatchOptions()
        words = ["python", "-m", "core.batch", self.config, self.checkpoint or "none", *self.inputs, "--out", self.out]
        flags = {"--use-frames": self.use_frames, "--all-views": o.views == "all", "--overlay": o.overlay,
                 "--force": o.force, "--trust-checkpoint": self.trust_checkpoint}
        values = {"--video-root": self.video_root, "--target-layer-name": o.target_layer,
                  "--target-class": o.target, "--label-map": self.label_map,
                  "--method": None if o.method == default.method else o.method,
                  "--device": None if self.device == "auto" else self.device,
                  "--alpha": None if o.alpha == default.alpha else o.alpha,
                  "--colormap": None if o.colormap == default.colormap else o.colormap,
                  "--fps": None if o.fps == default.fps or not o.overlay else o.fps, "--workers": self.workers}
        words += [flag for flag, on in flags.items() if on]
        for flag, value in values.items():
            if value is not None:
                words += [flag, str(value)]
        if self.cfg_options:
            words += ["--cfg-options", *(f"{k}={_cfg_value(v)}" for k, v in self.cfg_options.items())]
        if self.ray is not None:
            words += ["--ray"] + ([] if self.ray == "local" else [self.ray])
        return shlex.join(words)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict) -> BatchRequest:
        payload = dict(payload)
        payload["options"] = BatchOptions(**payload.get("options", {}))
        return cls(**{k: v for k, v in payload.items() if k in cls.__dataclass_fields__})


def _cfg_value(value) -> str:
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
    """The ``.batch.json`` of an output folder (``request`` as a :class:`BatchRequest`), or None."""
    try:
        payload = json.loads((Path(out_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
        payload["request"] = BatchRequest.from_json(payload["request"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return payload


def execute(request: BatchRequest, on_event: EventHandler | None = None,
            stop: threading.Event | None = None, on_tasks=None) -> BatchReport:
    """Run a request in this thread (local or on Ray); ``on_tasks(tasks)`` hears the video list first."""
    import core
    from core.batch.run import run_batch
    from core.batch.tasks import collect_tasks

    request.options.check()
    if request.workers is not None and request.workers < 1:
        raise CamError(f"--workers must be at least 1, not {request.workers}.")
    tasks = collect_tasks(request.inputs, use_frames=request.use_frames, video_root=request.video_root)
    if on_tasks is not None:
        on_tasks(tasks)
    manifest = manifest_of(request, len(tasks))
    if request.ray is not None:
        from core.batch.cluster import run_batch_ray

        return run_batch_ray(request.config, request.checkpoint, tasks, request.out, request.options,
                             address=request.ray, workers=request.workers, device=request.device,
                             label_map=request.label_map, cfg_options=request.cfg_options,
                             trust_checkpoint=request.trust_checkpoint, on_event=on_event, stop=stop,
                             manifest=manifest)
    handle = core.load_model(request.config, request.checkpoint, request.device, label_map=request.label_map,
                             cfg_options=request.cfg_options, trust_checkpoint=request.trust_checkpoint)
    workers = request.workers or (2 if handle.device.type == "cuda" else 1)  # a GPU outpaces one decoder
    return run_batch(handle, tasks, request.out, request.options, decode_workers=workers,
                     on_event=on_event, stop=stop, manifest=manifest)


@dataclass
class BatchProgress:
    """A snapshot of a job, safe to read from any thread."""

    phase: str  # "starting", "running", "stopping", "finished", "stopped", "error"
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


class BatchJob:
    """A batch running in a background thread (its own model), which can be stopped."""

    def __init__(self, request: BatchRequest) -> None:
        self.request = request
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = BatchProgress("starting")
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
            if self._state.phase in ("starting", "running"):
                self._state.phase = "stopping"

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

    def _on_tasks(self, tasks) -> None:
        with self._lock:
            self._state.total = len(tasks)

    def _on_event(self, kind: str, task, row: dict | None) -> None:
        with self._lock:
            state = self._state
            if kind == "started":
                state.current = task.name
                if self._first_explained is None:
                    self._first_explained = time.perf_counter()
                if state.phase == "starting":
                    state.phase = "running"
                return
            setattr(state, kind, getattr(state, kind) + 1)  # ok / failed / skipped
            state.rows.append(row)

    def _run(self) -> None:
        try:
            self.report = execute(self.request, self._on_event, self._stop, self._on_tasks)
            phase, error = ("stopped" if self.report.stopped else "finished"), None
        except CamError as err:
            phase, error = "error", str(err)
        except Exception as err:  # shown as one line on the page; the thread must not die silently
            phase, error = "error", describe_error(err)
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
