"""Does removing what the map highlights hurt the prediction? Deletion and insertion curves, Average Drop
and Increase in Confidence, and the importance of each frame.

Definitions (the score is the target class's softmax probability on one view's normalised input ``x``
``[C, T, H, W]``; ``m`` is the view's heatmap ``[T, H, W]``; several views are measured one by one and the
figures averaged):

- **Deletion / insertion** (Petsiuk et al. 2018, "RISE", as torchcam 0.5's ``DeletionInsertionMetric``
  computes them): the ``P = T·H·W`` positions are ranked by ``m``, highest first, ties by flat index. With
  ``s = ceil(P / steps)`` the curves have points at ``0, s, 2s, … (< P), P`` positions, i.e. fractions
  ``count / P``. Deletion at ``k``: the ``k`` top-ranked positions take the baseline, the rest keep ``x``;
  insertion: the ``k`` top-ranked positions keep ``x``, the rest take the baseline (one mask for all
  channels). AUC is the trapezoid of the scores over the fractions. Low deletion and high insertion AUCs
  mean the map ranks what the model uses first. The same AUCs for a **random ranking** (uniform noise drawn
  at the target layer's ``T'×H'×W'`` grid, upsampled to the input as the heatmaps are, so it has their
  granularity) say what chance gives.
- **Average Drop / Increase in Confidence** (Chattopadhay et al. 2018, "Grad-CAM++", as torchcam's
  ``ClassificationMetric``): ``y`` = score of ``x``, ``o`` = score of ``x·m`` (the map multiplies the
  normalised input); drop = ``max(0, y − o) / y``, increase = ``1[o > y]``.
- **Frame importance**: for each input frame ``t``, ``y − score(x with frame t replaced by the
  baseline)`` (what Captum's ``FeatureAblation`` gives with one feature per frame), next to the map's mass
  in that frame, ``m[t].sum() / m.sum()``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from core.cam import capture, heatmaps_of
from core.evaluate.perturb import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BLUR_SIGMA,
    Baseline,
    Progress,
    baseline_of,
    check_options,
    clip_of,
    counts_of,
    heatmaps_tensor,
    parse_baseline,
    ranks_of,
    score_all,
    spearman,
    target_of,
    view_inputs,
)
from core.methods import Method
from core.model import ModelHandle
from core.result import ExplainResult
from core.saliency import trapezoid
from core.video import ClipInputs


@dataclass(frozen=True)
class FaithfulnessMetric:
    """One summary figure of :class:`Faithfulness`: its field (and CSV column), which way it improves, how tables
    title it, its source; the one row tables, CSV columns, the CLI and the Evaluate part read."""

    name: str
    better: str  # "higher" or "lower"
    title: str
    citation: str

    @property
    def label(self) -> str:
        """``deletion AUC ↓``: the title with the way it improves."""
        return f"{self.title} {'↓' if self.better == 'lower' else '↑'}"


_RISE = "Petsiuk et al., RISE, BMVC 2018 (torchcam's DeletionInsertionMetric)"
FAITHFULNESS_METRICS: dict[str, FaithfulnessMetric] = {metric.name: metric for metric in (
    FaithfulnessMetric("deletion_auc", "lower", "deletion AUC", _RISE),
    FaithfulnessMetric("insertion_auc", "higher", "insertion AUC", _RISE),
    FaithfulnessMetric("random_deletion_auc", "lower", "random deletion AUC", _RISE + "; a random ranking: chance"),
    FaithfulnessMetric("random_insertion_auc", "higher", "random insertion AUC", _RISE + "; a random ranking: chance"),
    FaithfulnessMetric("average_drop", "lower", "average drop",
                       "Chattopadhay et al., Grad-CAM++, WACV 2018 (torchcam's ClassificationMetric)"),
)}
"""Every summary figure of a faithfulness measurement, in column order (a new one: a field and a row here)."""

SUMMARY_COLUMNS = tuple(FAITHFULNESS_METRICS)
"""The columns ``python -m core.batch --evaluate`` adds to ``summary.csv`` (see :func:`summary_columns`)."""


@dataclass(frozen=True)
class Verdict:
    """Whether a check supports the map, in one plain sentence."""

    supported: bool
    text: str


def auc(fractions: np.ndarray, scores: np.ndarray) -> float:
    """Area under ``scores`` over ``fractions`` by the trapezoidal rule."""
    return float(trapezoid(np.asarray(fractions, np.float64), np.asarray(scores, np.float64)))


@dataclass
class Faithfulness:
    """Deletion and insertion curves of a map and of a random ranking, their AUCs, Average Drop and
    Increase in Confidence (curves and figures averaged over the views)."""

    fractions: np.ndarray  # [K] fraction of positions deleted (deletion) or kept (insertion)
    deletion: np.ndarray  # [K] target probability along the deletion curve
    insertion: np.ndarray  # [K]
    deletion_auc: float
    insertion_auc: float
    average_drop: float
    increase_in_confidence: float  # fraction of views whose score rose under x·m
    score: float  # y: the target probability of the unperturbed input
    masked_score: float  # o: the target probability of x·m
    target_class: int
    target_label: str
    method: Method | str  # the result's
    layer: str
    baseline: Baseline
    steps: int
    views: int
    blur_sigma: float | None = None
    seed: int = 0
    random_deletion: np.ndarray | None = None  # [K], the same curves for the random ranking
    random_insertion: np.ndarray | None = None
    random_deletion_auc: float = float("nan")
    random_insertion_auc: float = float("nan")
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """The five figures of :data:`SUMMARY_COLUMNS`."""
        return {name: float(getattr(self, name)) for name in SUMMARY_COLUMNS}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (arrays as lists, NaN as None)."""
        return plain(asdict(self))

    def verdict(self) -> Verdict:
        """Do deletion and insertion rank the map above chance (the random ranking)?"""
        if math.isnan(self.random_deletion_auc) or math.isnan(self.random_insertion_auc):
            return Verdict(False, "No random ranking was measured, so the AUCs cannot be judged against chance.")
        d, rd, i, ri = self.deletion_auc, self.random_deletion_auc, self.insertion_auc, self.random_insertion_auc
        deletion_ok, insertion_ok = d < rd, i > ri
        deletion = f"deletion AUC {d:.3f} vs {rd:.3f} for a random ranking, lower is better"
        insertion = f"insertion AUC {i:.3f} vs {ri:.3f}, higher is better"
        hint = {Baseline.ZEROS: " With the zeros baseline a deleted region becomes a grey hole whose moving outline "
                                "can still show the motion; the static baseline removes motion instead.",
                Baseline.BLUR: " A blurred region can still show coarse motion; the static baseline removes it.",
                Baseline.STATIC: ""}[self.baseline]
        if deletion_ok and insertion_ok:
            return Verdict(True, f"Deletion and insertion support the map: removing its top-ranked pixels first "
                                 f"lowers the score faster than chance ({deletion}) and restoring them first "
                                 f"raises it faster ({insertion}).")
        if insertion_ok:
            return Verdict(False, f"Deletion does not support the map: removing its top-ranked pixels first lowers "
                                  f"the score less than removing random ones ({deletion}); insertion does support "
                                  f"it ({insertion}).{hint}")
        if deletion_ok:
            return Verdict(False, f"Insertion does not support the map: restoring its top-ranked pixels first "
                                  f"raises the score less than restoring random ones ({insertion}); deletion does "
                                  f"support it ({deletion}).")
        return Verdict(False, f"Neither deletion nor insertion supports the map: it ranks pixels no better than "
                              f"chance for this model and input ({deletion}; {insertion}).{hint}")


