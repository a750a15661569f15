"""MMAction2 training runs as MMEngine's runner leaves them in ``work_dirs/NAME/``: the dumped config, the
checkpoints (which epoch each is, which one is best), the loss and accuracy curves of
``<timestamp>/vis_data/scalars.json``, and the ``tools/test.py`` runs whose logs tell which checkpoint made
which results pickle.

Everything here reads files as data: logs are matched with regular expressions, scalars are JSON, and no
config or checkpoint is executed or unpickled.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.dumps import SOURCE_SUFFIX, DumpSource, read_source
from core.errors import CamError

if TYPE_CHECKING:
    from core.dumps import DumpSource

_EPOCH = re.compile(r"^(?:epoch|iter)_(\d+)\.pth$")
_NAMED = re.compile(r"^(?:best_(?P<metric>.+)_)?(?P<unit>epoch|iter)_(?P<number>\d+)\.pth$")
_TIMESTAMP = re.compile(r"^\d{8}_\d{6}$")  # MMEngine's log folders: 20240131_120000
_BEST_LINE = re.compile(r"The best checkpoint with (?P<score>[-\d.eE+naif]+) (?P<metric>\S+) at (?P<number>\d+) "
                        r"(?P<unit>epoch|iter) is saved to (?P<name>\S+?\.pth)\.")
_LOADED = re.compile(r"- mmengine - INFO - Load checkpoint from (?P<path>.+?)\s*$", re.M)
_DUMPED = re.compile(r"- mmengine - INFO - Results has been saved to (?P<path>.+?)\.\s*$", re.M)
_WORK_DIR = re.compile(r"^work_dir = (?P<quote>['\"])(?P<path>.+?)(?P=quote)\s*$", re.M)
_RUNTIME = ("data_time", "time", "memory", "step", "epoch", "iter", "eta")


@dataclass(frozen=True)
class Run:
    """One MMAction2 training run: a ``work_dirs/<name>/`` folder with a dumped config and checkpoints."""

    folder: Path
    config: Path | None  # the config the runner dumped beside its checkpoints
    checkpoints: tuple[Path, ...]  # best_* first, then the latest, then other epochs (newest epoch first)
    latest: Path | None  # what ``last_checkpoint`` points at
    modified: float  # newest checkpoint's modification time (seconds since the epoch)

    @property
    def name(self) -> str:
        return self.folder.name


def _latest(folder: Path) -> Path | None:
    """The checkpoint named in ``last_checkpoint`` (looked up by file name when the run was moved)."""
    marker = folder / "last_checkpoint"
    if not marker.is_file():
        return None
    text = marker.read_text(encoding="utf-8", errors="replace").strip()
    if not text:
        return None
    for path in (Path(text), folder / Path(text).name):
        if path.is_file():
            return path.resolve()
    return None


def _epoch(path: Path) -> int:
    match = _EPOCH.match(path.name)
    return int(match.group(1)) if match else -1


def checkpoints_of(folder: Path) -> tuple[tuple[Path, ...], Path | None]:
    """A run folder's checkpoints in picking order (best, latest, other epochs) and its latest one."""
    best = sorted(folder.glob("best_*.pth"), key=lambda p: p.stat().st_mtime, reverse=True)
    epochs = sorted((p for p in folder.glob("*.pth") if _EPOCH.match(p.name)), key=_epoch, reverse=True)
    latest = _latest(folder)
    ordered = [p.resolve() for p in best]
    for path in ([latest] if latest else []) + [p.resolve() for p in epochs]:
        if path not in ordered:
            ordered.append(path)
    return tuple(ordered), latest


def config_of(folder: Path) -> Path | None:
    """The config the runner dumped into a run folder: ``<folder name>.py``, else the newest ``*.py``."""
    named = folder / f"{folder.name}.py"
    if named.is_file():
        return named.resolve()
    configs = sorted(folder.glob("*.py"), key=lambda p: p.stat().st_mtime, reverse=True)
    return configs[0].resolve() if configs else None


def run_at(folder: str | Path) -> Run | None:
    """The run in ``folder`` itself, or None when it holds no checkpoint."""
    folder = Path(folder).expanduser().resolve()
    try:
        checkpoints, latest = checkpoints_of(folder)
    except OSError:  # unreadable folder: not a run we can use
        return None
    if not checkpoints:
        return None
    modified = max(p.stat().st_mtime for p in checkpoints)
    return Run(folder, config_of(folder), checkpoints, latest, modified)


