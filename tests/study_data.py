"""Synthetic study inputs: batch folders written with core.heatmap_files.write_result and per-frame gaze folders.

Each video has a target that moves over its frames; observers fixate around it. Run ``good`` puts its
heatmaps on the target, ``mid`` at the window's centre, ``bad`` on the mirrored target position, so the
expected order on every metric is good > mid, bad and the tests can check real differences.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.cam import ExplainResult
from core.geometry import Windows
from core.heatmap_files import write_result

SOURCE = (64, 48)  # (width, height) of the source videos and of the gaze maps
WINDOW = (8.0, 0.0, 56.0, 48.0)  # the centre square the models saw
HEAT = 24  # heatmap size (HEAT × HEAT over the window)
FRAMES = 8  # frames per video
SEEN = [0, 2, 4, 6]  # the frames the models saw
CLASSES = ["walk", "run"]


def target(video: int, frame: int) -> tuple[float, float]:
    """Where the observers look in source pixels: a point moving across the window."""
    rng = np.random.default_rng(video)
    x0, y0 = rng.uniform(14, 50), rng.uniform(8, 40)
    return float(np.clip(x0 + 1.5 * frame * (-1) ** video, 10, 54)), float(np.clip(y0 + frame, 4, 44))


def _blob(shape: tuple[int, int], x: float, y: float, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[: shape[0], : shape[1]] + 0.5
    return np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))


def heatmaps(kind: str, video: int, noise: float = 0.15) -> np.ndarray:
    """float32 [1, len(SEEN), HEAT, HEAT] in [0, 1] for run ``kind``."""
    rng = np.random.default_rng(1000 + 100 * ("good", "mid", "bad").index(kind) + video)
    scale = HEAT / (WINDOW[2] - WINDOW[0])
    maps = []
    for frame in SEEN:
        x, y = target(video, frame)
        if kind == "mid":
            x, y = 32.0, 24.0
        elif kind == "bad":
            x, y = SOURCE[0] - x, SOURCE[1] - y
        heat = _blob((HEAT, HEAT), (x - WINDOW[0]) * scale, y * scale, 3.0) + noise * rng.random((HEAT, HEAT))
        maps.append(heat / heat.max())
    return np.round(np.asarray(maps), 6).astype(np.float32)[None]  # the txt's 6 decimals hold them exactly


def write_run(folder: Path, kind: str, videos: list[int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for video in videos:
        maps = heatmaps(kind, video)
        result = ExplainResult(
            heatmaps=maps, frames=np.zeros((*maps.shape, 3), np.uint8), frame_indices=np.array([SEEN]),
            scores=np.array([1.0, 0.0], np.float32), probs=np.array([0.7, 0.3], np.float32), target_class=0,
            target_label=CLASSES[0], layer="backbone/layer4", method="gradcam", classes=CLASSES,
            video=str(folder.parent / "videos" / f"v{video}.mp4"), config="synthetic.py", checkpoint=None,
            windows=Windows.single(SOURCE, WINDOW), fps=25.0)
        (folder / CLASSES[video % 2]).mkdir(exist_ok=True)
        write_result(folder / CLASSES[video % 2] / f"v{video}.txt", result, npz=True,
                     batch={"gt_label": CLASSES[video % 2], "gt_class": video % 2})
    return folder


def write_gaze(folder: Path, videos: list[int], observers: int = 6) -> tuple[Path, Path]:
    """Per-frame fixation maps (0/255 PNGs, 0-based ``frame_{k:05d}``) and densities, one folder per video;
    and ``subjects/v{video}.npz``: observer i's fixation on every frame (core.gaze.subjects)."""
    from core.gaze.subjects import write_subjects

    fixations, density = folder / "fixations", folder / "density"
    (folder / "subjects").mkdir(parents=True, exist_ok=True)
    for video in videos:
        rng = np.random.default_rng(50 + video)
        for root in (fixations, density):
            (root / f"v{video}").mkdir(parents=True, exist_ok=True)
        points: list[np.ndarray] = []
        for frame in range(FRAMES):
            x, y = target(video, frame)
            fix = np.zeros(SOURCE[::-1], np.uint8)
            xs = np.clip(np.rint(x + rng.normal(0, 2.0, observers)), 0, SOURCE[0] - 1).astype(int)
            ys = np.clip(np.rint(y + rng.normal(0, 2.0, observers)), 0, SOURCE[1] - 1).astype(int)
            fix[ys, xs] = 255
            points.append(np.stack([np.full(observers, frame), xs, ys, np.arange(observers)], axis=1))
            blurred = cv2.GaussianBlur((fix > 0).astype(np.float64), (0, 0), 2.5, borderType=cv2.BORDER_CONSTANT)
            cv2.imwrite(str(fixations / f"v{video}" / f"frame_{frame:05d}.png"), fix)
            cv2.imwrite(str(density / f"v{video}" / f"frame_{frame:05d}.png"),
                        np.rint(blurred / blurred.max() * 255).astype(np.uint8))
        table = np.concatenate(points)
        write_subjects(folder / "subjects" / f"v{video}.npz", [f"s{i}" for i in range(observers)], table[:, 0],
                       table[:, 1], table[:, 2], table[:, 3], SOURCE, 2.5)
    return fixations, density


def write_videos(folder: Path, videos: list[int], fps: float = 25.0) -> Path:
    """The source videos (H.264, FRAMES frames at ``fps``): a bright disc on the target over a dim background."""
    from core.overlay import write_video

    folder.mkdir(parents=True, exist_ok=True)
    for video in videos:
        frames = []
        for frame in range(FRAMES):
            disc = _blob(SOURCE[::-1], *target(video, frame), 3.0)
            frames.append(np.repeat((40 + 200 * disc)[..., None], 3, axis=-1).astype(np.uint8))
        write_video(np.stack(frames), folder / f"v{video}.mp4", fps=fps)
    return folder


def make_study(folder: Path, videos: int = 8) -> dict[str, Path]:
    """Runs good, mid and bad over ``videos`` videos (their sidecars name the source videos, written too), and
    their gaze; returns the paths by name."""
    ids = list(range(videos))
    paths = {kind: write_run(folder / "runs" / kind, kind, ids) for kind in ("good", "mid", "bad")}
    paths["videos"] = write_videos(folder / "runs" / "videos", ids)
    paths["fixations"], paths["density"] = write_gaze(folder / "gaze", ids)
    paths["subjects"] = folder / "gaze" / "subjects"
    return paths
