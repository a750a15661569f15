"""Does the map change when the model does? Adebayo et al. 2018, "Sanity Checks for Saliency Maps".

**Cascading model-parameter randomisation**, top-down: the classification head (and the neck, when there
is one) is re-initialised, then each backbone stage from the last to the stem, cumulatively; after each step
the video is explained again with the same method, layer and target class, and Spearman's rho (and |rho|)
between the original and the new map (flattened ``T×H×W``, per view, averaged over views) says how much of
the map survived. A map that survives the randomisation of the weights it is meant to explain shows the
input, not the model. **Random logit**: rho between the map of the target class and that of another class
(drawn with the seed): a map that stays the same shows where evidence is, not which class it supports.

Re-initialising a module calls ``reset_parameters()`` on it and on every submodule that has one (PyTorch's
default initialisation, as Quantus's ``ModelParameterRandomisation`` does; batch norms also reset their
running statistics); parameters that no such method covers (position embeddings, class tokens, relative
position tables) are drawn from a truncated normal of std 0.02. Everything happens on a deep copy of the
model under a fixed seed, so the caller's model (which the app's cache shares) is never touched.

The stages, top-down: ``cls_head``, ``neck``, then the backbone's parameterised children in reverse order of
execution, a numbered container of blocks (``blocks``, ``layers``, ``transformer_layers/layers``) split into its
blocks and a pathway with stages of its own (SlowFast's ``slow_path``) split into them, then the backbone's
own parameters (embeddings).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from core.cam import explain_inputs, resolve_layer
from core.evaluate.faithfulness import Verdict, plain
from core.evaluate.perturb import spearman, target_of
from core.geometry import Views
from core.methods import Method, parse_method
from core.model import ModelHandle
from core.result import ExplainResult
from core.target import Target
from core.video import ClipInputs, build_inputs

THRESHOLD = 0.5
"""A map whose |rho| with the original stays at or above this after a randomisation step is still tied to it (an
inverted ranking too); another class's map with rho at or above it is nearly the same map."""

_STAGE = re.compile(r"^(layer|stage|res_layer|res|block)s?\d+$")


def _map_rho(original: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(mean rho, mean |rho|) over the views of two maps ``[V, T, H, W]``."""
    rhos = np.asarray([spearman(a, b) for a, b in zip(original, other, strict=True)])
    return float(np.mean(rhos)), float(np.mean(np.abs(rhos)))


@dataclass
class SanityCheck:
    """Maps after each cumulative randomisation step, their rank correlation with the original map, and the
    random-logit check."""

    steps: list[str]  # modules re-initialised at each step (cumulative, top-down)
    rho: np.ndarray  # [S] Spearman's rho with the original map, mean over views (NaN: the map became constant)
    abs_rho: np.ndarray  # [S] mean over views of |rho|
    maps: np.ndarray  # [S, V, T, H, W] the map after each step
    original: np.ndarray  # [V, T, H, W] the map of the trained model
    target_class: int
    layer: str
    method: Method
    seed: int
    random_class: int | None = None  # the other class of the random-logit check (None: one class only)
    random_logit_rho: float = float("nan")
    random_logit_abs_rho: float = float("nan")
    random_logit_map: np.ndarray | None = None  # [V, T, H, W]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (the maps left out)."""
        data = asdict(self)
        for key in ("maps", "original", "random_logit_map"):
            data.pop(key)
        return plain(data)

    def verdict(self) -> Verdict:
        """Does the map change as the model is randomised, and for another class?"""
        kept = [(name, rho) for name, rho, value in zip(self.steps, self.rho, self.abs_rho, strict=True)
                if not math.isnan(value) and value >= THRESHOLD]
        other = "" if self.random_class is None or math.isnan(self.random_logit_rho) else (
            f" The map for another class (class {self.random_class}) "
            + (f"is nearly the same (ρ {self.random_logit_rho:.2f}): it shows where the evidence is more than "
               "which class it supports." if self.random_logit_rho >= THRESHOLD else
               f"differs (ρ {self.random_logit_rho:.2f}): it is class-specific."))
        if kept:
            listed = ", ".join(f"{name} (ρ {rho:.2f}{', inverted' if rho < 0 else ''})" for name, rho in kept)
            return Verdict(False, f"The sanity check does not support the map: its ranking stays tied to the "
                                  f"original's (|ρ| ≥ {THRESHOLD}) after re-initialising {listed}, so it shows the "
                                  f"input's structure more than the weights it should explain.{other}")
        worst = np.nanmax(self.abs_rho) if np.isfinite(self.abs_rho).any() else 0.0
        return Verdict(True, f"The sanity check supports the map: it changes with every randomisation step "
                             f"(|ρ| at most {_below(float(worst), THRESHOLD)} < {THRESHOLD}).{other}")


def _below(value: float, bound: float) -> str:
    """``value`` (< ``bound``) with as many decimals as it takes not to read as ``bound`` (0.4996: "0.4996", not
    "0.50")."""
    for digits in range(2, 7):
        text = f"{value:.{digits}f}"
        if float(text) < bound:
            return text
    return repr(value)


def _children_with_parameters(module: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, child) for name, child in module.named_children() if any(True for _ in child.parameters())]


def _is_numbered(module: nn.Module) -> bool:
    names = [name for name, _ in module.named_children()]
    return len(names) >= 2 and all(name.isdigit() for name in names)


