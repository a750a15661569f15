"""``python -m core.bench``: our explain vs plain inference vs MMAction2's GradCAM, side by side.

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
}
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
    from core.cam import _class_scores

    cfg = _config(case)
    handle = api.load_model(cfg, device=device)
    clip = api.build_inputs(cfg, _video())
    layer = CASES[case][1]
    if step == "inference":
        def run():
            with torch.no_grad():
                _class_scores(handle, handle.model.data_preprocessor(clip.data, False))
    elif step == "explain":
        def run():
            api.explain_inputs(handle, clip, target_layer=layer)
    else:
        from mmaction.utils import GradCAM

        gradcam = GradCAM(handle.model, layer)

        def run():
            gradcam._calculate_localization_map(clip.data, use_labels=False)
            handle.model.zero_grad(set_to_none=True)
    return run


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
    parser = argparse.ArgumentParser(prog="python -m core.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    args = parser.parse_args(argv)
    from core.model import resolve_device

    device = str(resolve_device(args.device))
    print(f"device: {device}   (times: median of {args.repeat}; memory: peak extra MiB per step)")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
