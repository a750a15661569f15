"""The Evaluate part in a real browser: Chromium presses **Run Grad-CAM** on the demo, then **Compare methods**,
and drags the comparison's one frame slider: all six methods' maps move to the same frame without a rerun.
Leaves ``evaluate.png`` (a screenshot) in the test's tmp dir. Skipped without Chromium, like the explorer's."""

from __future__ import annotations

from browser import CHROMIUM, E2E, sync_api

pytestmark = E2E


def test_compare_methods_scrubs_six_maps_with_one_slider(server, tmp_path):
    url, stderr_path = server
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 3200})
            page.goto(url)
            page.get_by_role("button", name="Run Grad-CAM").click(timeout=90_000)
            page.get_by_role("button", name="Compare methods").wait_for(timeout=180_000)
            steps = page.get_by_role("spinbutton", name="Steps")
            steps.fill("2")
            steps.press("Enter")
            page.wait_for_timeout(1500)
            page.get_by_role("button", name="Compare methods").click()
            page.get_by_text("Most faithful here").first.wait_for(timeout=300_000)
            figure = page.locator(".js-plotly-plot").last
            images = "f => f.layout.images.map(image => image.source)"
            label = figure.locator(".slider-container .slider-group .slider-label").first
            before, first = figure.evaluate(images), label.text_content()
            assert len(before) == 6 and first.startswith("Frame 1/")
            rail = figure.locator(".slider-rail-rect").bounding_box()
            y = rail["y"] + rail["height"] / 2
            page.mouse.move(rail["x"] + 2, y)
            page.mouse.down()
            page.mouse.move(rail["x"] + rail["width"] * 0.5, y, steps=5)
            page.mouse.move(rail["x"] + rail["width"] - 2, y, steps=5)
            page.mouse.up()
            page.wait_for_function("f => !f.querySelector('.slider-label').textContent.startsWith('Frame 1/')",
                                   arg=figure.element_handle(), timeout=10_000)
            after = figure.evaluate(images)
            total = first.split("/")[1].split(" ")[0]
            assert label.text_content().startswith(f"Frame {total}/{total}")
            assert len(after) == 6 and all(a != b for a, b in zip(before, after, strict=True))
            page.screenshot(path=str(tmp_path / "evaluate.png"), full_page=True)
        finally:
            browser.close()
    log = stderr_path.read_text()
    for bad in ("Traceback", "Error"):
        assert bad not in log, log
