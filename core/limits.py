"""Memory limits for arrays read from files that come from anywhere (npz beside a heatmap txt, uploads).

A file declares its arrays' shapes before their data; a reader that trusts the declaration allocates what
it says (a 1.5 MB npz can declare gigabytes). Readers check the declared size first, against what the file
can plausibly hold and against an absolute cap, ``MMCAM_MAX_ARRAY_BYTES`` (bytes; default 1 GiB); a text
file that is parsed whole into an array (a heatmap txt) is held to the same cap.

The cache folder (``$MMCAM_CACHE``, where generated files such as the demo clip live) is set here too, beside
the other settings read from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import CamError

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


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def cache_dir() -> Path:
    """Where generated files live: ``$MMCAM_CACHE``, else ``~/.cache/mmaction-cam``."""
    return Path(os.environ.get("MMCAM_CACHE") or Path.home() / ".cache" / "mmaction-cam")
