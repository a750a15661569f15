"""Synthetic inputs for timing ``core.study``: batch folders written with ``core.heatmap_files.write_result`` (txt, npz,
sidecar, as ``core.batch`` writes them) and per-frame gaze folders as ``core.gaze.fixations`` writes them.

Source videos are 320×240 with 32 frames; each run saw 16 of them (every other one) through the centre
240×240 window at 224×224, so the default ``--region crop`` scores on 224² grids. 15 observers fixate
around a target that moves per video; the runs put their heatmaps on it with more or less noise.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from core.geometry import Windows
from core.heatmap_files import write_result
from core.result import ExplainResult
from core.study import StudySpec, compute, write_outputs

SOURCE = (320, 240)
WINDOW = (40.0, 0.0, 280.0, 240.0)
FRAMES = 32


def _blobs(shape: tuple[int, int], centres: np.ndarray, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[: shape[0], : shape[1]] + 0.5
    return np.exp(-((xs[None] - centres[:, 0, None, None]) ** 2 + (ys[None] - centres[:, 1, None, None]) ** 2)
                  / (2 * sigma**2))


def _targets(clip: int) -> np.ndarray:
    """[FRAMES, 2] target positions (source pixels)."""
    rng = np.random.default_rng(clip)
    start, step = rng.uniform([80, 40], [240, 200]), rng.uniform(-3, 3, 2)
    return np.clip(start + np.arange(FRAMES)[:, None] * step, [50, 10], [270, 230])


def make_inputs(root: Path, *, runs: int = 3, clips: int = 50, frames: int = 16, size: int = 224,
                observers: int = 15) -> dict:
    """Write the batch folders ``root/run{i}`` and the gaze ``root/fixations``, ``root/density``."""
    seen = np.arange(frames) * (FRAMES // frames)
    fixations, density = root / "fixations", root / "density"
    folders = []
    for run in range(runs):
        folder = root / f"run{run}"
        folder.mkdir(parents=True)
        folders.append(folder)
        for clip in range(clips):
            rng = np.random.default_rng(10_000 * run + clip)
            centres = (_targets(clip)[seen] - [WINDOW[0], WINDOW[1]]) * size / 240
            centres += rng.normal(0, 8 * (run + 1), centres.shape)
            heat = _blobs((size, size), centres, 20.0) + 0.2 * rng.random((frames, size, size))
            heat = (heat / heat.max()).astype(np.float32)[None]
            result = ExplainResult(
                heatmaps=heat, frames=None, frame_indices=seen[None],
                scores=np.zeros(2, np.float32), probs=np.full(2, 0.5, np.float32), target_class=0,
                target_label="a", layer="backbone", method="gradcam", classes=["a", "b"],
                video=f"/videos/clip{clip:03d}.mp4", config="bench.py", checkpoint=None,
                windows=Windows.single(SOURCE, WINDOW), fps=25.0)
            write_result(folder / f"clip{clip:03d}.txt", result, npz=True,
                         batch={"gt_label": "ab"[clip % 2], "gt_class": clip % 2})
    for clip in range(clips):
        rng = np.random.default_rng(500 + clip)
        for root_ in (fixations, density):
            (root_ / f"clip{clip:03d}").mkdir(parents=True)
        for k, (x, y) in enumerate(_targets(clip)):
            fix = np.zeros(SOURCE[::-1], np.uint8)
            xs = np.clip(np.rint(x + rng.normal(0, 12, observers)), 0, SOURCE[0] - 1).astype(int)
            ys = np.clip(np.rint(y + rng.normal(0, 12, observers)), 0, SOURCE[1] - 1).astype(int)
            fix[ys, xs] = 255
            blurred = cv2.GaussianBlur((fix > 0).astype(np.float64), (0, 0), SOURCE[0] / 30,
                                       borderType=cv2.BORDER_CONSTANT)
            cv2.imwrite(str(fixations / f"clip{clip:03d}" / f"frame_{k:05d}.png"), fix)
            cv2.imwrite(str(density / f"clip{clip:03d}" / f"frame_{k:05d}.png"),
                        np.rint(blurred / blurred.max() * 255).astype(np.uint8))
    return {"runs": folders, "fixations": fixations, "density": density}


def study_figure(root: Path, protocol: str = "exact", inputs: dict | None = None, **sizes) -> dict[str, float]:
    """Seconds to score, summarise and test the study under ``protocol`` (all metrics, both baselines; wall clock
    and the CPU time of all its threads, which on a shared machine says more than the wall clock), and to write
    its outputs. ``inputs`` from :func:`make_inputs` (written here when None), so protocols time the same files."""
    inputs = inputs or make_inputs(root, **sizes)
    spec = StudySpec(tuple((f"run{i}", folder) for i, folder in enumerate(inputs["runs"])), inputs["fixations"],
                     inputs["density"], protocol=protocol)
    start, cpu = time.perf_counter(), time.process_time()
    result = compute(spec)
    scored, cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    write_outputs(result, root / f"out-{protocol}")
    written = time.perf_counter() - start
    maps = len(result.scores.rows)
    return {"study_s": scored, "study_cpu_s": cpu, "outputs_s": written, "maps": maps,
            "ms_per_map": 1000 * scored / maps, "metrics": len(result.metrics)}
