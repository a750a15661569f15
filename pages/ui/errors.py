"""Turn errors into one readable ``st.error`` so the app stays usable."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import streamlit as st

from core.access import TRUST_ENV, TrustRequired, operator_trusts_checkpoints, take_notes
from core.errors import CamError, describe_error
from pages.ui.text import TRUST_LABEL, for_page

log = logging.getLogger("mmaction_cam.app")


class shown_as_error:  # (used like a function: ``with shown_as_error() as box:``)
    """Context manager: a ``CamError`` becomes its sentence in ``st.error``; any other exception
    becomes one line too (its traceback goes to the terminal's log, never to the page). What ``core``
    left out inside the block (:func:`core.access.take_notes`) is shown as captions.

    ``box.failed`` tells the caller whether the block was cut short, ``box.message`` what was shown.
    ``controls`` maps command-line flags the sentence may name to the page's own controls
    (:func:`pages.ui.text.for_page`).
    """

    def __init__(self, container: Any = None, prefix: str = "", controls: Mapping[str, str] | None = None) -> None:
        self.container, self.prefix, self.failed, self.message = container, prefix, False, ""
        self.controls = controls

    def __enter__(self) -> shown_as_error:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 _traceback: TracebackType | None) -> bool:
        target = self.container or st
        for sentence in take_notes():  # what core left out (a listed path outside the roots, a bad entry)
            target.caption(for_page(sentence, self.controls))
        if error is None or not isinstance(error, Exception):  # Streamlit's stop/rerun pass through
            return False
        self.failed = True
        if isinstance(error, CamError):
            self.message = self.prefix + page_message(error, self.controls)
        else:
            log.error("unexpected error", exc_info=error)
            self.message = f"{self.prefix}Unexpected {describe_error(error)} (details in the terminal)."
        target.error(self.message, icon=":material/error:")
        return True


def page_message(error: CamError, controls: Mapping[str, str] | None = None) -> str:
    """An error's sentence as a page says it: a file refused for want of trust gets the page's advice
    (the tick in the sidebar, or the operator's variable), not the command line's flag; other flags are
    named by the page's ``controls`` (:func:`pages.ui.text.for_page`), and Markdown's ``*`` is escaped."""
    if not isinstance(error, TrustRequired):
        return for_page(str(error), controls)
    if operator_trusts_checkpoints():
        return for_page(f"{error.reason}; if you made it yourself, tick “{TRUST_LABEL}” under “Class names, "
                        "device, trust” in the sidebar.")
    return for_page(f"{error.reason}; whoever starts this server can allow such files with {TRUST_ENV}=1 "
                    "(only for files they made).")
