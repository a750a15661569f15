"""What the browser tests share: Debian's Chromium driven through Playwright (skipped without either), and
``streamlit run explorer.py`` on a free localhost port (:func:`streamlit_server`; conftest's ``server``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

from tools.ui_bench import free_port, stop

CHROMIUM = Path("/usr/bin/chromium")
E2E = [  # every browser module: pytestmark = E2E (or E2E plus its own marks)
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@contextlib.contextmanager
def streamlit_server(tmp_path: Path, address: str = "127.0.0.1", **env: str):
    """``streamlit run explorer.py`` on a free port (listening on ``address``), with ``env`` added; always
    stopped. Yields its URL (on 127.0.0.1) and the path of its stderr."""
    with streamlit_process(tmp_path, address, **env) as (_, url, stderr_path):
        yield url, stderr_path


@contextlib.contextmanager
def streamlit_process(tmp_path: Path, address: str = "127.0.0.1", **env: str):
    """:func:`streamlit_server` that also yields the server's process first (to measure its memory)."""
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    stderr_path = tmp_path / "streamlit.stderr"
    env = dict(os.environ, MMCAM_UPLOADS=str(tmp_path / "uploads"), **env)
    with open(stderr_path, "wb") as stderr, open(tmp_path / "streamlit.stdout", "wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "explorer.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", address],
            cwd=ROOT, stdout=stdout, stderr=stderr, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {stderr_path.read_text()}")
            time.sleep(0.3)
        yield proc, url, stderr_path
    finally:
        stop(proc)


@contextlib.contextmanager
def chromium_page():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            yield browser.new_page(viewport={"width": 1500, "height": 2400}, accept_downloads=True)
        finally:
            browser.close()


CURRENT_FRAME = ".js-plotly-plot .slider-container .slider-group .slider-label"  # a Plotly slider's current value


def pick_radio(page, label: str, option: str) -> None:
    """Click ``option`` of the radio group labelled ``label`` (a page's source: every page opens on the demo)."""
    group = page.locator('[data-testid="stRadio"]').filter(has_text=label)
    group.get_by_text(option, exact=True).click(timeout=120_000)
