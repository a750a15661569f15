"""MMAction2 training runs as MMEngine's runner leaves them in ``work_dirs/NAME/``: the dumped config, the
checkpoints (which epoch each is, which one is best), the loss and accuracy curves of
``<timestamp>/vis_data/scalars.json``, and the ``tools/test.py`` runs whose logs tell which checkpoint made
which results pickle.

Everything here reads files as data: logs are matched with regular expressions, scalars are JSON, and no
config or checkpoint is executed or unpickled. Logs are read a line at a time (a line longer than
:data:`MAX_LINE` is skipped), reduced to what the curves need (:data:`MAX_POINTS` rows, evenly thinned
beyond that) and cached by file stamp, so a 1 GB log costs neither its size in memory nor a second read.
Every path found by listing a run folder or read from inside a log goes through
:func:`core.access.listed`: in a server, what lies outside the allowed folders is left out with one note.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core import access
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
MAX_LINE = 64 * 1024  # bytes: MMEngine's log and scalars lines are well under 2 KiB
MAX_POINTS = 5000  # rows kept per curve part (train, val); beyond it every other row goes, as often as needed


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
    with open(marker, encoding="utf-8", errors="replace") as file:
        text = file.readline(4096).strip()
    if not text or "\0" in text:
        return None
    found = [p for p in (Path(text), folder / Path(text).name) if p.is_file()]
    allowed = access.listed(found[:1], f"checkpoints of {folder.name}")
    return allowed[0].resolve() if allowed else None


def _files(paths: Iterator[Path] | list[Path], what: str) -> list[Path]:
    """The listed ``paths`` that are files (a dangling symlink is not) and that this thread may open."""
    return access.listed([p for p in paths if p.is_file()], what)


def _epoch(path: Path) -> int:
    match = _EPOCH.match(path.name)
    return int(match.group(1)) if match else -1


def checkpoints_of(folder: Path) -> tuple[tuple[Path, ...], Path | None]:
    """A run folder's checkpoints in picking order (best, latest, other epochs) and its latest one."""
    what = f"checkpoints of {folder.name}"
    best = sorted(_files(folder.glob("best_*.pth"), what), key=lambda p: p.stat().st_mtime, reverse=True)
    epochs = sorted((p for p in _files(folder.glob("*.pth"), what) if _EPOCH.match(p.name)), key=_epoch, reverse=True)
    latest = _latest(folder)
    ordered = [p.resolve() for p in best]
    for path in ([latest] if latest else []) + [p.resolve() for p in epochs]:
        if path not in ordered:
            ordered.append(path)
    return tuple(ordered), latest


def config_of(folder: Path) -> Path | None:
    """The config the runner dumped into a run folder: ``<folder name>.py``, else the newest ``*.py``."""
    what = f"configs of {folder.name}"
    named = _files([folder / f"{folder.name}.py"], what)
    if named:
        return named[0].resolve()
    configs = sorted(_files(folder.glob("*.py"), what), key=lambda p: p.stat().st_mtime, reverse=True)
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
    folders = [root, *access.listed([*sorted(root.glob("*/")), *sorted(root.glob("work_dirs/*/"))],
                                    f"folders under {root}")]
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
    notes: tuple[str, ...] = ()  # what was skipped or thinned, one sentence each

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
        found = sorted(p for p in folder.iterdir() if p.is_dir() and _TIMESTAMP.match(p.name))
    except OSError:
        return []
    return access.listed(found, f"log folders of {folder.name}")


