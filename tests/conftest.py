"""Shared fixtures: real data from ../shared/data (skipped with a reason when absent), and small helpers."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


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


def pytest_collection_modifyitems(config, items):
    """``allconfigs`` tests (the sweep over every MMAction2 config) run only when ``-m`` names them."""
    if "allconfigs" in (config.getoption("markexpr") or ""):
        return
    sweep = [item for item in items if item.get_closest_marker("allconfigs")]
    if sweep:
        config.hook.pytest_deselected(items=sweep)
        items[:] = [item for item in items if not item.get_closest_marker("allconfigs")]


@pytest.fixture
def demo_mp4() -> Path:
    return shared_file("demo.mp4")


@pytest.fixture
def test_mp4() -> Path:
    return shared_file("test.mp4")


@pytest.fixture
def rawframes_dir() -> Path:
    return shared_file("rawframes")


def plotly_array(value, dtype=None) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array (``bdata``, with its ``shape``) as Plotly encodes numpy."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value, dtype=dtype)
