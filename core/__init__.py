"""Grad-CAM for MMAction2 video models: load, explain, overlay, export (UI-free)."""

from core import _compat  # noqa: F401  (must run before anything imports mmaction)
