"""Uploaded files: kept in one folder per browser session, named at random so that nobody can compute
where they are, removed when a reader refuses them and when the session ends.

Layout: ``<upload root>/session-<random>/<content digest>/<name>``. Files uploaded together (a heatmap txt,
its sidecar and npz) stay side by side under their own names; uploading the same files again in the same
session gives the same paths (written once). A session's folder is the only upload folder its pages may
open (``core.access``): another session's uploads are as unreachable as any folder outside the roots.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
import weakref
from collections.abc import Iterable
from pathlib import Path

from core.errors import CamError
from core.outputs import atomic_path

UPLOADS_ENV = "MMCAM_UPLOADS"


def upload_root() -> Path:
    """Where the sessions' upload folders are made: ``$MMCAM_UPLOADS``, else ``<tmp>/mmaction-cam-uploads``."""
    return Path(os.environ.get(UPLOADS_ENV) or Path(tempfile.gettempdir()) / "mmaction-cam-uploads")


def safe_name(file_name: str) -> str:
    """The one name an uploaded file is stored and looked up under: the last part of what the browser sent
    (``/`` and ``\\`` both separate parts), refused when nothing usable is left."""
    name = file_name.replace("\\", "/").split("/")[-1].strip()
    if not name or name.startswith(".") or "\0" in name:
        raise CamError(f"{file_name!r} is not a usable file name; rename the file and upload it again.")
    return name


class UploadFolder:
    """One session's uploads: a folder with a random name, deleted with this object (the session's end)
    or by :meth:`remove`."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.path = Path(root) if root is not None else upload_root()
        self.path = self.path / f"session-{secrets.token_urlsafe(18)}"
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def save(self, files: Iterable[tuple[str, bytes]], suffixes: Iterable[str] | None = None) -> list[Path]:
        """Save uploaded ``(name, bytes)`` side by side and return their paths, in order.

        ``suffixes`` (e.g. ``(".mp4", ".avi")``) limits the accepted file types. Nothing is kept when a file
        is refused.
        """
        allowed = tuple(s.lower() for s in suffixes) if suffixes is not None else None
        named: dict[str, bytes] = {}
        for file_name, data in files:
            name = safe_name(file_name)
            if allowed is not None and Path(name).suffix.lower() not in allowed:
                raise CamError(f"{name} is not one of the file types asked for here ({', '.join(allowed)}); "
                               "upload one of those.")
            if not data:
                raise CamError(f"{name} is empty; upload the real file.")
            named[name] = data
        if not named:
            raise CamError("No files were uploaded.")
        digest = hashlib.sha256()
        for name in sorted(named):
            digest.update(name.encode() + b"\0" + hashlib.sha256(named[name]).digest())
        target = self.path / digest.hexdigest()[:24]

        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
            for name, data in named.items():
                if not (target / name).is_file():
                    with atomic_path(target / name) as tmp:
                        tmp.write_bytes(data)
        except OSError as err:
            shutil.rmtree(target, ignore_errors=True)
            raise CamError(f"The upload could not be stored in {self.path.parent} ({err.strerror}); "
                           f"set {UPLOADS_ENV} to a writable folder.") from err
        return [target / name for name in named]

    def discard(self, paths: Iterable[str | os.PathLike]) -> None:
        """Delete uploaded files (a reader refused them) and their folder once it is empty."""
        for path in paths:
            path = Path(path)
            if not path.resolve().is_relative_to(self.path.resolve()):
                continue  # only this session's uploads
            path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # fails while other files of the same upload remain

    def remove(self) -> None:
        """Delete the whole folder now."""
        self._finalizer()

