"""Fast feedback at start (issue 23, part 6): the explorer draws its page (title, password, "Loading…") before
PyTorch and MMAction2 are imported, so ``core`` and what ``setup_page`` needs must not import them."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_core_and_the_page_setup_do_not_import_pytorch():
    code = ("import sys, core, core.access, pages.ui.page; heavy = [m for m in ('torch', 'mmaction', 'mmengine') "
            "if m in sys.modules]; print(heavy); core.explain; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"]  # light until a name of core is used, then loaded
