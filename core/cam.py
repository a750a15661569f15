"""Explain a recognizer's decision on a video with a CAM method, at the cost of one inference pass.

The forward runs without autograd until the target layer; its output becomes a leaf that requires
grad, so the graph (and the backward) covers only the head side of the network, and no parameter
gradients are ever computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import CamError
from core.layers import LayerInfo, default_layer, get_layer, normalize, probe_shapes, rank_layers
from core.methods import get_method
from core.model import ModelHandle
from core.video import ClipInputs, build_inputs


@dataclass
class ExplainResult:
    """Heatmaps of one video, with everything needed to show, export and map them back."""

    heatmaps: np.ndarray  # float32 [V, T, H, W] in [0, 1], at the model's input resolution
    frames: np.ndarray  # uint8 [V, T, H, W, 3], RGB, the model's input frames
    frame_indices: np.ndarray  # int64 [V, T], 0-based source frame of each heatmap frame
    scores: np.ndarray  # float32 [C], pre-softmax class scores averaged over views
    probs: np.ndarray  # float32 [C], class probabilities as the config's test_cfg averages them
    target_class: int
    target_label: str
    layer: str
    method: str
    classes: list[str]
    video: str
    config: str
    checkpoint: str | None
    views: str = "center"
    source_size: tuple[int, int] = (0, 0)  # (width, height) of the source video
    crop_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # window the model saw
    fps: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def predicted_class(self) -> int:
        return int(np.argmax(self.scores))

    def topk(self, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes as (index, name, probability)."""
        order = np.argsort(-self.probs)[:k]
        return [(int(i), self.classes[i], float(self.probs[i])) for i in order]

    def saliency(self) -> np.ndarray:
        """The clip's saliency map: heatmaps summed over frames (and views) / their number."""
        return self.heatmaps.reshape(-1, *self.heatmaps.shape[-2:]).mean(axis=0)


def _probe(handle: ModelHandle) -> list[tuple[str, tuple[int, ...]]]:
    """Module output shapes for a grey probe clip (one view), cached on the handle."""
    if "probe" not in handle._cache:
        clip = build_inputs(handle.cfg, np.full((64, 256, 320, 3), 128, np.uint8))
        if not handle.is_2d:
            clip.data["inputs"] = [x[:1] for x in clip.data["inputs"]]

        def run():
            data = handle.model.data_preprocessor(clip.data, False)
            feats, kwargs = handle.model.extract_feat(data["inputs"], test_mode=True)
            handle.model.cls_head(feats, **kwargs)

        handle._cache["probe"] = probe_shapes(handle.model, run)
    return handle._cache["probe"]


def list_layers(handle: ModelHandle) -> list[LayerInfo]:
    """Layers to explain: sensible candidates first (stage outputs, the default first), then all."""
    return rank_layers(_probe(handle))


def resolve_layer(handle: ModelHandle, target_layer: str | None) -> str:
    """The "/"-separated layer path to hook (the architecture's default when None)."""
    if target_layer is None:
        return default_layer(_probe(handle))
    name = normalize(target_layer)
    try:
        get_layer(handle.model, name)
    except CamError:
        get_layer(handle.model, name, [info.name for info in list_layers(handle) if info.candidate])
    return name


def resolve_target(handle: ModelHandle, target: int | str | None, scores: torch.Tensor) -> int:
    """Class index from None (predicted), an index, a digit string, or a class name."""
    if target is None:
        return int(scores.argmax())
    if isinstance(target, str) and not target.strip().lstrip("-").isdigit():
        names = {c.lower(): i for i, c in enumerate(handle.classes)}
        if target.strip().lower() not in names:
            raise CamError(f"Unknown class {target!r}; pass a class index or one of the model's class names "
                           f"(e.g. {', '.join(handle.classes[:5])}).")
        return names[target.strip().lower()]
    index = int(target)
    if not 0 <= index < handle.num_classes:
        raise CamError(f"Class {index} is out of range; the model has {handle.num_classes} classes "
                       f"(0 to {handle.num_classes - 1}).")
    return index


class _Capture:
    """Forward hook that turns the layer's output into a grad-requiring leaf and enables autograd."""

    def __init__(self, module: torch.nn.Module, name: str) -> None:
        self.name, self.leaves = name, []
        self.handle = module.register_forward_hook(self)

    def __call__(self, _module, _inputs, output):
        if not isinstance(output, torch.Tensor):
            raise CamError(f"Layer {self.name} returns a {type(output).__name__}, not a tensor; "
                           "pick one of its sub-layers.")
        torch.set_grad_enabled(True)  # restored by the caller's no_grad block
        leaf = output.detach().requires_grad_(True)
        self.leaves.append(leaf)
        return leaf.clone()  # later in-place ops touch the clone, never the saved activation


