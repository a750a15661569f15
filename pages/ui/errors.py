"""Turn errors into one readable ``st.error`` so the app stays usable."""

from __future__ import annotations

import logging

import streamlit as st

from core.errors import CamError, describe_error

log = logging.getLogger("mmaction_cam.app")


class shown_as_error:  # noqa: N801  (used like a function: ``with shown_as_error() as box:``)
    """Context manager: a ``CamError`` becomes its sentence in ``st.error``; any other exception
    becomes one line too (its traceback goes to the terminal's log, never to the page).

    ``box.failed`` tells the caller whether the block was cut short.
    """

    def __init__(self, container=None, prefix: str = "") -> None:
        self.container, self.prefix, self.failed = container, prefix, False

    def __enter__(self) -> shown_as_error:
        return self

    def __exit__(self, kind, error, _traceback) -> bool:
        if error is None or not isinstance(error, Exception):  # Streamlit's stop/rerun pass through
            return False
        self.failed = True
        target = self.container or st
        if isinstance(error, CamError):
            target.error(self.prefix + str(error), icon=":material/error:")
        else:
            log.error("unexpected error", exc_info=(kind, error, _traceback))
            target.error(f"{self.prefix}Unexpected {describe_error(error)} (details in the terminal).",
                         icon=":material/error:")
        return True
