"""The type hints hold: ``python -m mypy`` (settings in pyproject.toml's ``[tool.mypy]``: ``core/``, ``pages/``
and ``explorer.py``) finds no error. Part of ``python -m pytest`` so that a wrong hint fails the suite like a
wrong result does; about 30 s cold on 2 busy cores, a few seconds with ``.mypy_cache``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from conftest import ROOT


def test_core_pages_and_explorer_type_check() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -r requirements-dev.txt)")
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"mypy found errors:\n{done.stdout}{done.stderr}"
