"""``python -m tools.bench --datasets``: frames per second of ``core.gaze.datasets`` on a LEDOV-layout fixture.

20 videos × 300 frames at 640×360 and 25 fps, 10 subjects each fixating every 250 ms for 200 ms (so every frame
of every video has fixations): the importer reads the events, spreads them over frames and writes both maps of
every frame. Goal: at least 200 frames/s on 2 cores.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np

from core.gaze.datasets import import_dataset
from core.overlay import write_video


def write_fixture(src: Path, *, videos: int = 20, frames: int = 300, size: tuple[int, int] = (640, 360),
                  fps: float = 25.0, subjects: int = 10, seed: int = 0) -> None:
    """A LEDOV-layout dataset: ``videos/<name>.mp4`` and ``fixations/<name>.txt`` events."""
    rng = np.random.default_rng(seed)
    (src / "videos").mkdir(parents=True)
    (src / "fixations").mkdir()
    black = np.zeros((frames, size[1], size[0], 3), np.uint8)
    duration_ms = frames / fps * 1000
    for v in range(videos):
        name = f"video_{v:03d}"
        write_video(black, src / "videos" / f"{name}.mp4", fps=fps)
        lines = []
        for s in range(1, subjects + 1):
            for start in np.arange(0, duration_ms, 250.0):
                x, y = rng.uniform(0, size[0]), rng.uniform(0, size[1])
                lines.append(f"{s} {start:.0f} 200 {x:.1f} {y:.1f}")
        (src / "fixations" / f"{name}.txt").write_text("\n".join(lines) + "\n")


def dataset_figure(tmp: Path, workers: int = 2, **fixture: int) -> dict[str, float]:
    """Seconds and frames/s of one import of the fixture (written first, not timed) with ``workers`` processes."""
    write_fixture(tmp / "src", **fixture)
    def cpu() -> float:  # this process and its finished children (the workers)
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    start, cpu_start = time.perf_counter(), cpu()
    record = import_dataset("ledov", tmp / "src", tmp / "out", workers=workers)
    seconds, cpu_s = time.perf_counter() - start, cpu() - cpu_start
    frames = sum(v["frames"] for v in record["videos"])
    return {"videos": len(record["videos"]), "frames": frames, "seconds": seconds, "cpu_s": cpu_s,
            "fps": frames / seconds, "frames_per_cpu_s": frames / cpu_s}
