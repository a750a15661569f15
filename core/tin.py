"""TIN on mmcv-lite: a pure-PyTorch ``tin_shift`` for the Temporal Interlace Network's sampler.

mmaction2's ``ResNetTIN`` imports ``tin_shift`` from ``mmcv.ops``, a compiled op that mmcv-lite lacks.
:func:`ensure_tin_shift` swaps ``mmaction.models.backbones.resnet_tin.linear_sampler`` for the same
sampler built on :func:`tin_shift` below (autograd gives the backward) when the compiled op is missing.
"""

from __future__ import annotations

import torch


def tin_shift(data: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``data`` ``[N, T, C, HW]`` shifted in time by ``shift`` ``[N, G]`` frames per channel group:
    ``out[:, t] = data[:, t - s]``, zero where ``t - s`` falls outside the clip (mmcv's kernel)."""
    n, t, c, hw = data.shape
    per_channel = shift.long().repeat_interleave(c // shift.shape[1], dim=1)  # [N, C]
    source = torch.arange(t, device=data.device)[None, :, None] - per_channel[:, None, :]  # [N, T, C]
    inside = (source >= 0) & (source < t)
    index = source.clamp(0, t - 1)[..., None].expand(n, t, c, hw)
    return data.gather(1, index) * inside[..., None].to(data.dtype)


def linear_sampler(data: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """mmaction2's ``resnet_tin.linear_sampler`` (``data`` ``[N, T, C, H, W]``, ``offset`` ``[N, G]``)
    with :func:`tin_shift`: the two integer shifts around ``offset``, linearly blended."""
    n, t, c, h, w = data.shape
    offset0 = torch.floor(offset).int()
    flat = data.reshape(n, t, c, h * w)
    weight0 = (1 - (offset - offset0.float())).repeat_interleave(c // offset.shape[1], dim=1)[:, None, :, None]
    output = weight0 * tin_shift(flat, offset0) + (1 - weight0) * tin_shift(flat, offset0 + 1)
    return output.view(n, t, c, h, w)


def ensure_tin_shift() -> None:
    """Use :func:`linear_sampler` in mmaction2's TIN when ``mmcv.ops.tin_shift`` cannot be imported."""
    try:
        from mmcv.ops import tin_shift as _compiled  # noqa: F401
    except (ImportError, ModuleNotFoundError, OSError):
        from mmaction.models.backbones import resnet_tin

        resnet_tin.linear_sampler = linear_sampler
