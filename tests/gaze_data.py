"""Test data for the gaze comparison: a real vis_cam heatmap txt of a 426×240 video, and gaze maps built in
source coordinates from its heatmaps (aligned, shifted, per frame)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from conftest import sample_file
from tiny_model import write_tiny_config

import core
from core import gaze
from core.geometry import heatmap_to_source
from core.saliency import clip_saliency

SOURCE = (426, 240)  # (width, height) of the non-square test video
SHIFT = -120  # source pixels; moves the gaze well away from where the heatmap points


def make_wide(folder: Path) -> Path:
    """A 426×240 video from the synthetic demo.mp4 stand-in's frames, a tiny real model, and its heatmap txt
    written by core.vis_cam."""
    import decord

    reader = decord.VideoReader(str(sample_file("demo.mp4")))
    frames = reader.get_batch(list(range(64))).asnumpy()  # 340×256: resized (aspect changed) to 426×240
    video = core.write_video(np.stack([cv2.resize(f, SOURCE, interpolation=cv2.INTER_AREA) for f in frames]),
                             folder / "wide.mp4", fps=25)
    config = write_tiny_config(folder / "model", [video])
    handle = core.load_model(config, device="cpu", seed=1)
    torch.save({"state_dict": handle.model.state_dict()}, folder / "tiny.pth")
    from core.vis_cam import main

    assert main([str(config), str(folder / "tiny.pth"), str(video), "--file-url", str(folder / "wide.txt"),
                 "--device", "cpu"]) == 0
    return folder


def u8(values: np.ndarray) -> np.ndarray:
    return np.round(values / values.max() * 255).astype(np.uint8)


def fixations_from(density: np.ndarray, count: int = 40, seed: int = 0) -> np.ndarray:
    """0/255 map of ``count`` fixated pixels drawn with probability ∝ density²."""
    weights = (density.astype(np.float64) ** 2).ravel()
    picks = np.random.default_rng(seed).choice(weights.size, count, replace=False, p=weights / weights.sum())
    fixations = np.zeros(density.shape, np.uint8)
    fixations.ravel()[picks] = 255
    return fixations


def make_clip_gaze(folder: Path) -> Path:
    """Clip gaze (fix.png, dens.png) built in source coordinates from the heatmaps mapped back, and the same
    moved sideways (fix_shift.png, dens_shift.png)."""
    heat = gaze.read_heatmaps(folder / "wide.txt")
    density = u8(heatmap_to_source(clip_saliency(heat.heatmaps), heat.source_size, heat.crop_box)[0])
    fixations = fixations_from(density)
    for name, image in {"dens": density, "fix": fixations, "dens_shift": np.roll(density, SHIFT, axis=1),
                        "fix_shift": np.roll(fixations, SHIFT, axis=1)}.items():
        cv2.imwrite(str(folder / f"{name}.png"), image)
    return folder


def make_frame_gaze(folder: Path) -> Path:
    """Per-frame gaze of all 64 frames: from each seen frame's heatmap, shifted for the frames the model
    skipped (so a frame mismatch shows); fixations as 1-based PNGs (fix_frames/), densities as an H.264
    video (dens_frames.mp4)."""
    heat = gaze.read_heatmaps(folder / "wide.txt")
    (folder / "fix_frames").mkdir()
    densities = []
    for frame in range(64):
        seen = heat.frame_indices == frame
        maps = heat.heatmaps[seen] if seen.any() else heat.heatmaps[0, :1]
        density = u8(heatmap_to_source(maps.mean(axis=0), heat.source_size, heat.crop_box)[0])
        density = density if seen.any() else np.roll(density, SHIFT, axis=1)
        cv2.imwrite(str(folder / "fix_frames" / f"frame_{frame + 1:04d}.png"), fixations_from(density, 20, seed=frame))
        densities.append(np.repeat(density[..., None], 3, axis=-1))
    core.write_video(np.stack(densities), folder / "dens_frames.mp4", fps=25)
    return folder
