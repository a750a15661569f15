"""Whole-video explanations: the model's clip sampling slid over every frame of a video.

A model explains one sampled clip (``clip_len`` frames, every ``frame_interval``-th), so gaze recorded over a
whole video, or a five-minute recording, is left mostly unexplained. Here windows of the model's own sampling
start every ``stride`` frames (default: one window's span, so windows tile the video; a smaller stride makes
them overlap) and the last window ends at the last frame. Each window goes through the config's test pipeline
(center view) and is explained in batches on one loaded model, with one backward for the batch (windows are
independent samples, so the gradient of the summed objective is each window's own). Every source frame then
gets a heatmap: the mean of the maps of the windows that sampled it, or, for a frame no window sampled
(``frame_interval`` > 1), the linear interpolation in time of its sampled neighbours (flagged ``interpolated``).

Memory does not grow with the video's length: frames are decoded once, in order, and kept only while a later
window still needs them (overlapping windows share them); heatmaps leave memory as soon as no later window can
touch their frame (appended to the txt, written into a memory-mapped array). Outputs are written under a hidden
``.<name>.whole-video/`` folder and moved into place only when complete (the sidecar last), so a killed run
leaves no half file; after every batch the state is saved, and the same call resumes from the next window. A
writer thread formats and appends a batch's frames and saves its state while the model runs the next batch; nothing
is fsynced per batch (a killed process loses nothing the page cache holds: see :func:`_load_state`).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mmengine.config import Config

from core.cam import capture, heatmaps_of, resolve_layer
from core.errors import CamError
from core.formats.npz import read_npz
from core.formats.sidecar import read_sidecar, sidecar_path, to_sidecar
from core.formats.txt import heatmap_block
from core.geometry import Views, Windows
from core.heatmap_files import source_frames
from core.methods import Method, get_method
from core.model import ModelHandle
from core.outputs import atomic_path, write_json
from core.overlay import VideoWriter, display_size, overlay, resize_frames
from core.result import ExplainResult
from core.target import TargetChoice, parse_target
from core.video import ClipInputs, build_inputs, config_pipeline, probe_video, read_frames, video_reader

_SAMPLERS = ("SampleFrames", "UniformSample", "DenseSampleFrames")
STATE_VERSION = 1


@dataclass(frozen=True)
class Sampling:
    """How windows sample the video: ``frames`` per window, one every ``interval`` source frames, a window
    starting every ``stride`` frames."""

    frames: int
    interval: int
    stride: int

    @property
    def span(self) -> int:
        """Source frames from a window's first sampled frame to one past its last."""
        return (self.frames - 1) * self.interval + 1

    def to_dict(self) -> dict[str, int]:
        return {"frames": self.frames, "frame_interval": self.interval, "stride": self.stride}


def sampling_of(cfg: Config, is_2d: bool, *, stride: int | None = None,
                frame_interval: int | None = None) -> Sampling:
    """The model's clip sampling from its test pipeline's sampler: ``clip_len`` frames (× ``num_clips`` segments
    for a 2D model, whose segments make one input) every ``frame_interval`` frames. Samplers without an interval
    (``UniformSample``) take every frame unless ``frame_interval`` says otherwise. ``stride`` defaults to
    ``clip_len × frame_interval``, SampleFrames' clip length in source frames."""
    sampler = next((op for op in config_pipeline(cfg) if op["type"] in _SAMPLERS), None)
    if sampler is None:
        raise CamError("The config's test_pipeline has no frame sampler (SampleFrames, UniformSample), so the "
                       "model's clip sampling is unknown; whole-video explanations need one.")
    clip_len = int(sampler.get("clip_len", 1))
    frames = clip_len * int(sampler.get("num_clips", 1)) if is_2d else clip_len
    interval = int(frame_interval if frame_interval is not None else sampler.get("frame_interval", 1))
    for name, value in (("--frame-interval", interval), ("--window-stride", stride)):
        if value is not None and (isinstance(value, bool) or int(value) < 1):
            raise CamError(f"{name} must be a whole number of frames of at least 1, not {value!r}.")
    return Sampling(frames, interval, int(stride) if stride is not None else clip_len * interval)


@dataclass(frozen=True)
class Window:
    """One window: its number, first source frame, and the source frames it samples (increasing)."""

    index: int
    start: int
    indices: tuple[int, ...]

    @property
    def end(self) -> int:
        """One past its last sampled frame."""
        return self.indices[-1] + 1