@dataclass
class FrameImportance:
    """How much each input frame matters to the score, next to the map's mass in it (per view)."""

    drop: np.ndarray  # [V, T] y − score(x with frame t replaced by the baseline)
    mass: np.ndarray  # [V, T] m[t].sum() / m.sum()
    score: np.ndarray  # [V] y
    frame_indices: np.ndarray  # [V, T] source frame of each input frame (0-based)
    target_class: int
    baseline: Baseline
    blur_sigma: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    def agreement(self) -> float:
        """Spearman's rho between the frames' score drops and the map's mass per frame (all views): do the
        frames the map weighs most matter most to the model? NaN for a single frame or constant values."""
        return spearman(self.drop.reshape(-1), self.mass.reshape(-1))


def plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars as Python lists and numbers, non-finite floats as None (JSON)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def random_heatmaps(handle: ModelHandle, clip: ClipInputs, layer: str, target: int, seed: int = 0) -> torch.Tensor:
    """A random map ``[V, T, H, W]`` with the heatmaps' granularity: uniform noise drawn (seeded, on the CPU,
    so every device gets the same draw) at the target layer's ``T'×H'×W'`` grid, then resized and normalised
    by the engine exactly as a CAM is (:func:`core.cam.heatmaps_of`; Grad-CAM of one channel whose gradient
    is 1 is the channel itself)."""
    captured = capture(handle, clip, target_layer=layer, target=target, gradients=False)
    generator = torch.Generator().manual_seed(seed)
    noise = [torch.rand((*a.shape[:2], 1, *a.shape[3:]), generator=generator).to(a) for a in captured.activations]
    drawn = replace(captured, activations=noise, gradients=[torch.ones_like(n) for n in noise])
    return heatmaps_of(drawn, Method.GRADCAM)