def _class_scores(handle: ModelHandle, data: dict) -> torch.Tensor:
    """Per-view class scores ``[K, C]`` through the model's own feature and head code."""
    model = handle.model
    feats, kwargs = model.extract_feat(data["inputs"], test_mode=True)
    return model.cls_head(feats, **kwargs).reshape(-1, handle.num_classes)


def _canonical(tensor: torch.Tensor, is_2d: bool) -> torch.Tensor:
    """Layer output to ``[G, T, C, h, w]``: 3D maps group by view; 2D maps are one group of frames
    (as MMAction2's GradCAM normalises them)."""
    if tensor.dim() == 5:
        return tensor.permute(0, 2, 1, 3, 4)
    if tensor.dim() == 4 and is_2d:
        return tensor.unsqueeze(0)
    if tensor.dim() == 4:
        return tensor.unsqueeze(1)
    raise CamError(f"The target layer's output has shape {tuple(tensor.shape)}, not a feature map; "
                   "pick a convolutional layer.")


def explain_inputs(
    handle: ModelHandle,
    clip: ClipInputs,
    *,
    target_layer: str | None = None,
    target: int | str | None = None,
    method: str = "gradcam",
) -> dict:
    """Heatmaps ``[V, T, H, W]`` and class scores for already built inputs (see :func:`explain`)."""
    cam_method = get_method(method)
    layer = resolve_layer(handle, target_layer)
    model = handle.model
    capture = _Capture(get_layer(model, layer), layer)
    try:
        data = model.data_preprocessor(clip.data, False)
        with torch.no_grad():  # the hook switches autograd on from the target layer onward
            view_scores = _class_scores(handle, data)
            scores = view_scores.mean(dim=0)
            index = resolve_target(handle, target, scores)
            if not capture.leaves or not scores.requires_grad:
                raise CamError(f"Layer {layer} does not lead to the class scores; pick a backbone layer.")
            grads = torch.autograd.grad(scores[index], capture.leaves) if cam_method.needs_gradients else None
    finally:
        capture.handle.remove()
    activations = _canonical(torch.cat(capture.leaves).detach(), handle.is_2d)
    gradients = _canonical(torch.cat(grads), handle.is_2d) if grads is not None else None
    cam = cam_method(activations, gradients)  # [G, t, h, w]
    num_views, num_frames, height, width = clip.frames.shape[:4]
    out_t = num_frames if activations.shape[0] == num_views else cam.shape[1]
    cam = F.interpolate(cam.unsqueeze(1), size=(out_t, height, width), mode="trilinear", align_corners=False)
    flat = cam.reshape(cam.shape[0], -1)
    low, high = flat.min(dim=1, keepdim=True)[0], flat.max(dim=1, keepdim=True)[0]
    heatmaps = ((flat - low) / (high - low + 1e-20)).reshape(num_views, num_frames, height, width)
    average = getattr(model.cls_head, "average_clips", "prob")
    probs = view_scores.softmax(-1).mean(0) if average == "prob" else scores.softmax(-1)
    return dict(heatmaps=heatmaps.float().cpu().numpy(), scores=scores.detach().float().cpu().numpy(),
                probs=probs.detach().float().cpu().numpy(), target_class=index, layer=layer,
                method=cam_method.name)


def explain(
    handle: ModelHandle,
    video: str | Path | np.ndarray,
    *,
    target_layer: str | None = None,
    target: int | str | None = None,
    views: str = "center",
    method: str = "gradcam",
) -> ExplainResult:
    """Explain the model's score for ``target`` (None: the predicted class) on ``video``.

    ``video`` is a video file, a rawframes folder, or uint8 RGB frames ``[T, H, W, 3]``; inputs come
    from the config's test pipeline (``views="center"`` replaces multi-crop with CenterCrop).
    """
    clip = build_inputs(handle.cfg, video, views=views)
    out = explain_inputs(handle, clip, target_layer=target_layer, target=target, method=method)
    return ExplainResult(
        frames=clip.frames, frame_indices=clip.frame_indices, target_label=handle.classes[out["target_class"]],
        classes=list(handle.classes), video=str(video) if not isinstance(video, np.ndarray) else "<array>",
        config=handle.config, checkpoint=handle.checkpoint, views=views, source_size=clip.source_size,
        crop_box=clip.crop_box, fps=clip.fps, notes=list(clip.notes), **out,
    )
