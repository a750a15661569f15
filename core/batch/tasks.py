"""What a batch explains: the videos named by the command line's inputs, and where their outputs go.

An input is a video file, a folder (scanned recursively for videos, or for rawframes clips with
``use_frames``), or a list file: plain (one path per line) or an MMAction2 annotation file
(``path label`` for videos, ``path total_frames label`` for rawframes), whose labels are kept as
ground truth (lines are parsed by :mod:`core.annotations`). Each video's outputs mirror its path
relative to its input under the output folder. A listed video that does not exist is still a task (it
becomes a ``failed`` row, as a corrupt one does), unless none of the list's videos exists: then the list
or ``--video-root`` is wrong and the batch refuses to start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core import access
from core.annotations import ListEntry, read_list
from core.errors import CamError
from core.video import VIDEO_EXTENSIONS, is_rawframes

LIST_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class BatchTask:
    """One video of a batch."""

    video: str  # video file or rawframes folder, as found
    name: str  # "/"-separated output path under the output folder, without suffix
    gt_class: int | None = None  # ground-truth label from an annotation file
    origin: str | None = None  # where a listed video was named ("val.txt line 3"), for messages


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def _stem(relative: PurePosixPath) -> str:
    """``cls/clip.mp4`` → ``cls/clip``; a rawframes folder keeps its whole name."""
    return str(relative.with_suffix("")) if relative.suffix.lower() in VIDEO_EXTENSIONS else str(relative)


def _scan_folder(folder: Path, use_frames: bool) -> list[BatchTask]:
    """Videos under ``folder`` (and, with ``use_frames``, rawframes folders), sorted by path."""
    found = [p for p in folder.rglob("*") if p.is_file() and _is_video(p)]
    if use_frames:
        found += [p for p in [folder, *folder.rglob("*")] if p.is_dir() and is_rawframes(p)]
    found = access.listed(found, f"videos under {folder}")  # a page's batch: symlinks out of the roots
    tasks = []
    for path in sorted(found):
        relative = PurePosixPath(path.relative_to(folder).as_posix()) if path != folder else PurePosixPath(path.name)
        tasks.append(BatchTask(str(path), str(relative) if path.is_dir() else _stem(relative)))
    if not tasks:
        what = "videos or rawframes folders (img_*.jpg)" if use_frames else "videos"
        hint = "" if use_frames else " (pass --use-frames for rawframes folders)"
        raise CamError(f"Folder {folder} holds no {what}{hint}.")
    return tasks


def _relative_name(entry: str, path: Path, root: Path) -> PurePosixPath:
    """Where a listed video's outputs go: its listed relative path (never above the output folder)."""
    if Path(entry).is_absolute():
        try:
            entry = path.relative_to(root).as_posix()
        except ValueError:
            entry = path.name
    parts = [p for p in Path(entry).as_posix().split("/") if p not in ("", ".", "..")]
    return PurePosixPath(*parts) if parts else PurePosixPath(path.name)


def _read_list(list_file: Path, video_root: Path | None) -> list[BatchTask]:
    root = video_root if video_root is not None else list_file.parent
    entries: list[tuple[ListEntry, Path]] = []
    for entry in read_list(list_file):
        path = Path(entry.path) if Path(entry.path).is_absolute() else root / entry.path
        entries.append((entry, path))
    if not entries:
        raise CamError(f"List file {list_file} names no videos.")
    if not any(path.exists() for _, path in entries):
        entry, path = entries[0]
        hint = "check --video-root" if video_root else "pass --video-root, the folder its paths start from"
        others = ", nor does any other video it lists" if len(entries) > 1 else ""
        raise CamError(f"{list_file} line {entry.line}: {path} does not exist{others}; {hint}.")
    tasks = []
    for entry, path in entries:
        relative = _relative_name(entry.path, path, root)
        name = str(relative) if entry.rawframes or path.is_dir() else _stem(relative)
        tasks.append(BatchTask(str(path), name, entry.label, f"{list_file.name} line {entry.line}"))
    return tasks


def collect_tasks(
    inputs: Sequence[str | Path], *, use_frames: bool = False, video_root: str | Path | None = None
) -> list[BatchTask]:
    """The videos named by ``inputs`` (files, folders, list or annotation files), in input order.

    Raises CamError for a missing input, an empty folder or list, or two videos that would write
    the same output name.
    """
    root = Path(video_root) if video_root is not None else None
    if root is not None and not root.is_dir():
        raise CamError(f"--video-root {root} is not a folder.")
    tasks: list[BatchTask] = []
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise CamError(f"Input {path} does not exist; pass videos, folders or list files.")
        if path.is_dir():
            tasks += _scan_folder(path, use_frames)
        elif path.suffix.lower() in LIST_SUFFIXES:
            tasks += _read_list(path, root)
        elif _is_video(path):
            tasks.append(BatchTask(str(path), path.stem))
        else:
            raise CamError(f"Input {path} is neither a video ({', '.join(VIDEO_EXTENSIONS[:4])}, ...), "
                           "a folder, nor a .txt list of videos.")
    seen: dict[str, str] = {}
    for task in tasks:
        if task.name in seen and seen[task.name] != task.video:
            raise CamError(f"{seen[task.name]} and {task.video} would both write {task.name}.txt; "
                           "give them different names or run them into different --out folders.")
        seen[task.name] = task.video
    unique = {task.name: task for task in tasks}  # a video named twice is explained once
    return list(unique.values())
