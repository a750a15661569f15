"""A tiny, real MMAction2 recognizer config (ResNet3dSlowOnly-18, 8 base channels) for fast tests.

It is a complete runner config, so MMEngine's Runner can train it for a few iterations and save a
genuine runner checkpoint (meta with numpy scalars, message_hub, optimizer state).
"""

from __future__ import annotations

from pathlib import Path

CONFIG = """
default_scope = 'mmaction'
model = dict(
    type='Recognizer3D',
    backbone=dict(type='ResNet3dSlowOnly', depth=18, pretrained=None, base_channels=8,
                  conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1)),
    cls_head=dict(type='I3DHead', in_channels=64, num_classes={num_classes}, spatial_type='avg',
                  dropout_ratio=0.0, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCTHW'))
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 72)),
    dict(type='CenterCrop', crop_size=64),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=2, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='ThreeCrop', crop_size=64),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')]
train_dataloader = dict(
    batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', ann_file='{ann_file}', data_prefix=dict(video='{video_root}'),
                 pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', ann_file='{ann_file}', data_prefix=dict(video='{video_root}'),
                 pipeline=test_pipeline, test_mode=True))
test_evaluator = dict(type='AccMetric')
test_cfg = dict(type='TestLoop')
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=10)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', milestones=[1], gamma=0.1)]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1), logger=dict(type='LoggerHook', interval=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
log_level = 'WARNING'
randomness = dict(seed=0)
"""


def write_tiny_config(folder: Path, videos: list[Path], num_classes: int = 5) -> Path:
    """Write the config and an annotation file listing ``videos`` (label i % num_classes)."""
    folder.mkdir(parents=True, exist_ok=True)
    ann = folder / "ann.txt"
    ann.write_text("".join(f"{v.name} {i % num_classes}\n" for i, v in enumerate(videos)))
    path = folder / "tiny_cfg.py"
    path.write_text(CONFIG.format(num_classes=num_classes, ann_file=ann, video_root=videos[0].parent))
    return path


def train_with_runner(config: Path, work_dir: Path) -> Path:
    """Train one epoch with MMEngine's Runner (as tools/train.py does) and return its checkpoint."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import core  # noqa: F401  (the mmaction2 wheel fixes)

    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(work_dir)
    Runner.from_cfg(cfg).train()
    return work_dir / "epoch_1.pth"


CLASSES = list("abcde")


def make_model(folder: Path, videos: list[Path] | None = None) -> tuple[Path, Path]:
    """The tiny config in ``folder`` (annotations list ``videos``, default demo.mp4 and test.mp4) and a
    checkpoint of its random weights (seed 1) naming the classes a-e: ``(config, checkpoint)``."""
    import torch
    from conftest import shared_file

    import core

    if videos is None:
        demo = shared_file("demo.mp4")
        videos = [demo, demo.with_name("test.mp4")]
    config = write_tiny_config(folder, videos)
    handle = core.load_model(config, device="cpu", seed=1)
    torch.save({"state_dict": handle.model.state_dict(), "meta": {"dataset_meta": {"classes": CLASSES}}},
               folder / "tiny.pth")
    return config, folder / "tiny.pth"
