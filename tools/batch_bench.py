"""The batch figure of the benchmark: per-video wall time of a batch vs one ``core.explain`` call on a
loaded model, and vs one ``python -m core.vis_cam`` process per video (the shell loop it replaces).

``python -m tools.bench --batch N`` prints it beside the main table, through :func:`batch_figure`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import core
from core.batch.run import BatchOptions, run_batch
from core.batch.tasks import BatchTask


def materialize(cfg, folder: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Write a Config object and random weights for it as files (for the per-process baseline)."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config, checkpoint = folder / "bench_config.py", folder / "bench_weights.pth"
    cfg.dump(str(config))
    handle = core.load_model(cfg, device="cpu", seed=seed)
    torch.save({"state_dict": handle.model.state_dict()}, checkpoint)
    return config, checkpoint


def video_folder(sources: list[str | Path], count: int, folder: str | Path) -> list[Path]:
    """``count`` videos named v000.mp4 … under ``folder``: links to ``sources``, cycled."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    videos = []
    for i in range(count):
        source = Path(sources[i % len(sources)]).resolve()
        link = folder / f"v{i:03d}{source.suffix}"
        link.unlink(missing_ok=True)
        link.symlink_to(source)
        videos.append(link)
    return videos


def batch_figure(config: str | Path, checkpoint: str | Path | None, videos: list[str | Path], *,
                 device: str = "cpu", target_layer: str | None = None, vis_cam_runs: int = 2,
                 workdir: str | Path | None = None) -> dict:
    """Seconds per video: ``batch`` (run_batch over ``videos`` with a loaded model, all files written),
    ``explain`` (median ``core.explain`` call on the same loaded model, nothing written), and
    ``vis_cam`` (one ``python -m core.vis_cam`` process per video writing the txt, median of
    ``vis_cam_runs``); ``ratio`` = batch / explain (goal ≤ 1.1), ``speedup`` = vis_cam / batch."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="mmcam-batch-bench-"))
    start = time.perf_counter()
    handle = core.load_model(config, checkpoint, device)
    load_seconds = time.perf_counter() - start
    core.explain(handle, videos[0], target_layer=target_layer)  # warm-up (layer probe, allocator)
    explain_times = []
    for video in videos:
        start = time.perf_counter()
        core.explain(handle, video, target_layer=target_layer)
        explain_times.append(time.perf_counter() - start)
    tasks = [BatchTask(str(v), Path(v).stem) for v in videos]
    start = time.perf_counter()
    report = run_batch(handle, tasks, workdir / "batch", BatchOptions(target_layer=target_layer, force=True))
    batch = (time.perf_counter() - start) / len(videos)
    if report.failed:
        raise RuntimeError(f"the batch failed on {report.failed} videos: {report.rows}")
    process_times = []
    for i, video in enumerate(videos[:vis_cam_runs]):
        command = [sys.executable, "-m", "core.vis_cam", str(config), str(checkpoint), str(video), "--device",
                   device, "--file-url", str(workdir / f"vis_cam_{i}.txt"), "--npz"]
        if target_layer:
            command += ["--target-layer-name", target_layer]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=Path(core.__file__).parents[1])
        process_times.append(time.perf_counter() - start)
    explain = statistics.median(explain_times)
    vis_cam = statistics.median(process_times) if process_times else float("nan")
    return {"videos": len(videos), "device": str(handle.device), "model_load_s": round(load_seconds, 3),
            "batch_s_per_video": round(batch, 3), "explain_s_per_video": round(explain, 3),
            "vis_cam_s_per_video": round(vis_cam, 3), "ratio": round(batch / explain, 3),
            "speedup": round(vis_cam / batch, 2)}
