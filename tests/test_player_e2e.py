"""The client-side players in a real browser (Chromium via Playwright), where AppTest cannot go: Streamlit
sends back no Plotly slider position, so these check what the page reads from the browser.

* Explorer: the PNG download takes the frame the player shows (dragged, or played and paused), and help
  texts show ``best_*.pth`` as written (Markdown would eat the ``*``).
* Gaze comparison: saliency, gaze and overlay scrub frame by frame, the per-frame scores' marker follows.

Leave ``player.png`` and ``gaze_player.png`` (full-page screenshots) in the tests' tmp dirs. Skipped without
Chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import io
import re

import numpy as np
from browser import CURRENT_FRAME, E2E, chromium_page, pick_radio
from gaze_data import make_frame_gaze, make_wide

import core

pytestmark = E2E
PNG_CAPTION = "PNG of the frame the player shows: "


def _drag(page, fraction: float, which: int = 0) -> None:
    """Drag the ``which``-th player's slider from its start to ``fraction`` of its rail."""
    rail = page.locator(".js-plotly-plot .slider-rail-rect").nth(which).bounding_box()
    y = rail["y"] + rail["height"] / 2
    page.mouse.move(rail["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(rail["x"] + rail["width"] * fraction, y, steps=6)
    page.mouse.up()


def _png_caption(page) -> str:
    return page.get_by_text(PNG_CAPTION).first.text_content()


def _wait_caption(page, frame_title: str) -> None:
    page.wait_for_function("t => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
                           ".some(e => e.textContent === t)", arg=PNG_CAPTION + frame_title, timeout=20_000)


def test_png_is_the_frame_the_player_shows_in_chromium(server, tmp_path):
    from PIL import Image

    from core import demo
    from core.downloads import file_stem, frame_png

    url, stderr_path = server
    with chromium_page() as page:
        page.goto(url)
        page.get_by_role("button", name="Run Grad-CAM").click(timeout=90_000)
        page.wait_for_selector(".js-plotly-plot .slider-container", timeout=180_000)
        shown = page.locator(CURRENT_FRAME).first
        assert _png_caption(page) == PNG_CAPTION + shown.text_content()  # both start at frame 1
        _drag(page, 0.4)
        dragged = shown.text_content()
        index = int(re.match(r"Frame (\d+)/", dragged).group(1)) - 1
        assert index > 0, dragged
        _wait_caption(page, dragged)
        with page.expect_download(timeout=30_000) as download_info:
            page.get_by_role("button", name="Frame view (png)").click()
        download = download_info.value
        png = download.path().read_bytes()
        page.locator(".js-plotly-plot .updatemenu-button").first.click()  # ▶
        page.wait_for_timeout(700)
        page.locator(".js-plotly-plot .updatemenu-button").nth(1).click()  # ❚❚
        paused = shown.text_content()
        assert paused != dragged
        _wait_caption(page, paused)

        page.get_by_text("Training runs in a folder").click()  # a folder without runs: the help names the files
        field = page.get_by_label("Folder with your work_dirs", exact=True)
        field.fill(str(tmp_path))
        field.press("Enter")
        page.get_by_text("No MMAction2 runs here").wait_for(timeout=30_000)
        runs_help = page.get_by_text("No MMAction2 runs here").text_content()
        page.screenshot(path=str(tmp_path / "player.png"), full_page=True)

    paths = demo.demo_paths()
    result = core.explain(core.load_model(paths["config"], paths["checkpoint"], "auto"), paths["video"])
    name = file_stem(paths["video"], result.checkpoint, result.layer, result.target_label, result.method)
    assert download.suggested_filename == f"{name}_frame{index + 1:03d}.png"
    expected = np.asarray(Image.open(io.BytesIO(frame_png(result, index))))
    got = np.asarray(Image.open(io.BytesIO(png)))
    assert got.shape == expected.shape and np.abs(got.astype(int) - expected.astype(int)).max() <= 2
    assert "best_*.pth" in runs_help and "epoch_*.pth" in runs_help
    assert "Traceback" not in stderr_path.read_text()


def test_gaze_frames_scrub_with_their_scores_in_chromium(demo_data_cache, server, tmp_path):
    url, stderr_path = server
    (tmp_path / "data").mkdir()
    folder = make_frame_gaze(make_wide(tmp_path / "data"))
    from core import gaze

    expected = gaze.score_file(folder / "wide.txt", folder / "fix_frames")
    seen = sorted({int(f) for f in np.ravel(expected.result.frame_indices)})
    with chromium_page() as page:
        page.goto(f"{url}/Gaze_comparison")
        pick_radio(page, "Heatmaps and gaze", "Paths")
        page.get_by_text("Give a heatmap txt").wait_for(timeout=60_000)
        for label, value in (("Heatmap txt or batch output folder", folder / "wide.txt"),
                             ("Fixations", folder / "fix_frames")):
            box = page.get_by_label(label, exact=True)
            box.fill(str(value))
            box.press("Enter")
            page.wait_for_timeout(500)
        page.wait_for_selector(".js-plotly-plot .slider-container", timeout=120_000)
        shown = page.locator(CURRENT_FRAME).first
        assert shown.text_content().startswith(f"Frame 1/{len(seen)} · source frame {seen[0]} · ")
        _drag(page, 0.7)
        label = shown.text_content()
        step = int(re.match(r"Frame (\d+)/", label).group(1)) - 1
        assert step > 0 and f"source frame {seen[step]} ·" in label
        markers = page.evaluate("""() => {
            const plot = document.querySelector('.js-plotly-plot');
            return plot.data.filter(t => t.mode === 'lines' && t.x.length === 2).map(t => [...t.x]); }""")
        images = page.evaluate("() => document.querySelector('.js-plotly-plot').layout.images.map(i => i.source)")
        warning = page.get_by_text("computed against the fixation points themselves").text_content()
        page.screenshot(path=str(tmp_path / "gaze_player.png"), full_page=True)
    assert markers == [[seen[step], seen[step]]] * len(expected.clip)  # every metric's marker on that frame
    assert len(images) == 3 and len(set(images)) == 3
    assert "“Density (optional)” in the sidebar" in warning
    assert "Traceback" not in stderr_path.read_text()
