"""Heatmaps blended onto frames, and overlay videos that play in browsers (H.264 mp4 or gif); what a viewer shows
of a result besides (its display size, playback rate and frame labels), kept off the result itself."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CamError
from core.outputs import atomic_path
from core.result import ExplainResult


@lru_cache(maxsize=16)
def colormap_lut(name: str = "viridis") -> np.ndarray:
    """256×3 float32 RGB table of a matplotlib colormap, in [0, 1]."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise CamError(f"Unknown colormap {name!r}; use a matplotlib name such as viridis, jet or inferno.") from None
    return cmap(np.linspace(0, 1, 256))[:, :3].astype(np.float32)


def colorize(heatmaps: np.ndarray, colormap: str = "viridis") -> np.ndarray:
    """Heatmaps in [0, 1] → float32 RGB in [0, 1] (matplotlib's binning: index = int(x * 256))."""
    index = np.clip((np.asarray(heatmaps, np.float32) * 256).astype(np.int64), 0, 255)
    return colormap_lut(colormap)[index]


def overlay(frames: np.ndarray, heatmaps: np.ndarray, *, alpha: float = 0.5, colormap: str = "viridis") -> np.ndarray:
    """``alpha * colormap(heatmap) + (1 - alpha) * frame`` as uint8 RGB, as MMAction2's vis_cam blends."""
    if not 0 <= alpha <= 1:
        raise CamError(f"alpha must be between 0 and 1, not {alpha}.")
    blended = alpha * colorize(heatmaps, colormap) + (1 - alpha) * (np.asarray(frames, np.float32) / 255)
    return (blended * 255).astype(np.uint8)


def resize_frames(frames: np.ndarray, resolution: tuple[int, int] | None,
                  algorithm: str = "bilinear") -> np.ndarray:
    """Resize ``[T, H, W, 3]`` as vis_cam's ``--target-resolution W H`` (-1 keeps the aspect ratio)."""
    if resolution is None or tuple(resolution) == (-1, -1):
        return frames
    import cv2

    width, height = resolution
    h, w = frames.shape[1:3]
    if width == -1:
        width = round(w * height / h)
    elif height == -1:
        height = round(h * width / w)
    flags = {"bilinear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "bicubic": cv2.INTER_CUBIC,
             "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}
    if algorithm not in flags:
        raise CamError(f"Unknown resize algorithm {algorithm!r}; use one of {', '.join(flags)}.")
    return np.stack([cv2.resize(f, (int(width), int(height)), interpolation=flags[algorithm]) for f in frames])


def write_video(frames: np.ndarray, path: str | Path, fps: float = 30.0) -> Path:
    """Write uint8 RGB ``[T, H, W, 3]`` as H.264 mp4 (yuv420p, plays in browsers) or gif, atomically."""
    path = Path(path)
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise CamError(f"Frames to write must be [T, H, W, 3], not {frames.shape}.")
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise CamError(f"Output {path} must end in .mp4 or .gif.")
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            from PIL import Image

            images = [Image.fromarray(f) for f in frames]
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=max(1, round(1000 / fps)), loop=0)
        else:
            _write_h264(frames, tmp, fps)
    return path


def _write_h264(frames: np.ndarray, path: Path, fps: float) -> None:
    with _H264(path, fps) as encoder:
        encoder.write(frames)


