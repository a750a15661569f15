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
import tempfile
import time
from pathlib import Path

import decord
import numpy as np
import torch

import core  # (first: the mmaction2 wheel fixes)
from core.cam import class_scores
from core.checkpoint import numpy_core, read_checkpoint
from core.demo import cache_dir, demo_paths
from core.dumps import load_dump
from core.evaluate import deletion_insertion
from core.evaluate.perturb import counts_of, probabilities, view_inputs
from core.layers import get_layer
from core.model import load_config, resolve_device
from core.overlay import VideoWriter
from core.video import build_inputs, probe_video
from core.whole_video import FrameStream, explain_whole_video, plan_windows, sampling_of, stack_clips, window_config
from tools.batch_bench import batch_figure, materialize, video_folder
from tools.dataset_bench import dataset_figure
from tools.study_bench import make_inputs, study_figure

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
ATTENTION_METHODS = ("rollout", "attn-grad")


def _config(case: str):
    import mmaction

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

    return Path(demo_paths()["video"])


def _runner(case: str, step: str, device: str):
    """A zero-argument function doing ``step`` once on prepared inputs."""
    import torch

    cfg = _config(case)
    handle = core.load_model(cfg, device=device)
    clip = core.build_inputs(cfg, _video())
    layer = CASES[case][1]
    if step == "inference":
        def run():
            with torch.no_grad():
                class_scores(handle, handle.model.data_preprocessor(clip.data, False))
    elif step == "explain":
        def run():
            core.explain_inputs(handle, clip, target_layer=layer)
    elif step in ATTENTION_METHODS:
        def run():
            core.explain_inputs(handle, clip, method=step)
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
    import warnings

    warnings.filterwarnings("ignore")
    queue.put(_peak_of(_runner(case, step, device), device))