def _lines(path: Path) -> Iterator[str | None]:
    """A text file's lines, read one at a time; None for a line longer than :data:`MAX_LINE` (skipped
    without being held whole)."""
    with open(path, "rb") as file:
        while line := file.readline(MAX_LINE):
            if len(line) == MAX_LINE and not line.endswith(b"\n"):
                while (rest := file.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                yield None
                continue
            yield line.decode("utf-8", errors="replace")


def _stamp(path: Path) -> tuple[str, int, int]:
    """What identifies a file's content for the caches below: its path, size and modification time."""
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


def _thin(rows: dict[int, dict[str, float]]) -> dict[int, dict[str, float]]:
    """At most :data:`MAX_POINTS` rows, evenly spaced (every n-th in step order) with the last one kept, as
    TensorBoard samples long curves."""
    if len(rows) <= MAX_POINTS:
        return rows
    steps = sorted(rows)
    every = -(-len(steps) // (MAX_POINTS - 1))
    return {step: rows[step] for step in [*steps[:-1:every], steps[-1]]}


class _Curve:
    """The rows of one part of a log as they arrive, in bounded memory: every row up to twice
    :data:`MAX_POINTS`, then every second, fourth, ... row (evenly spaced in arrival), and always the last."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, float]] = {}
        self.stride, self.seen, self.thinned = 1, 0, False
        self.last: tuple[int, dict[str, float]] | None = None

    def add(self, step: int, row: dict[str, float]) -> None:
        if self.seen % self.stride == 0 or step in self.rows:  # (a resumed run logs a step again)
            self.rows[step] = row
        self.last, self.seen = (step, row), self.seen + 1
        if len(self.rows) > 2 * MAX_POINTS:
            self.stride, self.thinned = self.stride * 2, True
            self.rows = {s: r for i, (s, r) in enumerate(self.rows.items()) if i % 2 == 0}

    def done(self) -> dict[int, dict[str, float]]:
        rows = dict(self.rows)
        if self.last is not None:
            rows[self.last[0]] = self.last[1]
        self.thinned = self.thinned or len(rows) > MAX_POINTS
        return _thin(rows)


@dataclass(frozen=True)
class _Scalars:
    """One scalars.json, reduced: its train and val rows by step, and how many lines it skipped."""

    train: dict[int, dict[str, float]]
    val: dict[int, dict[str, float]]
    by_epoch: bool
    skipped: int
    thinned: bool


@functools.lru_cache(maxsize=64)
def _read_scalars(path: str, _size: int, _mtime_ns: int) -> _Scalars:
    """One scalars.json read line by line (cached by its stamp): lines that are not JSON objects with a step
    are skipped (a run killed mid-write leaves half a line; a line nested too deep to parse is counted)."""
    train, val = _Curve(), _Curve()
    by_epoch, skipped = True, 0
    for line in _lines(Path(path)):
        if line is None or not line.strip():
            skipped += line is None
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            skipped += 1
            continue
        if not isinstance(entry, dict) or _number(entry.get("step")) is None:
            skipped += 1
            continue
        row = {str(k): n for k, v in entry.items() if (n := _number(v)) is not None}
        step = int(row["step"])
        if "iter" in row or "lr" in row:  # train rows carry the iteration and the learning rate
            train.add(step, row)
            by_epoch = by_epoch and "epoch" in row
        else:
            val.add(step, row)
    rows = train.done(), val.done()
    return _Scalars(*rows, by_epoch, skipped, train.thinned or val.thinned)


def read_training_log(folder: str | Path) -> TrainingLog:
    """The curves of a run folder (its ``<timestamp>/vis_data/scalars.json`` files, read a line at a time
    and cached by file stamp); empty when none was written. Lines that are not JSON objects with a step are
    skipped and counted in ``notes``; beyond :data:`MAX_POINTS` rows a curve is evenly thinned."""
    folder = Path(folder)
    files = _files([s / "vis_data" / "scalars.json" for s in _sessions(folder)], f"scalars.json of {folder.name}")
    train: dict[int, dict[str, float]] = {}
    val: dict[int, dict[str, float]] = {}
    by_epoch, skipped, thinned = True, 0, False
    for path in files:
        try:
            scalars = _read_scalars(*_stamp(path))
        except OSError:
            skipped += 1
            continue
        train.update(scalars.train)  # a later session's row replaces an earlier one at the same step
        val.update(scalars.val)
        by_epoch, skipped = by_epoch and scalars.by_epoch, skipped + scalars.skipped
        thinned = thinned or scalars.thinned
    thinned = thinned or len(train) > MAX_POINTS or len(val) > MAX_POINTS
    train, val = _thin(train), _thin(val)
    notes = []
    if skipped:
        notes.append(f"{skipped} line{'s' if skipped > 1 else ''} of the scalars.json log could not be read "
                     "(not a JSON object with a step, cut short or nested too deep) and "
                     f"{'were' if skipped > 1 else 'was'} skipped.")
    if thinned:
        notes.append(f"The curves are long: every other point is shown, as often as needed to keep at most "
                     f"{MAX_POINTS} per curve (the last one always).")
    return TrainingLog(train=[train[s] for s in sorted(train)], val=[val[s] for s in sorted(val)],
                       by_epoch=by_epoch, sessions=tuple(files), notes=tuple(notes))


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


@dataclass(frozen=True)
class _LogFacts:
    """What this module reads from one MMEngine ``.log``: its best-checkpoint lines (file name -> metric),
    the checkpoints it loaded and the dumps it wrote (in order), its ``work_dir`` line, and whether it
    logged a test."""

    best: dict[str, str]
    loaded: tuple[str, ...]
    dumped: tuple[str, ...]
    work_dir: str | None
    tested: bool


@functools.lru_cache(maxsize=256)
def _read_log(path: str, _size: int, _mtime_ns: int) -> _LogFacts:
    """One log scanned a line at a time (cached by its stamp); lines longer than :data:`MAX_LINE` skipped."""
    best: dict[str, str] = {}
    loaded: list[str] = []
    dumped: list[str] = []
    work_dir, tested = None, False
    for line in _lines(Path(path)):
        if line is None:
            continue
        if (match := _BEST_LINE.search(line)) is not None:
            best[Path(match["name"]).name] = match["metric"]
        if (match := _LOADED.search(line)) is not None:
            loaded.append(match["path"])
        if (match := _DUMPED.search(line)) is not None:
            dumped.append(match["path"])
        if work_dir is None and (match := _WORK_DIR.search(line)) is not None:
            work_dir = line
        tested = tested or "Epoch(test)" in line
    return _LogFacts(best, tuple(loaded), tuple(dumped), work_dir, tested)


def _logs(session: Path) -> list[tuple[Path, _LogFacts]]:
    """A session folder's ``*.log`` files with what they say, those that cannot be read left out."""
    found = []
    for log in _files(sorted(session.glob("*.log")), f"logs of {session.parent.name}"):
        try:
            found.append((log, _read_log(*_stamp(log))))
        except OSError:
            continue
    return found


def _best_lines(folder: Path) -> dict[str, str]:
    """checkpoint file name -> the metric MMEngine chose it by, from the logs' "The best checkpoint ..." lines."""
    names: dict[str, str] = {}
    for session in _sessions(folder):
        for _, facts in _logs(session):
            names.update(facts.best)
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
        for log, facts in _logs(session):
            if not facts.dumped and not facts.tested:
                continue  # a training session
            start = _started_in(folder, facts.work_dir or "")
            named = [_resolved(facts.loaded[-1], start) if facts.loaded else None,
                     _resolved(facts.dumped[-1], start) if facts.dumped else None]
            allowed = access.listed([p for p in named if p is not None], f"paths named in {log.name}")
            checkpoint, dump = (p if p in allowed else None for p in named)
            runs.append(LoggedTest(log, checkpoint, dump, _test_metrics(log.with_suffix(".json"))))
    return runs


def _test_metrics(summary: Path) -> dict[str, float]:
    """The metrics of a test session's ``<timestamp>.json`` (its last line), {} when absent or unreadable."""
    if not summary.is_file():
        return {}
    last = None
    try:
        for line in _lines(summary):
            last = line if line is not None and line.strip() else last
        entry = json.loads(last or "")
        return {k: n for k, v in entry.items() if k not in _RUNTIME and (n := _number(v)) is not None}
    except (OSError, ValueError, RecursionError, AttributeError):
        return {}


def dump_origin(dump: str | Path) -> DumpSource | None:
    """Which checkpoint made a results pickle, when it can be told: the record beside it
    (:func:`core.dumps.read_source`, written by ``python -m core.mm test`` or the Test results page), else the
    ``tools/test.py`` log that wrote it (in the dump's folder, or in ``work_dirs/*/`` beside it)."""
    recorded = read_source(dump)
    if recorded is not None:
        return recorded
    dump = Path(dump).expanduser().resolve()
    for folder in [dump.parent, *access.listed(sorted(dump.parent.glob("work_dirs/*/")), f"runs beside {dump.name}")]:
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
    records = access.listed(sorted(folder.glob(f"*{SOURCE_SUFFIX}")), f"result records of {folder.name}")
    recorded = [record.with_name(record.name[: -len(SOURCE_SUFFIX)]) for record in records]
    for dump in [*found, *sorted(recorded)]:
        try:
            source = read_source(dump)
        except CamError:
            continue
        if source is not None and access.listed([source.checkpoint], f"checkpoints named beside {dump.name}"):
            logged = found.get(dump.resolve())
            found[dump.resolve()] = RunDump(dump.resolve(), Path(source.checkpoint), source.recorded_by or "a record",
                                            logged.metrics if logged else {}, logged.when if logged else "")
    return list(found.values())
