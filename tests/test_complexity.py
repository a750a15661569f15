"""No function of the library, the pages or the explorer is graded D or worse by radon's cyclomatic complexity
(McCabe 1976: one plus the branches; radon's grades A 1-5, B 6-10, C 11-20, D 21-30, E 31-40, F 41 and up).
A function that branches more than 20 ways is split along its seams into small named ones. The same check
from a terminal: ``radon cc -s -n D core pages explorer.py`` prints nothing; ``-n C`` lists those near the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

radon = pytest.importorskip("radon.complexity", reason="radon is not installed (pip install -r requirements-dev.txt)")
visitors = pytest.importorskip("radon.visitors")

CHECKED = ("core", "pages", "explorer.py", "tools")
WORST_ALLOWED = "C"


def _files() -> list[Path]:
    found: list[Path] = []
    for name in CHECKED:
        path = ROOT / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def too_complex(code: str) -> list[str]:
    """``name:line (grade, complexity)`` of each function and method of ``code`` graded worse than
    :data:`WORST_ALLOWED` (a nested function counts in the one around it, as radon's ``cc`` command counts)."""
    return [f"{block.fullname}:{block.lineno} ({radon.cc_rank(block.complexity)}, {block.complexity})"
            for block in radon.cc_visit(code)
            if isinstance(block, visitors.Function) and radon.cc_rank(block.complexity) > WORST_ALLOWED]


def test_no_function_is_graded_d_or_worse() -> None:
    files = _files()
    assert len(files) > 50 and ROOT / "explorer.py" in files  # the folders were found
    found = [f"{path.relative_to(ROOT)} {block}" for path in files
             for block in too_complex(path.read_text(encoding="utf-8"))]
    assert not found, ("too complex (radon grade D or worse: split them along their seams into small named "
                       "functions):\n" + "\n".join(found))


def test_a_function_with_21_paths_is_named() -> None:
    """The check catches what it is meant to: 20 branches make a D, 19 a C; methods are named with their class."""
    def branching(name: str, branches: int, indent: str = "") -> str:
        return (f"{indent}def {name}(x):\n"
                + "".join(f"{indent}    if x == {i}:\n{indent}        return {i}\n" for i in range(branches))
                + f"{indent}    return -1\n")

    assert too_complex(branching("tangled", 20)) == ["tangled:1 (D, 21)"]
    assert too_complex(branching("fine", 19)) == []
    assert too_complex("class Page:\n" + branching("main", 30, "    ")) == ["Page.main:2 (E, 31)"]
