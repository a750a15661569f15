"""The bytes and file names of everything a user can download from a result (txt, JSON, npz, mp4, PNG).

File names derive from the video, the checkpoint, the layer and the class, e.g.
``clip_best_acc_epoch_9_backbone.layer4_abseiling.txt``.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.formats.npz import npz_arrays
from core.formats.sidecar import to_sidecar
from core.formats.txt import heatmap_text
from core.methods import Method
from core.overlay import colorize, display_overlays, display_size, frame_label, playback_fps, resize_frames, write_video
from core.result import ExplainResult


@dataclass(frozen=True)
class Download:
    """One downloadable file."""

    label: str  # what a button says
    file_name: str
    data: bytes
    mime: str


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_.") or "x"


def file_stem(video: str | None, checkpoint: str | None, layer: str | None, label: str | None,
              method: Method | str | None = None) -> str:
    """``<video>_<checkpoint>_<layer>_<class>[_<method>]`` made safe for any file system
    (random weights read ``random``; Grad-CAM, the default method, is left out)."""
    parts = [Path(video).stem if video else "video",
             Path(checkpoint).stem if checkpoint else "random",
             (layer or "layer").replace("/", ".")]
    if label:
        parts.append(label)
    if method and method != Method.GRADCAM:
        parts.append(method)
    return "_".join(_slug(p) for p in parts)[:180]


def sidecar_bytes(result: ExplainResult) -> bytes:
    """The JSON sidecar (:func:`core.formats.sidecar.to_sidecar`)."""
    return json.dumps(to_sidecar(result), indent=2).encode()


def npz_bytes(result: ExplainResult) -> bytes:
    """:func:`core.formats.npz.npz_arrays` in one compressed npz."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **npz_arrays(result))  # type: ignore[arg-type]
    return buffer.getvalue()


def overlay_mp4(result: ExplainResult, *, alpha: float = 0.5, colormap: str = "viridis",
                fps: float | None = None) -> bytes | None:
    """The overlay video (H.264, plays in browsers) at the result's playback rate; None without frames."""
    blended = display_overlays(result, alpha, colormap)
    if blended is None:
        return None
    with tempfile.TemporaryDirectory(prefix="mmcam-") as folder:
        path = write_video(blended, Path(folder) / "overlay.mp4", fps=fps or playback_fps(result))
        return path.read_bytes()


def frame_png(result: ExplainResult, index: int, *, alpha: float = 0.5, colormap: str = "viridis",
              min_height: int = 320) -> bytes:
    """PNG of heatmap frame ``index``: the colored heatmap beside the overlay (when frames are known),
    scaled up to ``min_height`` pixels, with the frame's source index and time written above."""
    from PIL import Image, ImageDraw

    if not 0 <= index < result.num_frames:
        raise ValueError(f"frame {index} is outside 0..{result.num_frames - 1}")

    heatmap = (colorize(result.flat_heatmaps()[index:index + 1], colormap) * 255).astype(np.uint8)
    panels = [resize_frames(heatmap, display_size(result))[0]]
    blended = display_overlays(result, alpha, colormap, slice(index, index + 1))  # this frame only
    if blended is not None:
        panels.append(blended[0])
    height, width = panels[0].shape[:2]
    scale = max(1, int(np.ceil(min_height / height)))
    gap, header = 8, 24
    canvas = Image.new("RGB", (len(panels) * width * scale + (len(panels) - 1) * gap, height * scale + header),
                       "white")
    for i, panel in enumerate(panels):
        image = Image.fromarray(panel).resize((width * scale, height * scale), Image.Resampling.BILINEAR)
        canvas.paste(image, (i * (width * scale + gap), header))
    ImageDraw.Draw(canvas).text((4, 6), f"frame {index + 1}/{result.num_frames} · {frame_label(result, index)}",
                                fill="black")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def result_files(result: ExplainResult, *, alpha: float = 0.5, colormap: str = "viridis",
                 overlay_video: bytes | None = None) -> list[Download]:
    """txt (``Frame N - Heatmap values:``), JSON sidecar, npz and, with frames, the overlay mp4. A legacy
    result gets no sidecar: its frames, timing and window are unknown (or only assumed), and a sidecar
    would record them as facts."""
    files = [Download("Heatmaps (txt)", f"{result.name}.txt", heatmap_text(result.heatmaps), "text/plain")]
    if not result.legacy:
        files.append(Download("Sidecar (json)", f"{result.name}.json", sidecar_bytes(result), "application/json"))
    files.append(Download("Arrays (npz)", f"{result.name}.npz", npz_bytes(result), "application/octet-stream"))
    video = overlay_video if overlay_video is not None else overlay_mp4(result, alpha=alpha, colormap=colormap)
    if video is not None:
        files.append(Download("Overlay video (mp4)", f"{result.name}_overlay.mp4", video, "video/mp4"))
    return files