def _view_scores(handle: ModelHandle, x: torch.Tensor, base: torch.Tensor, rankings: list[torch.Tensor],
                 counts: list[int], target: int, *, masked: torch.Tensor | None, batch_size: int,
                 progress: Progress | None, done: int, total: int) -> tuple[torch.Tensor, list[tuple]]:
    """Score one view: ``x``, the baseline, ``masked`` (when given), and each ranking's interior deletion
    and insertion points. Returns the plain scores ``[y, baseline, (o)]`` and per ranking the deletion and
    insertion curves (``x`` and the all-baseline input are scored once and shared by every curve)."""
    interior = counts[1:-1]
    fixed = [x, base] + ([masked] if masked is not None else [])
    jobs = [(r, deleting, count) for r in range(len(rankings)) for deleting in (True, False) for count in interior]
    shape = (1, *x.shape[1:])

    def fill(index: int, out: torch.Tensor) -> None:
        if index < len(fixed):
            out.copy_(fixed[index])
            return
        r, deleting, count = jobs[index - len(fixed)]
        top = (rankings[r] < count).view(shape)  # the `count` top-ranked positions, for all channels
        if deleting:
            torch.where(top, base, x, out=out)
        else:
            torch.where(top, x, base, out=out)

    scores = score_all(handle, len(fixed) + len(jobs), fill, x, target, batch_size=batch_size, progress=progress,
                       done=done, total=total)
    y, floor = scores[0], scores[1]
    curves, at = [], len(fixed)
    for _ in rankings:
        deletion = torch.cat([y[None], scores[at:at + len(interior)], floor[None]])
        at += len(interior)
        insertion = torch.cat([floor[None], scores[at:at + len(interior)], y[None]])
        at += len(interior)
        curves.append((deletion.numpy(), insertion.numpy()))
    return scores[:len(fixed)], curves


def forwards_per_view(steps: int, positions: int, *, random: bool = True) -> int:
    """Forward passes :func:`faithfulness` spends on one view (``x``, the baseline, ``x·m`` and the interior
    points of both curves, per ranking)."""
    interior = len(counts_of(positions, steps)) - 2
    return 3 + 2 * interior * (2 if random else 1)


