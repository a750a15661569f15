"""Files a front end lists and keeps: MMAction2 training runs under a folder (their dumped config
and checkpoints), the videos in a folder, and uploaded bytes saved under their hash."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import CamError
from core.video import VIDEO_EXTENSIONS, is_rawframes

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


def find_videos(folder: str | Path) -> list[Path]:
    """Video files and rawframes folders directly inside ``folder``, by name."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise CamError(f"Folder {folder} does not exist; pick a folder that holds videos.")
    found = [p for p in folder.iterdir()
             if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS) or (p.is_dir() and is_rawframes(p))]
    return sorted(found, key=lambda p: p.name.lower())


def upload_dir() -> Path:
    """Where uploads are kept: ``$MMCAM_UPLOADS``, else ``<tmp>/mmaction-cam-uploads``."""
    return Path(os.environ.get("MMCAM_UPLOADS") or Path(tempfile.gettempdir()) / "mmaction-cam-uploads")


def save_upload(data: bytes, file_name: str, folder: str | Path | None = None) -> Path:
    """Save uploaded bytes as ``<sha256 prefix><suffix>`` (once; same bytes, same path) and return the path."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in VIDEO_EXTENSIONS:
        raise CamError(f"{file_name} is not a video file; upload one of {', '.join(VIDEO_EXTENSIONS)}.")
    if not data:
        raise CamError(f"{file_name} is empty; upload a real video.")
    folder = Path(folder) if folder is not None else upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (hashlib.sha256(data).hexdigest()[:24] + suffix)
    if not path.is_file():
        from core.export import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return path


def save_uploads(files: Iterable[tuple[str, bytes]], folder: str | Path | None = None) -> Path:
    """Save uploaded files under their own names in one folder named by their content, and return the folder.

    Files that belong together (a heatmap txt, its sidecar and npz; a results pickle) stay side by side;
    the same uploads give the same folder, written once.
    """
    named = {}
    for file_name, data in files:
        name = Path(file_name.replace("\\", "/")).name
        if not name or name.startswith("."):
            raise CamError(f"{file_name!r} is not a usable file name; rename the file and upload it again.")
        named[name] = data
    if not named:
        raise CamError("No files were uploaded.")
    digest = hashlib.sha256()
    for name in sorted(named):
        digest.update(name.encode() + b"\0" + hashlib.sha256(named[name]).digest())
    target = (Path(folder) if folder is not None else upload_dir()) / digest.hexdigest()[:24]
    target.mkdir(parents=True, exist_ok=True)
    from core.export import atomic_path

    for name, data in named.items():
        if not (target / name).is_file():
            with atomic_path(target / name) as tmp:
                tmp.write_bytes(data)
    return target
