"""Attention probabilities of a video transformer, recorded during one forward, and their composition.

**Capture.** Two kinds of attention module occur in MMAction2's transformers, and both are observed without
forking their code, only for the duration of a ``with recording(...)`` block (restored on exit, errors included):

- VideoMAE's (and VideoMAE V2's) ``vit_mae.Attention`` computes ``softmax(q k^T * scale)`` itself and passes it
  through its ``attn_drop`` module: a forward hook on ``attn_drop`` sees the probabilities the module goes on to use.
- ``torch.nn.MultiheadAttention`` (TimeSformer's divided and joint attention, UniFormerV2's blocks, mmcv's
  ``MultiheadAttention``) returns at most head-averaged weights, and with ``need_weights=False`` runs a fused
  kernel that never forms them. Its ``forward`` is swapped, on the instance, for :func:`_explicit_mha`: torch's own
  ``need_weights=True`` path (packed in-projection, ``q * sqrt(1/d)``, ``bmm``, softmax, ``bmm``, out-projection)
  written out, so the per-head probabilities are the ones the output is made of. Where the module would have taken
  that path anyway the logits are bit-identical; where it would have fused (``need_weights=False``) they agree to
  float rounding (the tests hold them to 1e-6).

For gradient-weighted methods the forward runs without autograd up to the first attention map, which becomes a
leaf: autograd is switched on from there (as :mod:`core.cam` does at its target layer), so nothing before it is
kept for a backward. At that moment the parameters stop requiring grad (until the block ends): no linear layer then
keeps its input for a weight gradient. Not earlier, and the written-out in-projection folds its batch itself
(:func:`_linear`): ``matmul`` folds a batched input into one ``mm`` only while the weight requires grad, so frozen
weights would otherwise change the logits' last bits. One
``torch.autograd.grad`` from the class score to the first map reaches every later map on its way and computes no
parameter gradient. A tensor hook on each map hands its gradient to the method as it passes, so only one
head-fused ``n x n`` matrix per attention is ever kept.

**Composition.** Each recorded attention is an :class:`Event` whose head-fused matrix acts on the token layout of
the block's output, as a row vector ``v`` of relevance over tokens (``v <- v @ M``): rollout and Chefer et al.'s
rule both multiply matrices from the first block to the last, so the read-out row (the class token's, or the mean
of all rows) is obtained by carrying one vector from the last block to the first, ``O(n^2)`` per block instead of
the ``O(n^3)`` full product, and exactly equal to the row of the full product.

- ``joint``: one attention over all tokens of a sample (VideoMAE's tubelets, TimeSformer's joint space-time, a
  UniFormerV2 frame with its class token; frames folded into the batch stay separate samples);
- ``temporal``: TimeSformer's divided temporal attention, ``[B*P, T, T]`` among the T tokens of one patch; the
  class token does not take part (its row is zero);
- ``spatial``: TimeSformer's divided spatial attention, ``[B*T, 1+P, 1+P]`` among one frame's patches and a copy of
  the class token, whose T outputs the module averages: the class token's row is the mean of the T copies' rows.

Windowed (Video Swin) and pooling (MViT, UniFormer) attention are refused with a sentence (:data:`REFUSED`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from core.errors import CamError
from core.reshape import has_class_token

# Backbones whose attention does not compose into one token-to-token map, and why (see docs/methods.md).
REFUSED = {
    "SwinTransformer3D": "Video Swin attends only within shifted local windows and merges patches between stages "
                         "(its token grid shrinks), so no token-to-token attention spans the clip to roll out",
    "MViT": "MViT pools its queries, keys and values with learned strided convolutions (its token grid shrinks from "
            "stage to stage), so its attention matrices do not compose into one token-to-token map",
    "UniFormer": "UniFormer mixes tokens with convolutions in its first stages and downsamples between stages, so "
                 "its attention matrices do not compose into one token-to-token map",
}

Fuse = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]  # (probs [b, H, n, n], grads) -> [b, n, n]


@dataclass
class Event:
    """One attention call: its kind (``joint``, ``temporal``, ``spatial``), whether token 0 of its matrix is a
    class token, the module that made it, and its head-fused ``[b, n, n]`` matrix (None until the backward
    of a gradient-weighted method delivers it)."""

    kind: str
    cls: bool
    module: str
    shape: tuple[int, int]  # (batch, tokens) of the matrix: [b, n, n]
    frames: int = 1  # divided attention: the clip's frames (the module's num_frames)
    fused: torch.Tensor | None = None


@dataclass
class Recording:
    """What :func:`recording` collected: the events in execution order, and the leaf a backward must reach."""

    fuse: Fuse
    gradients: bool
    events: list[Event] = field(default_factory=list)
    closed: bool = False
    leaf: torch.Tensor | None = None
    trainable: list[torch.nn.Parameter] = field(default_factory=list)  # frozen from the leaf on, then restored
    frozen: bool = False

    def seen(self, probs: torch.Tensor, kind: str, cls: bool, module: str, frames: int = 1) -> torch.Tensor:
        """Record ``probs`` ``[b, H, n, n]``; returns the tensor the module must go on with."""
        if self.closed:
            return probs
        event = Event(kind, cls, module, (probs.shape[0], probs.shape[-1]), frames)
        self.events.append(event)
        if not self.gradients:
            event.fused = self.fuse(probs.detach(), None)
            return probs
        if self.leaf is None:  # the graph starts here: autograd on (the caller's no_grad block restores it)
            torch.set_grad_enabled(True)
            for param in self.trainable:
                param.requires_grad_(False)
            self.frozen = True
            probs = probs.detach().requires_grad_(True)
            self.leaf = probs
        kept = probs.detach()

        def on_gradient(grad: torch.Tensor) -> None:
            event.fused = self.fuse(kept, grad)

        probs.register_hook(on_gradient)
        return probs

    def backward(self, score: torch.Tensor) -> None:
        """Back-propagate ``score`` to every recorded attention map (no parameter gradients)."""
        if self.leaf is None or not score.requires_grad:
            raise CamError("The class score does not depend on the recorded attention maps; pick a later block.")
        torch.autograd.grad(score, [self.leaf], allow_unused=True)  # only the activations' gradients are computed
        for event in self.events:
            if event.fused is None:  # the score did not depend on this map: zero relevance flows through it
                event.fused = torch.zeros(0)


def check_backbone(backbone: torch.nn.Module, label: str) -> None:
    """Raise CamError (one sentence) when ``backbone`` has no attention that ``label`` can compose."""
    name = type(backbone).__name__
    if name in REFUSED:
        raise CamError(f"{label} is not available for {name}: {REFUSED[name]}; use a CAM method such as Grad-CAM.")
    if not any(_kind(m, backbone) for _, m in backbone.named_modules()):
        raise CamError(f"{label} needs attention layers (a transformer such as VideoMAE, TimeSformer or UniFormerV2), "
                       f"and {name} has none; use a CAM method such as Grad-CAM.")


def _kind(module: torch.nn.Module, parent: torch.nn.Module) -> str | None:
    """``joint``/``temporal``/``spatial`` for an attention module this recorder observes, else None."""
    if isinstance(module, torch.nn.MultiheadAttention):
        return {"DividedTemporalAttentionWithNorm": "temporal",
                "DividedSpatialAttentionWithNorm": "spatial"}.get(type(parent).__name__, "joint")
    if type(module).__name__ == "Attention" and isinstance(getattr(module, "attn_drop", None), torch.nn.Module):
        return "joint"  # VideoMAE's vit_mae.Attention
    return None


@contextmanager
def recording(model: Any, fuse: Fuse, *, gradients: bool, until: torch.nn.Module | None = None,
              label: str = "This method") -> Iterator[Recording]:
    """Record the head-fused attention of every attention module of ``model.backbone`` during the block, up to the
    end of ``until``'s forward (None: all). With ``gradients``, run the forward under ``torch.no_grad()``: the
    first map becomes the leaf of :meth:`Recording.backward`, autograd starts there and the parameters stop
    requiring grad until the block ends. Everything is put back on exit."""
    backbone = model.backbone
    check_backbone(backbone, label)
    record = Recording(fuse, gradients, trainable=[p for p in model.parameters() if p.requires_grad])
    cls = has_class_token(backbone)
    undo: list[Callable[[], None]] = []
    try:
        parents = dict(backbone.named_modules())
        for name, module in backbone.named_modules():
            parent = parents.get(name.rpartition(".")[0], backbone)
            kind = _kind(module, parent)
            if kind is None:
                continue
            where = "backbone/" + name.replace(".", "/")
            token = kind == "spatial" or (kind == "joint" and cls)
            if isinstance(module, torch.nn.MultiheadAttention):
                frames = int(getattr(parent, "num_frames", 1)) if kind != "joint" else 1
                module.forward = _explicit_mha(module, record, kind, token, where, frames)  # type: ignore[method-assign]
                undo.append(partial(module.__dict__.pop, "forward", None))
            else:
                hook = module.attn_drop.register_forward_hook(_observer(record, kind, token, where))
                undo.append(hook.remove)
        if until is not None:
            closing = until.register_forward_hook(lambda *_: setattr(record, "closed", True))
            undo.append(closing.remove)
        yield record
    finally:
        for step in reversed(undo):
            step()
        if record.frozen:
            for param in record.trainable:
                param.requires_grad_(True)


def _observer(record: Recording, kind: str, cls: bool, where: str) -> Callable[..., torch.Tensor]:
    """Forward hook on ``attn_drop``: its output is the probabilities the attention goes on to use."""

    def hook(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        return record.seen(output, kind, cls, where)

    return hook


def _explicit_mha(module: torch.nn.MultiheadAttention, record: Recording, kind: str, cls: bool,
                  where: str, frames: int) -> Callable[..., tuple[torch.Tensor, torch.Tensor | None]]:
    """``module.forward`` computed as torch's ``need_weights=True`` path, with the probabilities recorded."""

    def forward(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if (key_padding_mask is not None or attn_mask is not None or is_causal or not module._qkv_same_embed_dim
                or module.bias_k is not None or module.in_proj_weight is None):
            raise CamError(f"The attention {where} uses masks or separate key/value projections, which attention "
                           "explanations do not support; use a CAM method such as Grad-CAM.")
        if module.batch_first:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        tgt_len, bsz, embed = query.shape
        heads, head_dim = module.num_heads, embed // module.num_heads
        if query is key and key is value:  # F._in_projection_packed's self-attention branch
            proj = _linear(query, module.in_proj_weight, module.in_proj_bias)
            proj = proj.unflatten(-1, (3, embed)).unsqueeze(0).transpose(0, -2).squeeze(-2).contiguous()
            q, k, v = proj[0], proj[1], proj[2]
        else:
            w_q, w_k, w_v = module.in_proj_weight.chunk(3)
            b_q, b_k, b_v = module.in_proj_bias.chunk(3) if module.in_proj_bias is not None else (None,) * 3
            q, k, v = _linear(query, w_q, b_q), _linear(key, w_k, b_k), _linear(value, w_v, b_v)
        q = q.view(tgt_len, bsz * heads, head_dim).transpose(0, 1)
        k = k.view(k.shape[0], bsz * heads, head_dim).transpose(0, 1)
        v = v.view(v.shape[0], bsz * heads, head_dim).transpose(0, 1)
        src_len = k.shape[1]
        weights = torch.bmm(q * math.sqrt(1.0 / float(head_dim)), k.transpose(-2, -1))
        probs = record.seen(weights.softmax(dim=-1).view(bsz, heads, tgt_len, src_len), kind, cls, where,
                            frames)
        if module.dropout > 0.0 and module.training:
            probs = F.dropout(probs, p=module.dropout)
        out = torch.bmm(probs.reshape(bsz * heads, tgt_len, src_len), v)
        out = out.transpose(0, 1).contiguous().view(tgt_len * bsz, embed)
        out = F.linear(out, module.out_proj.weight, module.out_proj.bias).view(tgt_len, bsz, embed)
        if module.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        returned = probs.detach()
        return out, returned.mean(dim=1) if average_attn_weights else returned

    return forward


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` with inference's rounding whether or not ``weight`` requires grad: on a
    non-contiguous batched ``x`` (``batch_first`` transposed), ``matmul`` folds the batch into one ``mm`` only
    while the weight requires grad, and runs ``bmm`` otherwise; :func:`recording` freezes the weights."""
    if x.dim() < 3 or x.is_contiguous():
        return F.linear(x, weight, bias)
    out = x.reshape(-1, x.shape[-1]).mm(weight.t()).view(*x.shape[:-1], weight.shape[0])
    return out if bias is None else out + bias


def block_of(module: str) -> str:
    """The numbered block an attention module belongs to (``backbone/blocks/11/attn`` -> ``backbone/blocks/11``)."""
    match = re.match(r"^(.*?/\d+)(/|$)", module)
    return match.group(1) if match else module


# Relevance as a row vector over the token layout of a block's output: v <- v @ M for one event.

def apply(event: Event, v: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``v @ M_full``: the event's matrix ``matrix`` embedded in the full token layout, applied to ``v`` ``[B, N]``."""
    m = matrix.to(v.dtype)
    if event.kind == "joint":
        return torch.bmm(v.unsqueeze(1), m).squeeze(1)
    batch, frames = v.shape[0], m.shape[-1] if event.kind == "temporal" else m.shape[0] // v.shape[0]
    patches = (v.shape[1] - 1) // frames
    if event.kind == "temporal":  # rows per patch, batch (b p); tokens (p t)
        moved = torch.bmm(v[:, 1:].reshape(batch * patches, 1, frames), m).reshape(batch, patches * frames)
        return torch.cat([torch.zeros_like(v[:, :1]), moved], dim=1)
    # spatial: per frame (batch (b t)) the class token's copy and the frame's patches; the copies' rows averaged
    per_frame = torch.cat([v[:, :1, None].expand(batch, frames, 1) / frames,
                           v[:, 1:].reshape(batch, patches, frames).transpose(1, 2)], dim=2)
    moved = torch.bmm(per_frame.reshape(batch * frames, 1, patches + 1), m).reshape(batch, frames, patches + 1)
    return torch.cat([moved[:, :, 0].sum(1, keepdim=True), moved[:, :, 1:].transpose(1, 2).reshape(batch, -1)], 1)


def row_sums(event: Event, matrix: torch.Tensor, batch: int) -> torch.Tensor:
    """Row sums of the event's matrix embedded in the full token layout: ``[B, N]``."""
    sums = matrix.sum(dim=-1).double()
    if event.kind == "joint":
        return sums
    if event.kind == "temporal":
        return torch.cat([torch.zeros_like(sums[:1, :1]).expand(batch, 1), sums.reshape(batch, -1)], dim=1)
    frames = sums.shape[0] // batch
    sums = sums.reshape(batch, frames, -1)
    return torch.cat([sums[:, :, 0].mean(1, keepdim=True), sums[:, :, 1:].transpose(1, 2).reshape(batch, -1)], 1)


def discard_lowest(event: Event, matrix: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the lowest ``ratio`` of each matrix's entries, never entry [0, 0] of a class token (the reference's
    ``discard_ratio``: vit-explain's ``rollout``)."""
    if ratio <= 0:
        return matrix
    flat = matrix.reshape(matrix.shape[0], -1)
    lowest = flat.topk(int(flat.shape[-1] * ratio), -1, largest=False).indices
    drop = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, lowest, True)
    if event.cls:
        drop[:, 0] = False
    return flat.masked_fill(drop, 0).reshape(matrix.shape)


def start_row(event: Event, batch: int, tokens: int) -> torch.Tensor:
    """The read-out row: the class token's when the layout has one, else the mean over all query tokens."""
    if event.kind != "joint" or event.cls:
        v = torch.zeros(batch, tokens, dtype=torch.float64)
        v[:, 0] = 1.0
        return v
    return torch.full((batch, tokens), 1.0 / tokens, dtype=torch.float64)


def compose(events: list[Event], step: Callable[[Event, torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The read-out row of the product of every event's operator, first block to last: ``[B, N]`` (float64).

    ``step(event, v, matrix)`` returns ``v @ Op`` for the event's operator (rollout's re-normalised ``(A + I)``,
    Chefer's ``I + A``); the row is carried from the last event to the first."""
    if not events:
        raise CamError("No attention was recorded before the chosen layer; pick a later block.")
    last = events[-1]
    if last.kind == "joint":
        batch, tokens = last.shape
    else:  # divided attention: the layout is [B, 1 + P*T], read from a spatial attention's [B*T, 1+P] shape
        spatial = next(e for e in events if e.kind == "spatial")
        batch, tokens = spatial.shape[0] // spatial.frames, 1 + (spatial.shape[1] - 1) * spatial.frames
    v = start_row(last, batch, tokens)
    for event in reversed(events):
        assert event.fused is not None
        if event.fused.numel():
            v = step(event, v, event.fused)
    return v
