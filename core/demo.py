"""The embedded demo: a tiny recognizer of synthetic motion that works offline at once.

The committed assets in ``core/demo_assets`` (config + < 5 MB checkpoint) are reproduced from
scratch on CPU by ``python -m tools.demo train`` (training and evaluation are developer tools, in
``tools/demo.py``); the demo video is a synthetic clip written to the user cache on first use::

    python -m core.demo paths                       # {"config": ..., "checkpoint": ..., "video": ...}
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import CamError, run_command
from core.limits import cache_dir
from core.synthetic import CLIP_FPS, DEMO_CLASSES, SyntheticClip, make_clip, write_clip

ASSETS = Path(__file__).resolve().parent / "demo_assets"
CONFIG = ASSETS / "moving_shapes_r3d.py"
CHECKPOINT = ASSETS / "moving_shapes_r3d.pth"

DEMO_VIDEO_SEED = 7
DEMO_VIDEO_LABEL = DEMO_CLASSES.index("moving right")
DEMO_VIDEO_FRAMES = 48
DEMO_VIDEO_SIZE = (160, 224)  # (height, width)
DEMO_VIDEO_FPS = CLIP_FPS


def demo_data_folder(cache: str | Path | None = None) -> Path:
    """Where :mod:`core.demo_data` makes the demo's clips, gaze, runs and batches."""
    return (Path(cache) if cache is not None else cache_dir()) / "demo-data"


def demo_clip() -> SyntheticClip:
    """The clip behind the demo video."""
    return make_clip(DEMO_VIDEO_SEED, label=DEMO_VIDEO_LABEL, frames=DEMO_VIDEO_FRAMES, size=DEMO_VIDEO_SIZE)


def demo_video_path(cache: str | Path | None = None) -> Path:
    """Where the demo video is (or will be) written."""
    name = "demo_" + DEMO_CLASSES[DEMO_VIDEO_LABEL].replace(" ", "_") + ".mp4"
    return (Path(cache) if cache is not None else cache_dir()) / name


def demo_video(cache: str | Path | None = None) -> Path:
    """The demo video's path, writing it into the cache first when it is not there yet."""
    path = demo_video_path(cache)
    if not path.is_file():
        try:
            write_clip(demo_clip(), path)
        except OSError as err:
            raise CamError(f"Could not write the demo video to {path} ({err.strerror}); "
                           "set MMCAM_CACHE to a writable folder.") from err
    return path


def demo_paths() -> dict[str, str]:
    """Absolute paths of the demo config, checkpoint and video (the video is written if absent)."""
    for asset in (CONFIG, CHECKPOINT):
        if not asset.is_file():
            raise CamError(f"The demo asset {asset} is missing; restore it from git or run "
                           "`python -m tools.demo train --out core/demo_assets`.")
    return {"config": str(CONFIG), "checkpoint": str(CHECKPOINT), "video": str(demo_video().resolve())}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.demo", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("paths", help="print the demo's config, checkpoint and video paths as one JSON line")
    parser.parse_args(argv)

    def action() -> int:
        print(json.dumps(demo_paths()))
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
