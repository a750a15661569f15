"""Grad-CAM for MMAction2 video models: load, explain, overlay, export (UI-free).

>>> import core
>>> handle = core.load_model("config.py", "best.pth")
>>> result = core.explain(handle, "video.mp4")          # predicted class, default layer
>>> core.write_result("video_cam.txt", result)           # txt + json sidecar
>>> again = core.read_result("video_cam.txt")           # the same result back, frames from the video
"""

import importlib
from typing import TYPE_CHECKING, Any

from core import _compat  # noqa: F401  (must run before anything imports mmaction)

if TYPE_CHECKING:
    from core.cam import ExplainResult, explain, explain_inputs, list_layers, resolve_layer
    from core.errors import CamError
    from core.evaluate.faithfulness import Faithfulness, FrameImportance, faithfulness, frame_importance
    from core.evaluate.sanity import SanityCheck, sanity_check
    from core.formats.npz import write_npz
    from core.formats.sidecar import from_sidecar, to_sidecar
    from core.formats.txt import read_heatmap_txt, write_heatmap_txt
    from core.geometry import Windows
    from core.heatmap_files import read_result, write_result
    from core.layers import LayerInfo
    from core.methods import METHODS
    from core.model import ModelHandle, load_config, load_model, read_label_map
    from core.outputs import write_json
    from core.overlay import colorize, overlay, write_video
    from core.result import topk
    from core.video import VideoInfo, build_inputs, probe_video

# The names below load their modules (PyTorch, MMAction2: seconds) when first used, not when ``core`` is imported:
# ``core.access`` and ``core.errors`` stay light, so the app draws its pages before the heavy imports finish.
_HOME = {name: module for module, names in {  # name -> the module that defines it (imported on first use)
    "core.cam": "ExplainResult explain explain_inputs list_layers resolve_layer",
    "core.errors": "CamError",
    "core.evaluate.faithfulness": "Faithfulness FrameImportance faithfulness frame_importance",
    "core.evaluate.sanity": "SanityCheck sanity_check",
    "core.formats.npz": "write_npz",
    "core.formats.sidecar": "from_sidecar to_sidecar",
    "core.formats.txt": "read_heatmap_txt write_heatmap_txt",
    "core.geometry": "Windows",
    "core.heatmap_files": "read_result write_result",
    "core.layers": "LayerInfo",
    "core.methods": "METHODS",
    "core.model": "ModelHandle load_config load_model read_label_map",
    "core.outputs": "write_json",
    "core.overlay": "colorize overlay write_video",
    "core.result": "topk",
    "core.video": "VideoInfo build_inputs probe_video",
}.items() for name in names.split()}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "METHODS", "CamError", "ExplainResult", "Faithfulness", "FrameImportance", "LayerInfo", "ModelHandle",
    "SanityCheck", "VideoInfo", "Windows", "build_inputs", "colorize", "explain", "explain_inputs", "faithfulness",
    "frame_importance", "from_sidecar", "list_layers", "load_config", "load_model", "overlay", "probe_video",
    "read_heatmap_txt", "read_label_map", "read_result", "resolve_layer", "sanity_check", "to_sidecar", "topk",
    "write_heatmap_txt", "write_json", "write_npz", "write_result", "write_video",
]
