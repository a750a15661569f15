"""A new visitor's first look, in a real browser: every page of a freshly started server shows content (the built-in
demo where the page reads results), no empty main area, no exception, no error box. Leaves one full-page
screenshot per page in the test's tmp dir (``<page>.png``; ``MMCAM_SCREENSHOTS=DIR`` copies them there).

Needs Debian's Chromium at /usr/bin/chromium; skipped without it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser import E2E, chromium_page, sync_api

pytestmark = E2E

# (URL path, what the page shows once it has drawn its content)
PAGES = [
    ("", "Run Grad-CAM"),  # the explorer: the demo model and clip are picked
    ("Training_runs", "Checkpoints"),  # the demo runs' curves and checkpoints
    ("Batch", "Output folder"),  # the form (it opens on a batch once an output folder is chosen)
    ("Gaze_comparison", "12 videos"),  # the demo batch scored against the demo gaze
    ("Test_results", "Top-1 accuracy"),  # the demo dump
    ("Heatmap_files", "Heatmap files"),
    ("Study", "Downloads"),  # the demo study, run at once
    ("About", "About"),
]


def _settled(page) -> None:
    """Wait until the script run is over (Streamlit's running indicator gone; the Batch page polls its jobs, so
    at most 20 s), then a moment for the last elements to draw."""
    try:
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=20_000)
    except sync_api.TimeoutError:
        pass
    page.wait_for_timeout(1500)


@pytest.mark.parametrize("path, shown", PAGES, ids=[p or "explorer" for p, _ in PAGES])
def test_every_page_shows_content_at_first_start(demo_data_cache, server, tmp_path, path, shown):
    url, stderr_path = server
    with chromium_page() as page:
        page.goto(f"{url}/{path}")
        page.locator('[data-testid="stMain"]').get_by_text(shown).first.wait_for(timeout=300_000)
        _settled(page)
        shot = tmp_path / f"{path or 'explorer'}.png"
        page.screenshot(path=str(shot), full_page=True)
        main = page.locator('[data-testid="stMain"]').inner_text()
        exceptions = page.locator('[data-testid="stException"]').count()
        errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    if os.environ.get("MMCAM_SCREENSHOTS"):
        Path(os.environ["MMCAM_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(os.environ["MMCAM_SCREENSHOTS"]) / shot.name)
    assert len(main.strip()) > 80, main  # more than a title: the page drew its content
    assert exceptions == 0 and errors == [], errors
    assert "Traceback" not in stderr_path.read_text()
