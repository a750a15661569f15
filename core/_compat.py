"""Absorb the packaging defects of the mmaction2 1.2.0 wheel before mmaction is imported.

* ``mmaction/models/localizers/drn`` is missing from the wheel (upstream issue 2714), so
  ``import mmaction.models`` fails. We register an empty stand-in package whose ``DRN``
  raises a clear error if anyone actually builds it.
* ``mmaction.utils.dependency`` imports ``importlib_metadata`` without declaring it; the
  standard library's ``importlib.metadata`` offers the same names.

Import this module (``core`` does it first) before anything from ``mmaction``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import sys
import types
import warnings


def _ensure_importlib_metadata() -> None:
    if importlib.util.find_spec("importlib_metadata") is None:
        sys.modules.setdefault("importlib_metadata", importlib.metadata)


class DRN:  # pragma: no cover - only reached if a config asks for the localizer
    """Placeholder for the temporal grounding model the mmaction2 1.2.0 wheel omits."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("DRN is missing from the mmaction2 1.2.0 wheel; it is not a recognizer "
                           "and cannot be explained here.")


def _ensure_drn() -> None:
    spec = importlib.util.find_spec("mmaction")
    if spec is None or not spec.submodule_search_locations:
        return
    name = "mmaction.models.localizers.drn"
    if name in sys.modules:
        return
    localizers = importlib.machinery.PathFinder.find_spec(
        "localizers", [p + "/models" for p in spec.submodule_search_locations])
    if localizers is None or not localizers.submodule_search_locations:
        return
    if importlib.machinery.PathFinder.find_spec("drn", localizers.submodule_search_locations):
        return  # a fixed wheel ships the real package
    package = types.ModuleType(name)
    package.__path__ = []
    module = types.ModuleType(name + ".drn")
    module.__dict__["DRN"] = DRN  # setattr on a fresh ModuleType, spelled so a type checker accepts it
    package.__dict__["drn"] = module
    sys.modules[name] = package
    sys.modules[name + ".drn"] = module


def apply() -> None:
    """Make ``import mmaction.models`` work on the mmaction2 1.2.0 wheel (idempotent)."""
    _ensure_importlib_metadata()
    _ensure_drn()
    # mmcv-lite has no compiled ops; recognizers never use deformable attention.
    warnings.filterwarnings("ignore", message=".*MultiScaleDeformableAttention.*")


apply()
