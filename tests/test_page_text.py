"""What pages say: ``core``'s command-line advice names the page's own controls, Markdown never eats a ``*``
(``best_*.pth`` shown as "best_.pth"), and text columns of names are as wide as their longest value."""

from __future__ import annotations

import ast
import re

import pytest
from conftest import ROOT

from pages.ui.tables import text_width
from pages.ui.text import control, escape_markdown, for_page, use_controls

PAGES = [ROOT / "explorer.py", *sorted((ROOT / "pages").rglob("*.py"))]
LONE_STAR = re.compile(r"(?<![\\*])\*(?!\*)")


def _shown_strings(path):
    """String constants of a page that are prose (they hold a space), docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs \
                and " " in node.value:
            yield node.lineno, node.value


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_text_loses_a_star_to_markdown(path):
    """Every ``*`` a page writes is in code (backticks), escaped, or part of ``**bold**``: Streamlit renders
    labels, help texts, captions and messages as Markdown, where ``best_*.pth, epoch_*.pth`` loses both."""
    bad = [(line, text[:80]) for line, text in _shown_strings(path)
           if LONE_STAR.search(re.sub(r"`[^`]*`", "", text))]
    assert not bad, f"{path.name}: lone * in {bad}"


def test_core_sentences_name_the_pages_controls():
    controls = {"--start-index": control("First frame's number in gaze folders"),
                "--region frame": control("Score over: the whole frame"), "--density": control("Density")}
    text = ("gaze maps are numbered from 1; use --start-index to change. No fixation inside the window (use "
            "--region frame). Give --density or --density-map; globs like best_*.pth and **bold** stay.")
    assert for_page(text, controls) == (
        "gaze maps are numbered from 1; use “First frame's number in gaze folders” in the sidebar to change. No "
        "fixation inside the window (use “Score over: the whole frame” in the sidebar). Give “Density” in the "
        "sidebar or --density-map; globs like best_\\*.pth and **bold** stay.")
    use_controls({"--start-index": "the page's own"})
    try:
        assert for_page("use --start-index") == "use the page's own"  # the page's declared controls
    finally:
        use_controls(None)
    assert for_page("use --start-index") == "use --start-index"
    assert escape_markdown(r"a\*b * c **d**") == r"a\*b \* c **d**"


def test_name_columns_fit_their_longest_value():
    long = "a_very_long_video_name_from_a_real_dataset_v2_final.mp4"
    assert text_width(["a.mp4", long]) >= 8 * len(long) and text_width(["a"]) == 80
    assert text_width([long * 10], cap=480) == 480 and text_width([None, "ab"]) == 80
