"""Safe checkpoint loading: ``torch.load(weights_only=True)`` with an allow-list of harmless types.

MMEngine's runner saves ``meta`` with numpy scalars and a ``message_hub`` of ``HistoryBuffer``
objects; on torch>=2.6 MMEngine's own loader refuses them. We allow exactly those types and refuse
anything else with a sentence naming it, unless the caller explicitly trusts the file.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from core import access
from core.errors import CamError, first_line


def _history_getattr(owner: object, name: str) -> object:
    """The only ``getattr`` runner checkpoints need: a HistoryBuffer's statistics methods
    (``message_hub`` pickles ``getattr(HistoryBuffer, 'min')``). Anything else is refused."""
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = {"min", "max", "mean", "current", *HistoryBuffer._statistics_methods}
    if (owner is HistoryBuffer or isinstance(owner, HistoryBuffer)) and name in allowed:
        return getattr(owner, name)
    raise pickle.UnpicklingError(f"Unsupported global: GLOBAL builtins.getattr on {type(owner).__name__}.{name}")


def numpy_core() -> ModuleType:
    """numpy's core package, whose names pickles refer to: ``numpy._core`` from numpy 2, ``numpy.core`` in
    numpy 1.x (where ``numpy._core`` is only a stub, so ``hasattr(np, "_core")`` cannot tell them apart)."""
    if int(np.__version__.split(".")[0]) >= 2:
        import numpy._core.multiarray
        import numpy._core.numeric  # noqa: F401  (submodules as attributes)

        return np._core
    return np.core


def _safe_globals() -> list:
    """Types that MMEngine runner checkpoints hold and that cannot run code when rebuilt."""
    from collections import Counter

    from mmengine.logging.history_buffer import HistoryBuffer

    multiarray = numpy_core().multiarray
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return [multiarray.scalar, multiarray._reconstruct, np.ndarray, np.dtype, HistoryBuffer, Counter, *dtypes,
            (_history_getattr, "builtins.getattr"), (_history_getattr, "__builtin__.getattr")]


class _ObjectsInside(pickle.UnpicklingError):
    """The pickle names a class or function (it is not plain data)."""


class _NoGlobals(pickle.Unpickler):
    """Reads a pickle that may hold no object but plain data (no class, no function is ever looked up)."""

    def find_class(self, module: str, name: str) -> Any:
        raise _ObjectsInside(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise _ObjectsInside("persistent id")


def _not_a_checkpoint(path: Path) -> str | None:
    """Why ``path`` is a pickle but no PyTorch checkpoint (a test dump, another pickle), so that trusting it
    would not help; None when it is a checkpoint container (``torch.save``'s zip, or the legacy format that
    starts with torch's magic number) or no pickle at all."""
    if zipfile.is_zipfile(path):
        return None
    try:
        with path.open("rb") as file:
            if _NoGlobals(file).load() == torch.serialization.MAGIC_NUMBER:
                return None
    except _ObjectsInside:
        pass  # a pickle of objects: torch's formats start with a plain number
    except Exception:  # noqa: BLE001  (garbage, truncated: not a pickle; the caller says it cannot be read)
        return None
    from core.dumps import load_dump

    try:
        load_dump(path)
    except CamError:
        return (f"{path} is a pickle but not a PyTorch checkpoint (torch.save writes a zip archive); "
                "pass the .pth file MMEngine saved for the model")
    return (f"{path} is a test results pickle (what tools/test.py --dump writes), not a checkpoint; open it as "
            "test results (the Test results page, or python -m core.dumps) and pass the model's .pth file here")


def _unpickler_reason(err: Exception) -> str:
    """What torch's weights-only unpickler objected to (not its advice to unpickle the file in full)."""
    found = re.search(r"WeightsUnpickler error:\s*(\S.*)", str(err))
    return found.group(1).strip() if found else first_line(err)


def read_checkpoint(path: str | Path, *, trust_checkpoint: bool = False) -> dict:
    """Load a checkpoint file onto the CPU, refusing types outside the allow-list.

    ``trust_checkpoint=True`` falls back to a full unpickle, which can run arbitrary code: only
    for files you made yourself. A file that is no checkpoint (a test dump, another pickle) is refused
    either way, with what it is.
    """
    path = access.check(path, "Checkpoint")
    if not path.is_file():
        raise CamError(f"Checkpoint {path} does not exist; pass the path of a .pth file.")
    if path.stat().st_size == 0:
        raise CamError(f"Checkpoint {path} is empty; pass a checkpoint saved by MMAction2 or torch.save.")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if (why := _not_a_checkpoint(path)) is not None:
            raise CamError(f"Checkpoint {why}.") from None
        found = re.search(r"GLOBAL ([\w.]+(?: on [\w.]+)?)", str(err))
        if found is None:
            raise CamError(f"Checkpoint {path} could not be read as a PyTorch checkpoint "
                           f"({_unpickler_reason(err)}).") from None
        if not access.trusted(trust_checkpoint):  # a server honours only its operator's trust
            raise access.TrustRequired(
                f"Checkpoint {path} was refused: it needs `{found.group(1)}`, which plain weights never hold "
                "(it could run code)") from None
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        if (why := _not_a_checkpoint(path)) is not None:
            raise CamError(f"Checkpoint {why}.") from None
        raise CamError(f"Checkpoint {path} could not be read as a PyTorch checkpoint ({first_line(err)}).") from None
    if not isinstance(ckpt, Mapping):
        raise CamError(f"Checkpoint {path} holds a {type(ckpt).__name__}, not a state dict.")
    return dict(ckpt)


def state_dict_of(ckpt: Mapping) -> dict[str, torch.Tensor]:
    """The model weights in any checkpoint layout: runner (``state_dict``), ``model``, or bare."""
    state = ckpt
    for key in ("state_dict", "model"):
        if isinstance(ckpt.get(key), Mapping):
            state = ckpt[key]
            break
    weights = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not weights:
        raise CamError("The checkpoint holds no weight tensors; pass a checkpoint saved by MMAction2.")
    if all(k.startswith("module.") for k in weights):
        weights = {k[len("module."):]: v for k, v in weights.items()}
    return weights


def load_weights(model: torch.nn.Module, weights: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy ``weights`` into ``model``, failing with the keys that do not fit the config."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights and not k.endswith("num_batches_tracked")]
    mismatched = [
        f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in weights and weights[k].shape != v.shape
    ]
    if missing or mismatched:
        parts = []
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches (checkpoint vs config), e.g. "
                         + "; ".join(mismatched[:3]))
        if missing:
            parts.append(f"{len(missing)} weights missing, e.g. " + ", ".join(missing[:3]))
        raise CamError(f"Checkpoint {source} does not fit this config: " + " and ".join(parts)
                       + "; pass the config the checkpoint was trained with.")
    model.load_state_dict({k: v for k, v in weights.items() if k in own}, strict=False)


def classes_of(ckpt: Mapping) -> list[str] | None:
    """Class names stored by the runner in ``meta.dataset_meta.classes``, if any."""
    meta = ckpt.get("meta")
    dataset_meta = meta.get("dataset_meta") if isinstance(meta, Mapping) else None
    classes = dataset_meta.get("classes") if isinstance(dataset_meta, Mapping) else None
    return [str(c) for c in classes] if classes is not None else None
