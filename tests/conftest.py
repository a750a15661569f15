"""Shared fixtures: synthetic stand-ins for the sample videos (``sample_file``), the real ones from ../shared/data
(``shared_file``: skipped with a reason when absent, for tests of real-world decoding), and small helpers."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The real sample videos; MMCAM_TEST_DATA points elsewhere (a missing folder: what a fresh clone tests).
SHARED_DATA = Path(os.environ.get("MMCAM_TEST_DATA") or ROOT.parent / "shared" / "data")


def allow_test_folders(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Let pages open the checkout, the temporary folders the tests write, ../shared/data and home
    (``MMCAM_ROOTS``), with no operator trust or password; returns the roots. Module-scoped fixtures that run a
    page call it inside ``pytest.MonkeyPatch.context()`` (the autouse fixture below is function-scoped)."""
    from core import access

    roots = os.pathsep.join(map(str, (ROOT, SHARED_DATA, tmp_path_factory.getbasetemp(), tempfile.gettempdir(),
                                      Path.home())))
    monkeypatch.setenv(access.ROOTS_ENV, roots)
    for name in (access.TRUST_ENV, access.PASSWORD_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(access, "_process_roots", None)
    return roots


@pytest.fixture(autouse=True)
def allowed_roots(monkeypatch, tmp_path_factory) -> str:
    """Pages in tests may open the checkout, the temporary folders the tests write and ../shared/data; the
    server-wide limit a page run sets does not outlive the test."""
    return allow_test_folders(monkeypatch, tmp_path_factory)


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test when the folder is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the real test videos live in ../shared/data beside the checkout")
    return path


_SAMPLES: dict[str, Path] = {}
# name in ../shared/data -> (seed, frames, fps, moving right/left); the same size as the real ones, fewer frames
_SAMPLE_VIDEOS = {"demo.mp4": (11, 64, 28.0, 1), "test.mp4": (12, 64, 30.0, 0)}


def sample_file(name: str) -> Path:
    """A synthetic stand-in (:mod:`core.synthetic`) for ``name`` in ../shared/data, for tests that need some video
    but not real-world decoding: ``demo.mp4`` and ``test.mp4`` (64 frames of 340x256, H.264, 28 and 30 fps: the real
    ones' size and rate, fewer frames), ``rawframes`` (10 JPEG frames of 320x240, ``img_00001.jpg`` ...). Written
    once per test session into a temporary folder."""
    if name in _SAMPLES:
        return _SAMPLES[name]
    import cv2

    from core.overlay import write_video
    from core.synthetic import make_clip

    folder = Path(_SAMPLES.setdefault("", Path(tempfile.mkdtemp(prefix="mmcam-samples-"))))
    if name == "rawframes":
        frames = folder / "rawframes"
        frames.mkdir()
        for index, image in enumerate(make_clip(13, label=3, frames=10, size=(240, 320)).frames, start=1):
            cv2.imwrite(str(frames / f"img_{index:05}.jpg"), image[..., ::-1])
        return _SAMPLES.setdefault(name, frames)
    seed, count, fps, label = _SAMPLE_VIDEOS[name]
    clip = make_clip(seed, label=label, frames=count, size=(256, 340))
    return _SAMPLES.setdefault(name, write_video(clip.frames, folder / name, fps=fps))


def pytest_sessionfinish(session, exitstatus):
    if "" in _SAMPLES:
        shutil.rmtree(_SAMPLES[""], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """``allconfigs`` tests (the sweep over every MMAction2 config) run only when ``-m`` names them."""
    if "allconfigs" in (config.getoption("markexpr") or ""):
        return
    sweep = [item for item in items if item.get_closest_marker("allconfigs")]
    if sweep:
        config.hook.pytest_deselected(items=sweep)
        items[:] = [item for item in items if not item.get_closest_marker("allconfigs")]


@pytest.fixture
def slow_only(request) -> None:
    """Sweeps marked ``slow`` run only when ``-m`` names ``slow`` (the default suite stays within CI's minutes)."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("a slow sweep: run it with -m slow")


@pytest.fixture
def demo_mp4() -> Path:
    """Synthetic, shaped like ../shared/data/demo.mp4 (:func:`sample_file`); ``shared_file`` gives the real one."""
    return sample_file("demo.mp4")


@pytest.fixture
def test_mp4() -> Path:
    return sample_file("test.mp4")


@pytest.fixture
def rawframes_dir() -> Path:
    return sample_file("rawframes")


def plotly_array(value, dtype=None) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array (``bdata``, with its ``shape``) as Plotly encodes numpy."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value, dtype=dtype)


@pytest.fixture
def server(tmp_path):
    """``streamlit run explorer.py`` headless on a free localhost port (the browser tests'; :mod:`browser`),
    always stopped; yields its URL and the path of its stderr."""
    from browser import streamlit_server

    with streamlit_server(tmp_path) as started:
        yield started


@pytest.fixture(scope="session")
def demo_data_cache(tmp_path_factory) -> Path:
    """The demo data (:mod:`core.demo_data`: clips, gaze, runs with MMAction2's own test dump, batches), built once
    per session into a fresh ``MMCAM_CACHE`` that the rest of the session (AppTests, served apps) uses too
    (``MMCAM_TEST_CACHE=DIR`` keeps it in DIR between sessions instead: it is rebuilt when the assets change)."""
    from core import demo_data

    kept = os.environ.get("MMCAM_TEST_CACHE")
    cache = Path(kept) if kept else tmp_path_factory.mktemp("mmcam_cache")
    os.environ["MMCAM_CACHE"] = str(cache)
    demo_data.build_all()
    return cache