def plan_windows(total: int, sampling: Sampling) -> list[Window]:
    """Windows over ``total`` frames: one every ``stride`` frames from frame 0, plus one ending at the last frame
    when the grid does not reach it. A video shorter than a window's span gets one window whose frames are
    clipped to the video (the last frame repeated)."""
    if total < 1:
        raise CamError("The video has no frames.")
    last_start = max(0, total - sampling.span)
    starts = list(range(0, last_start + 1, sampling.stride))
    if starts[-1] != last_start:
        starts.append(last_start)
    offsets = np.arange(sampling.frames) * sampling.interval
    return [Window(i, s, tuple(int(f) for f in np.minimum(s + offsets, total - 1))) for i, s in enumerate(starts)]


def window_config(cfg: Config, sampling: Sampling, is_2d: bool) -> Config:
    """``cfg`` whose test pipeline takes every frame it is given, in order, as one input: the window's frames
    are already sampled (a 2D model's as ``frames`` segments of one frame)."""
    out = copy.deepcopy(cfg)
    steps = [dict(op) for op in config_pipeline(out)]
    for i, op in enumerate(steps):
        if op["type"] in _SAMPLERS:
            steps[i] = dict(type="SampleFrames", clip_len=1 if is_2d else sampling.frames, frame_interval=1,
                            num_clips=sampling.frames if is_2d else 1, test_mode=True)
    out.test_pipeline = steps
    if "test_dataloader" in out and isinstance(out.test_dataloader.get("dataset"), dict):
        out.test_dataloader.dataset.pipeline = steps
    return out


class FrameStream:
    """Source frames decoded once, in increasing order, and kept only until :meth:`forget_before` drops them."""

    def __init__(self, video: str | Path, cfg: Config | None = None) -> None:
        self.video, self.cfg = Path(video), cfg
        self.reader = None if self.video.is_dir() else video_reader(self.video)
        self.cache: dict[int, np.ndarray] = {}
        self.seconds = 0.0

    def frames(self, indices: tuple[int, ...]) -> np.ndarray:
        """uint8 RGB ``[len(indices), H, W, 3]``, decoding only the frames not decoded yet."""
        missing = sorted(set(indices) - self.cache.keys())
        if missing:
            start = time.perf_counter()
            decoded = (self.reader.get_batch(missing).asnumpy() if self.reader is not None
                       else read_frames(self.video, missing, self.cfg))
            self.cache.update(zip(missing, decoded, strict=True))
            self.seconds += time.perf_counter() - start
        return np.stack([self.cache[i] for i in indices])

    def forget_before(self, index: int) -> None:
        for key in [k for k in self.cache if k < index]:
            del self.cache[key]


def stack_clips(clips: list[ClipInputs]) -> ClipInputs:
    """Several clips as one batch of samples (:func:`core.cam.capture` explains each on its own)."""
    first = clips[0]
    data = {key: [item for clip in clips for item in clip.data[key]] for key in first.data}
    windows = Windows(first.windows.source_size, tuple(b for c in clips for b in c.windows.boxes),
                      tuple(f for c in clips for f in c.windows.flips))
    return ClipInputs(data, np.concatenate([c.frames for c in clips]),
                      np.concatenate([c.frame_indices for c in clips]), windows, first.fps, list(first.notes))


