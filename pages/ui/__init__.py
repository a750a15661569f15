"""Streamlit widgets shared by the explorer's pages: pickers, cached calls into ``core``, the result viewer.

Pages import from here (``from pages.ui import viewer``); all computing happens in ``core``.
"""
