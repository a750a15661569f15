"""Shared fixtures: real data from ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """Path of a file in ../shared/data, or skip the test when the folder is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the real test videos live in ../shared/data beside the checkout")
    return path


@pytest.fixture
def demo_mp4() -> Path:
    return shared_file("demo.mp4")


@pytest.fixture
def test_mp4() -> Path:
    return shared_file("test.mp4")


@pytest.fixture
def rawframes_dir() -> Path:
    return shared_file("rawframes")
