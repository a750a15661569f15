"""requirements.txt declares what the code imports, and CI's lowest-versions run pins what it allows.

The versions themselves are checked by running the suite on them: ``.ci/run`` installs
``.ci/lowest_pins.py``'s pins over the latest versions and runs the default suite again.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from importlib.metadata import packages_distributions

import numpy as np
from conftest import ROOT

from core.checkpoint import numpy_core


def _lowest_pins():
    spec = importlib.util.spec_from_file_location("lowest_pins", ROOT / ".ci" / "lowest_pins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lowest


def _requirement_names(file: str = "requirements.txt") -> set[str]:
    names = set()
    for line in (ROOT / file).read_text().splitlines():
        if (match := re.match(r"^\s*([A-Za-z0-9_.\-]+)", line.split("#", 1)[0])):
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def _imported_packages() -> dict[str, set[str]]:
    """Third-party top-level modules the app, the library and the tools import, and where."""
    files = [ROOT / "explorer.py", *(ROOT / "core").rglob("*.py"), *(ROOT / "pages").rglob("*.py"),
             *(ROOT / "tools").rglob("*.py")]
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("core", "pages", "tools"):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_a_requirement():
    """A package the code imports must be declared (with the lowest version it works with), not arrive by
    chance as another package's dependency (decord came with mmaction2, Pillow with matplotlib)."""
    declared, distributions = _requirement_names(), packages_distributions()
    developers = _requirement_names("requirements-dev.txt")  # what the developer tools (tools/ alone) may use
    missing = {}
    for module, where in _imported_packages().items():
        names = {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [module])}
        only_tools = all(path.startswith("tools/") for path in where)
        if not names & declared and not (only_tools and names & developers):
            missing[module] = sorted(where)[:2]
    assert not missing, f"imported but not in requirements.txt: {missing}"


def test_lowest_pins_turn_lower_bounds_into_the_oldest_release_line():
    lowest = _lowest_pins()
    text = "# comment\ntorch==2.13.0\nnumpy>=1.26,<3\nray[client]>=2.40  # extras kept\n\n-r other.txt\nplain\n"
    assert lowest(text) == ["torch==2.13.0", "numpy==1.26.*", "ray[client]==2.40.*", "plain"]
    pins = lowest((ROOT / "requirements.txt").read_text())
    assert "numpy==1.26.*" in pins and "torch==2.13.0" in pins  # torch stays the local CPU wheel


def test_numpy_core_names_the_module_pickles_refer_to():
    """numpy 2 pickles name numpy._core, numpy 1.x numpy.core; numpy 1.26 has a numpy._core stub without
    ``numeric``, so checking ``hasattr(np, "_core")`` picks the wrong one (it did in core/dumps.py)."""
    module = numpy_core()
    assert module.__name__ == ("numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core")
    assert callable(module.multiarray._reconstruct) and callable(module.numeric._frombuffer)