class _H264:
    """An H.264 mp4 (yuv420p, plays in browsers) encoded a few frames at a time into ``path`` as it is."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self.container: Any = None
        self.stream: Any = None

    def __enter__(self) -> _H264:
        import av

        self.container = av.open(str(self.path), mode="w", format="mp4")
        return self

    def write(self, frames: np.ndarray) -> None:
        from fractions import Fraction

        import av

        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        if self.stream is None:
            height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2  # yuv420p needs even sizes
            if height == 0 or width == 0:
                raise CamError("Frames are too small to encode as H.264 (need at least 2×2 pixels).")
            self.stream = self.container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1000))
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
            self.stream.options = {"crf": "20", "preset": "veryfast", "movflags": "+faststart"}
        for frame in frames[:, :self.stream.height, :self.stream.width]:
            self.container.mux(self.stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))

    def __exit__(self, *exc: object) -> None:
        try:
            if self.stream is not None and exc[0] is None:
                self.container.mux(self.stream.encode())
        finally:
            self.container.close()


class VideoWriter:
    """An H.264 mp4 written chunk by chunk (constant memory, e.g. a whole video's overlay) and renamed into
    place only when the ``with`` block ends without error, as :func:`write_video` does in one go."""

    def __init__(self, path: str | Path, fps: float = 30.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise CamError(f"Output {self.path} must end in .mp4 (a video written as it is made).")
        self.fps = fps

    def __enter__(self) -> VideoWriter:
        self._atomic = atomic_path(self.path)
        self._encoder = _H264(self._atomic.__enter__(), self.fps).__enter__()
        return self

    def write(self, frames: np.ndarray) -> None:
        """Append uint8 RGB frames ``[T, H, W, 3]``."""
        self._encoder.write(frames)

    def __exit__(self, *exc: Any) -> None:
        try:
            self._encoder.__exit__(*exc)
        finally:
            self._atomic.__exit__(*exc)


# -- what a viewer shows of a result: its proportions, its pace, its frames' names --

def display_size(result: ExplainResult) -> tuple[int, int]:
    """(width, height) that shows a result's frames with the source video's proportions (never smaller)."""
    height, width = result.heatmaps.shape[-2:]
    aspect = result.pixel_aspect
    if abs(aspect - 1) < 0.01:
        return int(width), int(height)
    if aspect > 1:
        return round(width * aspect), int(height)
    return int(width), round(height / aspect)


def playback_fps(result: ExplainResult, default: float = 5.0) -> float:
    """Frame rate at which a result's heatmap frames last as long as the stretch of video they sample
    (``default`` without a frame rate or for a legacy file)."""
    if not result.fps or result.legacy:
        return default
    indices = result.source_frames()[: result.heatmaps.shape[1]]
    if len(indices) < 2:
        return default
    step = float(np.median(np.diff(np.sort(indices)))) or 1.0
    span = (float(indices.max() - indices.min()) + step) / result.fps
    return float(np.clip(len(indices) / span, 1.0, 30.0))


def frame_label(result: ExplainResult, index: int) -> str:
    """``view 2 · source frame 45 · 1.50 s`` for heatmap frame ``index`` (of ``V*T``); for a legacy file
    ``position 3 in the file`` (the txt's ``Frame 3`` block), with the source frame it was placed on
    marked ``assumed`` (:func:`core.heatmap_files.place_legacy`)."""
    source = int(result.source_frames()[index])
    if result.legacy:
        placed = result.windows is not None
        return f"position {index} in the file" + (f" · source frame {source} (assumed)" if placed else "")
    parts = [f"view {index // result.heatmaps.shape[1] + 1}"] if result.num_views > 1 else []
    parts.append(f"source frame {source}")
    times = result.times()
    if times is not None:
        parts.append(f"{times[index]:.2f} s")
    return " · ".join(parts)


def result_overlays(result: ExplainResult, alpha: float = 0.5, colormap: str = "viridis",
                    select: slice = slice(None)) -> np.ndarray | None:
    """A result's blended frames uint8 ``[V*T, H, W, 3]`` (those of ``select`` only; None without frames)."""
    frames = result.flat_frames()
    if frames is None:
        return None
    return overlay(frames[select], result.flat_heatmaps()[select], alpha=alpha, colormap=colormap)


def display_overlays(result: ExplainResult, alpha: float = 0.5, colormap: str = "viridis",
                     select: slice = slice(None)) -> np.ndarray | None:
    """:func:`result_overlays` resized to the result's :func:`display_size` (what videos and images show)."""
    blended = result_overlays(result, alpha, colormap, select)
    size = display_size(result)
    if blended is None or size == blended.shape[1:3][::-1]:
        return blended
    return resize_frames(blended, size)
