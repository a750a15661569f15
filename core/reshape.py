"""Layer outputs to channels-first feature maps: tokens and channels-last tensors back to a grid.

Convolutional layers already give ``[B, C, T', h, w]`` (3D) or ``[N, C, h, w]`` (2D) and pass through
untouched. Transformers give tokens: ``[B, L, C]`` (ViT, VideoMAE, MViT, TimeSformer), sequence-first
``[L, B*T, C]`` (UniFormerV2, frames folded into the batch), with or without a leading class token;
Swin gives channels-last ``[B, T', h, w, C]``. The grid ``(T', h, w)`` is solved from the token count,
the input clip's shape and the backbone's temporal patch size, never from per-model constants, as
pytorch-grad-cam's ``reshape_transforms`` do by hand for one model at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.errors import CamError

# Token order of backbones that flatten patches space-major, time-minor ("(p t)"); others are "(t p)".
_SPACE_MAJOR = ("TimeSformer",)


@dataclass(frozen=True)
class BackboneInput:
    """The input the backbone saw (``batch`` samples of ``frames`` x ``height`` x ``width`` pixels) and how
    it tokenises it: all :func:`to_feature_map` needs to read a layer's output as a grid. (Not the crop
    window of :mod:`core.geometry`, which maps heatmaps back to the source video.)"""

    batch: int  # samples in the backbone's batch: views (3D) or views x segments (2D, frames=1)
    frames: int
    height: int
    width: int
    temporal_patch: int = 1  # frames per token of the stem (VideoMAE tubelets, Swin/MViT patches: 2)
    class_token: bool = False  # the backbone prepends a class token
    space_major: bool = False  # tokens ordered (h w t) instead of (t h w)

    @property
    def token_frames(self) -> int:
        """Feature frames a token grid is expected to have."""
        return max(1, math.ceil(self.frames / self.temporal_patch))


def backbone_input(backbone: torch.nn.Module, inputs: torch.Tensor, is_2d: bool) -> BackboneInput:
    """The preprocessed ``inputs`` (``[1, K, C, (T,) H, W]``) as ``backbone`` sees them."""
    shape = inputs.shape[1:] if inputs.dim() in (5, 6) else inputs.shape
    if is_2d or len(shape) == 4:  # [N, C, H, W]: frames are samples
        batch, frames, (height, width) = shape[0], 1, shape[-2:]
    else:  # [V, C, T, H, W]
        batch, frames, height, width = shape[0], shape[2], shape[3], shape[4]
    return BackboneInput(int(batch), int(frames), int(height), int(width), temporal_patch(backbone),
                    has_class_token(backbone), type(backbone).__name__ in _SPACE_MAJOR)


def temporal_patch(backbone: torch.nn.Module) -> int:
    """Temporal stride of the backbone's first 3D convolution that patchifies (stride > 1 in space)."""
    for module in backbone.modules():
        if isinstance(module, torch.nn.Conv3d) and max(module.stride[1:]) > 1:
            return int(module.stride[0])
    return 1


def has_class_token(backbone: torch.nn.Module) -> bool:
    """True when the backbone owns a class-token parameter (``cls_token`` / ``class_embedding``)."""
    return any(hasattr(backbone, name) for name in ("cls_token", "class_embedding"))


def grid_like(h: int, w: int, geo: BackboneInput) -> bool:
    """True when ``h x w`` can be the input ``H x W`` downsampled by one stride (rounded either way)."""
    H, W = geo.height, geo.width
    return 1 <= h <= H and 1 <= w <= W and H * (w - 1) < W * (h + 1) and W * (h - 1) < H * (w + 1)


def _spatial(count: int, geo: BackboneInput) -> tuple[int, int] | None:
    """The ``h x w == count`` grid closest to the input's aspect ratio, if one is plausible."""
    best = None
    for h in range(1, min(count, geo.height) + 1):
        w, rest = divmod(count, h)
        if rest == 0 and grid_like(h, w, geo):
            error = abs(h * geo.width - w * geo.height)
            if best is None or error < best[0]:
                best = (error, h, w)
    return best[1:] if best else None


