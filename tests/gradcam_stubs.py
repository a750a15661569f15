"""Import pytorch-grad-cam (the test oracle) without torchvision and ttach.

pytorch-grad-cam imports torchvision only for image utilities we never call (``Compose``/``Normalize``/
``ToTensor`` in ``utils.image``, ``resize`` in ``sess``, ``box_iou`` in ``utils.model_targets``) and
ttach only for test-time augmentation smoothing we never use. torchvision has no build for this torch
and breaks its imports, so when ``import torchvision`` (or ``ttach``) fails, minimal stand-ins that
raise if ever called are put in ``sys.modules`` first.
"""

from __future__ import annotations

import importlib
import sys
import types

import torch


def _unavailable(name: str):
    def call(*_args, **_kwargs):
        raise RuntimeError(f"{name} is a stub: torchvision/ttach are not installed for the tests")

    return call


def _stub(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def _install_torchvision() -> None:
    try:
        importlib.import_module("torchvision")
        return
    except Exception:  # ImportError, or a broken install that fails on import
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
    functional = _stub("torchvision.transforms.functional", resize=_unavailable("resize"))
    transforms = _stub("torchvision.transforms", Compose=_unavailable("Compose"),
                       Normalize=_unavailable("Normalize"), ToTensor=_unavailable("ToTensor"),
                       functional=functional)
    ops = _stub("torchvision.ops", box_iou=_unavailable("box_iou"))
    _stub("torchvision", transforms=transforms, ops=ops, __stub__=True)


def _install_ttach() -> None:
    try:
        importlib.import_module("ttach")
    except ImportError:
        _stub("ttach", Compose=_unavailable("ttach.Compose"), HorizontalFlip=_unavailable("HorizontalFlip"),
              Multiply=_unavailable("Multiply"), __stub__=True)


def import_pytorch_grad_cam():
    """The ``pytorch_grad_cam`` package, with stand-ins for its unused torchvision/ttach imports.

    The stand-ins leave ``sys.modules`` right after the import (pytorch-grad-cam keeps its own
    references), so other code that probes for torchvision (MMEngine's Runner) still finds none."""
    before = set(sys.modules)
    _install_torchvision()
    _install_ttach()
    module = importlib.import_module("pytorch_grad_cam")
    for name in [m for m in set(sys.modules) - before if m.split(".")[0] in ("torchvision", "ttach")]:
        if getattr(sys.modules[name], "__stub__", False) or name.startswith("torchvision."):
            del sys.modules[name]
    return module


class ClipScores(torch.nn.Module):
    """A 2D recognizer as an image model for pytorch-grad-cam: ``[N, 3, H, W]`` frames to ``[1, C]``."""

    def __init__(self, recognizer: torch.nn.Module) -> None:
        super().__init__()
        self.recognizer = recognizer

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        feats, kwargs = self.recognizer.extract_feat(frames[None], test_mode=True)
        return self.recognizer.cls_head(feats, **kwargs)
