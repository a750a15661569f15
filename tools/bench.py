"""``python -m tools.bench``: our explain vs plain inference vs MMAction2's GradCAM, side by side.

Real configs from the installed MMAction2 (random weights, one centre view): I3D-R50 with 32 frames
and TSN-R50 with 8 segments. Times are the median of ``--repeat`` warm runs in this process; peak
memory is measured for each step in a fresh child process after one warm-up (CUDA: max allocated;
CPU: the kernel's peak-RSS mark, reset after the warm-up, minus the RSS before the step), so the
steps do not pollute each other.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import core  # noqa: F401  (mmaction2 wheel fixes)

CASES = {
    "i3d": ("i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py", "backbone/layer4/1/relu",
            dict(num_clips=1, clip_len=32, size=224), "I3D-R50 32x224²"),
    "tsn": ("tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py", "backbone/layer4/1/relu",
            dict(num_clips=8, size=224), "TSN-R50 8 seg 224²"),
    "videomae": ("videomae/vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py", "backbone/blocks/11",
                 dict(num_clips=1, size=224), "VideoMAE-B 16x224²"),
}
# MMAction2's GradCAM cannot read token layers; for those the baseline is the same Grad-CAM with the
# usual full backward (autograd everywhere, parameter gradients), which is what it would cost.
FULL_BACKWARD = {"videomae"}
STEPS = ("inference", "explain", "mmaction")


def _config(case: str):
    import mmaction

    from core.model import load_config

    rel, _, shrink, _ = CASES[case]
    cfg = load_config(Path(mmaction.__file__).parent / ".mim" / "configs" / "recognition" / rel)
    for op in cfg.test_pipeline:
        if op["type"] == "SampleFrames":
            op["num_clips"] = shrink["num_clips"]
            op["clip_len"] = shrink.get("clip_len", op["clip_len"])
        elif op["type"] in ("CenterCrop", "ThreeCrop", "TenCrop"):
            op["crop_size"] = shrink["size"]
    return cfg


def _video() -> Path:
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "demo.mp4"
    if shared.is_file():
        return shared
    from core.demo import demo_paths

    return Path(demo_paths()["video"])


def _runner(case: str, step: str, device: str):
    """A zero-argument function doing ``step`` once on prepared inputs."""
    import torch

    import core as api
    from core.cam import class_scores

    cfg = _config(case)
    handle = api.load_model(cfg, device=device)
    clip = api.build_inputs(cfg, _video())
    layer = CASES[case][1]
    if step == "inference":
        def run():
            with torch.no_grad():
                class_scores(handle, handle.model.data_preprocessor(clip.data, False))
    elif step == "explain":
        def run():
            api.explain_inputs(handle, clip, target_layer=layer)
    elif case in FULL_BACKWARD:
        def run():
            _full_backward_gradcam(handle, clip, layer)
            handle.model.zero_grad(set_to_none=True)
    else:
        from mmaction.utils import GradCAM

        gradcam = GradCAM(handle.model, layer)

        def run():
            gradcam._calculate_localization_map(clip.data, use_labels=False)
            handle.model.zero_grad(set_to_none=True)
    return run


def _full_backward_gradcam(handle, clip, layer: str) -> None:
    """Grad-CAM the conventional way: one graph over the whole network, ``backward()`` into every
    parameter, the layer's gradient kept by ``retain_grad`` (the cost MMAction2's GradCAM pays)."""
    import torch

    from core.cam import class_scores
    from core.layers import get_layer

    kept = []

    def hook(_module, _inputs, output):
        output.retain_grad()
        kept.append(output)

    handle_ = get_layer(handle.model, layer).register_forward_hook(hook)
    try:
        with torch.enable_grad():
            scores = class_scores(handle, handle.model.data_preprocessor(clip.data, False)).mean(0)
            scores.max().backward()
    finally:
        handle_.remove()
    tokens, grads = kept[-1].detach(), kept[-1].grad
    (grads.mean(dim=1, keepdim=True) * tokens).sum(-1).relu()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_child(case: str, step: str, device: str, queue) -> None:
    import ctypes
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    run = _runner(case, step, device)
    if device.startswith("cuda"):
        run()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        queue.put((torch.cuda.max_memory_allocated() - base) / 2**20)
    else:  # reset the kernel's peak-RSS mark (VmHWM) after setup, then read it after the step
        run()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kib("VmRSS")
        run()
        queue.put((_status_kib("VmHWM") - base) / 1024)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory(case: str, step: str, device: str) -> float:
    """Peak extra memory (MiB) of one ``step`` in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_child, args=(case, step, device, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


def timings(case: str, device: str, repeat: int) -> dict[str, float]:
    """Median seconds of each step, measured interleaved in this process after one warm-up."""
    import warnings

    warnings.filterwarnings("ignore")
    runs = {step: _runner(case, step, device) for step in STEPS}
    samples = {step: [] for step in STEPS}
    for step in STEPS:
        runs[step]()
    for _ in range(repeat):
        for step in STEPS:
            _sync(device)
            start = time.perf_counter()
            runs[step]()
            _sync(device)
            samples[step].append(time.perf_counter() - start)
    return {step: statistics.median(values) for step, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument("--batch", type=int, default=0, metavar="N",
                        help="also time core.batch over N videos vs core.explain vs one vis_cam process per video")
    parser.add_argument("--study", action="store_true",
                        help="only time core.study: 3 runs x 50 clips x 16 frames at 224², all metrics (goal <= 30 s)")
    args = parser.parse_args(argv)
    if args.study:
        return study_table()
    from core.model import resolve_device

    device = str(resolve_device(args.device))
    print(f"device: {device}   (times: median of {args.repeat}; memory: peak extra MiB per step; "
          f"'mmaction' is MMAction2's GradCAM, or a full-backward Grad-CAM for {', '.join(sorted(FULL_BACKWARD))})")
    header = (f"{'model':<20} {'infer s':>8} {'explain s':>9} {'mmaction s':>10} {'expl/inf':>8} "
              f"{'mma/expl':>8} {'mem inf':>8} {'mem expl':>8} {'mem mma':>8} {'mem expl/inf':>12}")
    print(header)
    print("-" * len(header))
    for case in args.cases:
        t = timings(case, device, args.repeat)
        mem = {step: float("nan") for step in STEPS}
        if not args.no_memory:
            mem = {step: peak_memory(case, step, device) for step in STEPS}
        print(f"{CASES[case][3]:<20} {t['inference']:>8.3f} {t['explain']:>9.3f} {t['mmaction']:>10.3f} "
              f"{t['explain'] / t['inference']:>8.2f} {t['mmaction'] / t['explain']:>8.2f} "
              f"{mem['inference']:>8.0f} {mem['explain']:>8.0f} {mem['mmaction']:>8.0f} "
              f"{mem['explain'] / mem['inference']:>12.2f}", flush=True)
    print("goals (I3D): expl/inf <= 1.3, mma/expl >= 2.5, mem expl/inf <= 1.25")
    if args.batch:
        batch_table([c for c in args.cases if c not in FULL_BACKWARD], device, args.batch)
    return 0


def batch_table(cases: list[str], device: str, count: int) -> None:
    """Per-video seconds of a batch vs one explain call on a loaded model vs one vis_cam process."""
    import tempfile

    from tools.batch_bench import batch_figure, materialize, video_folder

    print(f"\n{'batch of ' + str(count):<20} {'batch s':>8} {'explain s':>9} {'vis_cam s':>9} "
          f"{'batch/expl':>10} {'speed-up':>8}")
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="mmcam-bench-") as tmp:
            config, checkpoint = materialize(_config(case), Path(tmp) / "model")
            shared = _video()
            videos = video_folder([shared, shared.with_name("test.mp4")] if shared.with_name("test.mp4").is_file()
                                  else [shared], count, Path(tmp) / "videos")
            fig = batch_figure(config, checkpoint, videos, device=device, target_layer=CASES[case][1],
                               workdir=Path(tmp) / "out")
        print(f"{CASES[case][3]:<20} {fig['batch_s_per_video']:>8.3f} {fig['explain_s_per_video']:>9.3f} "
              f"{fig['vis_cam_s_per_video']:>9.3f} {fig['ratio']:>10.2f} {fig['speedup']:>7.1f}x", flush=True)
    print("goals: batch/expl <= 1.1 (decoding hidden behind compute)")


def study_table(runs: int = 3, clips: int = 50, frames: int = 16, size: int = 224) -> int:
    """Seconds for a study of synthetic batch folders and per-frame gaze (tools.study_bench)."""
    import os
    import tempfile

    from tools.study_bench import study_figure

    with tempfile.TemporaryDirectory(prefix="mmcam-study-") as tmp:
        fig = study_figure(Path(tmp), runs=runs, clips=clips, frames=frames, size=size)
    print(f"{'study':<20} {'runs':>4} {'clips':>5} {'frames':>6} {'maps':>6} {'study s':>8} {'cpu s':>7} "
          f"{'ms/map':>7} {'outputs s':>9}  (CPU cores: {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"{'crop, 7 metrics':<20} {runs:>4} {clips:>5} {frames:>6} {fig['maps']:>6} {fig['study_s']:>8.2f} "
          f"{fig['study_cpu_s']:>7.2f} {fig['ms_per_map']:>7.2f} {fig['outputs_s']:>9.2f}")
    print("goal: study s <= 30 on 2 CPU cores (scores of every run and both baselines, CIs, tests; outputs apart)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