def _fit_tokens(batch: int, tokens: int, geo: BackboneInput) -> tuple[int, int, int, int, int] | None:
    """``(folded, cls, t, h, w)``: frames folded into the batch, class tokens, and the token grid."""
    if batch % geo.batch:
        return None
    folded = batch // geo.batch
    classes = (1, 0) if geo.class_token else (0, 1)
    for cls in classes:
        count = tokens - cls
        if count < 2:  # a lone (class) token is no grid
            continue
        ts = [t for t in range(1, geo.frames // folded + 1) if count % t == 0] if folded <= geo.frames else []
        ts.sort(key=lambda t: (abs(folded * t - geo.token_frames), t))
        for t in ts:
            grid = _spatial(count // t, geo) if count // t >= 2 else None  # tokens need a spatial grid
            if grid:
                return folded, cls, t, *grid
    return None


def _from_tokens(x: torch.Tensor, geo: BackboneInput) -> torch.Tensor:
    """``[B, L, C]`` or ``[L, B, C]`` tokens (batch possibly ``B*T``) to ``[B, C, T', h, w]``."""
    for batch_dim in (0, 1):
        fit = _fit_tokens(x.shape[batch_dim], x.shape[1 - batch_dim], geo)
        if fit is None:
            continue
        folded, cls, t, h, w = fit
        seq = (x if batch_dim == 0 else x.transpose(0, 1))[:, cls:]
        n, channels = seq.shape[0], seq.shape[-1]
        if geo.space_major:
            grid = seq.reshape(n, h, w, t, channels).permute(0, 4, 3, 1, 2)
        else:
            grid = seq.reshape(n, t, h, w, channels).permute(0, 4, 1, 2, 3)
        if folded > 1:  # frames folded into the batch as (b t)
            grid = grid.reshape(geo.batch, folded, channels, t, h, w).transpose(1, 2)
            grid = grid.reshape(geo.batch, channels, folded * t, h, w)
        return grid
    raise CamError(f"The target layer's output {tuple(x.shape)} is not a token grid of the "
                   f"{geo.frames}x{geo.height}x{geo.width} input; pick a block of the backbone.")


def _unfold_frames(x: torch.Tensor, geo: BackboneInput) -> torch.Tensor:
    """A 3D model's frame-wise ``[B*T', C, h, w]`` map (C2D runs 2D stages on frames folded into the batch
    as ``(b t)``, pooling time in between) as ``[B, C, T', h, w]``; other maps unchanged."""
    if geo.frames == 1 or x.shape[0] == geo.batch:
        return x
    if x.shape[0] % geo.batch:
        raise CamError(f"The target layer's output {tuple(x.shape)} does not hold the {geo.batch} input clip(s) "
                       "in its batch; pick a layer of the backbone.")
    return x.reshape(geo.batch, x.shape[0] // geo.batch, *x.shape[1:]).transpose(1, 2)


def fits(shape: tuple[int, ...], geo: BackboneInput) -> bool:
    """True when a layer output of ``shape`` can be read as a feature map of the ``geo`` input."""
    try:
        to_feature_map(torch.empty(shape, device="meta"), geo)
    except CamError:
        return False
    return True


def to_feature_map(x: torch.Tensor, geo: BackboneInput) -> torch.Tensor:
    """A layer output as a channels-first map: ``[B, C, T', h, w]``, or ``[N, C, h, w]`` for 2D models.

    Channels-first maps are returned as they are (the same tensor); channels-last maps are permuted;
    token sequences are reshaped to their grid, the class token dropped.
    """
    if x.dim() == 5:
        if grid_like(x.shape[3], x.shape[4], geo):
            return x
        if grid_like(x.shape[2], x.shape[3], geo) and x.shape[1] <= geo.frames:
            return x.permute(0, 4, 1, 2, 3)
    elif x.dim() == 4:
        if grid_like(x.shape[2], x.shape[3], geo):
            return _unfold_frames(x, geo)
        if grid_like(x.shape[1], x.shape[2], geo):
            return _unfold_frames(x.permute(0, 3, 1, 2), geo)
    elif x.dim() == 3:
        grid = _from_tokens(x, geo)
        return grid[:, :, 0] if geo.frames == 1 else grid
    raise CamError(f"The target layer's output has shape {tuple(x.shape)}, not a feature map of the "
                   f"{geo.height}x{geo.width} input; pick a convolutional layer or a transformer block.")