def _split(name: str, module: nn.Module) -> list[tuple[str, nn.Module]]:
    """A backbone child as randomisation units: numbered blocks, a pathway's stages, or itself."""
    children = _children_with_parameters(module)
    if _STAGE.match(name.split("/")[-1]):  # a ResNet stage (layer4), a UniFormer stage (blocks4): whole
        return [(name, module)]
    if _is_numbered(module):
        return [(f"{name}/{child_name}", child) for child_name, child in children]
    if sum(1 for child_name, _ in children if _STAGE.match(child_name)) >= 2:
        return [unit for child_name, child in children for unit in _split(f"{name}/{child_name}", child)]
    own = any(True for _ in module.parameters(recurse=False))
    if len(children) == 1 and not own and _is_numbered(children[0][1]):
        return _split(f"{name}/{children[0][0]}", children[0][1])
    return [(name, module)]


def randomisation_units(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """The backbone's units in registration order (see the module docstring) and the names of the backbone's
    own parameters."""
    backbone: nn.Module = cast(nn.Module, model.backbone)
    units = [unit for name, child in _children_with_parameters(backbone) for unit in _split(f"backbone/{name}", child)]
    return units, [name for name, _ in backbone.named_parameters(recurse=False)]


def _execution_order(units: list[tuple[str, nn.Module]], run: Callable[[], Any]) -> list[tuple[str, nn.Module]]:
    """``units`` sorted by when ``run`` first calls them (units never called keep their place at the start)."""
    first: dict[str, int] = {}
    hooks = []
    for name, module in units:
        def hook(_module, _inputs, name=name):
            first.setdefault(name, len(first))

        hooks.append(module.register_forward_pre_hook(hook))
    try:
        run()
    finally:
        for handle in hooks:
            handle.remove()
    return sorted(units, key=lambda unit: first.get(unit[0], -1))


def reinitialise(modules: list[nn.Module], parameters: list[nn.Parameter], seed: int) -> None:
    """Re-initialise ``modules`` (``reset_parameters()`` wherever a submodule has one; any parameter left
    over from a truncated normal of std 0.02) and ``parameters`` (truncated normal), under ``seed``."""
    device = next((p.device for m in modules for p in m.parameters()), None) or \
        (parameters[0].device if parameters else torch.device("cpu"))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
        torch.manual_seed(seed)
        covered: set[int] = set()
        for module in modules:
            for sub in module.modules():
                reset = getattr(sub, "reset_parameters", None)
                if callable(reset):
                    reset()
                    covered |= {id(p) for p in sub.parameters(recurse=False)}
        rest = [p for m in modules for p in m.parameters() if id(p) not in covered] + list(parameters)
        for param in rest:
            nn.init.trunc_normal_(param, std=0.02)


def sanity_check(
    model: ModelHandle,
    video: str | Path | np.ndarray | ClipInputs,
    *,
    target_layer: str | None = None,
    target: Target | int | str | None = None,
    method: Method | str = Method.GRADCAM,
    seed: int = 0,
    views: Views | str = Views.CENTER,
    progress: Callable[[int, int], None] | None = None,
) -> SanityCheck:
    """Cascading model-parameter randomisation and the random-logit check on ``video`` (see the module
    docstring): the step names, rho, |rho| and the maps. ``model`` itself is left exactly as it was (the
    work happens on a deep copy); ``progress(done, total)`` hears each explanation. ``video`` may be the inputs an
    explanation kept (``result.inputs``), which are then not built again (``views`` is ignored)."""
    method = parse_method(method)
    clip = video if isinstance(video, ClipInputs) else build_inputs(model.cfg, video, views=views)
    layer = resolve_layer(model, target_layer)  # resolved on the shared handle, whose layer list is cached
    work = replace(model, model=copy.deepcopy(model.model))
    work._probe = model._probe  # the copy has the same shapes: no second probe forward
    units, own = randomisation_units(work.model)
    backbone: nn.Module = cast(nn.Module, work.model.backbone)
    heads = [(name, module) for name in ("cls_head", "neck") if (module := getattr(work.model, name, None)) is not None
             and any(True for _ in module.parameters())]

    def explain(target_class: Target | int | str | None) -> np.ndarray:
        return explain_inputs(work, clip, target_layer=layer, target=target_class, method=method).heatmaps

    explained: list[ExplainResult] = []  # the original explanation, made while the units' order is recorded
    units = _execution_order(units, lambda: explained.append(
        explain_inputs(work, clip, target_layer=layer, target=target, method=method)))
    first = explained[0]
    target_class = target_of(first)
    steps: list[tuple[str, list[nn.Module], list[nn.Parameter]]] = [(n, [m], []) for n, m in heads]
    steps += [(n, [m], []) for n, m in reversed(units)]
    if own:
        steps.append(("backbone/" + ",".join(own), [], [dict(backbone.named_parameters())[n] for n in own]))
    total = 2 + len(steps)
    if progress is not None:
        progress(1, total)
    random_class, random_map, random_rho = None, None, (float("nan"), float("nan"))
    if model.num_classes > 1:
        others = [c for c in range(model.num_classes) if c != target_class]
        random_class = int(others[np.random.default_rng(seed).integers(len(others))])
        random_map = explain(random_class)
        random_rho = _map_rho(first.heatmaps, random_map)
    if progress is not None:
        progress(2, total)
    names, maps, rhos = [], [], []
    for index, (name, modules, parameters) in enumerate(steps):
        reinitialise(modules, parameters, seed + index)
        heatmaps = explain(target_class)
        names.append(name)
        maps.append(heatmaps)
        rhos.append(_map_rho(first.heatmaps, heatmaps))
        if progress is not None:
            progress(3 + index, total)
    return SanityCheck(
        steps=names, rho=np.asarray([r for r, _ in rhos]), abs_rho=np.asarray([a for _, a in rhos]),
        maps=np.stack(maps), original=first.heatmaps, target_class=target_class, layer=layer, method=method,
        seed=seed, random_class=random_class, random_logit_rho=random_rho[0], random_logit_abs_rho=random_rho[1],
        random_logit_map=random_map)