class FrameMaps:
    """Per source frame, the mean of the maps the windows gave it; frames no window sampled are interpolated
    in time between their sampled neighbours (or repeat the nearest one at the video's end). :meth:`ready`
    yields frames in order once no later window can change them."""

    def __init__(self, total: int) -> None:
        self.total, self.next = total, 0
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self.last: tuple[int, np.ndarray] | None = None  # the last sampled frame handed out

    def add(self, index: int, heatmap: np.ndarray) -> None:
        if index in self.sums:
            self.sums[index] += heatmap
            self.counts[index] += 1
        else:
            self.sums[index], self.counts[index] = heatmap.astype(np.float64), 1

    def ready(self, final_before: int) -> list[tuple[int, np.ndarray, bool]]:
        """``(frame, map, interpolated)`` of every frame from the next one on that is final: no window
        starting at ``final_before`` or later samples it (``final_before = total``: the video is done)."""
        out: list[tuple[int, np.ndarray, bool]] = []
        while self.next < self.total:
            frame = self.next
            if frame in self.sums:
                if frame >= final_before:
                    break
                mean = (self.sums.pop(frame) / self.counts.pop(frame)).astype(np.float32)
                self.last = (frame, mean)
                out.append((frame, mean, False))
            else:
                later = [i for i in self.sums if frame < i < final_before]
                if later:
                    after = min(later)
                    nxt = (self.sums[after] / self.counts[after]).astype(np.float32)
                    if self.last is None:
                        out.append((frame, nxt, True))
                    else:
                        before, prev = self.last
                        weight = (frame - before) / (after - before)
                        out.append((frame, ((1 - weight) * prev + weight * nxt).astype(np.float32), True))
                elif final_before >= self.total and self.last is not None:
                    out.append((frame, self.last[1], True))
                else:
                    break
            self.next += 1
        return out

    def state(self) -> dict[str, np.ndarray]:
        keys = sorted(self.sums)
        arrays = {"next": np.asarray(self.next), "keys": np.asarray(keys, np.int64),
                  "counts": np.asarray([self.counts[k] for k in keys], np.int64)}
        if keys:
            arrays["sums"] = np.stack([self.sums[k] for k in keys])
        if self.last is not None:
            arrays["last_index"], arrays["last_map"] = np.asarray(self.last[0]), self.last[1]
        return arrays

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        self.next = int(arrays["next"])
        keys = [int(k) for k in arrays["keys"]]
        self.sums = dict(zip(keys, arrays["sums"], strict=True)) if keys else {}
        self.counts = dict(zip(keys, (int(c) for c in arrays["counts"]), strict=True))
        self.last = (int(arrays["last_index"]), arrays["last_map"]) if "last_index" in arrays else None


@dataclass
class WholeVideoReport:
    """What :func:`explain_whole_video` did: the files it wrote and how long it took."""

    txt: Path
    windows: int
    frames: int
    interpolated: int
    resumed_from: int  # the window it started at (0: a fresh run)
    seconds: float
    decode_seconds: float
    files: list[Path] = field(default_factory=list)


