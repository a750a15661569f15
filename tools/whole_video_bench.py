"""``python -m tools.bench --whole-video``: explaining every window of a video against plain inference over the
same windows, and peak memory against the video's length.

Both sides decode each source frame once (:class:`core.whole_video.FrameStream`), build every window's input with
the same test pipeline and run the windows in the same batches; plain inference stops at the class scores, the
explanation adds the truncated backward, the maps, the per-frame means and interpolation, and writing the txt,
npz and sidecar (no overlay video). Peak memory is the extra RSS of one whole-video run in a fresh process, on
the bench video looped 4 and 16 times (both longer than one batch of windows, where memory stops growing: the
ratio stays near 1 when memory is constant in the video's length).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tools.bench import _config, _in_fresh_process, _peak_of, _sync, _video

WHOLE_CASES = ("demo", "i3d")


def _setup(case: str, device: str):
    import core
    from core.demo import demo_paths

    if case == "demo":
        paths = demo_paths()
        return core.load_model(paths["config"], paths["checkpoint"], device=device), 3
    return core.load_model(_config("i3d"), device=device), None


def long_video(loops: int) -> Path:
    """The bench video looped ``loops`` times (written once into the cache)."""
    import decord

    from core.demo import cache_dir
    from core.overlay import VideoWriter

    source = _video()
    path = cache_dir() / f"bench_{source.stem}_x{loops}.mp4"
    if not path.exists():
        reader = decord.VideoReader(str(source))
        with VideoWriter(path, float(reader.get_avg_fps()) or 25.0) as writer:
            for _ in range(loops):
                for start in range(0, len(reader), 64):
                    writer.write(reader.get_batch(list(range(start, min(start + 64, len(reader))))).asnumpy())
    return path


def _plain(handle, video: Path, interval: int | None, batch: int) -> None:
    """Class scores of every window: the same decode, inputs and batches, no backward, nothing written."""
    import torch

    from core.model import class_scores
    from core.video import build_inputs, probe_video
    from core.whole_video import FrameStream, plan_windows, sampling_of, stack_clips, window_config

    sampling = sampling_of(handle.cfg, handle.is_2d, frame_interval=interval)
    windows = plan_windows(probe_video(video).frames, sampling)
    cfg = window_config(handle.cfg, sampling, handle.is_2d)
    stream = FrameStream(video)
    for first in range(0, len(windows), batch):
        chunk = windows[first:first + batch]
        clip = stack_clips([build_inputs(cfg, stream.frames(w.indices)) for w in chunk])
        following = first + batch
        stream.forget_before(windows[following].start if following < len(windows) else 1 << 62)
        with torch.no_grad():
            class_scores(handle, handle.model.data_preprocessor(clip.data, False)).cpu()


def _explain(handle, video: Path, interval: int | None, batch: int, out: Path) -> None:
    from core.whole_video import explain_whole_video

    explain_whole_video(handle, video, out / "bench.txt", frame_interval=interval, batch_size=batch)


def _peak_child(case: str, device: str, loops: int, batch: int, queue) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    handle, interval = _setup(case, device)
    video = long_video(loops)
    with tempfile.TemporaryDirectory() as out:
        queue.put(_peak_of(lambda: _explain(handle, video, interval, batch, Path(out)), device))


def whole_video_table(cases: list[str], device: str, repeat: int, *, batch: int = 2, memory: bool = True) -> None:
    """Print explain / plain-inference time over the same windows (the bench video looped 4 times), and peak
    memory on 4x and 16x."""
    import warnings

    from core.video import probe_video
    from core.whole_video import plan_windows, sampling_of

    warnings.filterwarnings("ignore")
    print(f"whole video, device {device}: median of {repeat}; windows in batches of {batch}; "
          "memory: peak extra MiB of one run, the video looped 4x and 16x")
    header = (f"{'model':<8} {'frames':>6} {'windows':>7} {'infer s':>8} {'explain s':>9} {'expl/inf':>8} "
              f"{'mem 4x':>7} {'mem 16x':>7} {'16x/4x':>6}")
    print(header)
    print("-" * len(header))
    video = long_video(4)
    for case in cases:
        handle, interval = _setup(case, device)
        frames = probe_video(video).frames
        windows = len(plan_windows(frames, sampling_of(handle.cfg, handle.is_2d, frame_interval=interval)))
        samples: dict[str, list[float]] = {"plain": [], "explain": []}
        with tempfile.TemporaryDirectory() as tmp:
            runs = {"plain": lambda h=handle, i=interval: _plain(h, video, i, batch),
                    "explain": lambda h=handle, i=interval, t=tmp: _explain(h, video, i, batch, Path(t))}
            for run in runs.values():
                run()  # warm-up
            for _ in range(repeat):
                for name, run in runs.items():
                    _sync(device)
                    start = time.perf_counter()
                    run()
                    _sync(device)
                    samples[name].append(time.perf_counter() - start)
        plain, explain = (statistics.median(samples[k]) for k in ("plain", "explain"))
        mem = [float("nan")] * 2
        if memory:
            mem = [_in_fresh_process(_peak_child, case, device, loops, batch) for loops in (4, 16)]
        print(f"{case:<8} {frames:>6} {windows:>7} {plain:>8.3f} {explain:>9.3f} {explain / plain:>8.2f} "
              f"{mem[0]:>7.0f} {mem[1]:>7.0f} {mem[1] / mem[0] if mem[0] else np.nan:>6.2f}", flush=True)
    print("goals: expl/inf <= 1.2; 16x/4x near 1 (memory constant in the video's length)")
