"""Target layers: resolve a user's layer path, pick a default, list candidates for a picker."""

from __future__ import annotations

import re
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
    module = model
    for part in normalize(name).split("/"):
        module = module._modules.get(part) if module is not None else None
    if module is None or not normalize(name):
        hint = f" Candidates: {', '.join(candidates[:12])}." if candidates else ""
        raise CamError(f"The model has no layer {name!r}.{hint}")
    return module


def probe_shapes(model: torch.nn.Module, run: callable) -> list[tuple[str, tuple[int, ...]]]:
    """Names and output shapes of every module that returns a tensor, in execution order."""
    seen: dict[str, tuple[int, ...]] = {}
    hooks = []

    def recorder(name: str):
        def hook(_module, _inputs, out):
            if isinstance(out, torch.Tensor) and name not in seen:
                seen[name] = tuple(out.shape)

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


def _stage_key(name: str) -> int | None:
    parts = name.split("/")
    match = _STAGE.match(parts[-1])
    return int(match.group(2)) if match and parts[0] == "backbone" else None


def _is_map(shape: tuple[int, ...]) -> bool:
    return len(shape) in (4, 5) and shape[-1] >= 2 and shape[-2] >= 2


def default_layer(shapes: list[tuple[str, tuple[int, ...]]]) -> str:
    """The last conv stage of the backbone (first executed among equals, e.g. SlowFast's slow path);
    else the last backbone module that outputs a spatial feature map."""
    stages = [(k, i, n) for i, (n, s) in enumerate(shapes) if (k := _stage_key(n)) is not None and _is_map(s)]
    if stages:
        top = max(k for k, _, _ in stages)
        return min((i, n) for k, i, n in stages if k == top)[1]
    maps = [n for n, s in shapes if n.startswith("backbone/") and _is_map(s)]
    if not maps:
        raise CamError("Found no backbone layer with a spatial feature map; pass --target-layer-name.")
    return maps[-1]


def rank_layers(shapes: list[tuple[str, tuple[int, ...]]]) -> list[LayerInfo]:
    """Candidates first (the output of each stage, i.e. its last block, plus the default), then all."""
    default = default_layer(shapes)
    stage_names = {n for n, s in shapes if _stage_key(n) is not None and _is_map(s)} | {default}
    first = [LayerInfo(n, s, True) for n, s in shapes if n in stage_names]
    first.sort(key=lambda info: info.name != default)
    rest = [LayerInfo(n, s, False) for n, s in shapes if n not in stage_names and len(s) >= 3]
    return first + rest
