"""The Ray executor: actors that each hold one loaded model explain the videos, and the driver
(:func:`~core.batch.run.drive`) writes their outcomes exactly as for a local run.

One actor per GPU (``num_gpus=1``) when the cluster has GPUs, else ``workers`` CPU actors. Each actor
takes two videos at a time, so decoding the next overlaps explaining the current one. Actors restart
when their process dies (``max_restarts``) and Ray retries the calls they had in flight. Workers on
the driver's node read the inputs from disk; workers elsewhere get the files' bytes (the checkpoint is
kept once per node under ``$TMPDIR/mmcam-batch``), so a cluster needs no shared filesystem, only the
README's install on every node.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import core
from core.batch.run import Opened, drive
from core.batch.spec import BatchOptions, Explained, Failed, ModelFiles, Outcome, decode, explain_clip, resolve_spec
from core.batch.tasks import BatchTask
from core.batch.writer import BatchReport, EventHandler
from core.errors import CamError, describe_error
from core.model import load_config
from core.outputs import atomic_path

if TYPE_CHECKING:
    from mmengine.config import Config

IN_FLIGHT_PER_ACTOR = 2
MAX_RESTARTS = 4  # per actor; Ray retries the calls a dead actor had in flight once it is back
MAX_TASK_RETRIES = 2
ACTOR_NAME = "mmcam-batch-{}"


def _pack(path: str) -> dict:
    """A video file or rawframes folder as bytes, for a worker that cannot read the driver's disk."""
    source = Path(path)
    if source.is_dir():
        return {"name": source.name, "files": {p.name: p.read_bytes() for p in source.iterdir() if p.is_file()}}
    return {"name": source.name, "data": source.read_bytes()}


def _unpack(packed: dict, folder: str) -> str:
    target = Path(folder) / packed["name"]
    if "files" in packed:
        target.mkdir()
        for name, data in packed["files"].items():
            (target / name).write_bytes(data)
    else:
        target.write_bytes(packed["data"])
    return str(target)


class Explainer:
    """A Ray actor's state: one loaded model and the resolved batch settings."""

    def __init__(self, model: ModelFiles, cfg: Config, files: dict, options: BatchOptions, driver_node: str) -> None:
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.local = self.node == driver_node
        self.scratch = Path(tempfile.gettempdir()) / "mmcam-batch"  # one copy per file and node, reused
        self.scratch.mkdir(exist_ok=True)
        paths = {}
        for role, (path, ref) in files.items():  # the driver's paths, or their bytes on another node
            if path is not None and not self.local and ref is not None:
                data = ray.get(ref)
                target = self.scratch / f"{role}-{hashlib.sha1(data).hexdigest()[:20]}{Path(path).suffix}"
                if not target.is_file():
                    with atomic_path(target) as tmp:
                        tmp.write_bytes(data)
                path = str(target)
            paths[role] = path
        self.handle = core.load_model(cfg, paths["checkpoint"], model.device, label_map=paths["label_map"],
                                      trust_checkpoint=model.trust_checkpoint)
        self.spec = resolve_spec(self.handle, options)
        self.overlay = options.overlay
        self.lock = threading.Lock()  # one explanation at a time; decoding runs beside it

    def describe(self) -> dict:
        return {"spec": self.spec, "node": self.node, "local": self.local, "pid": os.getpid(),
                "device": str(self.handle.device)}

    def explain(self, task: BatchTask, packed: dict | None) -> Outcome:
        """The video's outcome (a failure is an outcome too, never an exception)."""
        folder = tempfile.mkdtemp(dir=self.scratch) if packed is not None else None
        start = time.perf_counter()
        try:
            source = task if packed is None or folder is None else replace(task, video=_unpack(packed, folder))
            clip, decode_seconds = decode(self.handle.cfg, source, self.spec.views)
            with self.lock:
                start = time.perf_counter()
                result = explain_clip(self.handle, clip, task, self.spec)
                seconds = time.perf_counter() - start
            if not self.overlay:  # the driver needs the frames only to draw overlays
                result = replace(result, frames=None)
            return Explained(task, result, seconds, decode_seconds)
        except Exception as err:  # reported as the video's failed row
            return Failed(task, describe_error(err), time.perf_counter() - start)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def ping(self) -> bool:
        return True


