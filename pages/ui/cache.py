"""Cached calls into ``core``: a model loads once per (config, checkpoint, device, label map), a result
is computed once per (model, video, layer, target, method, views).

Keys hold each file's modification time and size (``stamps``, an argument Streamlit hashes: it leaves
``_``-prefixed ones out of the key), so a re-trained checkpoint or an edited video is picked up.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import streamlit as st

import core
from core import access
from core.cam import ExplainResult
from core.config_types import registered_names
from core.demo import cache_dir
from core.geometry import Views
from core.layers import LayerInfo
from core.methods import Method
from core.model import ModelHandle
from core.whole_video import explain_whole_video


def content_stamp(path: str | Path | None) -> tuple[int, int] | None:
    """(mtime, size) of a file or folder, which identifies its content for the caches; None when absent."""
    if not path:
        return None
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def tree_stamp(path: str | Path | None) -> tuple:
    """What identifies the content under ``path``: (name, mtime, size) of it and of every entry below it
    (hidden ones aside); ``()`` when absent."""
    if not path or not Path(path).exists():
        return ()
    root = Path(path)
    entries = [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]
    return tuple((str(p), content_stamp(p)) for p in entries if not p.name.startswith("."))


class ModelSpec(NamedTuple):
    """What determines a loaded model."""

    config: str
    checkpoint: str | None = None
    device: str = "auto"
    label_map: str | None = None
    trust_checkpoint: bool = False

    def stamps(self) -> tuple:
        return (content_stamp(self.config), content_stamp(self.checkpoint), content_stamp(self.label_map))


class VideoRef(NamedTuple):
    """A video file or rawframes folder, with what identifies its content and a name for files."""

    path: str
    stamp: tuple | str | None  # (mtime, size) of a file, or the hash of uploaded bytes
    name: str  # e.g. the uploaded file's name; file names of downloads derive from it

    @classmethod
    def of(cls, path: str | Path, name: str | None = None, stamp: tuple | str | None = None) -> VideoRef:
        path = str(path)
        return cls(path, stamp if stamp is not None else content_stamp(path), name or Path(path).name)


class LoadedModel(NamedTuple):
    handle: ModelHandle
    lock: threading.Lock  # hooks are registered on the shared model: one explanation at a time


_WARM = threading.Event()
_WARM.set()  # set: no warm-up under way


def warm_up(*more: Callable[[], object]) -> None:
    """Import, on a background thread, what the first model load imports (MMAction2's registries: seconds on a
    fresh server), then run ``more`` (e.g. :func:`pages.ui.viewer.warm_player`), while the server starts and
    the browser loads the page. The first model load waits for it, so no module is imported on two threads at
    once. Best effort: what fails here fails again, and is reported, where it is really needed."""
    _WARM.clear()

    def work() -> None:
        try:
            registered_names()
            for step in more:
                step()
        except Exception:  # (see the docstring)
            pass
        finally:
            _WARM.set()

    threading.Thread(target=work, name="mmcam-warm-up", daemon=True).start()


@st.cache_resource(show_spinner=False, max_entries=3)
def _load(spec: ModelSpec, stamps: tuple) -> LoadedModel:
    _WARM.wait()
    trust = spec.trust_checkpoint and access.operator_trusts_checkpoints()  # never a visitor's choice alone
    handle = core.load_model(spec.config, spec.checkpoint or None, spec.device, label_map=spec.label_map or None,
                             trust_checkpoint=trust)
    return LoadedModel(handle, threading.Lock())


def _loaded(spec: ModelSpec) -> LoadedModel:
    return _load(spec, spec.stamps())


def loaded(spec: ModelSpec) -> LoadedModel:
    """The loaded model with its lock (hold the lock while anything hooks or copies the shared model)."""
    return _loaded(spec)


def model(spec: ModelSpec) -> ModelHandle:
    """The loaded model (built once, then shared by every session and rerun)."""
    return _loaded(spec).handle


@st.cache_data(show_spinner=False, max_entries=3)
def _layers(spec: ModelSpec, stamps: tuple) -> list[LayerInfo]:
    loaded = _loaded(spec)
    with loaded.lock:  # the first listing probes the shared model with hooks
        return core.list_layers(loaded.handle)


def layers(spec: ModelSpec) -> list[LayerInfo]:
    """Target-layer choices of the model (candidates first, the default first of all), listed once per model,
    so a rerun does not wait for another session's explanation."""
    return _layers(spec, spec.stamps())


def default_layer(spec: ModelSpec) -> str:
    return layers(spec)[0].name


@st.cache_data(show_spinner=False, max_entries=8)
def probe(video: VideoRef, spec: ModelSpec | None) -> core.VideoInfo:
    """Frames, fps and resolution of a video (rawframes naming from the model's config)."""
    cfg = _loaded(spec).handle.cfg if spec is not None else None
    return core.probe_video(video.path, cfg)


class RunKey(NamedTuple):
    """Everything that determines one explanation."""

    model: ModelSpec
    video: VideoRef
    layer: str | None
    target: int | str | None  # a class, None (predicted) or a contrast's key
    method: Method
    views: Views


@st.cache_data(show_spinner=False, max_entries=12)
def _explain(key: RunKey, stamps: tuple) -> ExplainResult:
    loaded = _loaded(key.model)
    with loaded.lock:
        return core.explain(loaded.handle, key.video.path, target_layer=key.layer, target=key.target,
                            views=key.views, method=key.method)


def explain(key: RunKey) -> ExplainResult:
    """The explanation for ``key`` (computed once; a repeated combination returns at once)."""
    return _explain(key, key.model.stamps())


@st.cache_data(show_spinner=False, max_entries=12)
def _whole_video(key: RunKey, stamps: tuple) -> str:
    digest = hashlib.sha1(repr((key, stamps)).encode()).hexdigest()[:16]
    folder = cache_dir() / "whole_video" / digest
    folder.mkdir(parents=True, exist_ok=True)
    txt = folder / f"{Path(key.video.name).stem or 'video'}.txt"
    loaded = _loaded(key.model)
    with loaded.lock:
        explain_whole_video(loaded.handle, key.video.path, txt, target=key.target, target_layer=key.layer,
                            method=key.method, overlay_path=txt.with_suffix(".mp4"))
    return str(txt)


def whole_video(key: RunKey) -> Path:
    """The whole-video explanation of ``key`` (:func:`core.whole_video.explain_whole_video`: every frame, the
    window table, the overlay of the whole length) in the cache folder: the txt path (computed once)."""
    return Path(_whole_video(key, key.model.stamps()))
