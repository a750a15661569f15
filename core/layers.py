"""Target layers: resolve a user's layer path, pick a default, list candidates for a picker."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.errors import CamError

_STAGE = re.compile(r"^(layer|stage|res_layer|res|block)s?(\d+)$")


@dataclass(frozen=True)
class LayerInfo:
    """A module of the model and the shape of its output for the probe input."""

    name: str  # "/"-separated path, as vis_cam's --target-layer-name
    shape: tuple[int, ...]
    candidate: bool  # a sensible choice: the output of a stage (its last block)


def normalize(name: str) -> str:
    """``backbone.layer4.1.relu`` and ``backbone/layer4/1/relu`` are the same layer."""
    return "/".join(p for p in re.split(r"[/.]", name.strip()) if p)


def get_layer(model: torch.nn.Module, name: str, candidates: list[str] | None = None) -> torch.nn.Module:
    """The submodule at ``name``, or a CamError that lists valid candidates."""
    module: torch.nn.Module | None = model
    for part in normalize(name).split("/"):
        module = module._modules.get(part) if module is not None else None
    if module is None or not normalize(name):
        hint = f" Candidates: {', '.join(candidates[:12])}." if candidates else ""
        raise CamError(f"The model has no layer {name!r}.{hint}")
    return module


def probe_shapes(model: torch.nn.Module, run: Callable[[], object]) -> list[tuple[str, tuple[int, ...]]]:
    """Names and output shapes of every module that returns a tensor (or a tuple led by one, as MViT's
    blocks do), in execution order."""
    seen: dict[str, tuple[int, ...]] = {}
    hooks = []

    def recorder(name: str):
        def hook(_module, _inputs, out):
            tensor = first_tensor(out)
            if tensor is not None and name not in seen:
                seen[name] = tuple(tensor.shape)

        return hook

    for name, module in model.named_modules():
        if name:
            hooks.append(module.register_forward_hook(recorder(normalize(name))))
    try:
        with torch.no_grad():
            run()
    finally:
        for h in hooks:
            h.remove()
    return list(seen.items())


def first_tensor(output) -> torch.Tensor | None:
    """A module's output tensor: the output itself, or the first item of a tuple (MViT: ``(x, size)``)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _stage_key(name: str) -> int | None:
    parts = name.split("/")
    match = _STAGE.match(parts[-1])
    return int(match.group(2)) if match and parts[0] == "backbone" else None


def _is_map(shape: tuple[int, ...]) -> bool:
    return len(shape) in (4, 5) and shape[-1] >= 2 and shape[-2] >= 2


# Default layers of families whose last stage is not a ``layerN``/``stageN`` module, relative to the
# backbone; ``-1``/``-2`` count from the end of a numbered container. Where the head reads a class
# token, the default is the input of the last block: after it, patch tokens no longer reach the score.
FAMILY_LAYERS = {
    "C3D": "conv5b",  # the last convolution (pool5 halves its 7x7 grid)
    "MViT": "blocks/-1/norm1",  # class token: the last block's normalised input
    "SwinTransformer3D": "layers/-1",  # the last stage, channels-last [B, T', h, w, C]
    "TimeSformer": "transformer_layers/layers/-2",  # class token: the input of the last layer
    "UniFormer": "blocks4/-1",  # the last block of the last stage (before the final BatchNorm)
    "UniFormerV2": "transformer/resblocks/-1",  # its patch tokens feed the last global UniBlock
    "VisionTransformer": "blocks/-1",  # VideoMAE (v1, v2): the head averages all tokens
}


def _family_layer(shapes: list[tuple[str, tuple[int, ...]]], family: str | None) -> str | None:
    """The probed layer that ``FAMILY_LAYERS[family]`` names, if any."""
    rule = FAMILY_LAYERS.get(family or "")
    if rule is None:
        return None
    pattern = re.compile("^backbone/" + re.sub(r"-\d+", r"(\\d+)", rule) + "$")
    offsets = [int(p) for p in re.findall(r"-\d+", rule)]
    matches = [(tuple(int(g) for g in m.groups()), n) for n, _ in shapes if (m := pattern.match(n))]
    if not matches:
        return None
    if not offsets:
        return matches[0][1]
    indices = sorted({key for key, _ in matches})
    wanted = indices[offsets[0]] if len(indices) >= -offsets[0] else None
    return next((n for key, n in matches if key == wanted), None)