def connect(address: str | None) -> bool:
    """Join the cluster at ``address`` ("auto", "ray://HOST:PORT"), or start a local Ray when None
    ("local"); returns True when this call started Ray (and so should shut it down)."""
    try:
        import ray
    except ImportError as err:
        raise CamError("Ray is not installed; run pip install -r requirements.txt.") from err
    if ray.is_initialized():
        return False
    # the workers import this very copy of `core` (uploaded to the cluster), whatever their working folder
    options: dict[str, Any] = dict(log_to_driver=False, logging_level=logging.ERROR,
                                   runtime_env={"py_modules": [str(Path(core.__file__).parent)]})
    if address in (None, "", "local"):
        ray.init(include_dashboard=False, **options)
        return True
    try:
        ray.init(address=address, **options)
    except Exception as err:  # ConnectionError, TimeoutError, ValueError for a malformed address
        raise CamError(f"Could not join the Ray cluster at {address} ({describe_error(err)}); start it with "
                       "`ray start --head` or run --ray without an address for a local one.") from err
    return True


def _driver_node(client: bool) -> str:
    """The node whose disk the driver's paths refer to ("" for a Ray Client driver: none of them)."""
    import ray

    return "" if client else ray.get_runtime_context().get_node_id()


def _actor_options(device: str, workers: int | None) -> tuple[int, dict, str]:
    """How many actors, their resource options and their torch device."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if device.startswith("cuda") and not gpus:
        raise CamError(f"--device {device} was asked for but the Ray cluster has no GPUs; use --device cpu.")
    if gpus and device != "cpu":
        return min(workers or gpus, gpus), dict(num_gpus=1, num_cpus=1), "cuda"
    return min(workers or cpus, cpus), dict(num_cpus=1), "cpu"


def _start_actors(count: int, resources: dict, args: tuple, started: bool) -> list:
    import ray

    remote = ray.remote(Explainer)
    options = dict(resources, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES,
                   max_concurrency=IN_FLIGHT_PER_ACTOR, namespace=f"mmcam-{os.getpid()}")
    if not started:  # Ray was started by the caller: point the workers at this checkout
        root = str(Path(core.__file__).resolve().parents[1])
        options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH")) if p)}}
    return [remote.options(name=ACTOR_NAME.format(i), **options).remote(*args) for i in range(count)]


def _raise_start_error(err: Exception) -> None:
    cause = getattr(err, "cause", None) or err
    if isinstance(cause, CamError):
        raise CamError(str(cause)) from cause
    raise CamError(f"A Ray worker could not load the model ({describe_error(cause)}).") from cause


class _Calls:
    """The calls :meth:`RayExecutor.outcomes` has out: the videos in flight and how many per actor, which actors
    are alive, the pings sent to an actor that lost a call, and how often each video's worker died."""

    def __init__(self, actors: int) -> None:
        self.running: dict = {}  # ref -> (task, actor index)
        self.load = [0] * actors
        self.alive = [True] * actors
        self.probes: dict = {}  # ping ref -> actor index, for an actor that lost a call
        self.deaths: collections.Counter = collections.Counter()

    def free_actor(self) -> int | None:
        """The least loaded live actor that can take another video; None when none can."""
        free = [i for i in range(len(self.load)) if self.alive[i] and i not in self.probes.values()
                and self.load[i] < IN_FLIGHT_PER_ACTOR]
        return min(free, key=self.load.__getitem__) if free else None


