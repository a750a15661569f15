"""Keep decoders' native messages (FFmpeg's ``moov atom not found``, decord's ``ERROR opening: …``) off stderr.

They are printed by C and C++ code straight to file descriptor 2, so ``sys.stderr`` and ``logging``
cannot catch them, and ``decord.logging.set_level`` silences FFmpeg's lines but not decord's own, which
quotes the start of a broken file's bytes (newlines included), so no line filter can tell where it ends.
While any thread is inside :func:`native_messages_dropped`, descriptor 2 points at ``/dev/null``; when the
last one leaves, it points back. Anything else written to stderr in that window is dropped too, so only
quiet runs use it (``python -m core.batch --quiet``, the Batch page's background jobs); a video that fails
still becomes a ``failed`` row with its reason.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_saved: int | None = None  # the real stderr while it is redirected


def _flush() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()


def _enter() -> None:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _flush()
            try:
                saved = os.dup(2)
            except OSError:  # no stderr to protect
                saved = None
            if saved is not None:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 2)
                os.close(null)
            _saved = saved
        _depth += 1


def _leave() -> None:
    global _depth, _saved
    with _lock:
        _depth -= 1
        if _depth or _saved is None:
            return
        _flush()
        os.dup2(_saved, 2)
        os.close(_saved)
        _saved = None


@contextlib.contextmanager
def native_messages_dropped() -> Iterator[None]:
    """Send file descriptor 2 to ``/dev/null`` while inside (any thread; nests)."""
    _enter()
    try:
        yield
    finally:
        _leave()