def _peak_of(run, device: str, warm_up=None) -> float:
    """Peak extra memory (MiB) of ``run()`` after a warm-up (``warm_up()``, else one ``run()``) (CUDA: max
    allocated; CPU: the kernel's peak-RSS mark, reset after the warm-up, minus the RSS before the step)."""
    import ctypes

    import torch

    warm_up = warm_up or run
    if device.startswith("cuda"):
        warm_up()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    warm_up()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kib("VmRSS")
    run()
    return (_status_kib("VmHWM") - base) / 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _in_fresh_process(target, *args) -> float:
    """What ``target(*args, queue)`` puts on its queue, run in a freshly spawned process (a clean peak)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


def peak_memory(case: str, step: str, device: str) -> float:
    """Peak extra memory (MiB) of one ``step`` in a fresh process."""
    return _in_fresh_process(_peak_child, case, step, device)


def timings(case: str, device: str, repeat: int, steps: tuple[str, ...] = STEPS,
            cpu: dict[str, float] | None = None) -> dict[str, float]:
    """Median seconds of each step, measured interleaved in this process after one warm-up (``cpu``, when
    given, receives the median process CPU seconds, steadier on a shared machine)."""
    import warnings

    warnings.filterwarnings("ignore")
    runs = {step: _runner(case, step, device) for step in steps}
    samples: dict[str, list[float]] = {step: [] for step in steps}
    cpu_samples: dict[str, list[float]] = {step: [] for step in steps}
    for step in steps:
        runs[step]()
    for _ in range(repeat):
        for step in steps:
            _sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            runs[step]()
            _sync(device)
            samples[step].append(time.perf_counter() - start)
            cpu_samples[step].append(time.process_time() - start_cpu)
    if cpu is not None:
        cpu.update({step: statistics.median(values) for step, values in cpu_samples.items()})
    return {step: statistics.median(values) for step, values in samples.items()}


def attention_table(cases: list[str], device: str, repeat: int, memory: bool = True) -> None:
    """Attention rollout and gradient-weighted attention beside plain inference and our Grad-CAM, same model."""
    steps = ("inference", "explain", *ATTENTION_METHODS)
    print(f"\nattention methods on {device} (times: median of {repeat}, interleaved; cpu: the same ratio in process "
          "CPU time; memory: peak extra MiB per step, fresh process)")
    header = (f"{'model':<20} {'infer s':>8} {'gradcam s':>9} {'rollout s':>9} {'attn-grad s':>11} {'roll/inf':>8} "
              f"{'agrad/inf':>9} {'cpu r/i':>7} {'cpu a/i':>7} {'mem inf':>8} {'mem gcam':>8} {'mem roll':>8} "
              f"{'mem agrad':>9}")
    print(header)
    print("-" * len(header))
    for case in cases:
        cpu: dict[str, float] = {}
        t = timings(case, device, repeat, steps, cpu)
        mem = {step: peak_memory(case, step, device) if memory else float("nan") for step in steps}
        print(f"{CASES[case][3]:<20} {t['inference']:>8.3f} {t['explain']:>9.3f} {t['rollout']:>9.3f} "
              f"{t['attn-grad']:>11.3f} {t['rollout'] / t['inference']:>8.2f} {t['attn-grad'] / t['inference']:>9.2f} "
              f"{cpu['rollout'] / cpu['inference']:>7.2f} {cpu['attn-grad'] / cpu['inference']:>7.2f} "
              f"{mem['inference']:>8.0f} {mem['explain']:>8.0f} {mem['rollout']:>8.0f} {mem['attn-grad']:>9.0f}",
              flush=True)
    print("goals: roll/inf <= 1.3, agrad/inf <= 2.5")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES),
                        help="models of the main table (none: skip it)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument("--batch", type=int, default=0, metavar="N",
                        help="also time core.batch over N videos vs core.explain vs one vis_cam process per video")
    parser.add_argument("--evaluate", nargs="*", default=None, choices=list(EVALUATE_CASES), metavar="MODEL",
                        help="also time deletion+insertion (core.evaluate) vs plain forwards: demo, i3d (default both)")
    parser.add_argument("--attention", nargs="*", default=None, choices=sorted(FULL_BACKWARD), metavar="MODEL",
                        help="also time attention rollout and attn-grad vs inference and Grad-CAM (default: videomae)")
    parser.add_argument("--whole-video", nargs="*", default=None, choices=["demo", "i3d"], metavar="MODEL",
                        help="also time explaining every window of a video vs plain inference over the same "
                             "windows, and peak memory at 4x and 16x the length: demo, i3d (default both)")
    parser.add_argument("--loads", action="store_true",
                        help="only time reading a checkpoint and a test dump (core's unpickler vs torch's loaders)")
    parser.add_argument("--study", action="store_true",
                        help="only time core.study: 3 runs x 50 clips x 16 frames at 224², all metrics (goal <= 30 s)")
    parser.add_argument("--datasets", action="store_true",
                        help="only time core.gaze.datasets: 20 videos x 300 frames at 640x360 (goal >= 200 frames/s)")
    args = parser.parse_args(argv)
    if args.loads:
        return load_table(args.repeat)
    if args.study:
        return study_table()
    if args.datasets:
        return datasets_table()

    device = str(resolve_device(args.device))
    if args.whole_video is not None:
        whole_video_table(args.whole_video or list(WHOLE_CASES), device, args.repeat, memory=not args.no_memory)
    if args.evaluate is not None:
        evaluate_table(args.evaluate or list(EVALUATE_CASES), device, args.repeat, memory=not args.no_memory)
    if args.attention is not None:
        attention_table(args.attention or sorted(FULL_BACKWARD), device, args.repeat, memory=not args.no_memory)
    if not args.cases:
        return 0
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


EVALUATE_CASES = {"demo": "demo (ResNet3d, 16x112²)", "i3d": CASES["i3d"][3]}


def _evaluate_setup(case: str, device: str):
    """(handle, target class, one view's normalised input x, its Grad-CAM map) for the evaluate row."""
    import torch

    if case == "demo":
        paths = demo_paths()
        handle = core.load_model(paths["config"], paths["checkpoint"], device)
        video, layer = paths["video"], None
    else:
        handle = core.load_model(_config(case), device=device)
        video, layer = _video(), CASES[case][1]
    result = core.explain(handle, video, target_layer=layer)
    x = view_inputs(handle, result.inputs)[0]
    return handle, result.target_class, x, torch.from_numpy(result.heatmaps[0]).to(x.device)


def _evaluate_runners(case: str, device: str, steps: int, batch_size: int):
    """Deletion + insertion of one map (``2·(K−1)`` forwards for K curve points: 40 for 20 steps) and the same
    number of plain batched forwards of the same input, as zero-argument functions."""
    handle, target, x, heatmap = _evaluate_setup(case, device)
    count = 2 * (len(counts_of(heatmap.numel(), steps)) - 1)
    batch = x.unsqueeze(0).expand(batch_size, *x.shape).contiguous()

    def plain():
        for start in range(0, count, batch_size):
            probabilities(handle, batch[:min(batch_size, count - start)], target)

    def evaluate():
        deletion_insertion(handle, x, heatmap, target, steps=steps, batch_size=batch_size)

    def warm_up():  # one batch of each size the runs use
        for size in {batch_size, count % batch_size} - {0}:
            probabilities(handle, batch[:size], target)

    return plain, evaluate, count, warm_up


def _evaluate_peak_child(case: str, device: str, steps: int, batch_size: int, queue) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    _, evaluate, _, warm_up = _evaluate_runners(case, device, steps, batch_size)
    queue.put(_peak_of(evaluate, device, warm_up))


def evaluate_peak(case: str, device: str, steps: int, batch_size: int) -> float:
    """Peak extra memory (MiB) of one deletion + insertion in a fresh process."""
    return _in_fresh_process(_evaluate_peak_child, case, device, steps, batch_size)


def evaluate_table(cases: list[str], device: str, repeat: int, *, steps: int = 20, batch_size: int = 8,
                   memory: bool = True) -> None:
    """Deletion + insertion of a Grad-CAM map vs the same number of plain batched forwards of its input, timed
    interleaved (median of ``repeat`` after a warm-up batch); peak memory at 20 and 40 steps and at half the batch."""
    import warnings

    warnings.filterwarnings("ignore")
    print(f"\nevaluate on {device}: deletion+insertion, {steps} steps, batch {batch_size}, vs as many plain "
          "batched forwards (times: median, interleaved; cpu e/p: the same ratio in process CPU time, steadier on "
          "a shared machine; memory: peak extra MiB)")
    header = (f"{'model':<26} {'forwards':>8} {'plain s':>8} {'eval s':>8} {'eval/plain':>10} {'cpu e/p':>8} "
              f"{'mem s' + str(steps):>8} {'mem s' + str(2 * steps):>8} {'mem b' + str(batch_size // 2):>8} "
              f"{'mem 2s/s':>8}")
    print(header)
    print("-" * len(header))
    for case in cases:
        plain, evaluate, count, warm_up = _evaluate_runners(case, device, steps, batch_size)
        runs = {"plain": plain, "evaluate": evaluate}
        samples: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        warm_up()
        for _ in range(repeat):
            for name, run in runs.items():
                _sync(device)
                start, start_cpu = time.perf_counter(), time.process_time()
                run()
                _sync(device)
                samples[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
        t = {name: statistics.median(values) for name, values in samples.items()}
        c = {name: statistics.median(values) for name, values in cpu.items()}
        mem = [float("nan")] * 3
        if memory:
            mem = [evaluate_peak(case, device, s, b) for s, b in ((steps, batch_size), (2 * steps, batch_size),
                                                                    (steps, batch_size // 2))]
        print(f"{EVALUATE_CASES[case]:<26} {count:>8} {t['plain']:>8.3f} {t['evaluate']:>8.3f} "
              f"{t['evaluate'] / t['plain']:>10.2f} {c['evaluate'] / c['plain']:>8.2f} "
              f"{mem[0]:>8.0f} {mem[1]:>8.0f} {mem[2]:>8.0f} {mem[1] / mem[0]:>8.2f}", flush=True)
    print("goals: eval/plain <= 1.2; memory follows the batch size, not the steps (mem 2s/s ~ 1)")


def study_table(runs: int = 3, clips: int = 50, frames: int = 16, size: int = 224) -> int:
    """Seconds for a study of synthetic batch folders and per-frame gaze (tools.study_bench), under the exact and
    the mit protocol, side by side on the same files."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mmcam-study-") as tmp:
        inputs = make_inputs(Path(tmp), runs=runs, clips=clips, frames=frames, size=size)
        figs = {protocol: study_figure(Path(tmp), protocol, inputs) for protocol in ("exact", "mit")}
    print(f"{'study':<20} {'runs':>4} {'clips':>5} {'frames':>6} {'maps':>6} {'study s':>8} {'cpu s':>7} "
          f"{'ms/map':>7} {'outputs s':>9}  (CPU cores: {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.1f})")
    for protocol, fig in figs.items():
        label = f"crop, {protocol}, {fig['metrics']} metrics"
        print(f"{label:<20} {runs:>4} {clips:>5} {frames:>6} {fig['maps']:>6} {fig['study_s']:>8.2f} "
              f"{fig['study_cpu_s']:>7.2f} {fig['ms_per_map']:>7.2f} {fig['outputs_s']:>9.2f}")
    ratio = figs["mit"]["study_cpu_s"] / figs["exact"]["study_cpu_s"]
    print(f"mit / exact: {ratio:.2f}x CPU time "
          f"({figs['mit']['study_s'] / figs['exact']['study_s']:.2f}x wall clock)")
    print("goals: study s <= 30 on 2 CPU cores (scores of every run and both baselines, CIs, tests; outputs apart); "
          "mit <= 3x exact")
    return 0


def _median_seconds(action, repeat: int) -> float:
    action()  # warm-up (page cache, imports)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_table(repeat: int) -> int:
    """Seconds to read a ResNet-50-sized runner checkpoint (core.checkpoint.read_checkpoint vs torch.load with
    weights_only=True, the loader core used before issue 22) and a 5,000-sample test dump (core.dumps.load_dump
    vs pickle.load, which would run any code in it)."""
    import pickle
    import tempfile

    import numpy as np
    import torch

    generator = torch.Generator().manual_seed(0)
    state = {}
    for i, width in enumerate([64] * 10 + [128] * 12 + [256] * 18 + [512] * 13):  # ~25 M weights, 265 tensors
        state[f"layer{i}.conv.weight"] = torch.randn(width, width, 3, 3, generator=generator) / 10
        for name in ("weight", "bias", "running_mean", "running_var"):
            state[f"layer{i}.bn.{name}"] = torch.rand(width, generator=generator)
    samples = [{"pred_score": torch.softmax(torch.randn(400, generator=generator), 0), "pred_label": torch.tensor([1]),
                "gt_label": torch.tensor([i % 400]), "num_classes": 400} for i in range(5000)]
    with tempfile.TemporaryDirectory(prefix="mmcam-loads-") as tmp:
        checkpoint, dump = Path(tmp) / "r50.pth", Path(tmp) / "results.pkl"
        torch.save({"state_dict": state, "meta": {"epoch": np.int64(100), "seed": np.int64(0)}}, checkpoint)
        dump.write_bytes(pickle.dumps(samples, protocol=2))
        old_globals = [numpy_core().multiarray.scalar, np.dtype, np.dtypes.Int64DType]  # what core allowed before

        def torch_weights_only() -> object:
            with torch.serialization.safe_globals(old_globals):
                return torch.load(checkpoint, map_location="cpu", weights_only=True)

        rows = [("checkpoint r50", checkpoint, lambda: read_checkpoint(checkpoint), torch_weights_only),
                ("dump 5000x400", dump, lambda: load_dump(dump), lambda: pickle.loads(dump.read_bytes()))]
        print(f"{'file':<16} {'MiB':>6} {'core s':>8} {'torch/pickle s':>14} {'ratio':>6}  (median of {repeat})")
        for name, path, ours, theirs in rows:
            mine, base = _median_seconds(ours, repeat), _median_seconds(theirs, repeat)
            print(f"{name:<16} {path.stat().st_size / 2**20:>6.1f} {mine:>8.3f} {base:>14.3f} {mine / base:>6.2f}")
    print("goal: core's checkpoint load <= 1.2x torch.load(weights_only=True); dump load as before issue 22")
    return 0


def datasets_table() -> int:
    """Frames per second of a dataset import (tools.dataset_bench)."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mmcam-datasets-") as tmp:
        fig = dataset_figure(Path(tmp))
    print(f"{'import':<20} {'videos':>6} {'frames':>6} {'s':>7} {'cpu s':>7} {'frames/s':>8} {'frames/cpu s':>12}"
          f"  (2 workers; CPU cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")
    print(f"{'ledov 640x360':<20} {fig['videos']:>6} {fig['frames']:>6} {fig['seconds']:>7.2f} {fig['cpu_s']:>7.2f} "
          f"{fig['fps']:>8.0f} {fig['frames_per_cpu_s']:>12.0f}")
    print("goal: >= 200 frames/s on 2 CPU cores (both maps of every frame written)")
    return 0



# --------------------------------------------------------------------------- --whole-video
# ``python -m tools.bench --whole-video``: explaining every window of a video against plain inference over the
# same windows, and peak memory against the video's length.
#
# Both sides decode each source frame once (:class:`core.whole_video.FrameStream`), build every window's input with
# the same test pipeline and run the windows in the same batches; plain inference stops at the class scores, the
# explanation adds the truncated backward, the maps, the per-frame means and interpolation, and writing the txt,
# npz and sidecar (no overlay video). Peak memory is the extra RSS of one whole-video run in a fresh process, on
# the bench video looped 4 and 16 times (both longer than one batch of windows, where memory stops growing: the
# ratio stays near 1 when memory is constant in the video's length).

WHOLE_CASES = ("demo", "i3d")


def _whole_setup(case: str, device: str):
    if case == "demo":
        paths = demo_paths()
        return core.load_model(paths["config"], paths["checkpoint"], device=device), 3
    return core.load_model(_config("i3d"), device=device), None


def long_video(loops: int) -> Path:
    """The bench video looped ``loops`` times (written once into the cache)."""
    source = _video()
    path = cache_dir() / f"bench_{source.stem}_x{loops}.mp4"
    if not path.exists():
        reader = decord.VideoReader(str(source))
        with VideoWriter(path, float(reader.get_avg_fps()) or 25.0) as writer:
            for _ in range(loops):
                for start in range(0, len(reader), 64):
                    writer.write(reader.get_batch(list(range(start, min(start + 64, len(reader))))).asnumpy())
    return path


def _whole_plain(handle, video: Path, interval: int | None, batch: int) -> None:
    """Class scores of every window: the same decode, inputs and batches, no backward, nothing written."""
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


def _whole_explain(handle, video: Path, interval: int | None, batch: int, out: Path) -> None:
    explain_whole_video(handle, video, out / "bench.txt", frame_interval=interval, batch_size=batch)


def _whole_peak_child(case: str, device: str, loops: int, batch: int, queue) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    handle, interval = _whole_setup(case, device)
    video = long_video(loops)
    with tempfile.TemporaryDirectory() as out:
        queue.put(_peak_of(lambda: _whole_explain(handle, video, interval, batch, Path(out)), device))


def whole_video_table(cases: list[str], device: str, repeat: int, *, batch: int = 2, memory: bool = True) -> None:
    """Print explain / plain-inference time over the same windows (the bench video looped 4 times), and peak
    memory on 4x and 16x."""
    import warnings


    warnings.filterwarnings("ignore")
    print(f"whole video, device {device}: median of {repeat}; windows in batches of {batch}; "
          "memory: peak extra MiB of one run, the video looped 4x and 16x")
    header = (f"{'model':<8} {'frames':>6} {'windows':>7} {'infer s':>8} {'explain s':>9} {'expl/inf':>8} "
              f"{'mem 4x':>7} {'mem 16x':>7} {'16x/4x':>6}")
    print(header)
    print("-" * len(header))
    video = long_video(4)
    for case in cases:
        handle, interval = _whole_setup(case, device)
        frames = probe_video(video).frames
        windows = len(plan_windows(frames, sampling_of(handle.cfg, handle.is_2d, frame_interval=interval)))
        samples: dict[str, list[float]] = {"plain": [], "explain": []}
        with tempfile.TemporaryDirectory() as tmp:
            runs = {"plain": lambda h=handle, i=interval: _whole_plain(h, video, i, batch),
                    "explain": lambda h=handle, i=interval, t=tmp: _whole_explain(h, video, i, batch, Path(t))}
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
            mem = [_in_fresh_process(_whole_peak_child, case, device, loops, batch) for loops in (4, 16)]
        print(f"{case:<8} {frames:>6} {windows:>7} {plain:>8.3f} {explain:>9.3f} {explain / plain:>8.2f} "
              f"{mem[0]:>7.0f} {mem[1]:>7.0f} {mem[1] / mem[0] if mem[0] else np.nan:>6.2f}", flush=True)
    print("goals: expl/inf <= 1.2; 16x/4x near 1 (memory constant in the video's length)")


if __name__ == "__main__":
    sys.exit(main())
