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


# One real config per recognition folder, shrunk for CI (tests/test_archs.py)
SAMPLERS = ("SampleFrames", "UniformSample", "DenseSampleFrames")

# folder: (config, shrink options). clip_len: frames per view (3D) or per segment; size: crop side;
# model: cfg overrides of the model (only input-size settings, never the architecture's layers).
ARCHS: dict[str, tuple[str, dict]] = {
    "c2d": ("c2d_r50-in1k-pre-nopool_8xb32-8x8x1-100e_kinetics400-rgb.py", dict(clip_len=4)),
    "c3d": ("c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py", dict(clip_len=16)),  # fc6 needs 16x112
    "csn": ("ircsn_ig65m-pretrained-r50-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb.py", dict(clip_len=8)),
    "i3d": ("i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py", dict(clip_len=8)),
    "mvit": ("mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py", dict(clip_len=8)),  # relative positions
    "omnisource": ("slowonly_r50_8xb16-8x8x1-256e_imagenet-kinetics400-rgb.py", dict(clip_len=4)),
    "r2plus1d": ("r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py", dict(clip_len=8)),
    "slowfast": ("slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py", dict(clip_len=16)),
    "slowonly": ("slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb.py", dict(clip_len=4)),
    "swin": ("swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py", dict(clip_len=8)),
    "tanet": ("tanet_imagenet-pretrained-r50_8xb8-dense-1x1x8-100e_kinetics400-rgb.py", dict(positions=1)),
    "timesformer": ("timesformer_divST_8xb8-8x32x1-15e_kinetics400-rgb.py",
                    dict(clip_len=2, size=224, model={"backbone.num_frames": 2})),  # fixed 224 positions
    "tin": ("tin_kinetics400-pretrained-tsm-r50_1x1x8-50e_kinetics400-rgb.py", {}),
    "tpn": ("tpn-slowonly_r50_8xb8-8x8x1-150e_kinetics400-rgb.py", dict(clip_len=8)),
    "trn": ("trn_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv1-rgb.py", {}),  # rawframes config
    "tsm": ("tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py", {}),
    "tsn": ("tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py", dict(segments=8)),
    "uniformer": ("uniformer-small_imagenet1k-pre_16x4x1_kinetics400-rgb.py", dict(clip_len=8)),
    "uniformerv2": ("uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics400-rgb.py",
                    dict(clip_len=4, size=224, model={"backbone.t_size": 4})),  # fixed 224 positions
    "videomae": ("vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py", dict(clip_len=16)),
    "videomaev2": ("vit-small-p16_videomaev2-vit-g-dist-k710-pre_16x4x1_kinetics-400.py", dict(clip_len=16)),
    "x3d": ("x3d_s_13x6x1_facebook-kinetics400-rgb.py", dict(clip_len=13)),
}


def small_config(folder: str):
    """The folder's config with its test pipeline shrunk for CI (one view, small crops)."""
    name, opts = ARCHS[folder]
    cfg = load_config(CONFIGS / folder / name, {f"model.{k}": v for k, v in opts.get("model", {}).items()})
    size = opts.get("size", 112)
    pipeline = []
    for op in cfg.test_pipeline:
        op = dict(op)
        if op["type"] in SAMPLERS:
            if op.get("clip_len", 1) > 1 or op["type"] == "UniformSample":
                op["num_clips"] = 1  # 3D: clips are views
            op["num_clips"] = opts.get("segments", op["num_clips"])  # 2D: clips are segments
            op["clip_len"] = opts.get("clip_len", op.get("clip_len", 1))
            op.pop("twice_sample", None)
            if "positions" in opts:
                op["num_sample_positions"] = opts["positions"]
        elif op["type"] == "Resize":
            op["scale"] = (-1, size)
        elif op["type"] in ("CenterCrop", "ThreeCrop", "TenCrop"):
            op["crop_size"] = size
        pipeline.append(op)
    cfg.test_pipeline = pipeline
    cfg.test_dataloader.dataset.pipeline = pipeline
    return cfg