class RayExecutor:
    """Videos explained by Ray actors (see the module's docstring). ``address``: None or "local" starts a
    local Ray, else the cluster to join; ``workers``: CPU actors when the cluster has no GPUs."""

    def __init__(self, model: ModelFiles, *, address: str | None = None, workers: int | None = None) -> None:
        self.model, self.address, self.workers = model, address, workers
        self.files: tuple[str | None, ...] = (model.config, model.checkpoint, model.label_map)
        self.actors: list = []
        self.local: list[bool] = []
        self.started = False

    def open(self, options: BatchOptions) -> Opened:
        import ray

        model = self.model
        cfg = load_config(model.config, model.cfg_options, trust=model.trust_checkpoint)
        for what, path in (("Checkpoint", model.checkpoint), ("Label map", model.label_map)):
            if path is not None and not Path(path).is_file():
                raise CamError(f"{what} {path} does not exist.")
        self.started = connect(self.address)
        count, resources, actor_device = _actor_options(model.device, self.workers)
        # a Ray Client driver (ray://) shares no disk with the cluster; elsewhere only other nodes need bytes
        client = str(self.address or "").startswith("ray://")
        ship = client or sum(1 for node in ray.nodes() if node.get("Alive")) > 1
        files = {role: (None if path is None else str(path),
                        ray.put(Path(path).read_bytes()) if path is not None and ship else None)
                 for role, path in (("checkpoint", model.checkpoint), ("label_map", model.label_map))}
        self.actors = _start_actors(count, resources, (replace(model, device=actor_device), cfg, files, options,
                                                       _driver_node(client)), self.started)
        try:
            info = ray.get([a.describe.remote() for a in self.actors])
        except ray.exceptions.RayError as err:
            _raise_start_error(err)
        self.local = [i["local"] for i in info]
        return Opened(info[0]["spec"], model.config, cfg, model.checkpoint)

    def outcomes(self, todo: list[BatchTask], started: Callable[[BatchTask], None],
                 stop: threading.Event | None) -> Iterator[Outcome]:
        """Keep every actor busy with two videos until ``todo`` is done or ``stop`` is set."""
        import ray

        calls, queue = _Calls(len(self.actors)), collections.deque(todo)
        while True:
            stopping = stop is not None and stop.is_set()
            if not stopping:
                yield from self._submit(calls, queue, started)
            if not calls.running and not calls.probes:
                if queue and not stopping:
                    raise CamError("Every Ray worker died; rerun the same command to finish the remaining videos.")
                return
            ready, _ = ray.wait([*calls.running, *calls.probes], num_returns=1)
            yield from self._receive(calls, ready[0], queue)

    def _submit(self, calls: _Calls, queue: collections.deque[BatchTask],
                started: Callable[[BatchTask], None]) -> Iterator[Outcome]:
        """Hand videos of ``queue`` to the actors while one can take more (a video unreadable here fails)."""
        while queue:
            index = calls.free_actor()
            if index is None:
                return
            task = queue.popleft()
            try:
                packed = None if self.local[index] else _pack(task.video)
            except OSError as err:  # a listed video that is missing or unreadable here
                yield Failed(task, f"{task.video} could not be read ({describe_error(err)})")
                continue
            ref = self.actors[index].explain.remote(task, packed)
            calls.running[ref], calls.load[index] = (task, index), calls.load[index] + 1
            started(task)

    def _receive(self, calls: _Calls, ref: Any, queue: collections.deque[BatchTask]) -> Iterator[Outcome]:
        """What the finished call ``ref`` gives: an outcome, nothing for a ping (an actor that does not answer
        is dead), and for a video whose worker died, a second try (at the front of ``queue``), then a failure."""
        import ray

        if ref in calls.probes:
            index = calls.probes.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.RayError:
                calls.alive[index] = False
            return
        task, index = calls.running.pop(ref)
        calls.load[index] -= 1
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayActorError as err:  # the worker died more often than Ray retries
            calls.deaths[task.name] += 1
            if calls.deaths[task.name] < 2:
                queue.appendleft(task)
            else:
                yield Failed(task, f"its Ray worker died while explaining it ({describe_error(err)})")
            calls.probes[self.actors[index].ping.remote()] = index
            return
        if isinstance(outcome, Explained):  # the files name the driver's paths, not a worker's copies
            result = replace(outcome.result, config=str(self.model.config), checkpoint=self.model.checkpoint)
            outcome = replace(outcome, result=result)
        yield outcome

    def close(self) -> None:
        if not self.actors and not self.started:
            return
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self.started:
            ray.shutdown()
            self.started = False


def run_batch_ray(
    config: str | Path,
    checkpoint: str | Path | None,
    tasks: list[BatchTask],
    out_dir: str | Path,
    options: BatchOptions | None = None,
    *,
    address: str | None = None,
    workers: int | None = None,
    device: str = "auto",
    label_map: str | Path | None = None,
    cfg_options: dict | None = None,
    trust_checkpoint: bool = False,
    on_event: EventHandler | None = None,
    stop: threading.Event | None = None,
    manifest: dict | None = None,
) -> BatchReport:
    """:func:`~core.batch.run.drive` with a :class:`RayExecutor`: the same files, resume and report as a local run."""
    model = ModelFiles(str(config), None if checkpoint is None else str(checkpoint), device,
                       None if label_map is None else str(label_map), cfg_options, trust_checkpoint)
    return drive(RayExecutor(model, address=address, workers=workers), tasks, out_dir, options,
                 on_event=on_event, stop=stop, manifest=manifest)
