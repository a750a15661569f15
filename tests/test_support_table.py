"""The support table (docs/architectures.md) is rendered from test results, and the committed one matches them."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT

from tools.support_table import END, METHODS, START, load_results, main, render, summary, update_readme

ROW = {"config": "tsn/x.py", "architecture": "tsn", "layer": "backbone/layer4", "grid": "8x4x4", "input": "8x112x112",
       "seconds": 3.5, "methods": {name: "ok" for name in METHODS}}


def test_render_marks_unsupported_cells_and_unexplainable_configs_with_their_reason():
    broken = {**ROW, "methods": {**ROW["methods"], "eigencam": "needs a | b"}}
    flow = {"config": "abc/flow.py", "architecture": "abc", "error": "reads modality Flow", "seconds": 0.4}
    table = render({"tsn/x.py": ROW, "abc/y.py": broken, "abc/flow.py": flow})
    lines = table.splitlines()
    assert lines[0].count("|") == len(lines[2].split(" | ")) + 1 and len(lines) == 5
    assert lines[2].startswith("| abc/flow.py | not explained: reads modality Flow |")  # sorted by config
    assert lines[2].count("—") == len(METHODS) + 2
    assert lines[3].startswith("| abc/y.py |") and "needs a \\| b" in lines[3]  # pipes escaped
    assert lines[4].count("✓") == len(METHODS)
    noted = render({"tsn/x.py": {**ROW, "note": "BatchNorm statistics measured"}}).splitlines()[2]
    assert "| `backbone/layer4` (BatchNorm statistics measured) |" in noted
    assert summary({"tsn/x.py": ROW, "abc/flow.py": flow}).startswith(
        "1 of 2 configs (1 architectures) explain with all 6 methods; 1 cannot be explained here")


def test_update_keeps_the_rest_of_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{START}\nold table\n{END}\n\n## After\ntext\n")
    update_readme(readme, {"tsn/x.py": ROW})
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n\n") and text.endswith("\n\n## After\ntext\n")
    assert "old table" not in text and "backbone/layer4" in text
    fresh = tmp_path / "NEW.md"
    update_readme(fresh, {"tsn/x.py": ROW})
    assert START in fresh.read_text() and END in fresh.read_text()


def test_cli_says_what_is_missing_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "none.json"), str(tmp_path / "README.md")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(Exception, match="not valid JSON"):
        load_results(tmp_path / "bad.json")


def committed_rows() -> dict[str, list[str]]:
    """The committed table's cells per config, all but the config and the seconds."""
    committed = (ROOT / "docs" / "architectures.md").read_text(encoding="utf-8").split(START, 1)[1].split(END, 1)[0]
    return rows(committed)


def rows(table: str) -> dict[str, list[str]]:
    found = {}
    for line in table.splitlines():
        if (match := re.match(r"\| ([\w./+-]+\.py) \|", line)):
            found[match.group(1)] = line.split(" | ")[1:-1]
    return found


def test_readme_has_a_row_for_every_config_of_the_wheel():
    """The support table is per config (119 of them), not per architecture folder."""
    from real_configs import ALL_CONFIGS

    table = committed_rows()
    assert sorted(table) == ALL_CONFIGS
    assert all(cells[0].startswith(("`", "not explained: ")) for cells in table.values())


def test_committed_table_matches_the_latest_results():
    """After `pytest -m allconfigs tests/test_archs.py`, the page's cells are the results' (seconds vary)."""
    results_path = ROOT / "build" / "support.json"
    if not results_path.is_file():
        pytest.skip("no build/support.json yet: run `pytest -m allconfigs tests/test_archs.py` first")
    committed, fresh = committed_rows(), rows(render(json.loads(results_path.read_text(encoding="utf-8"))))
    for config, cells in fresh.items():
        assert committed.get(config) == cells, f"docs/architectures.md: {config} stale: python -m tools.support_table"
