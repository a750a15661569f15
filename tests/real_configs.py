"""Real MMAction2 configs from the installed wheel, shrunk (fewer clips, smaller frames) for CPU tests."""

from __future__ import annotations

from pathlib import Path

import mmaction

import core  # noqa: F401
from core.model import load_config

CONFIGS = Path(mmaction.__file__).parent / ".mim" / "configs" / "recognition"
TSN = CONFIGS / "tsn" / "tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py"
I3D = CONFIGS / "i3d" / "i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py"
SLOWFAST = CONFIGS / "slowfast" / "slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py"


def shrunk(path: Path, *, num_clips: int, size: int, clip_len: int | None = None):
    """The config with its test pipeline sampling ``num_clips`` clips and cropping ``size`` pixels."""
    cfg = load_config(path)
    for op in cfg.test_pipeline:
        if op["type"] == "SampleFrames":
            op["num_clips"] = num_clips
            if clip_len:
                op["clip_len"] = clip_len
        elif op["type"] == "Resize":
            op["scale"] = (-1, size)
        elif op["type"] in ("CenterCrop", "ThreeCrop", "TenCrop"):
            op["crop_size"] = size
    cfg.test_dataloader.dataset.pipeline = cfg.test_pipeline
    return cfg
