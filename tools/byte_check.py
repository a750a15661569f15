"""Byte check of a refactoring: the files the CLIs write on the demo, before and after.

``python -m tools.byte_check write DIR`` runs, in this checkout, ``core.vis_cam`` (Grad-CAM and Grad-CAM++ with
txt, sidecar and npz; a whole-video run), ``core.batch`` (two synthetic videos, with ``--evaluate``),
``core.gaze`` (the demo batch against the demo gaze) and ``core.study --demo`` into ``DIR``; run it in the old
checkout and in the new one (``git worktree add``), then ``python -m tools.byte_check compare OLD NEW`` lists
every file that differs. Fields that measure time (``seconds``, ``elapsed`` ...) and the folders the runs were
written to are masked; H.264 videos are skipped (the encoder is not deterministic run to run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from core import demo, demo_data
from core.synthetic import make_clip, write_clip

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("MMCAM_CACHE") or "/tmp/mmcam-bytecheck")
TIMING = re.compile(r"(second|elapsed|duration|time|created|date|started|finished|_at$|host|pid)", re.I)
REPO = re.compile(r"/[^\"\s,']*?/core/")  # the checkout that wrote the files
STAMP = 1_800_000_000 * 10**9
SKIP_SUFFIXES = {".mp4", ".gif", ".png", ".pdf", ".lock"}


def _run(*args: str) -> None:
    env = {**os.environ, "MMCAM_CACHE": str(CACHE), "PYTHONHASHSEED": "0"}
    print("$ python -m", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def write(out: Path) -> None:
    os.environ["MMCAM_CACHE"] = str(CACHE)
    (out / "vis_cam").mkdir(parents=True, exist_ok=True)
    paths = demo.demo_paths()
    config, checkpoint, video = paths["config"], paths["checkpoint"], paths["video"]
    for method in ("gradcam", "gradcampp"):
        _run("core.vis_cam", config, checkpoint, video, "--method", method, "--npz",
             "--file-url", str(out / "vis_cam" / f"{method}.txt"))
    _run("core.vis_cam", config, checkpoint, video, "--whole-video", "--npz",
         "--file-url", str(out / "vis_cam" / "whole.txt"))
    videos = out / "inputs"
    videos.mkdir(exist_ok=True)
    for seed in (3, 4):
        clip = write_clip(make_clip(seed, frames=24, size=(128, 96)), videos / f"clip_{seed}.mp4")
        os.utime(clip, ns=(STAMP, STAMP))  # the batch's key records its inputs' stamps
    _run("core.batch", config, checkpoint, str(videos), "--out", str(out / "batch"), "--evaluate", "--steps", "4",
         "--quiet")
    _run("core.gaze", str(demo_data.batch()), str(demo_data.gaze()), "--out", str(out / "gaze.csv"))
    _run("core.study", "--demo", "--out", str(out / "study"))


def _masked(path: Path, root: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".npz":  # members compared, not the zip's own write times
        with zipfile.ZipFile(path) as archive:
            return b"".join(name.encode() + archive.read(name) for name in sorted(archive.namelist()))
    text = data.decode("utf-8", errors="replace").replace(str(root), "<ROOT>")
    text = REPO.sub("<REPO>/core/", text)
    if path.suffix == ".json":
        try:
            return json.dumps(_mask(json.loads(text)), sort_keys=True).encode()
        except ValueError:
            pass
    if path.suffix == ".csv":
        lines = text.splitlines()
        header = lines[0].split(",") if lines else []
        timed = {i for i, name in enumerate(header) if TIMING.search(name)}
        return "\n".join(",".join("*" if i in timed else cell for i, cell in enumerate(line.split(",")))
                         for line in lines).encode()
    return re.sub(r"\d+(\.\d+)? ?s\b", "<T>s", text).encode() if path.suffix in {".md", ".txt"} and \
        "Heatmap values" not in text[:200] else text.encode()


def _mask(value: object) -> object:
    if isinstance(value, dict):
        return {k: "*" if TIMING.search(str(k)) else _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def compare(old: Path, new: Path) -> int:
    names = sorted({p.relative_to(old) for p in old.rglob("*") if p.is_file()}
                   | {p.relative_to(new) for p in new.rglob("*") if p.is_file()})
    same, differ, skipped = 0, [], 0
    for name in names:
        if name.suffix in SKIP_SUFFIXES:
            skipped += 1
            continue
        a, b = old / name, new / name
        if not a.exists() or not b.exists():
            differ.append(f"{name} (only in {'new' if b.exists() else 'old'})")
        elif _masked(a, old) == _masked(b, new):
            same += 1
        else:
            differ.append(str(name))
    print(f"{same} of {same + len(differ)} files identical ({skipped} videos/pictures skipped)")
    for name in differ:
        print("  differs:", name)
    return 1 if differ else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.byte_check", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write").add_argument("out", type=Path)
    both = sub.add_parser("compare")
    both.add_argument("old", type=Path)
    both.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.out.resolve())
        return 0
    return compare(args.old.resolve(), args.new.resolve())


if __name__ == "__main__":
    sys.exit(main())
