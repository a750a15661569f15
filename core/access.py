"""What a server lets the people who reach it do: which folders, whose trust, which password.

The operator (whoever starts ``streamlit run explorer.py``) decides, with environment variables that no
visitor and no file can change:

- ``MMCAM_ROOTS``: the folders pages may read and write, ``os.pathsep``-separated. Default: the folder the
  server was started in, the home folder and the cache folder (``core.limits.cache_dir()``). What the app
  itself needs (the demo assets, the demo clip and data, a session's own upload folder) is always allowed.
- ``MMCAM_TRUST_CHECKPOINTS=1``: pages may offer a full unpickle of checkpoints that hold arbitrary objects,
  and configs may import modules of any package (``custom_imports``).
- ``MMCAM_PASSWORD``: asked before any page renders; a server that listens beyond loopback refuses to serve
  pages without one.

Pages put every path they accept through :class:`Roots` and call :func:`limit` first, so that what ``core``
reads from inside files (a sidecar's video, an annotation file's lines, a config's annotation file) is held
to the same folders through :func:`check`. Command lines never call :func:`limit`: they are not limited,
since the person typing them is the operator.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import socket
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from core.demo import ASSETS, demo_data_folder, demo_video_path
from core.errors import CamError
from core.limits import cache_dir
from core.uploads import upload_root

ROOTS_ENV = "MMCAM_ROOTS"
TRUST_ENV = "MMCAM_TRUST_CHECKPOINTS"
PASSWORD_ENV = "MMCAM_PASSWORD"
TRUSTED_PACKAGES = ("mmaction", "mmengine", "mmcv", "mmdet", "mmpretrain")  # config imports allowed without trust
_YES = ("1", "true", "yes", "on")
CODE_FILES = ("Config", "Checkpoint")  # what ``check`` never takes from the uploads folder (files that run code)


class TrustRequired(CamError):
    """A file was refused because reading it could run code. ``reason`` says why without advice; the
    message adds the command line's (``--trust-checkpoint``), and pages say what to do on the page."""

    def __init__(self, reason: str, advice: str = "pass --trust-checkpoint only if you made this file yourself"):
        super().__init__(f"{reason}; {advice}.")
        self.reason = reason


# --------------------------------------------------------------------------- allowed folders


