"""The Study page in a real browser: ``streamlit run explorer.py``, Chromium opens Study, fills two runs and the
gaze, runs the study, drags the shared frame slider, downloads summary.csv and reads it. Leaves ``study.png``
(a full-page screenshot) in the test's tmp dir. Skipped without Chromium at /usr/bin/chromium."""

from __future__ import annotations

import csv
import io

from browser import CHROMIUM, CURRENT_FRAME, E2E, pick_radio, sync_api
from study_data import SEEN, make_study

pytestmark = E2E


def _fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(400)


def test_study_page_runs_scrubs_and_downloads_in_chromium(demo_data_cache, server, tmp_path):
    url, stderr_path = server
    data = make_study(tmp_path / "data", videos=6)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 4400}, accept_downloads=True)
            page.goto(f"{url}/Study")
            pick_radio(page, "Study", "Batch folders")
            page.get_by_text("Give one or more runs").wait_for(timeout=60_000)
            for i, run in enumerate(("good", "bad")):
                _fill(page, f"Run {i + 1} name", run)
                _fill(page, f"Run {i + 1} batch folder", str(data[run]))
            _fill(page, "Fixations folder", str(data["fixations"]))
            _fill(page, "Density folder (optional)", str(data["density"]))
            page.get_by_role("button", name="Run the study").click(timeout=60_000)
            page.get_by_role("button", name="Run it again").wait_for(timeout=180_000)
            page.wait_for_selector(".js-plotly-plot .slider-container", timeout=60_000)
            assert page.locator(CURRENT_FRAME).first.text_content() == f"Frame {SEEN[0]}"
            rail = page.locator(".js-plotly-plot .slider-rail-rect").first.bounding_box()
            y = rail["y"] + rail["height"] / 2
            page.mouse.move(rail["x"] + 2, y)
            page.mouse.down()
            page.mouse.move(rail["x"] + rail["width"] - 2, y, steps=6)
            page.mouse.up()
            page.wait_for_function(f"() => document.querySelector('{CURRENT_FRAME}').textContent === "
                                   f"'Frame {SEEN[-1]}'", timeout=10_000)
            with page.expect_download(timeout=120_000) as download_info:
                page.get_by_role("button", name="summary.csv").click()
            summary = download_info.value.path().read_text()
            page.screenshot(path=str(tmp_path / "study.png"), full_page=True)
        finally:
            browser.close()
    rows = list(csv.DictReader(io.StringIO(summary)))
    assert {row["run"] for row in rows} == {"good", "bad", "center", "others"}
    nss = {row["run"]: float(row["mean"]) for row in rows if row["metric"] == "NSS"}
    assert nss["good"] > nss["bad"] + 1
    log = stderr_path.read_text()
    assert "Traceback" not in log and "Error" not in log, log
