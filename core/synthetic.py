"""Synthetic motion clips for the demo model: one object moves, look-alike distractors stay still.

A clip shows one filled object (a disk or a square of "radius" 8-14 px, i.e. half the side of
the square) moving in a straight line at a constant 2-4 px/frame over a static cluttered
background: a blocky random colour texture plus a few static shapes of similar size and colour.
Only the motion tells the class, so an explanation of the right answer must light up the moving
object. Everything is drawn from ``numpy.random.default_rng(seed)``, so a seed is a clip.

Coordinates follow image convention: x to the right, y down, pixel centres at integers.

``python -m core.synthetic project DIR`` writes a small MMAction2 project of such clips (see
:func:`write_project`): videos of N classes, train/val annotation lists, a label map, a tiny I3D config that
trains for one epoch in seconds on a CPU, and eye-tracker samples of synthetic observers
(:mod:`core.observers`), on which the README's workflow runs as written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import CamError, CommandParser, run_command
from core.observers import write_samples
from core.overlay import write_video

DEMO_CLASSES: tuple[str, ...] = ("moving left", "moving right", "moving up", "moving down")
"""Class names of the demo model, in label order."""

DIRECTIONS: dict[str, tuple[int, int]] = {
    "moving left": (-1, 0), "moving right": (1, 0), "moving up": (0, -1), "moving down": (0, 1)}
"""Unit (dx, dy) of each class in image coordinates (right = +x, down = +y)."""

FRAMES_RANGE = (16, 64)
SIZE_RANGE = (96, 256)
RADIUS_RANGE = (8, 14)
SPEED_RANGE = (2.0, 4.0)
CLIP_FPS = 12


@dataclass(frozen=True)
class SyntheticClip:
    """One generated clip and the ground truth needed to score its explanation."""

    frames: np.ndarray
    """uint8 RGB frames, shape [T, H, W, 3]."""
    label: int
    """Index into :data:`DEMO_CLASSES`."""
    label_name: str
    centers: np.ndarray
    """float64 [T, 2]: the moving object's centre (x, y) in each frame."""
    radius: int
    """Half the object's extent in pixels (disk radius or half the square's side)."""
    speed: float
    """Pixels per frame along the class direction."""
    shape: str
    """``"disk"`` or ``"square"``."""