def default_layer(shapes: list[tuple[str, tuple[int, ...]]], family: str | None = None) -> str:
    """The family's rule (:data:`FAMILY_LAYERS`, by backbone class name); else the last conv stage of the
    backbone (first executed among equals, e.g. SlowFast's slow path); else the last backbone module
    that outputs a spatial feature map."""
    if (named := _family_layer(shapes, family)) is not None:
        return named
    stages = [(k, i, n) for i, (n, s) in enumerate(shapes) if (k := _stage_key(n)) is not None and _is_map(s)]
    if stages:
        top = max(k for k, _, _ in stages)
        return min((i, n) for k, i, n in stages if k == top)[1]
    maps = [n for n, s in shapes if n.startswith("backbone/") and _is_map(s)] or _block_ends(shapes)
    if not maps:
        raise CamError("Found no backbone layer with a feature map or token grid; pass --target-layer-name.")
    return maps[-1]


def _block_ends(shapes: list[tuple[str, tuple[int, ...]]]) -> list[str]:
    """Last blocks of each stage in numbered block containers of the backbone (``blocks/3``,
    ``layers/1``, ``transformer/resblocks/11``): the blocks after which the output shape changes, and
    the last block of each container; in execution order."""
    names = [n for n, _ in shapes]
    groups: dict[str, list[tuple[int, str, tuple[int, ...]]]] = {}
    for name, shape in shapes:
        parent, _, index = name.rpartition("/")
        is_block = any(other.startswith(name + "/") for other in names)  # a block, not a single op
        if index.isdigit() and is_block and parent.startswith("backbone/") and parent.count("/") <= 2 \
                and _stage_key(parent) is None:
            groups.setdefault(parent, []).append((int(index), name, shape))
    ends = set()
    for blocks in groups.values():
        blocks.sort()
        for (_, name, shape), (_, _, following) in zip(blocks, blocks[1:] + [(0, "", ())], strict=True):
            if shape != following:
                ends.add(name)
    return [n for n in names if n in ends]


def combined_layers(shapes: list[tuple[str, tuple[int, ...]]]) -> str | None:
    """``a+b`` for backbones with parallel pathways (SlowFast): their last stages, explained together."""
    stages = [(k, n) for n, s in shapes if (k := _stage_key(n)) is not None and _is_map(s)]
    if not stages:
        return None
    top = max(k for k, _ in stages)
    names = [n for k, n in stages if k == top]
    return "+".join(names) if len(names) > 1 else None


def rank_layers(shapes: list[tuple[str, tuple[int, ...]]], family: str | None = None,
                usable: Callable[[tuple[int, ...]], bool] = _is_map) -> list[LayerInfo]:
    """Candidates first (the default, a combined view of parallel pathways, then the output of each
    stage, i.e. its last block), then every other module whose output ``usable(shape)`` accepts."""
    default = default_layer(shapes, family)
    order = {n: i for i, (n, _) in enumerate(shapes)}
    stage_names = {n for n, s in shapes if _stage_key(n) is not None and _is_map(s)}
    stage_names |= {n for n in _block_ends(shapes) if usable(dict(shapes)[n])}
    if family in FAMILY_LAYERS:  # after a family's default, blocks no longer reach the score
        stage_names = {n for n in stage_names if order[n] < order[default]}
    stage_names.add(default)
    first = [LayerInfo(n, s, True) for n, s in shapes if n in stage_names]
    first.sort(key=lambda info: info.name != default)
    combined = combined_layers(shapes)
    if combined:
        first.insert(1, LayerInfo(combined, dict(shapes)[combined.split("+")[0]], True))
    rest = [LayerInfo(n, s, False) for n, s in shapes if n not in stage_names and len(s) >= 3 and usable(s)]
    return first + rest
