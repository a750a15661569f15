"""The Batch page in a real browser: a folder whose ``.batch.json`` names another model, trust and folder is
resumed with the page's model only after the differences are confirmed (clicks in Chromium); Start is a
primary button. Leaves ``batch.png`` (a screenshot) in the test's tmp dir.

Needs Debian's Chromium at /usr/bin/chromium; skipped without it.
"""

from __future__ import annotations

import json

from batch_support import make_clips
from browser import CHROMIUM, E2E, sync_api
from tiny_model import make_model

from core.batch import read_summary

pytestmark = E2E


def _type(page, label: str, value: str) -> None:
    box = page.get_by_role("textbox", name=label)
    box.fill(value)
    box.press("Enter")


def test_resume_after_confirming_what_differs_in_chromium(server, tmp_path):
    url, stderr_path = server
    config, checkpoint = make_model(tmp_path / "model")
    videos = tmp_path / "videos"
    make_clips(videos, 2, broken=False)
    out = tmp_path / "out"
    out.mkdir()
    recorded = {"config": "/elsewhere/evil.py", "checkpoint": "/elsewhere/evil.pth", "inputs": [str(videos)],
                "out": "/elsewhere/out", "options": {"target": "b"}, "trust_checkpoint": True,
                "ray": "ray://10.9.8.7:10001"}
    (out / ".batch.json").write_text(json.dumps({"request": recorded, "videos": 2, "started": 0, "command": "x"}))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(f"{url}/Batch")
            page.get_by_text("Config and checkpoint paths").click()
            _type(page, "Config (.py)", str(config))
            _type(page, "Checkpoint (.pth)", str(checkpoint))
            _type(page, "Output folder", str(out))
            page.get_by_text("checkpoint: recorded /elsewhere/evil.pth").wait_for(timeout=60_000)
            resume = page.get_by_role("button", name="Resume")
            assert resume.is_disabled()
            start = page.get_by_role("button", name="Start", exact=True).first
            assert start.get_attribute("data-testid") == "stBaseButton-primary"
            page.get_by_text("Resume with these settings").click()
            page.wait_for_function("""() => [...document.querySelectorAll('button')]
                .some(b => b.textContent.includes('Resume') && !b.disabled)""", timeout=30_000)
            resume.click()
            page.get_by_text("Summary · 2 explained · 0 failed").wait_for(timeout=240_000)  # (a loaded CI machine)
            page.screenshot(path=str(tmp_path / "batch.png"), full_page=True)
        finally:
            browser.close()
    rows = read_summary(out)  # the page's model explained class "b", the target the file recorded
    assert [(r["status"], r["target_label"]) for r in rows] == [("ok", "b"), ("ok", "b")]
    assert {json.loads(p.read_text())["checkpoint"] for p in out.rglob("clip*.json")} == {str(checkpoint)}
    assert "Traceback" not in stderr_path.read_text()
