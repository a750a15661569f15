"""What the metrics perturb: each view's normalised model input, the baselines that replace it, the
position ranking of a map, the batched forwards that score the perturbed inputs, and the rank correlation
(:func:`spearman`) that frame importance and the sanity checks compare rankings with.

A view's input ``x`` is ``[C, T, H, W]`` in the model's normalised space (what the data preprocessor
hands the backbone). For 3D recognizers a view is one clip of one crop; for 2D recognizers a view is one
crop with all its segments, scored as the model scores one sample. Perturbed inputs are scored in
batches of ``batch_size`` under :func:`torch.inference_mode`, and each batch is built only when it is
scored, so memory grows with the batch size, never with the number of steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import CamError, parse_choice
from core.model import ModelHandle, class_scores
from core.result import ExplainResult
from core.video import ClipInputs, build_inputs


class Baseline(StrEnum):
    """What replaces a perturbed position (:func:`baseline_of`); the values are the command line's ``--baseline``
    and the ``baseline`` of JSON reports, sidecars' ``evaluation`` and ``.batch.json``."""

    ZEROS = "zeros"
    BLUR = "blur"
    STATIC = "static"


BASELINES = tuple(Baseline)
DEFAULT_BLUR_SIGMA = 5.0  # pixels: RISE's blurred baseline (Petsiuk et al. 2018, their code's ksig=5)
DEFAULT_BATCH_SIZE = 8

Progress = Callable[[int, int], None]
"""Called with (forwards done, forwards in all) after each batch."""


def parse_baseline(value: Baseline | str) -> Baseline:
    """The :class:`Baseline` ``value`` names (the command line's, a page's, a ``.batch.json``'s); a CamError for
    any other."""
    return parse_choice(Baseline, value, f"Unknown baseline {{value!r}}; choose one of {', '.join(BASELINES)}.")


