"""Explain a recognizer's decision on a video with a CAM method, at the cost of one inference pass.

The forward runs without autograd until the target layer; its output becomes a leaf that requires
grad, so the graph (and the backward) covers only the head side of the network, and no parameter
gradients are ever computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core import attention
from core.errors import CamError
from core.geometry import Views, parse_views
from core.layers import LayerInfo, default_layer, first_tensor, get_layer, normalize, rank_layers
from core.methods import METHODS, AttentionMethod, CAMMethod, Method, get_method
from core.model import ModelHandle, class_scores, repeatable_numpy  # noqa: F401  (public here too)
from core.reshape import BackboneInput, backbone_input, fits, to_feature_map
from core.result import ExplainResult
from core.target import TargetChoice, parse_target, target_score
from core.video import ClipInputs, build_inputs


def list_layers(handle: ModelHandle) -> list[LayerInfo]:
    """Layers to explain: sensible candidates first (the default; for SlowFast both pathways
    combined; the last block of each stage), then every module whose output reads as a feature map."""
    probe = handle.probe()
    return rank_layers(list(probe.shapes), handle.family, usable=lambda shape: fits(shape, probe.backbone_input))


def resolve_layer(handle: ModelHandle, target_layer: str | None) -> str:
    """The "/"-separated layer path to hook (the architecture's default when None).

    Several layers joined by ``+`` (e.g. ``backbone/slow_path/layer4+backbone/fast_path/layer4``, the
    combined view of SlowFast's pathways) are explained together: see :func:`explain_inputs`.
    """
    if target_layer is None:
        return default_layer(list(handle.probe().shapes), handle.family)
    names = [normalize(part) for part in str(target_layer).split("+")]
    for name in names:
        try:
            get_layer(handle.model, name)
        except CamError:
            get_layer(handle.model, name, [info.name for info in list_layers(handle) if info.candidate])
    return "+".join(names)


def methods_for(handle: ModelHandle) -> list[Method]:
    """The methods of :data:`~core.methods.METHODS` that apply to ``handle``'s model: every CAM method, and the
    attention methods when its backbone has attention they can compose (:func:`core.attention.check_backbone`)."""
    model: Any = handle.model
    try:
        attention.check_backbone(model.backbone, "")
        composable = True
    except CamError:
        composable = False
    return [name for name, cls in METHODS.items() if composable or not cls.needs_attention]


def resolve_target(handle: ModelHandle, target: TargetChoice | int | str | None, scores: torch.Tensor,
                   gt: int | None = None) -> int:
    """Class index of ``target`` (see :mod:`core.target`: None or :class:`~core.target.Predicted` is the
    argmax of ``scores``; an index, a digit string or a class name; :class:`~core.target.GroundTruth` is
    ``gt``)."""
    return parse_target(target, handle.classes, ground_truth=gt is not None).resolve(handle.classes, scores, gt)


class _Capture:
    """Forward hook that turns the layer's output into a grad-requiring leaf and enables autograd."""

    def __init__(self, module: torch.nn.Module, name: str) -> None:
        self.name, self.leaves = name, list[torch.Tensor]()
        self.handle = module.register_forward_hook(self)

    def __call__(self, _module, _inputs, output):
        tensor = first_tensor(output)
        if tensor is None:
            raise CamError(f"Layer {self.name} returns a {type(output).__name__}, not a tensor; "
                           "pick one of its sub-layers.")
        torch.set_grad_enabled(True)  # restored by the caller's no_grad block
        leaf = tensor.detach().requires_grad_(True)
        self.leaves.append(leaf)
        if isinstance(output, tuple):  # MViT blocks return (tokens, grid size)
            return (leaf.clone(), *output[1:])
        return leaf.clone()  # later in-place ops touch the clone, never the saved activation


def _canonical(tensor: torch.Tensor, is_2d: bool, seen: BackboneInput | None = None) -> torch.Tensor:
    """Layer output to ``[G, T, C, h, w]``: 3D maps group by view; 2D maps are one group of frames
    (as MMAction2's GradCAM normalises them). Tokens and channels-last outputs are first reshaped to
    channels-first maps (:func:`core.reshape.to_feature_map`)."""
    if seen is not None:
        tensor = to_feature_map(tensor, seen)
    if tensor.dim() == 5:
        return tensor.permute(0, 2, 1, 3, 4)
    if tensor.dim() == 4 and is_2d:
        return tensor.unsqueeze(0)
    if tensor.dim() == 4:
        return tensor.unsqueeze(1)
    raise CamError(f"The target layer's output has shape {tuple(tensor.shape)}, not a feature map; "
                   "pick a convolutional layer.")


def _normalise(cam: torch.Tensor) -> torch.Tensor:
    """Min-max scale each group (a 3D model's view; all frames of a 2D model) to [0, 1], as MMAction2's
    GradCAM normalises."""
    flat = cam.reshape(cam.shape[0], -1)
    low, high = flat.min(dim=1, keepdim=True)[0], flat.max(dim=1, keepdim=True)[0]
    return flat.sub_(low).div_(high - low + 1e-20).reshape(cam.shape)  # in place: no full-size temporaries


@dataclass
class Captured:
    """What one forward (and truncated backward) captured at the target layer(s): all a CAM method needs."""

    layers: list[str]
    activations: list[torch.Tensor]  # per layer, canonical [G, T', C, h, w]
    gradients: list[torch.Tensor | None]  # same layout; None when not computed
    view_scores: torch.Tensor  # [K, C] class scores of each view
    target_class: int
    size: tuple[int, int, int, int]  # (views, frames, height, width) of the input frames
    versus: list[int] = field(default_factory=list)  # the classes a Contrast target compared with (else empty)
    samples: int = 1  # clips explained together (core.whole_video's windows); views are grouped by clip
    target_classes: list[int] = field(default_factory=list)  # per clip (when samples > 1)
    relevance: torch.Tensor | None = None  # an attention method's token map [G, T', h, w] (layers' outputs unused)
    method: Method | None = None  # the attention method that made ``relevance``

    @property
    def scores(self) -> torch.Tensor:
        return self.view_scores.mean(dim=0)

    @property
    def sample_scores(self) -> torch.Tensor:
        """``[samples, C]``: each clip's class scores averaged over its views."""
        return self.view_scores.reshape(self.samples, -1, self.view_scores.shape[-1]).mean(dim=1)


def capture(
    handle: ModelHandle,
    clip: ClipInputs,
    *,
    target_layer: str | None = None,
    target: TargetChoice | int | str | None = None,
    gradients: bool = True,
    gt: int | None = None,
    method: Method | str | CAMMethod | None = None,
) -> Captured:
    """Run the model once on ``clip`` and capture the target layer's output (as a channels-first map)
    and, when ``gradients``, the gradient of the target class score with respect to it.

    For an attention method (``method`` with ``needs_attention``: rollout, attn-grad) the attention maps of
    every block up to the target layer (default: all) are recorded instead and composed into its token map
    (:func:`capture_attention`)."""
    if method is not None and (cam_method := get_method(method)).needs_attention:
        assert isinstance(cam_method, AttentionMethod)
        return capture_attention(handle, clip, cam_method, target_layer=target_layer, target=target, gt=gt)
    layer = resolve_layer(handle, target_layer)
    model: Any = handle.model  # an MMAction2 recognizer: data_preprocessor, backbone, cls_head
    captures = [_Capture(get_layer(model, name), name) for name in layer.split("+")]
    try:
        data = model.data_preprocessor(clip.data, False)
        with torch.no_grad():  # the hook switches autograd on from the target layer onward
            view_scores = _finite(class_scores(handle, data))
            samples = len(clip.data["inputs"])  # several clips explained together: one objective summed over them
            per_sample = view_scores.reshape(samples, -1, view_scores.shape[-1]).mean(dim=1)
            chosen = parse_target(target, handle.classes, ground_truth=gt is not None)
            indices = [chosen.resolve(handle.classes, scores, gt) for scores in per_sample]
            for cap in captures:
                if not cap.leaves or not per_sample.requires_grad:
                    raise CamError(f"Layer {cap.name} does not lead to the class scores; pick a backbone layer.")
            objectives = [target_score(chosen, scores, index, handle.classes, gt)
                          for scores, index in zip(per_sample, indices, strict=True)]
            objective = torch.stack([score for score, _ in objectives]).sum()  # clips are independent
            leaves = [leaf for cap in captures for leaf in cap.leaves]
            grads = torch.autograd.grad(objective, leaves, allow_unused=True) if gradients else None
    finally:
        for cap in captures:
            cap.handle.remove()
    seen = backbone_input(model.backbone, data["inputs"], handle.is_2d)
    activations: list[torch.Tensor] = []
    layer_gradients: list[torch.Tensor | None] = []
    start = 0
    for cap in captures:
        count = len(cap.leaves)
        activations.append(_by_sample(_canonical(torch.cat(cap.leaves).detach(), handle.is_2d, seen), samples))
        if grads is None:
            layer_gradients.append(None)
        else:
            found = [g if g is not None else torch.zeros_like(a)
                     for g, a in zip(grads[start:start + count], cap.leaves, strict=True)]
            gradient = _by_sample(_canonical(torch.cat(found), handle.is_2d, seen), samples)
            layer_gradients.append(gradient)
            if not gradient.any():  # class token aside
                raise CamError(f"The class score does not depend on layer {cap.name} (its gradient is zero: "
                               "e.g. the head reads only the class token after it); pick an earlier layer.")
        start += count
    return Captured(layer.split("+"), activations, layer_gradients, view_scores.detach(), indices[0],
                    tuple(clip.frames.shape[:4]), objectives[0][1], samples, indices)


def _by_sample(canonical: torch.Tensor, samples: int) -> torch.Tensor:
    """A 2D model's single group of frames split into one group per clip (3D maps are grouped by view already)."""
    if canonical.shape[0] == 1 and samples > 1:
        return canonical.reshape(samples, -1, *canonical.shape[2:])
    return canonical


def _finite(view_scores: torch.Tensor) -> torch.Tensor:
    if not torch.isfinite(view_scores).all():
        raise CamError("The model's class scores are not finite (NaN or inf) on this video: its activations "
                       "overflow, as untrained or broken weights can; load the checkpoint it was trained to.")
    return view_scores


def capture_attention(
    handle: ModelHandle,
    clip: ClipInputs,
    method: AttentionMethod,
    *,
    target_layer: str | None = None,
    target: TargetChoice | int | str | None = None,
    gt: int | None = None,
) -> Captured:
    """Run the model once on ``clip`` recording its attention maps (:mod:`core.attention`), up to the end of
    ``target_layer`` (default: every block), and compose them with ``method`` into a token map, read back to the
    token grid by :mod:`core.reshape` as a layer's output is. A gradient-weighted method adds one backward from
    the target class score to the attention maps. The recorded layer is the last block that contributed."""
    model: Any = handle.model
    layer = resolve_layer(handle, target_layer) if target_layer is not None else None
    if layer is not None and "+" in layer:
        raise CamError(f"{method.label} composes every block up to one layer; pass one layer, not {layer}.")
    data = model.data_preprocessor(clip.data, False)
    until = get_layer(model, layer) if layer is not None else None
    with attention.recording(model, method.fuse, gradients=method.needs_gradients, until=until,
                             label=method.label) as record, torch.no_grad():  # autograd from the first map on
        view_scores = _finite(class_scores(handle, data))
        scores = view_scores.mean(dim=0)
        chosen = parse_target(target, handle.classes, ground_truth=gt is not None)
        index = chosen.resolve(handle.classes, scores, gt)
        objective, versus = target_score(chosen, scores, index, handle.classes, gt)  # a Contrast's difference too
        if method.needs_gradients:
            record.backward(objective)
    row = attention.compose(record.events, method.step)  # [b, n] over the tokens of a block's output
    seen = backbone_input(model.backbone, data["inputs"], handle.is_2d)
    grid = _canonical(row.float().unsqueeze(-1), handle.is_2d, seen)  # [G, T', 1, h, w]
    layer = layer or attention.block_of(record.events[-1].module)
    return Captured([layer], [], [], view_scores.detach(), index, tuple(clip.frames.shape[:4]), versus,
                    relevance=grid[:, :, 0], method=method.name)


def heatmaps_of(captured: Captured, method: Method | str | CAMMethod = Method.GRADCAM) -> torch.Tensor:
    """Heatmaps ``[V, T, H, W]`` in [0, 1] of ``method`` from what :func:`capture` captured.

    Each layer's map is resized to the input (trilinear over time, height and width) and min-max
    normalised per group; several layers' maps are averaged and normalised again. An attention method's
    token map (captured by :func:`capture_attention`) is resized and normalised the same way.
    """
    cam_method = get_method(method)
    num_views, num_frames, height, width = captured.size
    if cam_method.needs_attention:
        if captured.relevance is None or captured.method != cam_method.name:
            raise CamError(f"{cam_method.label} needs the attention maps; capture with method='{cam_method.name}'.")
        cams = [captured.relevance]
    else:
        cams = [cam_method(a, g) for a, g in zip(captured.activations, captured.gradients, strict=True)]
    maps = []
    for cam in cams:  # [G, t, h, w]; a gradient method raised above if there were no gradients
        out_t = num_frames if cam.shape[0] == num_views else cam.shape[1]
        cam = F.interpolate(cam.unsqueeze(1), size=(out_t, height, width), mode="trilinear", align_corners=False)
        maps.append(_normalise(cam))
    heatmaps = maps[0] if len(maps) == 1 else _normalise(torch.stack(maps).mean(dim=0))
    return heatmaps.reshape(num_views, num_frames, height, width)


def explain_inputs(
    handle: ModelHandle,
    clip: ClipInputs,
    *,
    target_layer: str | None = None,
    target: TargetChoice | int | str | None = None,
    method: Method | str | CAMMethod = Method.GRADCAM,
    gt: int | None = None,
    video: str | Path | np.ndarray | None = None,
    views: Views | str = Views.CENTER,
) -> ExplainResult:
    """The :class:`ExplainResult` of already built inputs (see :func:`explain`; ``video`` and ``views`` only
    record where ``clip`` came from). Its ``inputs`` field holds ``clip``.

    ``target_layer`` may join several layers with ``+``: each layer's map is computed, resized and
    normalised on its own, then the maps are averaged and normalised again (pytorch-grad-cam's
    multi-layer aggregation). For SlowFast, ``backbone/slow_path/layer4+backbone/fast_path/layer4``
    is the combined view of both pathways (``list_layers`` offers it as the second candidate).
    """
    cam_method = get_method(method)
    captured = capture(handle, clip, target_layer=target_layer, target=target,
                       gradients=cam_method.needs_gradients, gt=gt, method=cam_method)
    heatmaps = heatmaps_of(captured, cam_method)
    view_scores, scores = captured.view_scores, captured.scores
    average = getattr(handle.model.cls_head, "average_clips", "prob")
    probs = view_scores.softmax(-1).mean(0) if average == "prob" else scores.softmax(-1)
    return ExplainResult(
        heatmaps=heatmaps.float().cpu().numpy(), frames=clip.frames, frame_indices=clip.frame_indices,
        scores=scores.float().cpu().numpy(), probs=probs.float().cpu().numpy(), target_class=captured.target_class,
        target_label=handle.classes[captured.target_class], layer="+".join(captured.layers), method=cam_method.name,
        classes=list(handle.classes), video=_video_name(video), config=handle.config, checkpoint=handle.checkpoint,
        views=parse_views(views), windows=clip.windows, fps=clip.fps,
        notes=list(clip.notes), inputs=clip, extra=_contrast_record(handle, target, captured, gt),
    )


def _contrast_record(handle: ModelHandle, target: TargetChoice | int | str | None, captured: Captured,
                     gt: int | None) -> dict:
    """The sidecar's ``contrast`` field for a :class:`~core.target.Contrast` target (else nothing): its key, and
    the classes the explained class was compared with on this input."""
    if not captured.versus:
        return {}
    chosen = parse_target(target, handle.classes, ground_truth=gt is not None)
    return {"contrast": {"target": chosen.key, "versus": list(captured.versus),
                         "versus_labels": [handle.classes[i] for i in captured.versus]}}


def explain(
    handle: ModelHandle,
    video: str | Path | np.ndarray,
    *,
    target_layer: str | None = None,
    target: TargetChoice | int | str | None = None,
    views: Views | str = Views.CENTER,
    method: Method | str | CAMMethod = Method.GRADCAM,
    gt: int | None = None,
) -> ExplainResult:
    """Explain the model's score for ``target`` (None: the predicted class; see :mod:`core.target`) on ``video``
    (``gt``: its annotated label, for :class:`~core.target.GroundTruth`).

    ``video`` is a video file, a rawframes folder, or uint8 RGB frames ``[T, H, W, 3]``; inputs come
    from the config's test pipeline (``views="center"`` replaces multi-crop with CenterCrop).
    """
    clip = build_inputs(handle.cfg, video, views=views)
    return explain_inputs(handle, clip, target_layer=target_layer, target=target, method=method, gt=gt, video=video,
                          views=views)


def _video_name(video: str | Path | np.ndarray | None) -> str:
    """What a result records as its video: the path, ``<array>`` for frames in memory, empty when unknown."""
    return "" if video is None else "<array>" if isinstance(video, np.ndarray) else str(video)
