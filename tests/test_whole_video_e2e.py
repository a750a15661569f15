"""The explorer's whole-video timeline in a real browser (Chromium through Playwright): Plotly's selection events
differ between AppTest and a browser, so the click that seeks the player is tested here.

Needs Debian's Chromium at /usr/bin/chromium; skipped without it.
"""

from __future__ import annotations

from browser import CHROMIUM, E2E, sync_api

pytestmark = E2E


def test_a_click_on_the_timeline_seeks_the_player(server, tmp_path):
    url, stderr_path = server
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2200})
            page.goto(url)
            page.get_by_text("Whole video", exact=True).click(timeout=120_000)  # the demo is preselected
            page.get_by_role("button", name="Run Grad-CAM").click(timeout=120_000)
            page.wait_for_function("() => document.body.innerText.includes('player at 0.0 s')", timeout=300_000)
            page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for(timeout=120_000)
            # the chart with points: the first one on the page is the hidden chart that preloads Plotly
            chart = page.locator(".js-plotly-plot", has=page.locator(".scatterlayer .point")).first
            points = chart.locator(".scatterlayer .trace").first.locator(".point")
            assert points.count() >= 2
            box = points.last.bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_function("() => { const t = document.body.innerText.match(/player at ([0-9.]+) s/);"
                                   " return t && parseFloat(t[1]) > 1; }", timeout=60_000)
            page.screenshot(path=str(tmp_path / "whole_video.png"), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0
            seek = float(page.inner_text("body").split("player at ")[1].split(" s")[0])
            start = page.evaluate("() => { const v = document.querySelector('video');"
                                  " return v ? v.currentTime : -1; }")
            assert abs(start - int(seek)) < 1.0  # the player starts where the click asked
        finally:
            browser.close()
    assert "Traceback" not in stderr_path.read_text()
