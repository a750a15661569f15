"""Files a front end lists and keeps: the videos in a folder, and uploaded bytes saved under their hash.
(Training runs under a folder are :mod:`core.runs`.)"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from core.errors import CamError
from core.video import VIDEO_EXTENSIONS, is_rawframes


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
