"""`pip install .` / `pip install -e .`: the wheel holds the library (`core`, its subpackages and the demo's config
and checkpoint) and nothing of the app or the developer tools, and the CLIs run from any folder with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

from conftest import ROOT


def test_the_wheel_installs_core_with_the_demo_and_runs_outside_the_checkout(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "core", source / "core", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("pages", "tools", "tests"):  # present, as in a checkout, and left out of the wheel
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.png"))
    shutil.copy(ROOT / "explorer.py", source / "explorer.py")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"core/__init__.py", "core/mm.py", "core/batch/job.py", "core/gaze/cli.py",
            "core/demo_assets/moving_shapes_r3d.py", "core/demo_assets/moving_shapes_r3d.pth"} <= set(names)
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"core"}  # not pages/, tools/, tests/, explorer.py
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "MMCAM_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "core.demo", "paths"], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    paths = json.loads(run.stdout)
    assert paths["config"] == str(site / "core" / "demo_assets" / "moving_shapes_r3d.py")
    assert os.path.isfile(paths["checkpoint"]) and os.path.isfile(paths["video"])
    for module in ("core.dumps", "core.mm", "core.vis_cam"):
        run = subprocess.run([sys.executable, "-m", module, "--help"], cwd=elsewhere, env=env, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0 and "usage" in run.stdout.lower(), (module, run.stderr[-1500:])