def deletion_insertion(handle: ModelHandle, x: torch.Tensor, heatmap: torch.Tensor, target: int, *,
                       steps: int = 20, baseline: Baseline | str = Baseline.ZEROS,
                       blur_sigma: float = DEFAULT_BLUR_SIGMA, batch_size: int = DEFAULT_BATCH_SIZE
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deletion and insertion curves of one view: ``(fractions, deletion, insertion)`` for the normalised
    input ``x`` ``[C, T, H, W]`` ranked by ``heatmap`` ``[T, H, W]``. ``2 + 2·(K − 2)`` forwards for ``K``
    points (40 for 20 steps)."""
    check_options(steps=steps, baseline=baseline, blur_sigma=blur_sigma, batch_size=batch_size)
    positions = heatmap.numel()
    counts = counts_of(positions, steps)
    base = baseline_of(x, baseline, blur_sigma)
    _, [(deletion, insertion)] = _view_scores(handle, x, base, [ranks_of(heatmap)], counts, target, masked=None,
                                              batch_size=batch_size, progress=None, done=0, total=0)
    return np.asarray(counts, np.float64) / positions, deletion, insertion


def faithfulness(
    model: ModelHandle,
    result: ExplainResult,
    *,
    steps: int = 20,
    baseline: Baseline | str = Baseline.ZEROS,
    blur_sigma: float = DEFAULT_BLUR_SIGMA,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    random: bool = True,
    progress: Progress | None = None,
) -> Faithfulness:
    """Deletion and insertion curves and AUCs of ``result``'s map and (``random=True``) of a random ranking
    with the map's granularity (drawn with ``seed``), Average Drop and Increase in Confidence, on the
    inputs ``result`` explained (see the module's definitions). ``baseline``: ``zeros``, ``blur``
    (``blur_sigma`` pixels) or ``static``. Perturbed inputs are scored ``batch_size`` at a time;
    ``progress(done, total)`` hears the forwards."""
    check_options(steps=steps, baseline=baseline, blur_sigma=blur_sigma, batch_size=batch_size)
    baseline = parse_baseline(baseline)
    target = target_of(result)
    clip = clip_of(model, result)
    inputs = view_inputs(model, clip)
    heatmaps = heatmaps_tensor(result, inputs)
    positions = heatmaps[0].numel()
    counts = counts_of(positions, steps)
    num_views = inputs.shape[0]
    total = num_views * forwards_per_view(steps, positions, random=random) + int(random)
    noise = None
    if random:
        noise = random_heatmaps(model, clip, result.layer, target, seed)
        if progress is not None:
            progress(1, total)
    plain, curves = [], []
    for view in range(num_views):
        x, heatmap = inputs[view], heatmaps[view]
        rankings = [ranks_of(heatmap)] + ([ranks_of(noise[view])] if noise is not None else [])
        done = int(random) + view * forwards_per_view(steps, positions, random=random)
        scores, view_curves = _view_scores(
            model, x, baseline_of(x, baseline, blur_sigma), rankings, counts, target,
            masked=x * heatmap.unsqueeze(0), batch_size=batch_size, progress=progress, done=done, total=total)
        plain.append(scores.numpy())
        curves.append(view_curves)
    y, o = np.stack(plain)[:, 0], np.stack(plain)[:, 2]
    fractions = np.asarray(counts, np.float64) / positions
    mean = [np.mean([c[r][kind] for c in curves], axis=0) for r in range(len(curves[0])) for kind in (0, 1)]
    out = Faithfulness(
        fractions=fractions, deletion=mean[0], insertion=mean[1], deletion_auc=auc(fractions, mean[0]),
        insertion_auc=auc(fractions, mean[1]),
        average_drop=float(np.mean(np.maximum(0.0, y - o) / y)), increase_in_confidence=float(np.mean(o > y)),
        score=float(y.mean()), masked_score=float(o.mean()), target_class=target,
        target_label=result.target_label, method=result.method, layer=result.layer, baseline=baseline,
        steps=steps, views=num_views, blur_sigma=blur_sigma if baseline is Baseline.BLUR else None, seed=seed)
    if random:
        out.random_deletion, out.random_insertion = mean[2], mean[3]
        out.random_deletion_auc, out.random_insertion_auc = auc(fractions, mean[2]), auc(fractions, mean[3])
    return out


def frame_importance(
    model: ModelHandle,
    result: ExplainResult,
    *,
    baseline: Baseline | str = Baseline.ZEROS,
    blur_sigma: float = DEFAULT_BLUR_SIGMA,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> FrameImportance:
    """For every view and input frame ``t``: ``y − score(x with frame t replaced by the baseline)``, and the
    map's mass ``m[t].sum() / m.sum()`` (``T + 1`` forwards per view)."""
    check_options(baseline=baseline, blur_sigma=blur_sigma, batch_size=batch_size)
    baseline = parse_baseline(baseline)
    target = target_of(result)
    clip = clip_of(model, result)
    inputs = view_inputs(model, clip)
    heatmaps = heatmaps_tensor(result, inputs)
    num_views, num_frames = inputs.shape[0], inputs.shape[2]
    drops, masses, scores = [], [], []
    for view in range(num_views):
        x = inputs[view]
        base = baseline_of(x, baseline, blur_sigma)

        def fill(index: int, out: torch.Tensor, x: torch.Tensor = x, base: torch.Tensor = base) -> None:
            out.copy_(x)
            if index > 0:
                out[:, index - 1] = base[:, index - 1]

        probs = score_all(model, num_frames + 1, fill, x, target, batch_size=batch_size,
                          progress=progress, done=view * (num_frames + 1), total=num_views * (num_frames + 1))
        heatmap = heatmaps[view].double()
        drops.append((probs[0] - probs[1:]).numpy())
        masses.append((heatmap.sum(dim=(1, 2)) / heatmap.sum()).float().cpu().numpy())
        scores.append(float(probs[0]))
    return FrameImportance(drop=np.stack(drops), mass=np.stack(masses), score=np.asarray(scores, np.float32),
                           frame_indices=np.asarray(result.frame_indices), target_class=target,
                           baseline=baseline, blur_sigma=blur_sigma if baseline is Baseline.BLUR else None)


def summary_columns(model: ModelHandle, result: ExplainResult, *, steps: int = 20,
                    baseline: Baseline | str = Baseline.ZEROS, blur_sigma: float = DEFAULT_BLUR_SIGMA,
                    batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 0) -> dict[str, float]:
    """``deletion_auc, insertion_auc, random_deletion_auc, random_insertion_auc, average_drop`` of one
    explained video: the columns ``python -m core.batch --evaluate`` adds to ``summary.csv``."""
    return faithfulness(model, result, steps=steps, baseline=baseline, blur_sigma=blur_sigma,
                        batch_size=batch_size, seed=seed).summary()
