"""A real MMAction2 test dump for the tests: a tiny TSN (random weights, arranged head) run through
MMAction2's own ``tools/test.py --dump`` on ../shared/data's two videos, made once per test session."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, shared_file

TEST_PY = Path(importlib.util.find_spec("mmaction").origin).parent / ".mim" / "tools" / "test.py"

# Tiny TSN (ResNet-18, random weights) over 4 frames of 64x64: a few seconds on 2 cores.
CONFIG = """
default_scope = 'mmaction'
model = dict(
    type='Recognizer2D',
    backbone=dict(type='ResNet', depth=18, pretrained=None, norm_eval=False),
    cls_head=dict(type='TSNHead', num_classes=7, in_channels=512, spatial_type='avg',
                  consensus=dict(type='AvgConsensus', dim=1), dropout_ratio=0.0, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], format_shape='NCHW'))
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=4, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='CenterCrop', crop_size=64),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
test_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', ann_file={ann!r}, data_prefix=dict(video={root!r}),
                 pipeline=test_pipeline, test_mode=True))
test_evaluator = dict(type='AccMetric')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
"""

# Build the model with random weights, save it, then run MMAction2's own tools/test.py --dump.
# Random features of two videos look alike, so the head scores their difference from their mean
# (logits +-W.d/2) with its rows ordered so that demo.mp4 gets class 2 and test.mp4 class 3.
RUN_TEST_PY = """
import core, runpy, sys, torch
from mmengine.config import Config
from mmaction.apis import inference_recognizer
from mmaction.registry import MODELS
from mmaction.utils import register_all_modules
register_all_modules()
config, checkpoint, dump, work_dir, test_py, demo, test = sys.argv[1:]
torch.manual_seed(0)
model = MODELS.build(Config.fromfile(config).model).eval()
model.cfg = Config.fromfile(config)
fc = model.cls_head.fc_cls
features = []
hook = fc.register_forward_hook(lambda module, args, out: features.append(args[0][0]))
inference_recognizer(model, demo), inference_recognizer(model, test)
hook.remove()
weight = torch.randn_like(fc.weight)
logits = weight @ (features[0] - features[1])
rest = [c for c in range(7) if c not in (int(logits.argmax()), int(logits.argmin()))]
order = rest[:2] + [int(logits.argmax()), int(logits.argmin())] + rest[2:]
fc.weight.data = weight[order]
fc.bias.data = -fc.weight.data @ (features[0] + features[1]) / 2
torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
sys.argv = [test_py, config, checkpoint, '--dump', dump, '--work-dir', work_dir]
runpy.run_path(test_py, run_name='__main__')
"""

# sample i is line i; no line has class 3, which test.mp4 gets: a class only predicted
ANNOTATIONS = ["demo.mp4 2", "test.mp4 1", "demo.mp4 4", "test.mp4 0", "demo.mp4 2", "test.mp4 1"]


_MADE: dict = {}


def make_real_dump(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A dump written by the real tools/test.py, its test set, model files, and the metrics MMAction2
    logged for it (made once per session, whichever test module asks first)."""
    if "dump" in _MADE:
        return _MADE["dump"]
    root = shared_file("demo.mp4").parent
    shared_file("test.mp4")
    tmp = tmp_path_factory.mktemp("real_dump")
    ann = tmp / "test_list.txt"
    ann.write_text("\n".join(ANNOTATIONS) + "\n")
    config = tmp / "tiny_tsn.py"
    config.write_text(CONFIG.format(ann=str(ann), root=str(root)))
    dump, work_dir = tmp / "results.pkl", tmp / "work_dir"
    args = [config, tmp / "tiny.pth", dump, work_dir, TEST_PY, root / "demo.mp4", root / "test.mp4"]
    run = subprocess.run([sys.executable, "-c", RUN_TEST_PY, *map(str, args)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    logged = [json.loads(line) for path in work_dir.glob("*/*.json")
              for line in path.read_text().splitlines()]
    metrics = next(entry for entry in logged if "acc/top1" in entry)
    printed = dict(re.findall(r"(acc/\w+): (\d+\.\d+)", run.stdout + run.stderr))
    _MADE["dump"] = {"dump": dump, "ann": ann, "root": root, "config": config, "checkpoint": tmp / "tiny.pth",
                     "metrics": metrics, "printed": printed}
    return _MADE["dump"]
