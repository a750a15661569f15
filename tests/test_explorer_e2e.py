"""End to end in a real browser: ``streamlit run explorer.py`` on a free localhost port, Chromium
(Playwright) presses **Run Grad-CAM** on the demo, plays the overlay video, drags the frame scrubber,
downloads the heatmap txt and parses it. Leaves ``explorer.png`` (a screenshot) in the test's tmp dir.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``); skipped without it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import CURRENT_FRAME, E2E, chromium_page, streamlit_server

import core

pytestmark = E2E
demo = pytest.importorskip("core.demo", reason="core/demo.py (the built-in demo) is not in this checkout")
try:
    demo.demo_paths()
except core.CamError as err:
    pytest.skip(f"the built-in demo is not usable here: {err}", allow_module_level=True)


def _current_frame(page) -> str:
    return page.locator(CURRENT_FRAME).first.text_content()


def test_run_scrub_play_and_download_in_chromium(server, tmp_path):
    url, stderr_path = server
    failed_requests = []
    with chromium_page() as page:
        page.on("requestfailed", lambda request: failed_requests.append(request.url))
        page.goto(url)
        page.get_by_role("button", name="Run Grad-CAM").click(timeout=90_000)
        page.wait_for_selector(".js-plotly-plot .slider-container", timeout=180_000)
        page.wait_for_selector("video", timeout=60_000)

        duration = page.eval_on_selector("video", """v => new Promise(done => {
            if (v.readyState >= 1) done(v.duration);
            else v.addEventListener('loadedmetadata', () => done(v.duration));
            setTimeout(() => done(-1), 20000); })""")
        assert duration > 0, "the overlay video did not load in the browser"

        before = _current_frame(page)
        match = re.match(r"Frame 1/(\d+) · source frame (\d+) · ([\d.]+) s", before)
        assert match, before
        num_frames = int(match.group(1))
        assert num_frames >= 2
        rail = page.locator(".js-plotly-plot .slider-rail-rect").first.bounding_box()
        y = rail["y"] + rail["height"] / 2
        page.mouse.move(rail["x"] + 2, y)
        page.mouse.down()
        page.mouse.move(rail["x"] + rail["width"] * 0.5, y, steps=5)
        page.mouse.move(rail["x"] + rail["width"] - 2, y, steps=5)
        page.mouse.up()
        page.wait_for_function(f"""() => !document.querySelector('{CURRENT_FRAME}')
            .textContent.startsWith('Frame 1/')""", timeout=10_000)
        after = _current_frame(page)
        assert after.startswith(f"Frame {num_frames}/{num_frames} · source frame "), after

        with page.expect_download(timeout=30_000) as download_info:
            page.get_by_role("button", name="Heatmaps (txt)").click()
        download = download_info.value
        txt = tmp_path / download.suggested_filename
        download.save_as(txt)
        page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)

    assert txt.name.startswith(Path(demo.demo_paths()["video"]).stem + "_") and txt.suffix == ".txt"
    assert "backbone" in txt.name
    heatmaps = core.read_heatmap_txt(txt)
    assert heatmaps.shape[0] == num_frames and heatmaps.min() >= 0 and heatmaps.max() == pytest.approx(1, abs=1e-6)
    assert not failed_requests, f"the page tried to reach: {failed_requests}"
    log = stderr_path.read_text()
    for bad in ("Traceback", "torch.classes", "__path__._path", "Error"):
        assert bad not in log, log


def test_shared_server_asks_for_the_password_in_chromium(tmp_path):
    """Served beyond loopback: nothing without MMCAM_PASSWORD; with it, the gate's login page first, then the app."""
    with streamlit_server(tmp_path / "none", "0.0.0.0") as (url, _), chromium_page() as page:
        page.goto(url)
        page.get_by_text("it serves no page without a password").wait_for(timeout=60_000)
        assert page.get_by_role("button", name="Run Grad-CAM").count() == 0
    with streamlit_server(tmp_path / "set", "0.0.0.0", MMCAM_PASSWORD="correct horse battery") as (url, log), \
            chromium_page() as page:
        page.goto(url)
        field = page.get_by_label("Password", exact=True)
        field.wait_for(timeout=60_000)
        assert page.get_by_role("button", name="Run Grad-CAM").count() == 0
        field.fill("correct horse")
        page.get_by_role("button", name="Open").click()
        page.get_by_text("Wrong password.").wait_for(timeout=30_000)
        field.fill("correct horse battery")
        page.get_by_role("button", name="Open").click()
        page.get_by_role("button", name="Run Grad-CAM").wait_for(timeout=90_000)
        page.reload()  # a new session of the same browser: logged in (the gate's cookie)
        page.get_by_role("button", name="Run Grad-CAM").wait_for(timeout=90_000)
        page.context.clear_cookies()  # another browser asks again
        page.reload()
        page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
    assert "Traceback" not in log.read_text()