def find_runs(root: str | Path) -> list[Run]:
    """Training runs under ``root`` (the root itself, its ``work_dirs/*/`` or its ``*/``), newest first."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise CamError(f"Folder {root} does not exist; pick the folder that holds your work_dirs.")
    folders = [root, *sorted(root.glob("*/")), *sorted(root.glob("work_dirs/*/"))]
    runs, seen = [], set()
    for folder in folders:
        folder = folder.resolve()
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        run = run_at(folder)
        if run is not None:
            runs.append(run)
    return sorted(runs, key=lambda run: run.modified, reverse=True)


# --------------------------------------------------------------------------- curves: vis_data/scalars.json


@dataclass(frozen=True)
class TrainingLog:
    """What MMEngine's ``LocalVisBackend`` logged for a run, all its sessions (resumes) merged in time order.

    ``train`` rows hold ``step`` (the iteration), ``epoch`` (epoch-based loops), ``lr``, the losses
    (``loss``, ``loss_cls``, ...) and the training accuracies the head logs (``top1_acc``, ...);
    ``val`` rows hold ``step`` (the epoch, or the iteration for iteration-based loops) and the validation
    metrics (``acc/top1``, ``acc/top5``, ``acc/mean1``). A later session's row replaces an earlier one at
    the same step.
    """

    train: list[dict[str, float]] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    by_epoch: bool = True  # val steps count epochs (EpochBasedTrainLoop), else iterations
    sessions: tuple[Path, ...] = ()  # the scalars.json files read, oldest first

    def keys(self, part: str) -> list[str]:
        """The logged quantities of ``part`` ("train" or "val"), runtime bookkeeping left out."""
        rows = self.train if part == "train" else self.val
        names = dict.fromkeys(k for row in rows for k in row if k not in _RUNTIME)
        return list(names)

    def losses(self) -> list[str]:
        return [k for k in self.keys("train") if k.startswith("loss")]

    def val_at(self, step: int) -> dict[str, float] | None:
        """The validation metrics logged at ``step`` (an epoch for epoch-based runs), if any."""
        return next((row for row in self.val if row.get("step") == step), None)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _sessions(folder: Path) -> list[Path]:
    """The runner's log folders (``<timestamp>/``) in time order."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and _TIMESTAMP.match(p.name))
    except OSError:
        return []


def read_training_log(folder: str | Path) -> TrainingLog:
    """The curves of a run folder (its ``<timestamp>/vis_data/scalars.json`` files); empty when none was
    written. Lines that are not JSON objects are skipped (a run killed mid-write leaves half a line)."""
    folder = Path(folder)
    files = [s / "vis_data" / "scalars.json" for s in _sessions(folder)]
    files = [f for f in files if f.is_file()]
    train: dict[int, dict[str, float]] = {}
    val: dict[int, dict[str, float]] = {}
    by_epoch = True
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or _number(entry.get("step")) is None:
                continue
            row = {str(k): n for k, v in entry.items() if (n := _number(v)) is not None}
            step = int(row["step"])
            if "iter" in row or "lr" in row:  # train rows carry the iteration and the learning rate
                train[step] = row
                by_epoch = by_epoch and "epoch" in row
            else:
                val[step] = row
    return TrainingLog(train=[train[s] for s in sorted(train)], val=[val[s] for s in sorted(val)],
                       by_epoch=by_epoch, sessions=tuple(files))


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of a run: which epoch (or iteration) it holds and what is known of it."""

    path: Path
    epoch: int | None  # from the file name (epoch_N.pth, best_..._epoch_N.pth)
    iteration: int | None  # iteration-based runs (iter_N.pth)
    best_metric: str | None  # the metric a best_*.pth was chosen by (e.g. "acc/top1"), None otherwise
    latest: bool  # what ``last_checkpoint`` points at
    val: dict[str, float] | None  # validation metrics logged at its epoch / iteration

    @property
    def best(self) -> bool:
        return self.best_metric is not None

    @property
    def step(self) -> int | None:
        return self.epoch if self.epoch is not None else self.iteration


def _best_lines(folder: Path) -> dict[str, str]:
    """checkpoint file name -> the metric MMEngine chose it by, from the logs' "The best checkpoint ..." lines."""
    names: dict[str, str] = {}
    for session in _sessions(folder):
        for log in session.glob("*.log"):
            for match in _BEST_LINE.finditer(log.read_text(encoding="utf-8", errors="replace")):
                names[Path(match["name"]).name] = match["metric"]
    return names


def describe_checkpoints(run: Run, log: TrainingLog | None = None) -> list[CheckpointInfo]:
    """The run's checkpoints in picking order, each with its epoch, whether it is the best (and by which
    metric) or the latest, and the validation metrics logged at its epoch."""
    log = log if log is not None else read_training_log(run.folder)
    chosen_by = _best_lines(run.folder)
    infos = []
    for path in run.checkpoints:
        match = _NAMED.match(path.name)
        epoch = iteration = metric = None
        if match:
            number = int(match["number"])
            epoch, iteration = (number, None) if match["unit"] == "epoch" else (None, number)
            if match["metric"]:
                metric = chosen_by.get(path.name) or _metric_name(match["metric"], log)
        step = epoch if log.by_epoch else iteration
        val = log.val_at(step) if step is not None else None
        infos.append(CheckpointInfo(path, epoch, iteration, metric, path == run.latest,
                                    {k: v for k, v in val.items() if k not in _RUNTIME} if val else None))
    return infos


def _metric_name(flat: str, log: TrainingLog) -> str:
    """``acc_top1`` (MMEngine replaces ``/`` in file names) back to the logged ``acc/top1`` when it matches."""
    return next((key for key in log.keys("val") if key.replace("/", "_") == flat), flat)