def _fingerprint(video: Path) -> dict[str, Any]:
    stat = video.stat()
    return {"path": str(video.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def explain_whole_video(
    handle: ModelHandle,
    video: str | Path,
    txt_path: str | Path,
    *,
    target: TargetChoice | int | str | None = None,
    target_layer: str | None = None,
    method: Method | str = Method.GRADCAM,
    gt: int | None = None,
    stride: int | None = None,
    frame_interval: int | None = None,
    batch_size: int = 4,
    npz: bool = True,
    overlay_path: str | Path | None = None,
    alpha: float = 0.5,
    colormap: str = "viridis",
    fps: float | None = None,
    progress: Callable[[int, int], object] | None = None,
    batch_key: dict | None = None,
    batch: dict | None = None,
) -> WholeVideoReport:
    """Explain every frame of ``video`` and write ``txt_path`` (one ``Frame N - Heatmap values:`` block per
    source frame), its sidecar (with the ``whole_video`` window table: start, end, explained class, class
    probabilities), the npz (``heatmaps [1, N, H, W]``, ``interpolated [N]``, ``window_scores [W, C]``,
    ``window_probs [W, C]``, ``window_targets [W]``, ``window_starts``/``window_ends``) and, with
    ``overlay_path``, the overlay video of the whole length (at ``fps``, default the source's).

    ``target`` is resolved per window (the predicted class of each window, a fixed class, the ground truth
    ``gt``, or a :class:`~core.target.Contrast`). Resumes an interrupted run with the same settings. A batch
    passes its ``batch_key`` and ``batch`` sidecar fields (``batch`` gains ``score``, ``seconds`` and
    ``decode_seconds``).
    """
    video, txt_path = Path(video), Path(txt_path)
    started = time.perf_counter()
    if batch_size < 1:
        raise CamError(f"The window batch size must be at least 1, not {batch_size}.")
    info = probe_video(video, handle.cfg)
    chosen = parse_target(target, handle.classes, ground_truth=gt is not None)
    layer = resolve_layer(handle, target_layer)
    method = get_method(method).name
    sampling = sampling_of(handle.cfg, handle.is_2d, stride=stride, frame_interval=frame_interval)
    windows = plan_windows(info.frames, sampling)
    key = {"version": STATE_VERSION, "video": _fingerprint(video), "config": handle.config,
           "checkpoint": handle.checkpoint, "layer": layer, "method": method, "target": chosen.key, "gt": gt,
           "sampling": sampling.to_dict(), "npz": npz}
    work = txt_path.parent / f".{txt_path.stem}.whole-video"
    state = _load_state(work, key)
    if state is None:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        state = {"key": key, "next_window": 0, "txt_bytes": 0, "shape": None, "window": None}
    resumed_from = int(state["next_window"])
    maps = FrameMaps(info.frames)
    if resumed_from and (work / "pending.npz").exists():
        with np.load(work / "pending.npz") as pending:
            maps.restore(dict(pending))
    stream = FrameStream(video, handle.cfg)
    cfg = window_config(handle.cfg, sampling, handle.is_2d)
    num_classes = len(handle.classes)
    scores_mm = _memmap(work / "window_scores.npy", (len(windows), num_classes), np.float32, resumed_from > 0)
    probs_mm = _memmap(work / "window_probs.npy", (len(windows), num_classes), np.float32, resumed_from > 0)
    targets_mm = _memmap(work / "window_targets.npy", (len(windows),), np.int64, resumed_from > 0)
    interp_mm = _memmap(work / "interpolated.npy", (info.frames,), np.bool_, resumed_from > 0)
    heat = _FrameFile(work / "heatmaps.npy", info.frames)
    if state["shape"]:
        heat.reopen(tuple(state["shape"]), int(state["heat_bytes"]))
    # The writer thread appends a batch's finished frames and saves the state while the model runs the next batch;
    # a batch is reported to ``progress`` once its state is saved, and the next batch's writing starts only after
    # that, so a run stopped from ``progress`` resumes at the window it was told about.
    with open(work / "heatmaps.txt", "ab") as txt, heat, ThreadPoolExecutor(1) as writer:
        txt.truncate(int(state["txt_bytes"]))
        txt.seek(int(state["txt_bytes"]))
        writing: Future[dict] | None = None
        for first in range(resumed_from, len(windows), batch_size):
            chunk = windows[first:first + batch_size]
            clips = [build_inputs(cfg, stream.frames(w.indices)) for w in chunk]
            following = first + batch_size
            stream.forget_before(windows[following].start if following < len(windows) else info.frames)
            captured = capture(handle, stack_clips(clips), target_layer=layer, target=chosen,
                               gradients=get_method(method).needs_gradients, gt=gt)
            heatmaps = heatmaps_of(captured, method).float().cpu().numpy()  # [B, T, H, W]
            if not state["shape"]:
                state["shape"] = list(heatmaps.shape[-2:])
                state["window"] = _window_geometry(clips[0])
                heat.create(tuple(state["shape"]))
            _record(chunk, captured, heatmaps, maps, scores_mm, probs_mm, targets_mm)
            final_before = windows[following].start if following < len(windows) else info.frames
            ready, pending = maps.ready(final_before), maps.state()
            if writing is not None:
                state = _saved(writing, progress, len(windows))
            writing = writer.submit(_write_batch, work, txt, heat, interp_mm, ready, pending,
                                    {**state, "next_window": min(following, len(windows))})
        if writing is not None:
            state = _saved(writing, progress, len(windows))
    assert maps.next == info.frames
    for array in (scores_mm, probs_mm, targets_mm, interp_mm):
        array.flush()  # what _finish copies is read back through the files
    heat_mm = np.load(work / "heatmaps.npy", mmap_mode="r")  # only its shape is read, pages stay on disk
    result = _summary_result(handle, video, info, state, heat_mm, scores_mm, probs_mm, targets_mm, chosen, layer,
                             method)
    whole = _window_table(windows, sampling, targets_mm, probs_mm, interp_mm, handle.classes, chosen)
    extra: dict[str, Any] = {"whole_video": whole}
    if batch is not None:
        assert result.probs is not None and result.target_class is not None
        extra.update(batch_key=batch_key, batch={
            **batch, "score": float(result.probs[result.target_class]),
            "seconds": round(time.perf_counter() - started, 3), "decode_seconds": round(stream.seconds, 3)})
    files = _finish(work, txt_path, result, extra, npz=npz, overlay_path=overlay_path, alpha=alpha,
                    colormap=colormap, fps=fps or info.fps or 25.0)
    del heat_mm, result, scores_mm, probs_mm, targets_mm, interp_mm
    shutil.rmtree(work, ignore_errors=True)
    return WholeVideoReport(txt_path, len(windows), info.frames, int(whole["interpolated_count"]), resumed_from,
                            time.perf_counter() - started, stream.seconds, files)


class _FrameFile:
    """An npy file ``[1, N, H, W]`` float32 written one frame after another with plain writes (nothing of it is
    mapped into memory), truncated back to a saved size to resume."""

    def __init__(self, path: Path, count: int) -> None:
        self.path, self.count = path, count
        self.handle: Any = None

    def create(self, shape: tuple[int, int]) -> None:
        self.handle = open(self.path, "w+b")
        np.lib.format.write_array_header_2_0(
            self.handle, {"descr": "<f4", "fortran_order": False, "shape": (1, self.count, *shape)})

    def reopen(self, shape: tuple[int, int], size: int) -> None:
        self.handle = open(self.path, "r+b")
        self.handle.truncate(size)
        self.handle.seek(size)

    def append(self, frame: np.ndarray) -> None:
        self.handle.write(np.ascontiguousarray(frame, "<f4").tobytes())

    def flush(self) -> None:
        self.handle.flush()

    def size(self) -> int:
        return int(self.handle.tell())

    def __enter__(self) -> _FrameFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()

    @staticmethod
    def read(path: Path, start: int, count: int, shape: tuple[int, int]) -> np.ndarray:
        """Frames ``start`` to ``start + count`` of a finished file."""
        with open(path, "rb") as handle:
            np.lib.format.read_magic(handle)
            np.lib.format.read_array_header_2_0(handle)
            handle.seek(handle.tell() + start * shape[0] * shape[1] * 4)
            return np.fromfile(handle, "<f4", count * shape[0] * shape[1]).reshape(count, *shape)


def _record(chunk: list[Window], captured: Any, heatmaps: np.ndarray, maps: FrameMaps, scores_mm: np.ndarray,
            probs_mm: np.ndarray, targets_mm: np.ndarray) -> None:
    """Add a batch of windows' maps to their frames and record each window's scores and explained class."""
    sample_scores = captured.sample_scores.float()
    views = captured.view_scores.shape[0] // captured.samples
    probs = captured.view_scores.float().softmax(-1).reshape(captured.samples, views, -1).mean(1)
    for row, (window, maps_of) in enumerate(zip(chunk, heatmaps, strict=True)):
        for index, heatmap in zip(window.indices, maps_of, strict=True):
            maps.add(index, heatmap)
        scores_mm[window.index] = sample_scores[row].cpu().numpy()
        probs_mm[window.index] = probs[row].cpu().numpy()
        targets_mm[window.index] = captured.target_classes[row]


def _memmap(path: Path, shape: tuple[int, ...], dtype: Any, existing: bool) -> np.memmap:
    if existing and path.exists():
        array = np.lib.format.open_memmap(path, mode="r+")
        if array.shape == shape:
            return array
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def _load_state(work: Path, key: dict) -> dict | None:
    """The saved state of an interrupted run with the same settings (None: start afresh).

    The state is saved after every batch of windows, once the batch's writes have reached the OS: a killed
    process loses nothing the state counts (the page cache outlives it), so nothing is fsynced per batch. Only a
    crash of the machine itself can leave the files shorter than the state says; such a state is not used."""
    try:
        state = json.loads((work / "state.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("key") != json.loads(json.dumps(key)):
        return None
    written = {"heatmaps.txt": state.get("txt_bytes", 0), "heatmaps.npy": state.get("heat_bytes", 0)}
    for name, size in written.items():
        if size and (not (work / name).is_file() or (work / name).stat().st_size < int(size)):
            return None
    return state


def _saved(writing: Future[dict], progress: Callable[[int, int], object] | None, total: int) -> dict:
    """The state a batch's writing saved, once it is saved, reported to ``progress``."""
    state = writing.result()
    if progress is not None:
        progress(state["next_window"], total)
    return state


def _write_batch(work: Path, txt: Any, heat: _FrameFile, interp_mm: np.ndarray,
                 ready: list[tuple[int, np.ndarray, bool]], pending: dict[str, np.ndarray], state: dict) -> dict:
    """Append a batch's finished frames (txt, npy, interpolated flags), then save the state that counts them and
    the frames still pending (:meth:`FrameMaps.state`); returns that state."""
    for frame, heatmap, interpolated in ready:
        txt.write(heatmap_block(frame, heatmap))
        heat.append(heatmap)
        interp_mm[frame] = interpolated
    txt.flush()  # into the OS's page cache, which outlives a killed process (no fsync: see _load_state)
    heat.flush()
    with atomic_path(work / "pending.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **pending)  # type: ignore[arg-type]
    state = {**state, "txt_bytes": txt.tell(), "heat_bytes": heat.size()}
    write_json(work / "state.json", state)
    return state


def _window_geometry(clip: ClipInputs) -> dict:
    return {"source_size": list(clip.windows.source_size), "box": list(clip.windows.boxes[0])}


def _summary_result(handle: ModelHandle, video: Path, info: Any, state: dict, heat_mm: np.ndarray,
                    scores_mm: np.ndarray, probs_mm: np.ndarray, targets_mm: np.ndarray, chosen: Any, layer: str,
                    method: Method) -> ExplainResult:
    """The whole video as one :class:`ExplainResult` (heatmaps memory-mapped): the video-level scores are the
    windows' mean (MMAction2's average of several clips), the recorded target the class explained most often."""
    geometry = state["window"]
    windows = Windows(tuple(geometry["source_size"]), (tuple(geometry["box"]),), (False,))
    target_class = int(np.bincount(np.asarray(targets_mm)).argmax())
    return ExplainResult(
        heatmaps=heat_mm, frame_indices=np.arange(info.frames, dtype=np.int64)[None],
        scores=np.asarray(scores_mm).mean(0), probs=np.asarray(probs_mm).mean(0), target_class=target_class,
        target_label=handle.classes[target_class], layer=layer, method=method, classes=list(handle.classes),
        video=str(video), config=handle.config, checkpoint=handle.checkpoint, views=Views.CENTER, windows=windows,
        fps=info.fps, notes=[f"whole video: {chosen} explained in every window"])


def _window_table(windows: list[Window], sampling: Sampling, targets_mm: np.ndarray, probs_mm: np.ndarray,
                  interp_mm: np.ndarray, classes: list[str], chosen: Any) -> dict:
    """The sidecar's ``whole_video`` field."""
    interpolated = np.flatnonzero(np.asarray(interp_mm))
    rows = []
    for window in windows:
        probs = np.asarray(probs_mm[window.index])
        top = np.argsort(-probs, kind="stable")[:5]
        rows.append({"window": window.index, "start": window.start, "end": window.end,
                     "target_class": int(targets_mm[window.index]),
                     "top5": [{"class": int(i), "label": classes[i], "score": float(probs[i])} for i in top]})
    return {"sampling": sampling.to_dict(), "target": chosen.key, "windows": rows,
            "interpolated_frames": interpolated.tolist(), "interpolated_count": int(interpolated.size)}


def _finish(work: Path, txt_path: Path, result: ExplainResult, extra: dict, *, npz: bool,
            overlay_path: str | Path | None, alpha: float, colormap: str, fps: float) -> list[Path]:
    """Move the finished outputs into place: txt, npz, overlay video, then the sidecar (its presence marks
    completion)."""
    files, whole = [txt_path], extra["whole_video"]
    os.replace(work / "heatmaps.txt", txt_path)
    if npz:
        npz_path = txt_path.with_suffix(".npz")
        with atomic_path(npz_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in ("heatmaps", "interpolated", "window_scores", "window_probs", "window_targets"):
                _zip_file(zf, work / f"{name}.npy", f"{name}.npy")
            small = {"frame_indices": np.asarray(result.frame_indices), "scores": result.scores,
                     "probs": result.probs, "target_class": np.asarray(result.target_class, np.int64),
                     "window_starts": np.asarray([w["start"] for w in whole["windows"]], np.int64),
                     "window_ends": np.asarray([w["end"] for w in whole["windows"]], np.int64)}
            for name, array in small.items():
                with zf.open(f"{name}.npy", "w") as member:
                    np.lib.format.write_array(member, np.asarray(array))
        files.append(npz_path)
    if overlay_path is not None:
        files.append(write_overlay(result, overlay_path, alpha=alpha, colormap=colormap, fps=fps,
                                   heatmaps=work / "heatmaps.npy"))
    sidecar = sidecar_path(txt_path)
    write_json(sidecar, to_sidecar(result, **extra))
    return [*files, sidecar]


def _zip_file(zf: zipfile.ZipFile, path: Path, name: str) -> None:
    """``zf.write(path, name)`` (the same member, byte for byte) in 4 MiB chunks instead of its 8 KiB ones: the
    heatmaps of a long video are hundreds of MiB."""
    info = zipfile.ZipInfo.from_file(path, name)
    info.compress_type = zf.compression
    with open(path, "rb") as source, zf.open(info, "w") as member:
        shutil.copyfileobj(source, member, 4 << 20)


def write_overlay(result: ExplainResult, path: str | Path, *, alpha: float = 0.5, colormap: str = "viridis",
                  fps: float = 25.0, chunk: int = 64, heatmaps: Path | None = None) -> Path:
    """The overlay video of a whole-video result, ``chunk`` frames at a time (source frames cut to the model's
    window, shown with the source's proportions); ``heatmaps``: an npy file to read the chunks from (not
    mapped into memory), else ``result.heatmaps``."""
    assert result.windows is not None
    count, height, width = result.heatmaps.shape[1:]
    size = display_size(result)
    with VideoWriter(path, fps) as writer:
        for start in range(0, count, chunk):
            indices = np.arange(start, min(start + chunk, count))[None]
            frames, _ = source_frames(result.video, indices, result.windows, (width, height))
            maps = (_FrameFile.read(heatmaps, start, indices.shape[1], (height, width)) if heatmaps is not None
                    else np.asarray(result.heatmaps[0, indices[0]]))
            blended = overlay(frames[0], maps, alpha=alpha, colormap=colormap)
            writer.write(resize_frames(blended, size) if size != (width, height) else blended)
    return Path(path)


@dataclass(frozen=True)
class Timeline:
    """The class-score timeline of a whole-video result: each window's softmax over time."""

    starts: np.ndarray  # [W] first source frame of each window
    ends: np.ndarray  # [W] one past its last sampled frame
    probs: np.ndarray  # [W, C] class probabilities of each window
    targets: np.ndarray  # [W] the class explained in each window
    classes: list[str]
    fps: float | None

    @property
    def centers(self) -> np.ndarray:
        """Each window's middle, in seconds (in frames when the frame rate is unknown)."""
        middle = (self.starts + self.ends - 1) / 2
        return middle / self.fps if self.fps else middle

    def top_classes(self, count: int = 5) -> list[int]:
        """The classes that reach the highest probability in some window, best first."""
        return [int(i) for i in np.argsort(-self.probs.max(axis=0), kind="stable")[:count]]

    def csv(self) -> str:
        """One row per window: window, start, end (frames), start_s, end_s, explained class, then every
        class's probability."""
        import csv
        import io

        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["window", "start", "end", "start_s", "end_s", "target_class", *self.classes])
        for i, (start, end) in enumerate(zip(self.starts.tolist(), self.ends.tolist(), strict=True)):
            times = [f"{start / self.fps:.3f}", f"{end / self.fps:.3f}"] if self.fps else ["", ""]
            writer.writerow([i, start, end, *times, int(self.targets[i]), *(f"{p:.6f}" for p in self.probs[i])])
        return out.getvalue()


def read_timeline(txt_path: str | Path) -> Timeline:
    """The timeline of a whole-video result on disk (its sidecar and npz); CamError when it is not one."""
    meta = read_sidecar(sidecar_path(txt_path))
    whole = meta.get("whole_video")
    if not isinstance(whole, dict):
        raise CamError(f"{txt_path} is not a whole-video result (its sidecar has no whole_video table).")
    arrays = read_npz(Path(txt_path).with_suffix(".npz"), ("window_probs", "window_targets", "window_starts",
                                                          "window_ends"))
    if len(arrays) < 4:
        raise CamError(f"{Path(txt_path).with_suffix('.npz')} lacks the window arrays of a whole-video result; "
                       "explain the video again.")
    probs = arrays["window_probs"]
    classes = [f"class_{i}" for i in range(probs.shape[1])]
    for row in whole.get("windows", []):
        for entry in row.get("top5", []):
            if isinstance(entry.get("class"), int) and 0 <= entry["class"] < len(classes):
                classes[entry["class"]] = str(entry.get("label", classes[entry["class"]]))
    fps = meta.get("fps")
    return Timeline(arrays["window_starts"], arrays["window_ends"], probs, arrays["window_targets"], classes,
                    float(fps) if isinstance(fps, int | float) and fps > 0 else None)