def check_options(*, steps: int | None = None, baseline: Baseline | str = Baseline.ZEROS,
                  blur_sigma: float = DEFAULT_BLUR_SIGMA, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
    """CamError for a step count, baseline, blur or batch size that cannot be used."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0):
        raise CamError(f"steps must be a positive whole number, not {steps!r}.")
    parse_baseline(baseline)
    if not (isinstance(blur_sigma, int | float) and math.isfinite(blur_sigma) and blur_sigma > 0):
        raise CamError(f"The blur sigma must be a positive number of pixels, not {blur_sigma!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise CamError(f"batch_size must be a positive whole number, not {batch_size!r}.")


def clip_of(handle: ModelHandle, result: ExplainResult) -> ClipInputs:
    """The inputs ``result`` explained: the ones it keeps (``result.inputs``, set by :func:`core.explain`), else
    (a result read from files or written by a batch) rebuilt from its video by the same test pipeline and checked
    to give the same frames."""
    if result.inputs is not None:
        return result.inputs
    if result.video == "<array>":
        raise CamError("This result was explained from frames in memory, so its model input cannot be rebuilt; "
                       "explain a video file or rawframes folder to evaluate it.")
    clip = build_inputs(handle.cfg, result.video, views=result.views)
    if clip.frames.shape[:2] != result.frame_indices.shape or not np.array_equal(clip.frame_indices,
                                                                                 result.frame_indices):
        raise CamError(f"The video {result.video} no longer gives the frames this result explained "
                       "(it changed, or the model's test pipeline did); explain it again.")
    return clip


def view_inputs(handle: ModelHandle, clip: ClipInputs) -> torch.Tensor:
    """Each view's normalised input ``[V, C, T, H, W]`` on the model's device."""
    num_views, num_frames = clip.frames.shape[:2]
    preprocess: Any = handle.model.data_preprocessor
    with torch.inference_mode():
        inputs = preprocess(clip.data, False)["inputs"]
    if handle.is_2d:  # [1, V*T, C, H, W], crop-major
        return inputs[0].reshape(num_views, num_frames, *inputs.shape[2:]).permute(0, 2, 1, 3, 4)
    return inputs.reshape(-1, *inputs.shape[2:])  # [1, V, C, T, H, W]


def to_model(handle: ModelHandle, batch: torch.Tensor) -> torch.Tensor:
    """A batch of views ``[B, C, T, H, W]`` in the layout the recognizer takes: ``[B, T, C, H, W]`` for
    2D recognizers (B samples of T segments), ``[1, B, C, T, H, W]`` for 3D ones (B views of one sample)."""
    if handle.is_2d:
        return batch.permute(0, 2, 1, 3, 4).contiguous()
    return batch.unsqueeze(0)


def probabilities(handle: ModelHandle, batch: torch.Tensor, target: int) -> torch.Tensor:
    """The target class's softmax probability for each view of ``batch`` ``[B, C, T, H, W]``."""
    with torch.inference_mode():
        scores = class_scores(handle, {"inputs": to_model(handle, batch)})
        return scores.float().softmax(-1)[:, target]


def score_all(handle: ModelHandle, count: int, fill: Callable[[int, torch.Tensor], None], like: torch.Tensor,
              target: int, *, batch_size: int, progress: Progress | None = None, done: int = 0,
              total: int | None = None) -> torch.Tensor:
    """Probabilities of ``count`` inputs, input ``i`` written by ``fill(i, out)`` into a buffer shaped like
    ``like``; ``batch_size`` at a time. ``progress`` hears ``done + scored so far`` of ``total``."""
    out = torch.empty(count, dtype=torch.float32)
    buffer = torch.empty((min(batch_size, count), *like.shape), dtype=like.dtype, device=like.device)
    with torch.inference_mode():
        for start in range(0, count, batch_size):
            size = min(batch_size, count - start)
            for row in range(size):
                fill(start + row, buffer[row])
            out[start:start + size] = probabilities(handle, buffer[:size], target).cpu()
            if progress is not None:
                progress(done + start + size, total if total is not None else count)
    return out


def ranks_of(heatmap: torch.Tensor) -> torch.Tensor:
    """Rank of every position of ``heatmap`` (flattened): 0 for the highest value, ties by flat index
    (a stable sort), as torchcam's ``DeletionInsertionMetric`` ranks."""
    order = torch.argsort(heatmap.flatten(), descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(order.numel(), device=order.device)
    return ranks


def counts_of(positions: int, steps: int) -> list[int]:
    """Positions perturbed at each point: ``0, s, 2s, … (< P), P`` with ``s = ceil(P / steps)``."""
    step = -(-positions // steps)
    return [*range(0, positions, step), positions]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each frame of ``x`` ``[C, T, H, W]`` blurred by a Gaussian of ``sigma`` pixels: a separable kernel cut at
    3 sigma and mirrored borders, as ``scipy.ndimage.gaussian_filter(mode="mirror", truncate=3)``. Blurring
    commutes with the per-channel normalisation, so blurring the normalised input is blurring the frames."""
    channels, frames, height, width = x.shape
    radius = max(1, min(int(3 * sigma + 0.5), height - 1, width - 1))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(x)
    images = x.reshape(channels * frames, 1, height, width)
    images = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    images = F.conv2d(F.pad(images, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return images.reshape(x.shape)


def baseline_of(x: torch.Tensor, baseline: Baseline | str = Baseline.ZEROS,
                blur_sigma: float = DEFAULT_BLUR_SIGMA) -> torch.Tensor:
    """What replaces a perturbed position of one view ``x`` ``[C, T, H, W]``:

    - ``zeros``: zero in the normalised space, i.e. the dataset's mean colour;
    - ``blur``: each frame Gaussian-blurred (``blur_sigma`` pixels);
    - ``static``: each pixel's mean over the clip's frames (appearance kept, motion removed).
    """
    baseline = parse_baseline(baseline)
    check_options(blur_sigma=blur_sigma)
    with torch.inference_mode():
        if baseline is Baseline.ZEROS:
            return torch.zeros_like(x)
        if baseline is Baseline.BLUR:
            return gaussian_blur(x, blur_sigma)
        return x.mean(dim=1, keepdim=True).expand_as(x).contiguous()


def target_of(result: ExplainResult) -> int:
    """The class ``result`` explained (CamError when it does not record one: a legacy txt without sidecar)."""
    if result.target_class is None:
        raise CamError("This result does not record which class it explained (a heatmap txt without its json "
                       "sidecar), so its score cannot be measured; explain the video again.")
    return int(result.target_class)


def heatmaps_tensor(result: ExplainResult, inputs: torch.Tensor) -> torch.Tensor:
    """The result's heatmaps ``[V, T, H, W]`` on the inputs' device, checked to give every view a map."""
    heatmaps = np.asarray(result.heatmaps, np.float32)
    expected = (inputs.shape[0], *inputs.shape[2:])
    if heatmaps.shape != expected:
        raise CamError(f"The result's heatmaps have shape {heatmaps.shape} but its input has views "
                       f"{expected}: every view needs a map; explain the video again with the same views.")
    for view, heatmap in enumerate(heatmaps):
        problem = "not finite" if not np.isfinite(heatmap).all() else "constant" if np.ptp(heatmap) == 0 else None
        if problem:
            raise CamError(f"View {view + 1} has no map (its heatmap is {problem}), so there is nothing to rank; "
                           "explain another layer, method or class.")
    return torch.from_numpy(heatmaps).to(inputs.device)


def mean_over_views(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally long arrays (ties get average ranks): the Pearson
    correlation of their ranks. NaN when either is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.asarray(a, np.float64).ravel()), rankdata(np.asarray(b, np.float64).ravel())
    ra -= ra.mean()
    rb -= rb.mean()
    norm = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / norm if norm > 0 else float("nan")
