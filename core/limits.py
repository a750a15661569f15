"""Memory limits for arrays read from files that come from anywhere (npz beside a heatmap txt, uploads,
videos, gaze images).

A file declares its arrays' shapes before their data; a reader that trusts the declaration allocates what
it says (a 1.5 MB npz can declare gigabytes, a 1.2 MB video 8000 x 8000 frames, a 400 KB PNG 17000 x 24000
pixels). Readers check the declared size first, against what the file can plausibly hold and against an
absolute cap, ``MMCAM_MAX_ARRAY_BYTES`` (bytes; default 1 GiB); a text file that is parsed whole into an
array (a heatmap txt) is held to the same cap. One image or video frame may hold at most Pillow's
decompression-bomb limit of pixels (``PIL.Image.MAX_IMAGE_PIXELS``, 89.5 million: 2.5 times 8K UHD), read
from the file's header before anything is decoded (:func:`check_image`, :func:`check_video`).

The cache folder (``$MMCAM_CACHE``, where generated files such as the demo clip live) is set here too, beside
the other settings read from the environment.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from core.errors import CamError, first_line

MAX_ARRAY_BYTES_ENV = "MMCAM_MAX_ARRAY_BYTES"
DEFAULT_MAX_ARRAY_BYTES = 2**30  # 1 GiB: five times the heatmaps of 30 views x 32 frames at 224 x 224
DEFLATE_MAX_RATIO = 1032  # the most zlib's deflate can expand: 258 bytes from each 2-bit code, 1032:1


def bytes_from_env(name: str, default: int) -> int:
    """A byte count set in the environment variable ``name`` (``2e9`` or ``2000000000``), else ``default``."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(float(text))
    except (ValueError, OverflowError):  # not chained: "could not convert string to float" adds nothing
        raise CamError(f"{name}={text!r} is not a number of bytes; set it like 2e9 or unset it.") from None
    if value <= 0:
        raise CamError(f"{name}={text!r} must be a positive number of bytes; set it like 2e9 or unset it.")
    return value


def max_array_bytes() -> int:
    """The absolute cap on one array read from a file (``MMCAM_MAX_ARRAY_BYTES``, default 1 GiB)."""
    return bytes_from_env(MAX_ARRAY_BYTES_ENV, DEFAULT_MAX_ARRAY_BYTES)


def check_declared(nbytes: int, plausible: int, what: str) -> None:
    """A CamError when an array that declares ``nbytes`` is larger than the ``plausible`` bytes its file can
    hold, or than :func:`max_array_bytes`; ``what`` names the array in the sentence."""
    if nbytes > plausible:
        raise CamError(f"{what} declares {_size(nbytes)} but its file can hold at most {_size(plausible)}; "
                       "the file is damaged or crafted.")
    limit = max_array_bytes()
    if nbytes > limit:
        raise CamError(f"{what} declares {_size(nbytes)}, more than the {_size(limit)} allowed; raise "
                       f"{MAX_ARRAY_BYTES_ENV} to read it.")


def check_file_size(path: str | os.PathLike, what: str) -> None:
    """A CamError when a file whose whole content becomes one array (a heatmap txt) is larger than the cap."""
    size, limit = os.stat(path).st_size, max_array_bytes()
    if size > limit:
        raise CamError(f"{what} {path} is {_size(size)}, more than the {_size(limit)} allowed; raise "
                       f"{MAX_ARRAY_BYTES_ENV} to read it.")


def max_pixels() -> int:
    """The most pixels one image or video frame may declare: Pillow's decompression-bomb limit."""
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or 2**31)


def check_pixels(width: int, height: int, what: str) -> None:
    """A CamError when one image or frame declares more pixels than :func:`max_pixels`."""
    if width <= 0 or height <= 0:
        raise CamError(f"{what} declares a frame of {width} x {height} pixels; the file is damaged.")
    if width * height > max_pixels():
        raise CamError(f"{what} declares frames of {width} x {height} pixels, more than the {max_pixels():,} "
                       "one frame may have (Pillow's decompression-bomb limit); scale it down first.")


def check_image(path: str | os.PathLike, what: str = "Image") -> tuple[int, int]:
    """(width, height) an image file's header declares, read before anything is decoded; a CamError when it
    is more than :func:`max_pixels` or when the header is not that of an image Pillow knows."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below, in one sentence
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        width, height = max_pixels() + 1, 1  # (Pillow refuses to tell: over twice the limit)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise CamError(f"{what} {path} is not a readable image ({first_line(err)}).") from err
    check_pixels(width, height, f"{what} {path}")
    return width, height


@dataclass(frozen=True)
class VideoHeader:
    """What a video file's header declares: frame size and (when the container says) frame count."""

    width: int
    height: int
    frames: int | None

    @property
    def frame_bytes(self) -> int:
        """Bytes of one decoded RGB frame."""
        return self.width * self.height * 3


def check_video(path: str | os.PathLike, what: str = "Video") -> VideoHeader:
    """The frame size a video file declares, read from its header (PyAV opens it and decodes at most the
    first frame to learn its parameters); a CamError when a frame is more than :func:`max_pixels`."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise CamError(f"{what} {path} holds no video stream; is it a video file?")
            stream = container.streams.video[0]
            width, height, frames = stream.codec_context.width, stream.codec_context.height, stream.frames
    except av.FFmpegError as err:
        raise CamError(f"{what} {path} could not be decoded ({first_line(err)}); is it a video file?") from err
    check_pixels(width, height, f"{what} {Path(path).name}")
    return VideoHeader(width, height, frames or None)


def check_decoded(count: int, frame_bytes: int, what: str) -> None:
    """A CamError when ``count`` decoded frames of ``frame_bytes`` each would exceed :func:`max_array_bytes`."""
    nbytes, limit = count * frame_bytes, max_array_bytes()
    if nbytes > limit:
        raise CamError(f"{what} would take {_size(nbytes)} decoded ({count} frames), more than the {_size(limit)} "
                       f"allowed; ask for fewer frames, scale the video down, or raise {MAX_ARRAY_BYTES_ENV}.")


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def cache_dir() -> Path:
    """Where generated files live: ``$MMCAM_CACHE``, else ``~/.cache/mmaction-cam``."""
    return Path(os.environ.get("MMCAM_CACHE") or Path.home() / ".cache" / "mmaction-cam")
