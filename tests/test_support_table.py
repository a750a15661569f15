"""The README's support table is rendered from test results, and the committed one matches them."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT

from core.methods import METHODS
from tools.support_table import END, START, load_results, main, render, update_readme

ROW = {"config": "tsn/x.py", "layer": "backbone/layer4", "grid": "8x4x4", "input": "8x112x112", "seconds": 3.5,
       "methods": {name: "ok" for name in METHODS}}


def test_render_marks_unsupported_cells_with_their_reason():
    broken = {**ROW, "methods": {**ROW["methods"], "eigencam": "needs a | b"}}
    table = render({"tsn": ROW, "abc": broken})
    lines = table.splitlines()
    assert lines[0].count("|") == len(lines[2].split(" | ")) + 1 and len(lines) == 4
    assert lines[2].startswith("| abc |") and "needs a \\| b" in lines[2]  # sorted; pipes escaped
    assert lines[3].count("✓") == len(METHODS)


def test_update_keeps_the_rest_of_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{START}\nold table\n{END}\n\n## After\ntext\n")
    update_readme(readme, {"tsn": ROW})
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n\n") and text.endswith("\n\n## After\ntext\n")
    assert "old table" not in text and "backbone/layer4" in text
    fresh = tmp_path / "NEW.md"
    update_readme(fresh, {"tsn": ROW})
    assert START in fresh.read_text() and END in fresh.read_text()


def test_cli_says_what_is_missing_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "none.json"), str(tmp_path / "README.md")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(Exception, match="not valid JSON"):
        load_results(tmp_path / "bad.json")


def test_committed_table_matches_the_latest_results():
    """After `pytest tests/test_archs.py`, README's layers and method cells are the results' (seconds vary)."""
    results_path, readme = ROOT / "build" / "support.json", ROOT / "README.md"
    if not results_path.is_file() or not readme.is_file():
        pytest.skip("no build/support.json yet: run tests/test_archs.py first")
    committed = readme.read_text(encoding="utf-8").split(START, 1)[1].split(END, 1)[0]
    fresh = render(json.loads(results_path.read_text(encoding="utf-8")))

    def rows(table: str) -> dict[str, list[str]]:
        found = {}
        for line in table.splitlines():
            if (match := re.match(r"\| (\w+) \|", line)) and match.group(1) != "Architecture":
                found[match.group(1)] = line.split(" | ")[1:-1]  # all but the name and the seconds
        return found

    committed_rows, fresh_rows = rows(committed), rows(fresh)
    for folder, cells in fresh_rows.items():
        assert committed_rows.get(folder) == cells, f"README row of {folder} is stale: python -m tools.support_table"
