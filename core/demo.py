"""The embedded demo: a tiny recognizer of synthetic motion that works offline at once.

The committed assets in ``core/demo_assets`` (config + < 5 MB checkpoint) are reproduced from
scratch on CPU by ``python -m core.demo train``; the demo video is a synthetic clip written to the
user cache on first use. Command line::

    python -m core.demo paths                       # {"config": ..., "checkpoint": ..., "video": ...}
    python -m core.demo train [--out DIR] [--seed N]
    python -m core.demo evaluate [--clips N] [--first-seed S]

Training clips use seeds ``1_000_000 * (seed + 1) + k``; evaluation uses seeds below 1_000_000,
so it always scores clips the training never saw.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.errors import CamError
from core.synthetic import DEMO_CLASSES, SyntheticClip, make_clip

ASSETS = Path(__file__).resolve().parent / "demo_assets"
CONFIG = ASSETS / "moving_shapes_r3d.py"
CHECKPOINT = ASSETS / "moving_shapes_r3d.pth"

DEMO_VIDEO_SEED = 7
DEMO_VIDEO_LABEL = DEMO_CLASSES.index("moving right")
DEMO_VIDEO_FRAMES = 48
DEMO_VIDEO_SIZE = (160, 224)  # (height, width)
DEMO_VIDEO_FPS = 12

TRAIN_SEED_STRIDE = 1_000_000


def cache_dir() -> Path:
    """Where generated files live: ``$MMCAM_CACHE``, else ``~/.cache/mmaction-cam``."""
    return Path(os.environ.get("MMCAM_CACHE") or Path.home() / ".cache" / "mmaction-cam")


def _write_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    """Write uint8 RGB frames [T, H, W, 3] as H.264 mp4 (temporary; core.overlay.write_video replaces it)."""
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_clip(clip: SyntheticClip | np.ndarray, path: str | Path, fps: int = DEMO_VIDEO_FPS) -> Path:
    """Write a synthetic clip (or frames) as mp4, atomically (temporary file, then rename)."""
    frames = clip.frames if isinstance(clip, SyntheticClip) else clip
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(suffix=".mp4", dir=path.parent, prefix=f".{path.stem}-")
    os.close(handle)
    try:
        _write_mp4(frames, Path(tmp), fps)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def demo_clip() -> SyntheticClip:
    """The clip behind the demo video."""
    return make_clip(DEMO_VIDEO_SEED, label=DEMO_VIDEO_LABEL, frames=DEMO_VIDEO_FRAMES, size=DEMO_VIDEO_SIZE)


def demo_video(cache: str | Path | None = None) -> Path:
    """The demo video's path, writing it into the cache first when it is not there yet."""
    name = "demo_" + DEMO_CLASSES[DEMO_VIDEO_LABEL].replace(" ", "_") + ".mp4"
    path = Path(cache) if cache is not None else cache_dir()
    path = path / name
    if not path.is_file():
        try:
            write_clip(demo_clip(), path)
        except OSError as err:
            raise CamError(f"Could not write the demo video to {path} ({err.strerror}); "
                           "set MMCAM_CACHE to a writable folder.") from None
    return path


def demo_paths() -> dict[str, str]:
    """Absolute paths of the demo config, checkpoint and video (the video is written if absent)."""
    for asset in (CONFIG, CHECKPOINT):
        if not asset.is_file():
            raise CamError(f"The demo asset {asset} is missing; restore it from git or run "
                           "`python -m core.demo train --out core/demo_assets`.")
    return {"config": str(CONFIG), "checkpoint": str(CHECKPOINT), "video": str(demo_video().resolve())}


# --- the in-memory test pipeline used for training --------------------------------------------------


def array_pipeline(test_pipeline: Sequence[dict]):
    """The config's test pipeline reading frames from memory: ``DecordInit`` dropped, ``DecordDecode``
    replaced by MMAction2's ``ArrayDecode``; sampling, resizing and packing are the config's own."""
    import mmaction.datasets  # noqa: F401  (registers the transforms)
    from mmaction.registry import TRANSFORMS
    from mmengine.dataset import Compose

    steps = []
    for step in test_pipeline:
        kind = step["type"]
        if kind in ("DecordInit", "PyAVInit", "OpenCVInit"):
            continue
        steps.append(TRANSFORMS.build(dict(type="ArrayDecode") if kind.endswith("Decode") else dict(step)))
    return Compose(steps)