def _coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Anti-aliased fraction of each pixel covered by the shape centred at offset (0, 0)."""
    if shape == "disk":
        return np.clip(radius + 0.5 - np.hypot(dx, dy), 0.0, 1.0)
    return np.clip(radius + 0.5 - np.abs(dx), 0.0, 1.0) * np.clip(radius + 0.5 - np.abs(dy), 0.0, 1.0)


def _draw(image: np.ndarray, shape: str, center: tuple[float, float], radius: float,
          colour: np.ndarray) -> None:
    """Blend a filled shape into ``image`` (float32 [H, W, 3]) in place, with sub-pixel position."""
    height, width = image.shape[:2]
    cx, cy = center
    x0, x1 = max(int(np.floor(cx - radius - 1)), 0), min(int(np.ceil(cx + radius + 2)), width)
    y0, y1 = max(int(np.floor(cy - radius - 1)), 0), min(int(np.ceil(cy + radius + 2)), height)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    alpha = _coverage(shape, xs - cx, ys - cy, radius)[..., None]
    patch = image[y0:y1, x0:x1]
    patch *= 1.0 - alpha
    patch += alpha * colour


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Blocky random colour texture: two grids of random-colour blocks, one coarse, one fine."""
    image = np.zeros((height, width, 3), np.float32)
    for weight, block in ((0.6, int(rng.integers(16, 33))), (0.4, int(rng.integers(6, 13)))):
        grid = rng.integers(0, 256, size=(-(-height // block), -(-width // block), 3)).astype(np.float32)
        image += weight * np.repeat(np.repeat(grid, block, axis=0), block, axis=1)[:height, :width]
    return image


def _pick_size(rng: np.random.Generator, size: int | tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        height = 2 * int(rng.integers(SIZE_RANGE[0] // 2, SIZE_RANGE[1] // 2 + 1))
        width = height if rng.random() < 0.3 else 2 * int(rng.integers(SIZE_RANGE[0] // 2,
                                                                       SIZE_RANGE[1] // 2 + 1))
        return height, width
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def make_clip(seed: int, *, label: int | None = None, frames: int | None = None,
              size: int | tuple[int, int] | None = None, clutter: float = 1.0) -> SyntheticClip:
    """Generate the clip of ``seed``; ``label``, ``frames`` and ``size`` fix what is otherwise random.

    ``clutter`` in [0, 1] scales the background's contrast and the number of distractors (1 is the
    task; training starts lower as a curriculum); it draws the same random numbers at any value.

    ``size`` is an int (square) or ``(height, width)``. Random sizes are even (so the clip can be
    written as H.264), random frame counts are chosen so the whole path stays inside the frame.
    Raises ``ValueError`` when the requested frames cannot fit the slowest object in the frame.
    """
    rng = np.random.default_rng(seed)
    label = int(rng.integers(len(DEMO_CLASSES))) if label is None else int(label)
    if not 0 <= label < len(DEMO_CLASSES):
        raise ValueError(f"label must be in 0..{len(DEMO_CLASSES) - 1}, got {label}")
    name = DEMO_CLASSES[label]
    dx, dy = DIRECTIONS[name]
    radius = int(rng.integers(RADIUS_RANGE[0], RADIUS_RANGE[1] + 1))
    height, width = _pick_size(rng, size)
    along = width if dx else height
    if frames is None:
        longest = int((along - 2 * radius - 2) // SPEED_RANGE[0]) + 1
        frames = int(rng.integers(FRAMES_RANGE[0], max(min(FRAMES_RANGE[1], longest), FRAMES_RANGE[0]) + 1))
    room = along - 2 * radius - 2  # the path must keep the whole object one pixel inside the frame
    fastest = min(SPEED_RANGE[1], room / max(frames - 1, 1))
    if fastest < SPEED_RANGE[0]:
        raise ValueError(f"{frames} frames at {SPEED_RANGE[0]:g} px/frame do not fit a radius-{radius} "
                         f"object moving across {along} px")
    speed = float(rng.uniform(SPEED_RANGE[0], fastest))
    travel = speed * (frames - 1)
    start_along = radius + 1 + rng.uniform(0, room - travel)
    if dx < 0 or dy < 0:
        start_along = along - 1 - start_along
    across = width if dy else height
    start_across = rng.uniform(radius + 1, across - radius - 2)
    start = (start_along, start_across) if dx else (start_across, start_along)
    steps = np.arange(frames, dtype=np.float64)[:, None]
    centers = np.asarray(start, np.float64)[None] + steps * speed * np.array([dx, dy], np.float64)

    shape = "disk" if rng.random() < 0.5 else "square"
    colour = rng.integers(0, 256, size=3).astype(np.float32)
    background = _background(rng, height, width)
    background = 128.0 + clutter * (background - 128.0)
    twins = int(rng.integers(3, 7))
    for index in range(twins):
        twin = np.clip(colour + rng.normal(0, 20, size=3), 0, 255).astype(np.float32)
        twin_radius = int(rng.integers(RADIUS_RANGE[0], RADIUS_RANGE[1] + 1))
        twin_shape = "disk" if rng.random() < 0.5 else "square"
        twin_center = (rng.uniform(0, width), rng.uniform(0, height))
        if index < round(clutter * twins):
            _draw(background, twin_shape, twin_center, twin_radius, twin)

    video = np.empty((frames, height, width, 3), np.uint8)
    for index, center in enumerate(centers):
        image = background.copy()
        _draw(image, shape, (center[0], center[1]), radius, colour)
        video[index] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return SyntheticClip(frames=video, label=label, label_name=name, centers=centers, radius=radius,
                         speed=speed, shape=shape)


def write_clip(clip: SyntheticClip, path: str | Path, fps: float = CLIP_FPS) -> Path:
    """Write a clip as H.264 mp4 (atomically, through :func:`core.overlay.write_video`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(clip.frames, path, fps)


# --- a sample MMAction2 project ----------------------------------------------------------------------------

# The demo's slim ResNet3d at 8 base channels on 8 frames of 32x32: a training iteration takes about a second.
_CONFIG = """# A tiny I3D-style recognizer of synthetic clips (python -m core.synthetic project), trained in seconds.
default_scope = 'mmaction'
classes = {classes!r}
model = dict(
    type='Recognizer3D',
    backbone=dict(type='ResNet3d', depth=18, pretrained=None, pretrained2d=False, num_stages=3, base_channels=8,
                  out_indices=(2, ), spatial_strides=(1, 2, 1), temporal_strides=(1, 1, 1), dilations=(1, 1, 1),
                  conv1_kernel=(3, 7, 7), conv1_stride_t=1, pool1_stride_t=1, with_pool2=False,
                  inflate=((1, 0), (0, 0), (0, 0)), zero_init_residual=False, norm_eval=False),
    cls_head=dict(type='I3DHead', num_classes={num_classes}, in_channels=32, spatial_type='avg', dropout_ratio=0.0,
                  init_std=0.01, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
train_pipeline = [
    dict(type='DecordInit'), dict(type='UniformSample', clip_len=8, num_clips=1),
    dict(type='DecordDecode'), dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'), dict(type='PackActionInputs')]
test_pipeline = [
    dict(type='DecordInit'), dict(type='UniformSample', clip_len=8, num_clips=1, test_mode=True),
    dict(type='DecordDecode'), dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'), dict(type='PackActionInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VideoDataset', ann_file={train[0]!r}, data_prefix=dict(video={train[1]!r}),
                 metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', ann_file={val[0]!r}, data_prefix=dict(video={val[1]!r}),
                 metainfo=dict(classes=classes), pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', ann_file={test[0]!r}, data_prefix=dict(video={test[1]!r}),
                 metainfo=dict(classes=classes), pipeline=test_pipeline, test_mode=True))
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs={epochs}, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='MultiStepLR', begin=0, end={epochs}, by_epoch=True, milestones=[{milestone}], gamma=0.5)]
default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'), timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1), param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'), sync_buffers=dict(type='SyncBuffersHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=1, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
"""


def project_config(classes: Sequence[str], splits: dict[str, tuple[str, str]], *, epochs: int = 1) -> str:
    """The text of the tiny recognizer's MMAction2 config. ``splits`` maps ``train``, ``val`` and ``test`` to
    (annotation file, video folder), relative to where ``tools/train.py`` runs."""
    return _CONFIG.format(classes=list(classes), num_classes=len(classes), epochs=int(epochs),
                          milestone=max(1, epochs // 2), **splits)


PROJECT_SIZE, PROJECT_FRAMES, PROJECT_FPS = (64, 64), 16, 8
SPLIT_SEEDS = {"train": 100, "val": 200}  # first seed of each split's clips


def write_project(root: str | Path, *, classes: int = len(DEMO_CLASSES), train: int = 2, val: int = 1,
                  subjects: int = 5, name: str = "my_i3d", epochs: int = 1) -> dict[str, str]:
    """Write a small MMAction2 project of synthetic clips into ``root`` and return what it holds:

    - ``data/train/clip_NN.mp4`` and ``data/val/clip_NN.mp4``: ``train`` and ``val`` clips per class (the
      first ``classes`` of :data:`DEMO_CLASSES`, 16 frames of 64x64 at 8 fps), listed with their labels in
      ``data/train_list.txt`` and ``data/val_list.txt`` (MMAction2's ``path label`` annotation files);
    - ``data/label_map.txt``: the class names, one a line;
    - ``configs/<name>.py``: the tiny recognizer (:func:`project_config`, validation and test on the val list);
    - ``data/gaze_samples.csv``: ``subjects`` synthetic observers watching every val clip
      (:mod:`core.observers`), for ``python -m core.gaze.fixations``.

    Paths in the config and lists are relative to ``root`` (run the commands from there).
    """
    if not 1 <= classes <= len(DEMO_CLASSES):
        raise CamError(f"--classes must be 1 to {len(DEMO_CLASSES)} (the directions a shape moves in), not {classes}.")
    if train < 1 or val < 1 or subjects < 1 or epochs < 1:
        raise CamError("--train, --val, --subjects and --epochs must each be at least 1.")
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise CamError(f"{root} exists and is not an empty folder; name a new folder for the sample project.")
    names = DEMO_CLASSES[:classes]
    data = root / "data"
    gaze_clips = {}
    for split, per_class in (("train", train), ("val", val)):
        lines = []
        for i in range(per_class * classes):
            clip = make_clip(SPLIT_SEEDS[split] + i, label=i % classes, frames=PROJECT_FRAMES, size=PROJECT_SIZE)
            video = f"clip_{i:02d}.mp4"
            write_clip(clip, data / split / video, fps=PROJECT_FPS)
            lines.append(f"{video} {clip.label}")
            if split == "val":
                gaze_clips[video] = (clip.centers, PROJECT_SIZE)
        (data / f"{split}_list.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data / "label_map.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    write_samples(data / "gaze_samples.csv", gaze_clips, PROJECT_FPS, subjects=subjects)
    config = root / "configs" / f"{name}.py"
    config.parent.mkdir(parents=True, exist_ok=True)
    val_split = ("data/val_list.txt", "data/val")
    config.write_text(project_config(names, {"train": ("data/train_list.txt", "data/train"), "val": val_split,
                                             "test": val_split}, epochs=epochs), encoding="utf-8")
    return {"root": str(root), "config": str(config), "train_list": str(data / "train_list.txt"),
            "val_list": str(data / "val_list.txt"), "label_map": str(data / "label_map.txt"),
            "gaze_samples": str(data / "gaze_samples.csv")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = CommandParser(prog="python -m core.synthetic",
                           description="Synthetic clips of a moving shape, as a small MMAction2 project.")
    commands = parser.add_subparsers(dest="command", required=True)
    project = commands.add_parser("project", help="write a sample MMAction2 project (videos, lists, label map, "
                                                  "config, gaze samples)")
    project.add_argument("folder", help="a new (or empty) folder for the project")
    project.add_argument("--classes", type=int, default=len(DEMO_CLASSES), help="number of classes (1-4)")
    project.add_argument("--train", type=int, default=2, help="training clips per class")
    project.add_argument("--val", type=int, default=1, help="validation (and test) clips per class")
    project.add_argument("--subjects", type=int, default=5, help="synthetic observers in data/gaze_samples.csv")
    project.add_argument("--name", default="my_i3d", help="the config's name (configs/NAME.py, work_dirs/NAME/)")
    project.add_argument("--epochs", type=int, default=1, help="training epochs in the config")

    def action() -> int:
        args = parser.parse_args(argv)
        print(json.dumps(write_project(args.folder, classes=args.classes, train=args.train, val=args.val,
                                       subjects=args.subjects, name=args.name, epochs=args.epochs)))
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
