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

# Every recognition config the wheel ships ("folder/name.py", custom_backbones included): the
# all-configs sweep (`pytest -m allconfigs tests/test_archs.py`) explains each one.
ALL_CONFIGS: list[str] = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.py") if "_base_" not in p.parts)


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


SAMPLERS = ("SampleFrames", "UniformSample", "DenseSampleFrames")

# How each architecture folder's configs are shrunk for CI. clip_len: frames per view (3D; at most the
# config's own) or per segment; segments: 2D segments; size: crop side (default 112); model: cfg
# overrides of the model, applied where the config's model has that key (only input-size settings,
# never the architecture's layers): fixed position embeddings follow the smaller input.
SHRINK: dict[str, dict] = {
    "c2d": dict(clip_len=4),
    "c3d": dict(clip_len=16),  # fc6 needs 16x112x112
    "csn": dict(clip_len=8),
    "i3d": dict(clip_len=8),
    "mvit": dict(clip_len=8),  # relative positions adapt to the input
    "omnisource": dict(clip_len=4),
    "r2plus1d": dict(clip_len=8),
    "slowfast": dict(clip_len=16),  # the slow path sees every 8th frame
    "slowonly": dict(clip_len=4),
    "swin": dict(clip_len=8),
    "tanet": dict(),
    "timesformer": dict(clip_len=2, size=224, model={"backbone.num_frames": 2}),  # fixed 224 positions
    "tin": dict(),
    "tpn": dict(clip_len=8),
    "trn": dict(),
    "tsm": dict(),
    "tsn": dict(segments=8),
    "uniformer": dict(clip_len=8),
    "uniformerv2": dict(clip_len=4, size=224, model={"backbone.t_size": 4}),  # fixed 224 positions
    "videomae": dict(clip_len=16),
    "videomaev2": dict(clip_len=16),
    "x3d": dict(clip_len=13),
}

# The sweep's lighter inputs for the big token models (native 224/336 positions shrunk with the input:
# the weights are random, so a position table of another size is as good as the original).
SWEEP_SHRINK: dict[str, dict] = {
    "timesformer": dict(clip_len=2, size=112, model={"backbone.num_frames": 2, "backbone.img_size": 112}),
    "uniformerv2": dict(clip_len=4, size=112, model={"backbone.t_size": 4, "backbone.input_resolution": 112}),
}

# One real config per recognition folder (tests/test_layouts.py, tests/test_methods.py …).
ARCHS: dict[str, str] = {
    "c2d": "c2d_r50-in1k-pre-nopool_8xb32-8x8x1-100e_kinetics400-rgb.py",
    "c3d": "c3d_sports1m-pretrained_8xb30-16x1x1-45e_ucf101-rgb.py",
    "csn": "ircsn_ig65m-pretrained-r50-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb.py",
    "i3d": "i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py",
    "mvit": "mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py",
    "omnisource": "slowonly_r50_8xb16-8x8x1-256e_imagenet-kinetics400-rgb.py",
    "r2plus1d": "r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py",
    "slowfast": "slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py",
    "slowonly": "slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb.py",
    "swin": "swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py",
    "tanet": "tanet_imagenet-pretrained-r50_8xb8-dense-1x1x8-100e_kinetics400-rgb.py",
    "timesformer": "timesformer_divST_8xb8-8x32x1-15e_kinetics400-rgb.py",
    "tin": "tin_kinetics400-pretrained-tsm-r50_1x1x8-50e_kinetics400-rgb.py",
    "tpn": "tpn-slowonly_r50_8xb8-8x8x1-150e_kinetics400-rgb.py",
    "trn": "trn_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv1-rgb.py",  # rawframes config
    "tsm": "tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py",
    "tsn": "tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py",
    "uniformer": "uniformer-small_imagenet1k-pre_16x4x1_kinetics400-rgb.py",
    "uniformerv2": "uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics400-rgb.py",
    "videomae": "vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py",
    "videomaev2": "vit-small-p16_videomaev2-vit-g-dist-k710-pre_16x4x1_kinetics-400.py",
    "x3d": "x3d_s_13x6x1_facebook-kinetics400-rgb.py",
}

