"""Tables whose text columns show every value whole: a column of names is as wide as its longest value (up
to a cap), so long video names are not cut short, and a cut value is read whole by double-clicking its cell."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

CHAR_PX = 8  # about one character of the table font, in pixels
FULL_VALUE = "double-click a cell to read a value cut short"


def text_width(values: Iterable, floor: int = 80, cap: int = 640) -> int:
    """Pixels that show the longest of ``values`` whole (between ``floor`` and ``cap``)."""
    longest = max((len(str(v)) for v in values if v is not None), default=0)
    return max(floor, min(cap, CHAR_PX * longest + 24))


def text_column(label: str, values: Iterable, help: str | None = None, *, pinned: bool = False,
                cap: int = 640) -> Any:
    """A text column as wide as its longest value (up to ``cap`` pixels); its help says how to read a value
    cut short."""
    values = list(values)
    tip = f"{help}; {FULL_VALUE}" if help else FULL_VALUE.capitalize()
    return st.column_config.TextColumn(label, width=text_width([label, *values], cap=cap), pinned=pinned, help=tip)
