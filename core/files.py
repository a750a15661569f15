"""MMAction2 training runs under a folder: their dumped config and checkpoints, in picking order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import CamError

_EPOCH = re.compile(r"^(?:epoch|iter)_(\d+)\.pth$")


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
        try:
            checkpoints, latest = checkpoints_of(folder)
        except OSError:  # unreadable folder: not a run we can use
            continue
        if checkpoints:
            modified = max(p.stat().st_mtime for p in checkpoints)
            runs.append(Run(folder, config_of(folder), checkpoints, latest, modified))
    return sorted(runs, key=lambda run: run.modified, reverse=True)

