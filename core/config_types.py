"""A config's ``type`` is a name, never an import.

MMEngine's ``Registry.get`` imports any dotted ``type`` it does not know (``os.system`` is a function it can
call), so a JSON config, a ``--cfg-options test_pipeline.5.type=...`` or a results folder's stored options
would run code while the model or pipeline is built. Before anything is built, after cfg-options are merged,
:func:`check_types` walks the config: every string ``type`` must name something registered in the
registries of MMAction2 and the packages it builds on (mmengine, mmcv, and mmdet/mmpretrain when installed),
plus what the config's own custom_imports registered (refused earlier unless trusted); an optional
``scope.`` prefix (``mmdet.ResNet``, and the older ``mmcls.``) of those packages is allowed (at most that
package is imported). Some ``type``
keys are plain parameters a class reads itself (``consensus.type='AvgConsensus'``,
``slow_pathway.type='resnet3d'``): a single word that names no importable module is accepted too, since no
registry lookup can turn it into an import; and ``model.backbone.type`` may name a torchvision, timm or
mmpretrain model, which MMAction2's recognizers look up by name in that library. A type given as a class
(a ``.py`` config's own import: that file already ran as code) is left alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

from mmengine.registry import Registry

from core.errors import CamError

SCOPES = ("mmaction", "mmengine", "mmcv", "mmdet", "mmpretrain")
LEGACY_SCOPES = ("mmcls",)  # mmpretrain's former name, in MMAction2's own configs
# MMAction2's recognizers build these backbones themselves, by name inside the library (never an import)
BACKBONE_LIBRARIES = ("torchvision.", "timm.", "mmcls.", "mmpretrain.")


def _registries() -> Iterator[Registry]:
    """Every registry of the allowed packages that are imported, with their children, modules imported."""
    seen: set[int] = set()
    pending: list[Registry] = []
    for scope in SCOPES:
        if scope not in ("mmaction", "mmengine") and scope not in sys.modules:
            continue  # an optional package nothing imported has registered nothing a config could use
        try:
            module = importlib.import_module(f"{scope}.registry")
        except ImportError:
            continue
        pending += [value for value in vars(module).values() if isinstance(value, Registry)]
    while pending:
        registry = pending.pop()
        if id(registry) in seen:
            continue
        seen.add(id(registry))
        try:
            registry.import_from_location()  # MMAction2 registers its parts when its modules are imported
        except Exception:  # (an optional part that cannot import registers nothing)
            pass
        pending += list(registry._children.values())
        if registry.parent is not None:
            pending.append(registry.parent)
        yield registry


def registered_names() -> frozenset[str]:
    """The names a config's ``type`` may take now (the registries fill as packages are imported)."""
    return frozenset(name for registry in _registries() for name in registry.module_dict)


def _types(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "type":
                yield where, value
            else:
                yield from _types(value, where)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _types(value, f"{path}.{i}" if path else str(i))


def check_types(cfg: Any, source: str) -> None:
    """Refuse (one sentence naming the key path and the type) any string ``type`` of ``cfg`` that is not a
    registered name, so that building never imports a module the config names."""
    config = cfg.to_dict() if hasattr(cfg, "to_dict") else cfg
    names: frozenset[str] | None = None
    for where, value in _types(config, ""):
        if not isinstance(value, str):
            continue
        if names is None:
            names = registered_names()
        scope, _, bare = value.rpartition(".")
        if (not scope and bare in names) or (scope in SCOPES + LEGACY_SCOPES and bare.isidentifier()):
            continue  # a registered name, or a name in an allowed package's scope (at most that package imports)
        if where == "model.backbone.type" and value.startswith(BACKBONE_LIBRARIES):
            continue
        if not scope and value.isidentifier() and importlib.util.find_spec(value) is None:
            continue  # a parameter word (no module of that name exists to import)
        raise CamError(f"Config {source} sets {where} to {value!r}, which is not a registered MMAction2 type "
                       "(a config's type is a name, never an import); use the name of a registered class.")
