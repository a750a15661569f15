"""The Test results page in a real browser (Chromium through Playwright): what the browser sends differs from
AppTest. A confusion-matrix click arrives with ``customdata`` as a dict (it crashed the page), and a keyed
selectbox keeps its old label text when only the class names change (``class_0`` after the config was given).

Needs Debian's Chromium at /usr/bin/chromium; skipped without it.
"""

from __future__ import annotations

import numpy as np
import pytest
from browser import CHROMIUM, E2E, pick_radio, sync_api
from mm_data import trained_project

from core import dumps

pytestmark = E2E


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> dict:
    return trained_project(tmp_path_factory)


def _choice(page, label: str) -> str:
    """The text a selectbox shows (its combobox input's value)."""
    return page.get_by_role("combobox", name=label, exact=True).input_value()


def _wait_choice(page, label: str, condition: str, timeout: int = 120_000) -> None:
    """Wait until the selectbox's shown text ``v`` satisfies the JS ``condition``."""
    page.wait_for_function(f"""() => {{ const e = document.querySelector('input[aria-label="{label}"]');
                                         if (!e) return false; const v = e.value; return {condition}; }}""",
                           timeout=timeout)


def _type(page, label: str, text: str) -> None:
    field = page.get_by_role("textbox", name=label, exact=True)
    field.fill(text)
    field.press("Enter")


def test_names_and_a_cell_click_in_chromium(demo_data_cache, server, project, tmp_path):
    url, stderr_path = server
    report = dumps.open_dump(project["dump"], config=project["config"])
    shown = report.occurring
    counts = report.confusion_over(shown)
    rows, cols = np.nonzero(counts)
    cell = next((i for i, (r, c) in enumerate(zip(rows, cols, strict=True)) if r != c), 0)
    gt, pred = int(shown[rows[cell]]), int(shown[cols[cell]])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(f"{url}/Test_results")
            pick_radio(page, "Files", "Paths")
            _type(page, "Results pickle", str(project["dump"]))  # the pickle first: classes unnamed
            _wait_choice(page, "Sample", "v.startsWith('#0 ')")
            assert "class_" in _choice(page, "Sample")
            _type(page, "Config (.py)", str(project["config"]))  # then the config: names everywhere
            _wait_choice(page, "Sample", "v.startsWith('#0 ') && !v.includes('class_')")
            assert _choice(page, "Sample").startswith(f"#0 test_0.mp4: {report.classes[report.gt[0]]} → ")

            point = page.locator(".js-plotly-plot .scatterlayer .point").nth(cell)
            box = point.bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            expected = f"{int(counts[rows[cell], cols[cell]])} of {len(report.gt)} samples."
            page.wait_for_function(f"() => document.body.innerText.includes({expected!r})", timeout=60_000)
            page.screenshot(path=str(tmp_path / "test_results.png"), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert _choice(page, "Ground truth") == f"{gt}: {report.classes[gt]}"
            assert _choice(page, "Prediction") == f"{pred}: {report.classes[pred]}"
            assert page.get_by_role("textbox", name="Results pickle", exact=True).input_value() == str(project["dump"])
        finally:
            browser.close()
    assert "Traceback" not in stderr_path.read_text()


def test_a_finished_batch_opens_on_the_batch_page_every_time_in_chromium(server, project, tmp_path):
    """"Open <folder> on the Batch page" switched pages from inside the progress fragment, which reruns every second:
    in Chromium it left the Batch page half drawn (no main area, no model picker) two times in four."""
    url, stderr_path = server
    out = tmp_path / "explained"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(f"{url}/Test_results")
            pick_radio(page, "Files", "Paths")  # the page opens on the built-in demo
            _type(page, "Results pickle", str(project["dump"]))
            _type(page, "Config (.py)", str(project["config"]))
            _wait_choice(page, "Sample", "v.startsWith('#0 ') && !v.includes('class_')")
            _type(page, "Output folder", str(out))
            page.get_by_role("button", name="Explain all mistakes").click()
            opener = page.get_by_role("button", name=f"Open {out.name} on the Batch page")
            for attempt in range(4):
                try:
                    opener.wait_for(timeout=240_000)
                except sync_api.TimeoutError:
                    page.screenshot(path=str(tmp_path / f"no_opener_{attempt}.png"), full_page=True)
                    raise AssertionError(f"attempt {attempt}: {page.inner_text('body')[-1500:]}") from None
                opener.click()
                page.get_by_role("heading", name="Batch", exact=True).wait_for(timeout=60_000)
                page.get_by_text("explained · 0 failed").first.wait_for(timeout=60_000)
                sidebar = page.locator('[data-testid="stSidebar"]')
                assert sidebar.get_by_text("Built-in demo", exact=True).count() == 1, attempt  # the model picker
                assert page.get_by_role("textbox", name="Output folder", exact=True).input_value() == str(out)
                assert page.locator('[data-testid="stException"]').count() == 0
                page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Test results").click()
                page.get_by_role("heading", name="Test results", exact=True).wait_for(timeout=60_000)
        finally:
            browser.close()
    assert "Traceback" not in stderr_path.read_text()
