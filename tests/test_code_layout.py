"""The layering the README's "Layout" section describes holds, and the section matches the tree."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

UI_PACKAGES = ("streamlit", "pages", "explorer")


def _imports(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_never_imports_streamlit_or_the_pages():
    found = {str(path.relative_to(ROOT)): sorted(name for name in _imports(path)
                                                  if name.split(".")[0] in UI_PACKAGES)
             for path in sorted((ROOT / "core").rglob("*.py"))}
    assert {path: names for path, names in found.items() if names} == {}


def _layout_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Layout\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_readme_layout_names_only_paths_that_exist():
    section = _layout_section()
    paths = re.findall(r"`((?:core|pages|tools|tests)/[\w./*]*|explorer\.py)`( \(coming\))?", section)
    assert len(paths) > 20
    missing = [path for path, coming in paths
               if not coming and "*" not in path and "N_Name" not in path and not (ROOT / path).exists()]
    assert missing == []


def test_the_readme_layout_places_every_core_module():
    section = _layout_section()
    modules = [f"core/{path.name}" for path in (ROOT / "core").glob("*.py") if path.name != "__init__.py"]
    packages = [f"core/{path.name}/" for path in (ROOT / "core").iterdir()
                if path.is_dir() and (path / "__init__.py").exists()]
    assert [name for name in modules + packages if f"`{name}" not in section] == []
