"""Streamlit pages of the explorer (``streamlit run explorer.py`` lists each ``pages/*.py`` file).

Shared widgets live in the ``pages.ui`` subpackage: Streamlit lists only ``pages/*.py`` (not this
``__init__.py``, not subfolders), so the helpers never show up as pages.
"""
