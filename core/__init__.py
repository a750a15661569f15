"""Grad-CAM for MMAction2 video models: load, explain, overlay, export (UI-free).

>>> import core
>>> handle = core.load_model("config.py", "best.pth")
>>> result = core.explain(handle, "video.mp4")          # predicted class, default layer
>>> core.write_result("video_cam.txt", result)           # txt + json sidecar
>>> again = core.read_result("video_cam.txt")           # the same result back, frames from the video
"""

from core import _compat  # noqa: F401  (must run before anything imports mmaction)
from core.cam import ExplainResult, explain, explain_inputs, list_layers, resolve_layer
from core.errors import CamError
from core.evaluate import Faithfulness, FrameImportance, SanityCheck, faithfulness, frame_importance, sanity_check
from core.export import read_heatmap_txt, write_heatmap_txt, write_json, write_npz, write_result
from core.geometry import Windows
from core.heatmap_files import read_result
from core.layers import LayerInfo
from core.methods import METHODS
from core.model import ModelHandle, load_config, load_model, read_label_map
from core.overlay import colorize, overlay, write_video
from core.sidecar import from_sidecar, to_sidecar
from core.video import VideoInfo, build_inputs, probe_video

__all__ = [
    "METHODS", "CamError", "ExplainResult", "Faithfulness", "FrameImportance", "LayerInfo", "ModelHandle",
    "SanityCheck", "VideoInfo", "Windows", "build_inputs", "colorize", "explain", "explain_inputs", "faithfulness",
    "frame_importance", "from_sidecar", "list_layers", "load_config", "load_model", "overlay", "probe_video",
    "read_heatmap_txt", "read_label_map", "read_result", "resolve_layer", "sanity_check", "to_sidecar",
    "write_heatmap_txt", "write_json", "write_npz", "write_result", "write_video",
]