def pack_clip(pipeline, frames: np.ndarray, label: int | None = None) -> dict:
    """Run ``pipeline`` (from :func:`array_pipeline`) on frames [T, H, W, 3] in memory."""
    results = dict(array=frames, total_frames=len(frames), start_index=0, modality="RGB")
    if label is not None:
        results["label"] = label
    return pipeline(results)


def build_recognizer(cfg):
    """Build the config's recognizer from MMAction2's registry with freshly initialised weights."""
    import logging

    from mmaction.registry import MODELS
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    MMLogger.get_current_instance().setLevel(logging.ERROR)  # init_weights reports every tensor
    init_default_scope(cfg.get("default_scope", "mmaction"))
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


# --- training -----------------------------------------------------------------------------------------


def _clutter(step: int, steps: int) -> float:
    """Curriculum: plain backgrounds for the first quarter, clutter ramping up to 1 by 60 %."""
    return float(np.clip((step / steps - 0.25) / 0.35, 0.0, 1.0))


def _learning_rate(step: int, steps: int, lr: float) -> float:
    """Constant, then a cosine decay over the last 40 % of the steps."""
    progress = max(0.0, (step / steps - 0.6) / 0.4)
    return lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * progress)))


def train(out: str | Path = ASSETS, *, seed: int = 0, steps: int = 400, batch_size: int = 8,
          lr: float = 1e-3, threads: int = 2, log=None) -> dict:
    """Train the demo recognizer from scratch on fresh synthetic clips; write config + checkpoint to ``out``.

    The motion cue is learned on plain backgrounds first, then clutter ramps up to the task's level
    (see :func:`_clutter`). Deterministic for a given ``seed`` (and torch build). Returns the paths,
    wall and CPU seconds, and the last loss and training accuracy.
    """
    import torch
    from mmengine.config import Config

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    cfg = Config.fromfile(str(CONFIG))
    model = build_recognizer(cfg)
    model.train()
    pipeline = array_pipeline(cfg.test_pipeline)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start, cpu_start, losses, accuracy = time.perf_counter(), time.process_time(), [], []
    for step in range(steps):
        clutter = _clutter(step, steps)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, steps, lr)
        batch = [pack_clip(pipeline, clip.frames, clip.label) for clip in (
            make_clip(TRAIN_SEED_STRIDE * (seed + 1) + step * batch_size + k, clutter=clutter)
            for k in range(batch_size))]
        data = model.data_preprocessor(dict(inputs=[b["inputs"] for b in batch],
                                            data_samples=[b["data_samples"] for b in batch]), training=True)
        loss, parts = model.parse_losses(model(**data, mode="loss"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(parts["loss"]))
        accuracy.append(float(parts["top1_acc"]))
        if log is not None and (step + 1) % 25 == 0:
            log(f"step {step + 1}/{steps}  clutter {clutter:.2f}  loss {np.mean(losses[-25:]):.4f}  "
                f"train accuracy {np.mean(accuracy[-25:]):.3f}  {time.perf_counter() - start:.0f}s")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    model.eval()
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    checkpoint = {"meta": {"dataset_meta": {"classes": list(DEMO_CLASSES)}, "seed": int(seed), "epoch": 1,
                           "iter": int(steps), "batch_size": int(batch_size)},
                  "state_dict": state}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config_out, checkpoint_out = out / CONFIG.name, out / CHECKPOINT.name
    if config_out.resolve() != CONFIG:
        shutil.copyfile(CONFIG, config_out)
    tmp = checkpoint_out.with_name(f".{checkpoint_out.name}.tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, checkpoint_out)
    return {"config": str(config_out), "checkpoint": str(checkpoint_out), "seconds": seconds,
            "cpu_seconds": cpu_seconds, "final_loss": float(np.mean(losses[-25:])),
            "final_train_accuracy": float(np.mean(accuracy[-25:]))}