# --------------------------------------------------------------------------- tools/test.py runs


@dataclass(frozen=True)
class LoggedTest:
    """A ``tools/test.py`` run logged in the run folder: which checkpoint it loaded, where it dumped the
    predictions (``--dump``), and the metrics it printed."""

    log: Path
    checkpoint: Path | None
    dump: Path | None
    metrics: dict[str, float]

    @property
    def when(self) -> str:
        """The session's timestamp folder name (``YYYYMMDD_HHMMSS``)."""
        return self.log.parent.name


def _started_in(folder: Path, text: str) -> Path | None:
    """The folder test.py ran from: the run folder minus the log's relative ``work_dir`` (``./work_dirs/x``)."""
    found = _WORK_DIR.search(text)
    if not found:
        return None
    work_dir = Path(found["path"])
    if work_dir.is_absolute():
        return None
    parts = [p for p in work_dir.parts if p not in (".", "")]
    if not parts or ".." in parts or tuple(folder.parts[-len(parts):]) != tuple(parts):
        return None
    return folder.parents[len(parts) - 1]


def _resolved(path: str, start: Path | None) -> Path:
    given = Path(path).expanduser()
    if given.is_absolute() or start is None:
        return given
    return (start / given).resolve()


def logged_tests(folder: str | Path) -> list[LoggedTest]:
    """The ``tools/test.py`` runs whose logs are in ``folder`` (test.py's default work_dir is the training
    run's folder), oldest first. Relative paths in the logs are resolved from where test.py ran."""
    folder = Path(folder).resolve()
    runs = []
    for session in _sessions(folder):
        for log in sorted(session.glob("*.log")):
            text = log.read_text(encoding="utf-8", errors="replace")
            dumped = _DUMPED.findall(text)
            if not dumped and "Epoch(test)" not in text:
                continue  # a training session
            start = _started_in(folder, text)
            loaded = _LOADED.findall(text)
            metrics: dict[str, float] = {}
            summary = log.with_suffix(".json")
            if summary.is_file():
                try:
                    entry = json.loads(summary.read_text(encoding="utf-8").splitlines()[-1])
                    metrics = {k: n for k, v in entry.items() if k not in _RUNTIME and (n := _number(v)) is not None}
                except (ValueError, IndexError, AttributeError):
                    metrics = {}
            runs.append(LoggedTest(log, _resolved(loaded[-1], start) if loaded else None,
                                _resolved(dumped[-1], start) if dumped else None, metrics))
    return runs


def dump_origin(dump: str | Path) -> DumpSource | None:
    """Which checkpoint made a results pickle, when it can be told: the record beside it
    (:func:`core.dumps.read_source`, written by ``python -m core.mm test`` or the Test results page), else the
    ``tools/test.py`` log that wrote it (in the dump's folder, or in ``work_dirs/*/`` beside it)."""
    recorded = read_source(dump)
    if recorded is not None:
        return recorded
    dump = Path(dump).expanduser().resolve()
    for folder in [dump.parent, *sorted(dump.parent.glob("work_dirs/*/"))]:
        for test in reversed(logged_tests(folder)):  # the newest run that wrote this file
            if test.dump is not None and test.checkpoint is not None and test.dump.resolve() == dump:
                config = config_of(folder)
                return DumpSource(str(test.checkpoint), str(config) if config else None,
                                  f"the tools/test.py log {test.log}")
    return None


@dataclass(frozen=True)
class RunDump:
    """A results pickle tied to a run: where it is, the checkpoint that made it and how that is known."""

    dump: Path
    checkpoint: Path | None
    known_from: str  # "the tools/test.py log <file>", "python -m core.mm test", "the Test results page"
    metrics: dict[str, float] = field(default_factory=dict)  # what test.py printed for it, when logged
    when: str = ""  # the test session's timestamp (YYYYMMDD_HHMMSS), when logged

    @property
    def exists(self) -> bool:
        return self.dump.is_file()


def run_dumps(folder: str | Path) -> list[RunDump]:
    """The results pickles a run's ``tools/test.py`` logs name, and those beside its checkpoints that record
    their checkpoint (``*.pkl.source.json``), oldest first; a record overrides what a log says."""
    folder = Path(folder).resolve()
    found: dict[Path, RunDump] = {}
    for test in logged_tests(folder):
        if test.dump is not None:
            found[test.dump.resolve()] = RunDump(test.dump, test.checkpoint, f"the tools/test.py log {test.log.name}",
                                                 test.metrics, test.when)
    recorded = [record.with_name(record.name[: -len(SOURCE_SUFFIX)]) for record in folder.glob(f"*{SOURCE_SUFFIX}")]
    for dump in [*found, *sorted(recorded)]:
        try:
            source = read_source(dump)
        except CamError:
            continue
        if source is not None:
            logged = found.get(dump.resolve())
            found[dump.resolve()] = RunDump(dump.resolve(), Path(source.checkpoint), source.recorded_by or "a record",
                                            logged.metrics if logged else {}, logged.when if logged else "")
    return list(found.values())
