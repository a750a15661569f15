"""The model a user picked is the model that runs, in a real browser (issue 23, part 1): in Chromium, a model given
by config and checkpoint paths on the explorer is still picked on the Batch page and back on the explorer (the
sidebar used to fall back to the built-in demo whenever the page changed), and Run explains with it.

Needs Debian's Chromium at /usr/bin/chromium; skipped without it.
"""

from __future__ import annotations

import pytest
from browser import E2E, chromium_page
from tiny_model import CLASSES, make_model

pytestmark = E2E
PATHS = "Config and checkpoint paths"


def _type(page, label: str, text: str) -> None:
    field = page.get_by_role("textbox", name=label, exact=True)
    field.fill(text)
    field.press("Enter")


def _picked(page) -> tuple[bool, str, str]:
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_role("textbox", name="Config (.py)", exact=True).wait_for(timeout=60_000)
    return (sidebar.locator(f'label:has-text("{PATHS}") input').is_checked(),
            sidebar.get_by_role("textbox", name="Config (.py)", exact=True).input_value(),
            sidebar.get_by_role("textbox", name="Checkpoint (.pth)", exact=True).input_value())


def _go(page, link: str, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=link, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)


@pytest.fixture
def tiny(tmp_path) -> tuple:
    return make_model(tmp_path / "tiny")


def test_the_model_picked_survives_other_pages_in_chromium(server, tiny, tmp_path):
    url, stderr_path = server
    config, checkpoint = tiny
    with chromium_page() as page:
        page.goto(url)
        page.get_by_role("button", name="Run Grad-CAM").wait_for(timeout=120_000)
        page.locator('[data-testid="stSidebar"]').get_by_text(PATHS, exact=True).click()
        _type(page, "Config (.py)", str(config))
        _type(page, "Checkpoint (.pth)", str(checkpoint))
        page.get_by_text(f"{len(CLASSES)} classes", exact=False).first.wait_for(timeout=120_000)
        picked = (True, str(config), str(checkpoint))
        _go(page, "Batch", "Batch")
        assert _picked(page) == picked
        _go(page, "explorer", "Grad-CAM explorer")
        assert _picked(page) == picked
        page.get_by_text(f"{len(CLASSES)} classes", exact=False).first.wait_for(timeout=120_000)
        page.get_by_role("button", name="Run Grad-CAM").click()
        heading = page.get_by_role("heading", name="Explained:", exact=False)
        heading.wait_for(timeout=120_000)
        assert heading.inner_text().removeprefix("Explained: ").strip() in CLASSES  # the tiny model, not the demo
        page.screenshot(path=str(tmp_path / "model_choice.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in stderr_path.read_text()
