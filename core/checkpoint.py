"""Safe checkpoint loading: ``torch.save``'s formats read by :mod:`core.unpickle`, never by a full unpickle.

MMEngine's runner saves ``meta`` with numpy scalars and a ``message_hub`` of ``HistoryBuffer`` objects; on
torch>=2.6 MMEngine's own loader refuses them, and torch's ``weights_only`` loader, given them as safe globals,
calls their methods with whatever the file says. :func:`core.unpickle.read_torch_file` reads them as plain
data instead (a ``HistoryBuffer`` becomes the dict of its state). A file naming anything else is refused with
a sentence naming it, unless the caller explicitly trusts the file.
"""

from __future__ import annotations

import collections
import pickle
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from core import access
from core.errors import CamError, first_line
from core.unpickle import CHECKPOINT, Budget, DumpUnpickler, ForeignGlobal, Kind, read_torch_file


def numpy_core() -> ModuleType:
    """numpy's core package, whose names pickles refer to: ``numpy._core`` from numpy 2, ``numpy.core`` in
    numpy 1.x (where ``numpy._core`` is only a stub, so ``hasattr(np, "_core")`` cannot tell them apart)."""
    if int(np.__version__.split(".")[0]) >= 2:
        import numpy._core.multiarray
        import numpy._core.numeric  # noqa: F401  (submodules as attributes)

        return np._core
    return np.core


def _not_a_checkpoint(path: Path, data: bytes) -> str:
    """Why ``path`` (neither of torch's formats) is no checkpoint: a test dump, another pickle, or no pickle."""
    try:
        content = DumpUnpickler(data, Budget(CHECKPOINT, len(data))).load()
    except ForeignGlobal:
        content = None  # a pickle of objects
    except Exception:  # (garbage, truncated: not a pickle at all)
        return f"{path} could not be read as a PyTorch checkpoint (it is no torch.save file)"
    if isinstance(content, list) and content:
        return (f"{path} is a test results pickle (what tools/test.py --dump writes), not a checkpoint; open it as "
                "test results (the Test results page, or python -m core.dumps) and pass the model's .pth file here")
    return (f"{path} is a pickle but not a PyTorch checkpoint (torch.save writes a zip archive); "
            "pass the .pth file MMEngine saved for the model")


def read_checkpoint(path: str | Path, *, trust_checkpoint: bool = False) -> dict:
    """Load a checkpoint file onto the CPU as plain data (:func:`core.unpickle.read_torch_file`).

    ``trust_checkpoint=True`` falls back to a full unpickle when the file names a class or function outside
    the allow-list, which can run arbitrary code: only for files you made yourself. A file that is no
    checkpoint (a test dump, another pickle) is refused either way, with what it is; a crafted one too.
    """
    path = access.check(path, "Checkpoint")
    if not path.is_file():
        raise CamError(f"Checkpoint {path} does not exist; pass the path of a .pth file.")
    size = path.stat().st_size
    if size == 0:
        raise CamError(f"Checkpoint {path} is empty; pass a checkpoint saved by MMAction2 or torch.save.")
    kind = Kind(f"checkpoint {path}", CHECKPOINT.plural)
    try:
        ckpt = read_torch_file(path, Budget(kind, size))
    except ForeignGlobal as err:
        if not access.trusted(trust_checkpoint):  # a server honours only its operator's trust
            raise access.TrustRequired(
                f"Checkpoint {path} was refused: it needs `{err.name}`, which plain weights never hold "
                "(it could run code)") from err
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except CamError as err:
        raise CamError(f"{str(err)[0].upper()}{str(err)[1:]}.") from err
    except RecursionError:  # not chained: its traceback is thousands of frames
        raise CamError(f"Checkpoint {path} nests deeper than any checkpoint (a damaged or crafted file).") from None
    except pickle.UnpicklingError as err:
        if str(err) == "not a torch.save file":
            raise CamError(f"Checkpoint {_not_a_checkpoint(path, path.read_bytes())}.") from err
        raise CamError(f"Checkpoint {path} could not be read as a PyTorch checkpoint ({first_line(err)}).") from err
    except MemoryError:  # a cap failed to foresee it: a bug to report, not a damaged file
        raise
    except Exception as err:  # truncated or damaged: EOFError, struct.error, KeyError, BadZipFile...
        raise CamError(f"Checkpoint {path} could not be read as a PyTorch checkpoint "
                       f"({type(err).__name__}: {first_line(err)}).") from err
    if not isinstance(ckpt, Mapping):
        raise CamError(f"Checkpoint {path} holds a {type(ckpt).__name__}, not a state dict.")
    return dict(ckpt)


def with_history_buffers(ckpt: dict) -> dict:
    """``ckpt`` with its message hub's scalar histories as MMEngine's ``HistoryBuffer`` objects again (what a
    runner resuming from it restores; it skips anything else). The safe loader leaves each as the plain dict of
    its state; this builds them through ``HistoryBuffer``'s own constructor from checked arrays, after loading."""
    hub = ckpt.get("message_hub")
    scalars = hub.get("log_scalars") if isinstance(hub, Mapping) else None
    if not isinstance(hub, Mapping) or not isinstance(scalars, Mapping):
        return ckpt
    histories = collections.OrderedDict((key, _history_buffer(value)) for key, value in scalars.items())
    return {**ckpt, "message_hub": {**hub, "log_scalars": histories}}


def _history_buffer(state: object) -> object:
    if not isinstance(state, dict) or set(state) != {"max_length", "_log_history", "_count_history"}:
        return state
    log, count, length = state["_log_history"], state["_count_history"], state["max_length"]
    if not (type(length) is int and length > 0 and isinstance(log, np.ndarray) and isinstance(count, np.ndarray)
            and log.ndim == count.ndim == 1 and len(log) == len(count) <= length
            and log.dtype.kind in "iuf" and count.dtype.kind in "iu"):
        return state
    return HistoryBuffer(log, count, length)


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
