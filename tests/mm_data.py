"""A small real MMAction2 project for the tests, made once per session: synthetic clips (``core.synthetic``), a
tiny 3D ResNet config, two epochs trained with MMAction2's own ``tools/train.py`` and a ``tools/test.py --dump``,
both run through ``python -m core.mm`` from the project folder (not the repository root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from core.demo import write_clip
from core.synthetic import DEMO_CLASSES, make_clip

NAME = "tiny_r3d"
SPLITS = {"train": (8, 100), "val": (4, 200), "test": (6, 300)}  # clips per split, first seed

# The demo's slim ResNet3d at 8 base channels on 8 frames of 32x32: a training iteration takes about a second.
CONFIG = """
default_scope = 'mmaction'
classes = {classes!r}
data_root = 'videos'
model = dict(
    type='Recognizer3D',
    backbone=dict(type='ResNet3d', depth=18, pretrained=None, pretrained2d=False, num_stages=3, base_channels=8,
                  out_indices=(2, ), spatial_strides=(1, 2, 1), temporal_strides=(1, 1, 1), dilations=(1, 1, 1),
                  conv1_kernel=(3, 7, 7), conv1_stride_t=1, pool1_stride_t=1, with_pool2=False,
                  inflate=((1, 0), (0, 0), (0, 0)), zero_init_residual=False, norm_eval=False),
    cls_head=dict(type='I3DHead', num_classes=4, in_channels=32, spatial_type='avg', dropout_ratio=0.0,
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
def loader(split, batch, shuffle=False, test_mode=True):
    return dict(batch_size=batch, num_workers=0, persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=shuffle),
                dataset=dict(type='VideoDataset', ann_file=f'{{split}}_list.txt', data_prefix=dict(video=data_root),
                             metainfo=dict(classes=classes), test_mode=test_mode,
                             pipeline=test_pipeline if test_mode else train_pipeline))
train_dataloader = loader('train', 4, shuffle=True, test_mode=False)
val_dataloader = loader('val', 2)
test_dataloader = loader('test', 2)
del loader
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='MultiStepLR', begin=0, end=2, by_epoch=True, milestones=[1], gamma=0.5)]
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


def core_mm(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m core.mm ARGS`` run from ``cwd`` (the repository only on PYTHONPATH, as an installed package)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-m", "core.mm", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def write_project(root: Path) -> Path:
    """Synthetic clips, annotation lists and the config in ``root``; returns the config."""
    (root / "videos").mkdir(parents=True, exist_ok=True)
    for split, (count, seed) in SPLITS.items():
        lines = []
        for i in range(count):
            clip = make_clip(seed + i, label=i % len(DEMO_CLASSES), frames=16, size=(64, 64))
            write_clip(clip, root / "videos" / f"{split}_{i}.mp4", fps=8)
            lines.append(f"{split}_{i}.mp4 {clip.label}")
        (root / f"{split}_list.txt").write_text("\n".join(lines) + "\n")
    config = root / f"{NAME}.py"
    config.write_text(CONFIG.format(classes=list(DEMO_CLASSES)))
    return config


_MADE: dict = {}


def trained_project(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The project after ``core.mm train`` (2 epochs) and ``core.mm test epoch_2.pth --dump``: its paths, the
    commands' outputs, and the test metrics MMAction2 logged (made once per session)."""
    if "project" in _MADE:
        return _MADE["project"]
    root = tmp_path_factory.mktemp("mm_project")
    config = write_project(root)
    train = core_mm(["train", config.name], cwd=root)
    assert train.returncode == 0, train.stderr[-3000:]
    work_dir = root / "work_dirs" / NAME
    checkpoint = work_dir / "epoch_2.pth"
    test = core_mm(["test", config.name, str(checkpoint.relative_to(root)), "--dump", "results.pkl"], cwd=root)
    assert test.returncode == 0, test.stderr[-3000:]
    summaries = sorted(work_dir.glob("*/*.json"))
    metrics = json.loads(summaries[-1].read_text().splitlines()[-1])
    _MADE["project"] = {"root": root, "config": config, "work_dir": work_dir, "checkpoint": checkpoint,
                        "dump": root / "results.pkl", "train": train, "test": test, "metrics": metrics}
    return _MADE["project"]
