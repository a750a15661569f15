"""Where a command may write, and how: checks made before any slow work, so a bad output path costs nothing,
and :func:`atomic_path`, through which every file is written (temporary file, then rename; :func:`write_json`
for a JSON file).

:func:`check_apart` is the one rule shared by ``python -m core.vis_cam`` and the batch: no output file
may be one of the inputs (the video, the config, the checkpoint, the label map), however the two paths
are spelled (relative, ``..``, a symbolic link, a hard link, another case on a case-insensitive disk).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from core.errors import CamError

PathLike = str | os.PathLike
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:  # it does not exist (yet)
        return None
    return stat.st_dev, stat.st_ino


def check_apart(outputs: Iterable[PathLike | None], inputs: Iterable[PathLike | None], hint: str) -> None:
    """CamError when writing one of ``outputs`` would overwrite one of ``inputs`` (None entries are
    skipped); ``hint`` says what to do instead, e.g. "pick another --out folder". Linear in the paths."""
    by_path: dict[Path, str] = {}
    by_inode: dict[tuple[int, int], str] = {}
    for source in inputs:
        if source is not None:
            resolved = Path(source).resolve()
            by_path[resolved] = str(source)
            if (inode := _inode(resolved)) is not None:
                by_inode[inode] = str(source)
    for output in outputs:
        if output is None:
            continue
        resolved = Path(output).resolve()
        spelled = by_path.get(resolved)
        if spelled is None and (inode := _inode(resolved)) is not None:
            spelled = by_inode.get(inode)
        if spelled is not None:
            raise CamError(f"Writing {output} would overwrite an input, {spelled}; {hint}.")


def check_output_file(path: PathLike | None, suffixes: tuple[str, ...], what: str) -> None:
    """An output file path must end in one of ``suffixes`` and lie in a folder that exists."""
    if path is None:
        return
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise CamError(f"{what} {out} must end in {' or '.join(suffixes)}.")
    if not out.parent.is_dir():
        raise CamError(f"{what} {out} cannot be written: folder {out.parent} does not exist.")
    if out.is_dir():
        raise CamError(f"{what} {out} is a folder; pass a file name.")


def check_writable_folder(folder: PathLike, what: str = "--out") -> Path:
    """A folder the run may create or write into: an existing folder must be writable; a new one needs
    a writable parent (it is not created here). CamError otherwise, before any model is loaded."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise CamError(f"{what} {path} is a file; pass a folder.")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise CamError(f"{what} {path} cannot be created: {existing} is a file.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CamError(f"{what} {path} is not writable: you lack permission to write in {existing}; "
                       "pick a folder you can write to.")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it onto ``path`` on success."""
    path = Path(path)
    if not path.parent.is_dir():
        raise CamError(f"Cannot write {path}: folder {path.parent} does not exist.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    except OSError as err:
        raise CamError(f"Cannot write {path}: {err.strerror}; choose a writable folder.") from err
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return Path(path)