def _resolved(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded, made absolute and every symlink followed (it need not exist)."""
    return Path(path).expanduser().resolve()


@dataclass(frozen=True)
class Roots:
    """Folders (or single files) inside which paths are allowed, all resolved; inside a ``fenced`` folder
    (the folder of every session's uploads) only what lies under a root inside it (one session's folder)."""

    folders: tuple[Path, ...]
    fenced: tuple[Path, ...] = ()

    @classmethod
    def of(cls, folders: Iterable[str | os.PathLike], fenced: Iterable[str | os.PathLike] = ()) -> Roots:
        resolved: list[Path] = []
        for folder in folders:
            if str(folder).strip():
                path = _resolved(str(folder).strip())
                if path not in resolved:
                    resolved.append(path)
        return cls(tuple(resolved), tuple(_resolved(folder) for folder in fenced))

    def __add__(self, other: Iterable[str | os.PathLike]) -> Roots:
        return Roots.of([*self.folders, *other], self.fenced)

    def allows(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` (after following symlinks) is one of the roots or lies under one (and, inside a
        fenced folder, under a root inside that folder)."""
        try:
            target = _resolved(path)
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte, an unreadable parent
            return False
        roots = [root for root in self.folders if target == root or target.is_relative_to(root)]
        for fence in self.fenced:
            if target.is_relative_to(fence):
                roots = [root for root in roots if root != fence and root.is_relative_to(fence)]
        return bool(roots)

    def check(self, path: str | os.PathLike, what: str = "Path") -> Path:
        """``path`` as given, or a CamError saying it lies outside the allowed folders. A config or checkpoint
        is never taken from the uploads folder (uploads are data; the sentence does not name that folder)."""
        if what in CODE_FILES and Roots.of([upload_root()]).allows(path):
            raise CamError(f"{what} {Path(path).name} is an uploaded file, and uploads are data (videos, results, "
                           f"heatmaps), never configs or checkpoints; pick a {what.lower()} in the server's folders.")
        if not self.allows(path):
            shown = ", ".join(str(root) for root in self.folders[:6]) + (" …" if len(self.folders) > 6 else "")
            raise CamError(f"{what} {path} is outside the folders this server may open ({shown}); pick one inside "
                           f"them, or ask whoever starts the server to add its folder to {ROOTS_ENV}.")
        return Path(path)


def default_folders() -> list[Path]:
    """The allowed folders when ``MMCAM_ROOTS`` is not set: where the server started, home, the cache."""
    return [Path.cwd(), Path.home(), cache_dir()]


def app_folders() -> list[Path]:
    """What the app needs whatever the operator allows: the demo assets, the demo clip and the demo data."""
    return [ASSETS, demo_video_path(), demo_data_folder()]


def configured_roots(extra: Iterable[str | os.PathLike] = ()) -> Roots:
    """The operator's roots (``MMCAM_ROOTS``, else :func:`default_folders`), the app's own, and ``extra``."""
    text = os.environ.get(ROOTS_ENV, "")
    folders = [part for part in text.split(os.pathsep) if part.strip()] or default_folders()
    return Roots.of([*folders, *app_folders(), *extra], fenced=[upload_root()])  # others' uploads: never


# What ``core`` reads from inside files is held to the roots a page set for its own thread (its script
# run), and to the server's roots in threads the server started (a background batch). Unset: not limited.
_context_roots: ContextVar[Roots | None] = ContextVar("mmcam_roots", default=None)
_process_roots: Roots | None = None


def limit(roots: Roots, *, others: Roots | None = None) -> None:
    """Hold what ``core`` opens in this thread (this script run) to ``roots``, and in the process's other
    threads to ``others`` (default: ``roots``). Pages call it first; nothing calls it in a command line."""
    global _process_roots
    _context_roots.set(roots)
    _notes.set([])
    _process_roots = others if others is not None else roots


@contextlib.contextmanager
def limited(roots: Roots) -> Iterator[Roots]:
    """Hold what ``core`` opens inside the block (in this thread) to ``roots``."""
    token = _context_roots.set(roots)
    try:
        yield roots
    finally:
        _context_roots.reset(token)


def current() -> Roots | None:
    """The roots what ``core`` opens now is held to, or None when nothing limits it (command lines)."""
    roots = _context_roots.get()
    return roots if roots is not None else _process_roots


def check(path: str | os.PathLike, what: str = "Path") -> Path:
    """``path`` as given when nothing limits this thread or when it is allowed; else a CamError."""
    roots = current()
    return roots.check(path, what) if roots is not None else Path(path)


P = TypeVar("P", str, Path)


def listed(paths: Iterable[P], what: str) -> list[P]:
    """The paths found by listing a folder or read from inside a file (``what``: "checkpoints of run x")
    that this thread may open, in order: each is resolved, symlinks included, and held to the roots like
    a typed path. Those left out are not shown and not used; one note says how many (:func:`take_notes`)."""
    roots = current()
    paths = list(paths)
    if roots is None:
        return paths
    kept = [path for path in paths if roots.allows(path)]
    if len(kept) < len(paths):
        note(f"{len(paths) - len(kept)} of the {what} lie outside the folders this server may open and are "
             f"left out; ask whoever starts the server to add their folder to {ROOTS_ENV} if you need them.")
    return kept


# Sentences about what was left out (a listed path outside the roots, a damaged entry skipped), for the
# page to show; only collected where a page limited this thread.
_notes: ContextVar[list[str] | None] = ContextVar("mmcam_notes", default=None)


def note(sentence: str) -> None:
    """Keep ``sentence`` for the page to show (once), when a page limited this thread."""
    notes = _notes.get()
    if notes is not None and sentence not in notes:
        notes.append(sentence)


def take_notes() -> list[str]:
    """The notes kept since the last call (and forgets them)."""
    notes = _notes.get()
    if not notes:
        return []
    taken = list(notes)
    notes.clear()
    return taken


# --------------------------------------------------------------------------- trust


def operator_trusts_checkpoints() -> bool:
    """Whether the operator allowed full unpickling for the server (``MMCAM_TRUST_CHECKPOINTS=1``)."""
    return os.environ.get(TRUST_ENV, "").strip().lower() in _YES


def trusted(requested: bool) -> bool:
    """Whether to honour a request to trust a file: in a command line, as asked; in a server (anything a page
    limited), only when the operator allowed it too, whatever a page, a visitor or a file asked for."""
    return requested and (current() is None or operator_trusts_checkpoints())


def custom_imports(cfg: Any) -> list[str]:
    """The module names a config's ``custom_imports`` asks to import (``imports=`` a name or a list)."""
    spec = cfg.get("custom_imports") if hasattr(cfg, "get") else None
    if not spec:
        return []
    imports = spec.get("imports") if hasattr(spec, "get") else spec
    if isinstance(imports, str):
        imports = [imports]
    if not isinstance(imports, list | tuple) or not all(isinstance(name, str) for name in imports):
        raise CamError(f"The config's custom_imports is {spec!r}; it must be dict(imports=[module names]).")
    return list(imports)


def import_config_modules(cfg: Any, source: str | os.PathLike, *, trust: bool = False) -> None:
    """Import a config's ``custom_imports`` as MMEngine does, after refusing (unless ``trust``) any module
    outside MMAction2's own packages: importing a module runs its code. Read the config with
    ``Config.fromfile(..., import_custom_modules=False)`` first, so that nothing was imported yet."""
    names = custom_imports(cfg)
    if not names:
        return
    foreign = [name for name in names if name.split(".")[0] not in TRUSTED_PACKAGES]
    if foreign and not trusted(trust):
        raise TrustRequired(f"Config {source} imports {', '.join(foreign)} through custom_imports, which runs that "
                            f"code (only {', '.join(TRUSTED_PACKAGES)} are imported without trust)",
                            "pass --trust-checkpoint only if you wrote this config and the modules yourself")
    from mmengine.utils import import_modules_from_strings

    spec = cfg.get("custom_imports")
    allow_failed = bool(spec.get("allow_failed_imports", False)) if hasattr(spec, "get") else False
    try:
        import_modules_from_strings(names, allow_failed_imports=allow_failed)
    except ImportError as err:
        raise CamError(f"Config {source} imports {err.name or names} through custom_imports, which is not "
                       "installed; install it or remove it from custom_imports.") from err


# --------------------------------------------------------------------------- serving beyond this machine


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to ``address`` is reachable from this machine only. No address (Streamlit
    then listens on every interface), a wildcard or a name that resolves elsewhere is not."""
    if not address or not address.strip():
        return False
    address = address.strip().strip("[]")
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name: loopback only when every address it names is
        try:
            infos = socket.getaddrinfo(address, None)
        except OSError:
            return False
        hosts = {str(info[4][0]) for info in infos}
        return bool(hosts) and all(ipaddress.ip_address(host.split("%")[0]).is_loopback for host in hosts)


def server_password() -> str | None:
    """The password the operator set (``MMCAM_PASSWORD``), or None."""
    return os.environ.get(PASSWORD_ENV) or None


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so the time taken tells nothing about how much of it matched."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
