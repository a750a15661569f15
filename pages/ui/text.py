"""How a page words what ``core`` says: sentences written for the command line (``use --start-index``) name the
page's own control instead, and characters Markdown would eat (``best_*.pth`` shown as "best_.pth") are
escaped. Streamlit renders Markdown in ``st.info``, ``st.error``, captions and help texts alike.

Each page declares its controls once (``setup_page(..., controls=...)``); :func:`for_page` and
:class:`pages.ui.errors.shown_as_error` use them for everything the page shows of ``core``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar

from core.uploads import upload_root

TRUST_LABEL = "Trust this checkpoint and config"  # the sidebar tick (pickers) that error messages name (errors)
_LONE_STAR = re.compile(r"(?<![\\*])\*(?!\*)")  # a * that is not part of ** and not escaped yet
# The controls of the page this script run draws (a run happens in one thread, which a ContextVar follows).
_controls: ContextVar[Mapping[str, str] | None] = ContextVar("mmcam_page_controls", default=None)


def _constant(text: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that inserts ``text`` as it is (no group references, no escapes)."""
    return lambda _: text


def use_controls(controls: Mapping[str, str] | None) -> None:
    """Declare the page's controls for this script run: flag (``"--start-index"``, or with its value,
    ``"--region frame"``) → how a sentence names the control (:func:`control`)."""
    _controls.set(dict(controls or {}))


def control(label: str, where: str = "in the sidebar") -> str:
    """How a sentence names a page's control: ``“Density (optional)” in the sidebar``."""
    return f"“{label}” {where}".rstrip()


def escape_markdown(text: str) -> str:
    """``text`` with every lone ``*`` escaped, so that globs and products show as written."""
    return _LONE_STAR.sub(r"\\*", text)


def without_upload_folders(text: str) -> str:
    """``text`` with every path inside the uploads folder cut to its file name, and the folder itself named
    only as "the uploads folder": a visitor never learns where uploads are kept or a session's folder name."""
    root = upload_root()
    for spelled in dict.fromkeys((str(root), str(root.expanduser().resolve()))):
        text = re.sub(re.escape(spelled) + r"(?:[/\\][^/\\\s`'\"]+)*[/\\]", "", text)
        text = text.replace(spelled, "the uploads folder")
    return text


def for_page(text: str, controls: Mapping[str, str] | None = None) -> str:
    """A ``core`` sentence as a page shows it: paths in the uploads folder cut to their file name
    (:func:`without_upload_folders`), each command-line flag of ``controls`` (default: the page's,
    :func:`use_controls`; longest first) replaced by the page's control, and Markdown's ``*`` escaped."""
    text = without_upload_folders(text)
    mapping = (_controls.get() or {}) if controls is None else controls
    for flag in sorted(mapping, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", _constant(mapping[flag]), text)
    return escape_markdown(text)