# One config per distinct way a model turns a clip into the layer a CAM reads: the default suite
# explains these (tests/test_archs.py); the all-configs sweep explains the rest.
STRUCTURES: dict[str, str] = {
    "3D convolutions": "i3d/" + ARCHS["i3d"],
    "frame-wise 2D stages with temporal pooling": "c2d/c2d_r50-in1k-pre_8xb32-8x8x1-100e_kinetics400-rgb.py",
    "two pathways": "slowfast/" + ARCHS["slowfast"],
    "2D segments": "tsn/" + ARCHS["tsn"],
    "2D segments with temporal shift (in-PyTorch op)": "tin/" + ARCHS["tin"],
    "relation head, random at test time (rawframes config)": "trn/" + ARCHS["trn"],
    "neck with keyword features before the head": "tpn/" + ARCHS["tpn"],
    "image and video heads": "omnisource/" + ARCHS["omnisource"],
    "fully connected layers after the last convolution": "c3d/" + ARCHS["c3d"],
    "convolution and attention stages": "uniformer/" + ARCHS["uniformer"],
    "channels-last stages": "swin/" + ARCHS["swin"],
    "tokens with a class token, blocks return tuples": "mvit/" + ARCHS["mvit"],
    "space-major tokens": "timesformer/" + ARCHS["timesformer"],
    "tokens without class token (tubelets)": "videomae/" + ARCHS["videomae"],
    "sequence-first tokens, frames in the batch": "uniformerv2/" + ARCHS["uniformerv2"],
}


def config_path(config: str | Path) -> Path:
    """A folder name of :data:`ARCHS` (its config), a ``folder/name.py`` under :data:`CONFIGS`, or a path."""
    if str(config) in ARCHS:
        return CONFIGS / str(config) / ARCHS[str(config)]
    path = Path(config)
    return path if path.is_absolute() else CONFIGS / path


def _has_key(cfg, dotted: str) -> bool:
    node = cfg.model
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def small_config(config: str | Path, *, sweep: bool = False):
    """The config (see :func:`config_path`) with its test pipeline shrunk for CI: one view, few frames
    or segments, small crops (``sweep``: the lighter inputs of :data:`SWEEP_SHRINK` for big token models)."""
    path = config_path(config)
    folder = path.relative_to(CONFIGS).parts[0] if path.is_relative_to(CONFIGS) else ""
    opts = (SWEEP_SHRINK if sweep and folder in SWEEP_SHRINK else SHRINK).get(folder, {})
    cfg = load_config(path)
    overrides = {f"model.{k}": v for k, v in opts.get("model", {}).items() if _has_key(cfg, k)}
    if overrides:
        cfg.merge_from_dict(overrides)
    size = opts.get("size", 112)
    if "test_pipeline" not in cfg:  # a model-only config (UniFormerV2's Kinetics-710 pretraining)
        return cfg
    pipeline = []
    for op in cfg.test_pipeline:
        op = dict(op)
        if op["type"] in SAMPLERS:
            if op.get("clip_len", 1) > 1 or op["type"] == "UniformSample":
                op["num_clips"] = 1  # 3D: clips are views
                op["clip_len"] = min(op["clip_len"], opts.get("clip_len", op["clip_len"]))
            else:  # 2D: clips are segments (TSM-like backbones shift over exactly num_segments)
                op["num_clips"] = opts.get("segments", op["num_clips"])
            op.pop("twice_sample", None)
            if op["type"] == "DenseSampleFrames":
                op["num_sample_positions"] = 1
        elif op["type"] == "Resize":
            op["scale"] = (-1, size)
        elif op["type"] in ("CenterCrop", "ThreeCrop", "TenCrop"):
            op["crop_size"] = size
        pipeline.append(op)
    cfg.test_pipeline = pipeline
    cfg.test_dataloader.dataset.pipeline = pipeline
    return cfg
