"""Test dumps: read the predictions MMAction2's ``tools/test.py`` writes, safely, and score them.

Two formats are understood:

* 1.x ``--dump``: a list with one dict per test sample (``pred_score`` tensor over classes,
  ``pred_label``, ``gt_label`` and a few meta keys such as ``img_shape``, ``num_classes``).
* 0.x ``--out``: a list of score arrays; the labels then come from the annotation file.

A dump holds no file names (``PackActionInputs`` drops them): sample ``i`` is line ``i`` of the
test annotation file, which this module reads to name the videos.

Users share these pickles, so they are never given to ``pickle.load``: :class:`DumpUnpickler`
allows only the globals real dumps contain, and replaces ``torch.storage._load_from_bytes``
(which calls ``torch.load(weights_only=False)`` on bytes from the file) with a
``weights_only=True`` load.

Metrics match what MMAction2's ``AccMetric`` prints (``acc/top1``, ``acc/top5``, ``acc/mean1``),
including ``mean_class_accuracy``'s quirk: it averages over the classes found in the ground truth
*or* the predictions, a class that is only predicted counting 0. The mean over ground-truth
classes alone is reported beside it as ``mean_class_accuracy_gt``.

Scores: dumps made with ``average_clips='prob'`` (the usual test setting) already hold
probabilities (the mean of the clips' softmaxes); dumps made with ``'score'`` hold averaged raw
scores. A row that is non-negative and sums to 1 is taken as probabilities, anything else is
passed through a softmax before a sample's ``score`` (probability of its predicted class) is read.
"""

from __future__ import annotations

import argparse
import codecs
import collections
import io
import json
import os
import pickle
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch._utils

from core import access
from core.annotations import read_list
from core.errors import CamError, first_line, run_command
from core.export import write_json
from core.limits import bytes_from_env
from core.model import config_classes, read_label_map, test_dataset
from core.outputs import atomic_path
from core.target import GROUND_TRUTH, Target, parse_target

DUMP_LIMIT_ENV = "MMCAM_DUMP_MAX_BYTES"
DEFAULT_DUMP_LIMIT = 4 << 30  # bytes of array and tensor data one dump may declare (absolute cap)
PLAUSIBLE_FACTOR = 4  # a file holds its arrays' bytes itself: the data it declares may reach 4x its size
PLAUSIBLE_SLACK = 1 << 16
CONFUSION_LIMIT = 256 << 20  # bytes of a dense confusion matrix (5,792 classes)


def _refuse(name: str) -> CamError:
    return CamError(f"refused to read the dump: it asks for the global `{name}`, which MMAction2 "
                    "test dumps never contain (a tampered or foreign pickle?)")


def _refuse_op(what: str) -> CamError:
    return CamError(f"refused to read the dump: it {what}, which MMAction2 test dumps never do "
                    "(a tampered or foreign pickle?)")


def _size(nbytes: float) -> str:
    """``1.4 GB``-style byte counts for messages (powers of 1024, as free/top print them)."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError  # pragma: no cover


def dump_limit() -> int:
    """The absolute cap on the array data a dump may declare: ``$MMCAM_DUMP_MAX_BYTES``, else 4 GiB."""
    return bytes_from_env(DUMP_LIMIT_ENV, DEFAULT_DUMP_LIMIT)


class _Budget:
    """The bytes of array and tensor data one load may declare, counted before anything is allocated.

    The data of every tensor and array in a pickle is stored in the file itself, so a genuine dump never
    declares much more than its own size; the absolute cap protects the machine from huge genuine ones.
    """

    def __init__(self, file_size: int, limit: int) -> None:
        self.file_size, self.limit, self.used = file_size, limit, 0
        self.plausible = PLAUSIBLE_FACTOR * file_size + PLAUSIBLE_SLACK

    def charge(self, nbytes: int, what: str) -> None:
        self.used += nbytes
        if self.used > self.plausible:
            raise CamError(f"refused to read the dump: it declares {what} of {_size(nbytes)}, more array data than "
                           f"a {_size(self.file_size)} file can hold (a damaged or crafted file)")
        if self.used > self.limit:
            raise CamError(f"the dump holds more than {_size(self.limit)} of array data ({what} of {_size(nbytes)}); "
                           f"set {DUMP_LIMIT_ENV} to a larger number of bytes to read it")


class _File(io.BytesIO):
    """The file's bytes: reads past the end return short data (nothing beyond the file is allocated), and a
    line cut by the end of the file is an error instead of a shorter name."""

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if not line.endswith(b"\n"):
            raise pickle.UnpicklingError("pickle data was truncated")
        return line


_LOAD = pickle._Unpickler  # the pure-Python unpickler: its opcodes can be overridden one by one


class _StrictUnpickler(pickle._Unpickler):
    """A pure-Python unpickler whose opcodes cannot reach objects they did not build in this load.

    * REDUCE calls only the callables :meth:`_callables` names (the allow-list), never a class given as data;
    * BUILD sets state only on an object an allowed call built in this load (``self._fresh``), once, and
      only through that type's own check (:meth:`_build`); attributes of functions, classes or shared
      objects can never be set;
    * SETITEM(S), APPEND(S), ADDITEMS only fill dicts, lists and sets (always built in this load);
    * object construction opcodes (NEWOBJ, OBJ, INST), extension codes, persistent ids and out-of-band
      buffers are refused;
    * nothing is read or allocated beyond the bytes the file holds.
    """

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(_LOAD.dispatch)
    # set by pickle._Unpickler (its stub does not declare them)
    stack: list[Any]
    append: Callable[[Any], None]
    read: Callable[[int], bytes]
    readinto: Callable[[Any], int]
    pop_mark: Callable[[], list[Any]]
    _unframer: Any

    def __init__(self, data: bytes, budget: _Budget) -> None:
        self._file = _File(data)
        super().__init__(self._file)
        self._budget = budget
        self._fresh: dict[int, Any] = {}  # id -> object built by an allowed call, awaiting its BUILD

    def _callables(self) -> tuple[Any, ...]:
        return ()

    def left(self) -> int:
        """Bytes of the file not read yet."""
        return len(self._file.getbuffer()) - self._file.tell()

    def find_class(self, module: str, name: str) -> Any:
        raise _refuse(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise _refuse("a persistent id")

    def _fresh_object(self, obj: Any) -> Any:
        self._fresh[id(obj)] = obj
        return obj

    def _build(self, inst: Any, state: Any) -> None:
        raise _refuse_op(f"sets the state of a {type(inst).__name__}")

    def _load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is allowed for allowed in self._callables()) or type(args) is not tuple:
            raise _refuse_op(f"calls {getattr(func, '__name__', type(func).__name__)}")
        self.stack[-1] = func(*args)

    def _load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if self._fresh.pop(id(inst), None) is not inst:
            what = getattr(inst, "__name__", None) or type(inst).__name__
            raise _refuse_op(f"sets attributes of `{what}`, an object it did not build")
        self._build(inst, state)

    def _load_setitem(self) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        self._container((dict, collections.OrderedDict), "sets items of")[key] = value

    def _load_setitems(self) -> None:
        items = self.pop_mark()
        target = self._container((dict, collections.OrderedDict), "sets items of")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _load_append(self) -> None:
        value = self.stack.pop()
        self._container((list,), "appends to").append(value)

    def _load_appends(self) -> None:
        items = self.pop_mark()
        self._container((list,), "appends to").extend(items)

    def _load_additems(self) -> None:
        items = self.pop_mark()
        self._container((set,), "adds to").update(items)

    def _container(self, kinds: tuple[type, ...], verb: str) -> Any:
        target = self.stack[-1]
        if type(target) not in kinds:
            raise _refuse_op(f"{verb} a {type(target).__name__}")
        return target

    def _load_bytearray8(self) -> None:
        (length,) = struct.unpack("<Q", self.read(8))
        frame = self._unframer.current_frame
        left = self.left() + (len(frame.getbuffer()) - frame.tell() if frame else 0)
        if length > left:
            raise pickle.UnpicklingError(f"the pickle declares {length} bytes where only {left} remain")
        buffer = bytearray(length)
        self.readinto(buffer)
        self.append(buffer)

    def _refused(what: str) -> Callable[[_StrictUnpickler], None]:  # type: ignore[misc]  # a factory for the class body
        def load(self: _StrictUnpickler) -> None:
            raise _refuse_op(what)
        return load

    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.APPEND[0]] = _load_append
    dispatch[pickle.APPENDS[0]] = _load_appends
    dispatch[pickle.ADDITEMS[0]] = _load_additems
    dispatch[pickle.BYTEARRAY8[0]] = _load_bytearray8
    for _opcode, _what in ((pickle.NEWOBJ, "constructs objects"), (pickle.NEWOBJ_EX, "constructs objects"),
                           (pickle.OBJ, "constructs objects"), (pickle.INST, "constructs objects"),
                           (pickle.EXT1, "uses extension codes"), (pickle.EXT2, "uses extension codes"),
                           (pickle.EXT4, "uses extension codes"), (pickle.NEXT_BUFFER, "uses out-of-band buffers"),
                           (pickle.READONLY_BUFFER, "uses out-of-band buffers")):
        dispatch[_opcode[0]] = _refused(_what)
    del _opcode, _what, _refused


def _plain_dtype(value: Any) -> np.dtype:
    """A numeric or bool numpy dtype (what score and label arrays hold); anything else is refused."""
    try:
        dtype = value if isinstance(value, np.dtype) else np.dtype(value)
    except (TypeError, ValueError) as err:
        raise _refuse_op(f"declares the array type {value!r}") from err
    if dtype.kind not in "biufc" or dtype.subdtype is not None or dtype.names is not None or dtype.itemsize > 16:
        raise _refuse_op(f"declares the array type {dtype}")
    return dtype


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if (not isinstance(value, (tuple, list)) or len(value) > 32
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)):
        raise CamError(f"the dump holds {what} with an invalid shape")
    return tuple(value)


def _elements(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=object)) if shape else 1


# torch's legacy storage classes, as the bytes of ``torch.storage._load_from_bytes`` name them
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128, "UntypedStorage": torch.uint8,
}


class _StorageBlob(_StrictUnpickler):
    """The bytes ``torch.storage._load_from_bytes`` receives: one storage in ``torch.save``'s legacy format
    (five pickles: magic number, protocol, system info, the storage as a persistent id, its key; then the
    element count and the raw data). Read here without ``torch.load``: the pickles admit no global but the
    storage classes, and the declared size is checked against the bytes that follow before any allocation."""

    def __init__(self, data: bytes, budget: _Budget) -> None:
        super().__init__(data, budget)
        self.declared: dict[str, tuple[torch.dtype, int]] = {}  # key -> (dtype, elements)

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise _refuse(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], torch.dtype) and isinstance(pid[2], str)
                and isinstance(pid[4], int) and not isinstance(pid[4], bool) and pid[4] >= 0):
            raise _refuse("a persistent id other than a tensor storage")
        if len(pid) == 6 and pid[5] is not None:
            raise _refuse_op("holds a storage view")
        if self.declared.setdefault(pid[2], (pid[1], pid[4])) != (pid[1], pid[4]):
            raise CamError("the dump holds a tensor storage declared twice with different sizes")
        return ("storage", pid[2])

    def storage(self) -> torch.storage.TypedStorage:
        magic, protocol, info, root, keys = (self.load() for _ in range(5))
        if (magic, protocol) != (torch.serialization.MAGIC_NUMBER, torch.serialization.PROTOCOL_VERSION):
            raise CamError("the tensor data inside the dump is not in torch's storage format")
        if not isinstance(info, dict) or info.get("little_endian") is not True:
            raise CamError("the dump holds tensor data saved on a big-endian machine, which is not supported")
        if not (isinstance(root, tuple) and keys == [root[1]] and root[1] in self.declared):
            raise _refuse_op("holds something other than one tensor storage where tensor data belongs")
        dtype, elements = self.declared[root[1]]
        nbytes = elements * torch._utils._element_size(dtype)
        if 8 + nbytes > self.left():
            raise CamError(f"refused to read the dump: a tensor storage declares {_size(nbytes)} but only "
                           f"{_size(max(self.left() - 8, 0))} of data follow (a damaged or crafted file)")
        (count,) = struct.unpack("<q", self._file.read(8))
        if count != elements:
            raise CamError("the tensor data inside the dump is damaged (its element count disagrees)")
        self._budget.charge(nbytes, "a tensor storage")
        raw = bytearray(self._file.read(nbytes))
        data = torch.frombuffer(raw, dtype=dtype) if nbytes else torch.empty(0, dtype=dtype)
        return torch.storage.TypedStorage(wrap_storage=data.untyped_storage(), dtype=dtype, _internal=True)


class DumpUnpickler(_StrictUnpickler):
    """Unpickler that admits only the globals MMAction2 test dumps hold; all else is refused.

    Tensors and arrays are rebuilt through checked stand-ins: their declared sizes are charged to a budget
    proportional to the file (and an absolute cap, :func:`dump_limit`) before anything is allocated.
    """

    # what each allowed global becomes (the method of this class that stands in for it)
    _ALLOWED: ClassVar[dict[tuple[str, str], str]] = {
        ("collections", "OrderedDict"): "_ordered_dict",
        ("_codecs", "encode"): "_encode",
        ("torch._utils", "_rebuild_tensor_v2"): "_rebuild_tensor",
        ("torch.storage", "_load_from_bytes"): "_load_storage",
        ("numpy", "ndarray"): "_ndarray",
        ("numpy", "dtype"): "_dtype",
        **{(f"{package}.multiarray", name): f"_{name.lstrip('_')}"
           for package in ("numpy.core", "numpy._core")  # numpy 1.x writes numpy.core, 2.x numpy._core
           for name in ("_reconstruct", "scalar")},
        ("numpy.core.numeric", "_frombuffer"): "_frombuffer",
        ("numpy._core.numeric", "_frombuffer"): "_frombuffer",
    }

    def __init__(self, file: Any, budget: _Budget | None = None) -> None:
        data = file if isinstance(file, bytes) else file.read()
        super().__init__(data, budget or _Budget(len(data), dump_limit()))
        # bound methods made for this load: nothing a pickle reaches is shared with another load
        self._globals = {key: getattr(self, attr) for key, attr in self._ALLOWED.items() if attr != "_ndarray"}
        self._globals[("numpy", "ndarray")] = np.ndarray  # only ever an argument of _reconstruct
        self._calls = tuple({id(f): f for f in self._globals.values() if f is not np.ndarray}.values())

    def _callables(self) -> tuple[Any, ...]:
        return self._calls

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._globals[(module, name)]
        except KeyError:
            raise _refuse(f"{module}.{name}") from None

    # -- the allowed globals, checked -------------------------------------------------------------

    def _ordered_dict(self, *args: Any) -> collections.OrderedDict:
        if args:
            raise _refuse_op("builds an OrderedDict from arguments")
        return collections.OrderedDict()

    def _encode(self, text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        """``_codecs.encode`` as protocol-2 pickles use it: bytes stored as latin-1 text."""
        try:
            latin1 = codecs.lookup(encoding).name == "iso8859-1"
        except (LookupError, TypeError):
            latin1 = False
        if not isinstance(text, str) or not latin1 or errors != "strict":
            raise _refuse(f"_codecs.encode with {encoding!r}")
        self._budget.charge(len(text), "a byte string")
        return codecs.encode(text, "latin-1")

    def _load_storage(self, data: Any) -> torch.storage.TypedStorage:
        """Safe stand-in for ``torch.storage._load_from_bytes`` (which runs ``torch.load(weights_only=False)``):
        plain tensor data only, its declared size checked against the bytes that hold it (:class:`_StorageBlob`)."""
        if not isinstance(data, bytes):
            raise _refuse("torch.storage._load_from_bytes on something other than bytes")
        try:
            return _StorageBlob(data, self._budget).storage()
        except CamError:
            raise
        except Exception as error:  # damaged bytes: EOFError, UnpicklingError, struct.error, ...
            raise CamError(f"the tensor data inside the dump is damaged ({error.__class__.__name__})") from error

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                        backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
        """``torch._utils._rebuild_tensor_v2`` after checking the view stays inside its storage; the view's
        declared size (shape x element size) is charged like any array's."""
        if not isinstance(storage, torch.storage.TypedStorage):
            raise _refuse(f"torch._utils._rebuild_tensor_v2 over {type(storage).__name__}")
        dims = _shape(size, "a tensor"), _shape(stride, "a tensor")
        if len(dims[0]) != len(dims[1]) or not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise CamError("the dump holds a tensor with an invalid shape, stride or offset")
        if backward_hooks:
            raise _refuse("a tensor with backward hooks")
        elements = storage._size()  # .size() warns that TypedStorage is deprecated
        itemsize = torch._utils._element_size(storage.dtype)
        if 0 not in dims[0]:
            last = offset + sum((n - 1) * s for n, s in zip(*dims, strict=True))
            if last >= elements:
                raise CamError("the dump holds a tensor that reaches past the end of its data")
        self._budget.charge(_elements(dims[0]) * itemsize, "a tensor")
        return torch._utils._rebuild_tensor_v2(storage, offset, dims[0], dims[1], bool(requires_grad),
                                               collections.OrderedDict())

    def _dtype(self, value: Any, align: Any = False, copy: Any = True) -> np.dtype:
        """``numpy.dtype(value, align, copy=True)``: always a new dtype object, which its BUILD may set."""
        dtype = _plain_dtype(value)
        return self._fresh_object(np.dtype(dtype, align=bool(align), copy=True))

    def _reconstruct(self, cls: Any, shape: Any, dtype: Any) -> np.ndarray:
        """``numpy._core.multiarray._reconstruct``: an ndarray whose BUILD then brings shape and data."""
        if cls is not np.ndarray:
            raise _refuse_op(f"reconstructs a {getattr(cls, '__name__', type(cls).__name__)}")
        plain = _plain_dtype(dtype.decode("latin-1") if isinstance(dtype, bytes) else dtype)
        dims = _shape(shape, "an array")
        self._budget.charge(_elements(dims) * plain.itemsize, "an array")
        return self._fresh_object(np.ndarray(dims, dtype=plain))

    def _scalar(self, dtype: Any, data: Any = None) -> np.generic:
        """``numpy._core.multiarray.scalar``: one number from its bytes."""
        plain = _plain_dtype(dtype)
        if not isinstance(data, bytes) or len(data) != plain.itemsize:
            raise CamError("the dump holds a damaged numpy scalar")
        return np.frombuffer(data, dtype=plain)[0].copy()

    def _frombuffer(self, buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        """``numpy._core.numeric._frombuffer`` (protocol 5 arrays): a view of bytes from the file."""
        plain = _plain_dtype(dtype)
        dims = _shape(shape, "an array")
        if not isinstance(buffer, (bytes, bytearray)) or len(buffer) != _elements(dims) * plain.itemsize:
            raise CamError("the dump holds an array whose data does not match its shape")
        if order not in ("C", "F"):
            raise CamError("the dump holds an array with an invalid memory order")
        self._budget.charge(len(buffer), "an array")
        return np.frombuffer(buffer, dtype=plain).reshape(dims, order=order)

    def _build(self, inst: Any, state: Any) -> None:
        """BUILD on a dtype or an array this load made: numpy's own ``__setstate__`` after checking the state."""
        if isinstance(inst, np.dtype):
            if not (isinstance(state, tuple) and len(state) in (8, 9) and state[2] is None and state[3] is None
                    and state[4] is None):
                raise _refuse_op("sets a structured or sub-array dtype")
            inst.__setstate__(state)  # type: ignore[attr-defined]
            _plain_dtype(inst)
            return
        if not isinstance(inst, np.ndarray):
            super()._build(inst, state)
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise CamError("the dump holds a damaged numpy array")
        shape, dtype, fortran, raw = state[-4:]
        dims, plain = _shape(shape, "an array"), _plain_dtype(dtype)
        if not isinstance(raw, bytes) or len(raw) != _elements(dims) * plain.itemsize or not isinstance(fortran, bool):
            raise CamError("the dump holds an array whose data does not match its shape")
        self._budget.charge(len(raw), "an array")
        inst.__setstate__((1, dims, plain, fortran, raw))


def load_dump(path: str | os.PathLike, *, max_bytes: int | None = None) -> list:
    """The list stored in a test dump, read with :class:`DumpUnpickler` (never ``pickle.load``).

    The arrays it declares may add up to 4x the file's size (what a file can hold) and at most
    ``max_bytes`` (default :func:`dump_limit`: ``$MMCAM_DUMP_MAX_BYTES`` or 4 GiB); more is refused
    with one sentence before anything is allocated.
    """
    path = access.check(path, "Results pickle")
    limit = dump_limit() if max_bytes is None else max_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise CamError(f"{path} is {_size(size)}, over the {_size(limit)} limit for dumps; set "
                           f"{DUMP_LIMIT_ENV} to a larger number of bytes to read it")
        data = DumpUnpickler(path.read_bytes(), _Budget(size, limit)).load()
    except CamError:
        raise
    except FileNotFoundError as err:
        raise CamError(f"{path} does not exist") from err
    except IsADirectoryError as err:
        raise CamError(f"{path} is a folder, not a results pickle") from err
    except RecursionError:  # not chained: its traceback is thousands of frames
        raise CamError(f"{path} nests deeper than any test dump (a damaged or crafted file)") from None
    except Exception as error:
        raise CamError(f"{path} is not a readable results pickle (truncated or not a pickle: "
                       f"{error.__class__.__name__}: {first_line(error)})") from error
    if not isinstance(data, list) or not data:
        what = "an empty list" if isinstance(data, list) else type(data).__name__
        raise CamError(f"{path} holds {what}, not a list of per-sample predictions")
    return data


# --------------------------------------------------------------------------- inputs beside the dump


@dataclass(frozen=True)
class Annotation:
    """One line of a test annotation file: ``path label`` (videos) or ``path total_frames label``."""

    video: str
    label: int


def read_annotations(ann_file: str | os.PathLike, video_root: str | os.PathLike | None = None
                     ) -> list[Annotation]:
    """The samples of a test annotation file, their paths joined to ``video_root`` as MMAction2 does."""
    entries = read_list(ann_file, labelled=True, what="annotation file")
    return [Annotation(os.path.join(video_root, e.path) if video_root else e.path, int(e.label or 0))
            for e in entries]


@dataclass(frozen=True)
class TestSet:
    """What a config's ``test_dataloader`` says about the samples behind a dump."""

    ann_file: str | None
    video_root: str | None
    classes: list[str] | None


def _join_root(root: str | None, path: str | None) -> str | None:
    if not path or not root or os.path.isabs(path):
        return path or None
    return os.path.join(root, path)


def read_test_set(config: str | os.PathLike) -> TestSet:
    """Annotation file, video root (``data_prefix.video`` or ``.img``) and classes from a config."""
    from mmengine.config import Config

    access.check(config, "Config")
    try:  # custom_imports are never imported: only the test set is read
        cfg = Config.fromfile(str(config), import_custom_modules=False)
    except FileNotFoundError as err:
        raise CamError(f"config {config} does not exist") from err
    except Exception as error:
        raise CamError(f"cannot read config {config} ({error.__class__.__name__}: {error})") from error
    dataset = test_dataset(cfg)
    root = dataset.get("data_root")
    prefix = dataset.get("data_prefix") or {}
    classes = config_classes(cfg)
    ann_file = _join_root(root, dataset.get("ann_file"))
    video_root = _join_root(root, prefix.get("video") or prefix.get("img"))
    base = _data_base(ann_file, Path(config))
    if base is not None:  # relative paths: from where tools/test.py ran, found by the annotation file
        ann_file = str(base / ann_file) if ann_file else None
        video_root = str(base / video_root) if video_root and not os.path.isabs(video_root) else video_root
    return TestSet(ann_file=ann_file, video_root=video_root, classes=classes)


def _data_base(ann_file: str | None, config: Path) -> Path | None:
    """The folder a relative ``ann_file`` starts from. MMAction2 resolves it from the folder ``tools/test.py`` ran
    in, which the config does not say: the current folder, else the config's folder or one of its ancestors
    (a dumped ``work_dirs/NAME/NAME.py`` sits two levels below the project), whichever holds the file."""
    if not ann_file or os.path.isabs(ann_file):
        return None
    folder = config.expanduser().resolve().parent
    for base in (Path.cwd(), folder, *list(folder.parents)[:4]):
        if (base / ann_file).is_file():
            return base
    return None


# --------------------------------------------------------------------------- which checkpoint made a dump

SOURCE_SUFFIX = ".source.json"


@dataclass(frozen=True)
class DumpSource:
    """The checkpoint (and config) that made a dump, as recorded beside it (``results.pkl.source.json``)."""

    checkpoint: str
    config: str | None = None
    recorded_by: str = ""  # who recorded it: "python -m core.mm test", "the Test results page", a test.py log
    checkpoint_stamp: tuple[float, int] | None = None  # (mtime, size) of the checkpoint when recorded

    @property
    def changed(self) -> bool:
        """True when the checkpoint file is no longer the one recorded (re-trained, replaced or gone)."""
        try:
            stat = Path(self.checkpoint).stat()
        except OSError:
            return True
        return self.checkpoint_stamp is not None and (stat.st_mtime, stat.st_size) != tuple(self.checkpoint_stamp)


def source_file(dump: str | os.PathLike) -> Path:
    """Where a dump's :class:`DumpSource` is kept: ``results.pkl`` -> ``results.pkl.source.json``."""
    dump = Path(dump)
    return dump.with_name(dump.name + SOURCE_SUFFIX)


def record_source(dump: str | os.PathLike, *, checkpoint: str | os.PathLike, config: str | os.PathLike | None = None,
                  recorded_by: str = "") -> DumpSource:
    """Remember beside ``dump`` which checkpoint (and config) made it; paths are stored absolute."""
    checkpoint = Path(checkpoint).expanduser().absolute()
    try:
        stat = checkpoint.stat()
    except OSError as err:
        raise CamError(f"checkpoint {checkpoint} does not exist; pick the checkpoint that made the dump") from err
    source = DumpSource(str(checkpoint), str(Path(config).expanduser().absolute()) if config else None, recorded_by,
                        (stat.st_mtime, stat.st_size))
    write_json(source_file(dump), {"checkpoint": source.checkpoint, "config": source.config,
                                   "recorded_by": recorded_by, "checkpoint_stamp": list(source.checkpoint_stamp or ())})
    return source


def read_source(dump: str | os.PathLike) -> DumpSource | None:
    """The :class:`DumpSource` recorded beside ``dump``, or None when nothing is recorded. It is data (paths to
    show and offer), never something to run by itself."""
    path = source_file(dump)
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        checkpoint, config = payload["checkpoint"], payload.get("config")
        stamp = payload.get("checkpoint_stamp") or None
        if not isinstance(checkpoint, str) or not (config is None or isinstance(config, str)):
            raise TypeError("paths must be strings")
        stamp = (float(stamp[0]), int(stamp[1])) if stamp else None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise CamError(f"{path} is not a readable dump source record ({error.__class__.__name__}); delete it "
                       "and tie the dump to its checkpoint again") from error
    return DumpSource(checkpoint, config, str(payload.get("recorded_by") or ""), stamp)


# --------------------------------------------------------------------------- metrics (numpy)


def top_k_accuracy(scores: np.ndarray, gt: np.ndarray, k: int) -> float:
    """Share of samples whose label is among the ``k`` best scores (as MMAction2 ranks them)."""
    best = np.argsort(scores, axis=1)[:, -k:][:, ::-1]
    return float(np.logical_or.reduce(best == gt[:, None], axis=1).mean())


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[num_classes, num_classes]``: rows are ground truth, columns predictions.

    Refused (one sentence) when the dense matrix would pass :data:`CONFUSION_LIMIT` bytes; use
    :meth:`DumpReport.confusion_over` for the classes that occur."""
    if num_classes * num_classes * 8 > CONFUSION_LIMIT:
        raise CamError(f"a confusion matrix over {num_classes} classes would take "
                       f"{_size(num_classes * num_classes * 8)}; take it over the classes that occur "
                       "(DumpReport.confusion_over)")
    return np.bincount(gt * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def mean_class_accuracy(gt: np.ndarray, pred: np.ndarray, gt_only: bool = False) -> float:
    """Mean per-class accuracy as MMAction2 computes it: over classes in ``gt`` or ``pred``.

    A class that is only predicted has no samples and counts as 0. With ``gt_only`` the mean
    runs over the ground-truth classes alone.
    """
    classes = np.unique(gt) if gt_only else np.union1d(gt, pred)
    count = np.bincount(gt, minlength=classes.max() + 1)[classes]
    hits = np.bincount(gt[gt == pred], minlength=classes.max() + 1)[classes]
    return float(np.mean([h / c if c else 0.0 for h, c in zip(hits.tolist(), count.tolist(), strict=True)]))


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class ClassAccuracy:
    index: int
    name: str
    count: int  # test samples of this class
    correct: int
    accuracy: float | None  # None when the class has no test sample


@dataclass(frozen=True)
class ConfusedPair:
    gt: int
    pred: int
    gt_name: str
    pred_name: str
    count: int


@dataclass(frozen=True)
class Sample:
    index: int
    gt_label: int
    pred_label: int
    score: float  # probability of the predicted class
    video: str | None

    @property
    def correct(self) -> bool:
        return self.gt_label == self.pred_label


@dataclass(frozen=True)
class DumpReport:
    """A test dump with its labels: ``scores`` [N, C] as dumped, ``gt`` [N], ``videos`` or None."""

    scores: np.ndarray
    gt: np.ndarray
    classes: list[str]
    videos: list[str] | None = None
    legacy: bool = False  # True for the 0.x ``--out`` format

    @cached_property
    def pred(self) -> np.ndarray:
        return np.argmax(self.scores, axis=1)

    @cached_property
    def correct(self) -> np.ndarray:
        return self.pred == self.gt

    @cached_property
    def holds_probabilities(self) -> bool:
        """True when each row is already a distribution (``average_clips='prob'``)."""
        scores = self.scores.astype(np.float64)
        return bool((scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3))

    @cached_property
    def probabilities(self) -> np.ndarray:
        scores = self.scores.astype(np.float64)
        return scores if self.holds_probabilities else softmax(scores)

    @cached_property
    def top1(self) -> float:
        return top_k_accuracy(self.scores, self.gt, 1)

    @cached_property
    def top5(self) -> float:
        return top_k_accuracy(self.scores, self.gt, 5)

    @property
    def mean_class_accuracy(self) -> float:
        return mean_class_accuracy(self.gt, self.pred)

    @property
    def mean_class_accuracy_gt(self) -> float:
        return mean_class_accuracy(self.gt, self.pred, gt_only=True)

    def acc_metric(self) -> dict[str, float]:
        """The numbers MMAction2's ``AccMetric`` logs, under the same keys."""
        return {"acc/top1": self.top1, "acc/top5": self.top5, "acc/mean1": self.mean_class_accuracy}

    @cached_property
    def confusion(self) -> np.ndarray:
        """The dense ``[C, C]`` confusion matrix (refused past :data:`CONFUSION_LIMIT`)."""
        return confusion_matrix(self.gt, self.pred, len(self.classes))

    @cached_property
    def occurring(self) -> np.ndarray:
        """The classes that have test samples or predictions, ascending (the rest are empty rows and columns)."""
        return np.union1d(self.gt, self.pred)

    def confusion_over(self, classes: np.ndarray) -> np.ndarray:
        """The confusion matrix restricted to ``classes`` (rows ground truth, columns predictions, in that order)."""
        classes = np.asarray(classes, dtype=np.int64)
        position = np.full(len(self.classes), -1, dtype=np.int64)
        position[classes] = np.arange(len(classes))
        rows, cols = position[self.gt], position[self.pred]
        keep = (rows >= 0) & (cols >= 0)
        return confusion_matrix(rows[keep], cols[keep], len(classes))

    def per_class(self) -> list[ClassAccuracy]:
        counts = np.bincount(self.gt, minlength=len(self.classes))
        hits = np.bincount(self.gt[self.correct], minlength=len(self.classes))
        return [ClassAccuracy(i, name, int(counts[i]), int(hits[i]),
                              float(hits[i] / counts[i]) if counts[i] else None)
                for i, name in enumerate(self.classes)]

    def confused_pairs(self, limit: int = 10) -> list[ConfusedPair]:
        """The most frequent (ground truth, wrong prediction) pairs, most frequent first."""
        wrong = ~self.correct
        pairs, counts = np.unique(np.stack([self.gt[wrong], self.pred[wrong]], axis=1), axis=0, return_counts=True)
        order = sorted(range(len(counts)), key=lambda i: (-counts[i], *pairs[i].tolist()))[:limit]
        return [ConfusedPair(int(pairs[i][0]), int(pairs[i][1]), self.classes[pairs[i][0]], self.classes[pairs[i][1]],
                             int(counts[i])) for i in order]

    def samples(self) -> list[Sample]:
        score = self.probabilities[np.arange(len(self.gt)), self.pred]
        return [Sample(i, int(self.gt[i]), int(self.pred[i]), float(score[i]),
                       self.videos[i] if self.videos else None) for i in range(len(self.gt))]


def _as_array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = (value.float() if value.dtype in (torch.float16, torch.bfloat16) else value).numpy()
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        raise CamError(f"{what} is a {type(value).__name__}, not a numeric tensor or array")
    return value


def _parse(data: list) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Scores [N, C], labels [N] (None for 0.x dumps) and whether the dump is 0.x."""
    legacy = not isinstance(data[0], dict)
    rows, labels = [], []
    for i, item in enumerate(data):
        if legacy:
            rows.append(_as_array(item, f"sample {i} of the dump"))
            continue
        if not isinstance(item, dict) or "pred_score" not in item:
            raise CamError(f"sample {i} of the dump is not a dict with a `pred_score`")
        if isinstance(item["pred_score"], dict):
            raise CamError("the dump holds several score streams per sample (RGBPoseConv3D), "
                           "which this report does not cover")
        rows.append(_as_array(item["pred_score"], f"`pred_score` of sample {i}"))
        label = _as_array(item.get("gt_label"), f"`gt_label` of sample {i}").reshape(-1)
        if label.size != 1:
            raise CamError(f"sample {i} has {label.size} labels: multi-label dumps are not covered")
        labels.append(int(label[0]))
    if any(row.ndim != 1 or row.shape != rows[0].shape for row in rows):
        raise CamError(f"the dump's score rows differ in shape (sample 0 has {rows[0].shape}): one score "
                       "per class and sample is expected (test_cfg average_clips 'prob' or 'score')")
    return np.stack(rows), (None if legacy else np.array(labels, dtype=np.int64)), legacy


def read_dump(path: str | os.PathLike, ann_file: str | os.PathLike | None = None,
              video_root: str | os.PathLike | None = None, classes: list[str] | None = None) -> DumpReport:
    """Read a test dump safely and pair sample ``i`` with line ``i`` of ``ann_file``."""
    scores, gt, legacy = _parse(load_dump(path))
    annotations = read_annotations(ann_file, video_root) if ann_file else None
    if annotations is not None:
        if len(annotations) != len(scores):
            raise CamError(f"the dump has {len(scores)} samples but {ann_file} lists {len(annotations)}: "
                           "give the annotation file of the test set that made the dump")
        ann_labels = np.array([a.label for a in annotations], dtype=np.int64)
        if gt is not None and (ann_labels != gt).any():
            line = int(np.argmax(ann_labels != gt))
            raise CamError(f"line {line + 1} of {ann_file} has label {ann_labels[line]} but the dump says "
                           f"{gt[line]}: the annotation file does not belong to this dump")
        gt = ann_labels
    if gt is None:
        raise CamError(f"{path} is a 0.x dump that holds no labels: give the test annotation file")
    num_classes = scores.shape[1]
    if gt.min() < 0 or gt.max() >= num_classes:
        raise CamError(f"label {gt.max() if gt.max() >= num_classes else gt.min()} is outside the "
                       f"{num_classes} classes the dump scores")
    if classes is not None and len(classes) != num_classes:
        raise CamError(f"{len(classes)} class names are given but the dump scores {num_classes} classes")
    return DumpReport(scores=scores, gt=gt, legacy=legacy,
                      classes=list(classes) if classes else [f"class_{i}" for i in range(num_classes)],
                      videos=[a.video for a in annotations] if annotations else None)


def open_dump(path: str | os.PathLike, *, config: str | os.PathLike | None = None,
              ann_file: str | os.PathLike | None = None, video_root: str | os.PathLike | None = None,
              label_map: str | os.PathLike | None = None) -> DumpReport:
    """:func:`read_dump` with the test set taken from ``config`` (its ``test_dataloader`` and classes),
    each of ``ann_file``, ``video_root`` and ``label_map`` overriding what the config says."""
    test_set = read_test_set(config) if config else TestSet(None, None, None)
    classes = read_label_map(Path(label_map)) if label_map else test_set.classes
    return read_dump(path, ann_file=ann_file or test_set.ann_file, video_root=video_root or test_set.video_root,
                     classes=classes)


@dataclass(frozen=True)
class ExplainTarget:
    """What the explorer needs to explain one test sample."""

    video: str
    target_class: int
    target_label: str


def explain_target(report: DumpReport, index: int, target: Target | str = GROUND_TRUTH) -> ExplainTarget:
    """Sample ``index``'s video and the class to explain: its ground truth (:data:`core.target.GROUND_TRUTH`),
    the class the dump predicted for it (:data:`core.target.PREDICTED`) or a :class:`~core.target.ClassIndex`.
    A string is read by :func:`core.target.parse_target` (``"gt"``, ``"predicted"``, a class name)."""
    chosen = parse_target(target, report.classes, ground_truth=True)
    if not 0 <= index < len(report.gt):
        raise CamError(f"there is no sample {index}: the dump has {len(report.gt)}")
    if not report.videos:
        raise CamError("the dump names no videos: give the test annotation file (or the config) to explain a sample")
    video = report.videos[index]
    if not Path(video).exists():
        raise CamError(f"sample {index}'s video {video} is not here: give the folder the annotation paths are "
                       "relative to (the video root)")
    label = chosen.resolve(report.classes, report.scores[index], int(report.gt[index]))
    return ExplainTarget(video, label, report.classes[label])


class Order(StrEnum):
    """How :func:`filter_samples` sorts (ties keep sample order)."""

    SAMPLE = "sample"
    SCORE_ASCENDING = "score-ascending"  # least confident first
    SCORE_DESCENDING = "score-descending"


def filter_samples(samples: list[Sample], *, gt: int | None = None, pred: int | None = None,
                   correct: bool | None = None, order: Order | str = Order.SAMPLE) -> list[Sample]:
    """The samples of ground-truth class ``gt``, predicted class ``pred`` and correctness ``correct``
    (None: any), in ``order``."""
    try:
        order = Order(order)
    except ValueError:
        raise CamError(f"the order must be one of {', '.join(o.value for o in Order)}, not {order!r}") from None
    chosen = [s for s in samples if (gt is None or s.gt_label == gt) and (pred is None or s.pred_label == pred)
              and (correct is None or s.correct == correct)]
    if order is Order.SCORE_ASCENDING:
        return sorted(chosen, key=lambda s: (s.score, s.index))
    if order is Order.SCORE_DESCENDING:
        return sorted(chosen, key=lambda s: (-s.score, s.index))
    return sorted(chosen, key=lambda s: s.index)


SAMPLE_LIST = "samples.txt"


def write_sample_list(report: DumpReport, samples: list[Sample], path: str | os.PathLike) -> Path:
    """An MMAction2 annotation list (``video label``, the ground truth) of ``samples``, for ``core.batch``:
    paths relative to the videos' common folder (:func:`sample_root`), so the batch's outputs mirror it."""
    if not samples:
        raise CamError("no samples to explain: the filters leave none")
    if not report.videos:
        raise CamError("the dump names no videos: give the test annotation file (or the config) to explain samples")
    root = sample_root(report, samples)
    missing = [report.videos[s.index] for s in samples if not Path(report.videos[s.index]).exists()]
    if missing:
        raise CamError(f"{len(missing)} of the {len(samples)} videos are not here (e.g. {missing[0]}): give the "
                       "folder the annotation paths are relative to (the video root)")
    lines = [f"{os.path.relpath(report.videos[s.index], root)} {s.gt_label}\n" for s in samples]
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    return path


def sample_root(report: DumpReport, samples: list[Sample]) -> Path:
    """The deepest folder that holds the videos of ``samples``."""
    assert report.videos is not None
    return Path(os.path.commonpath([str(Path(report.videos[s.index]).absolute().parent) for s in samples]))


def report_dict(report: DumpReport, pairs: int = 10) -> dict:
    """Everything the CLI's ``--json`` prints, as plain JSON types."""
    return {
        "format": "0.x" if report.legacy else "1.x",
        "num_samples": len(report.gt),
        "classes": report.classes,
        "scores_are_probabilities": report.holds_probabilities,
        "top1": report.top1,
        "top5": report.top5,
        "mean_class_accuracy": report.mean_class_accuracy,
        "mean_class_accuracy_gt": report.mean_class_accuracy_gt,
        "per_class": [vars(c) for c in report.per_class()],
        "confusion": report.confusion.tolist(),
        "confused_pairs": [vars(p) for p in report.confused_pairs(pairs)],
        "samples": [{k: v for k, v in vars(s).items() if k != "video" or report.videos}
                    for s in report.samples()],
    }


# --------------------------------------------------------------------------- CLI


def format_report(report: DumpReport, pairs: int = 10, wrong: int = 20) -> str:
    """The readable report the CLI prints."""
    kind = "probabilities" if report.holds_probabilities else "raw scores (softmax taken for `score`)"
    lines = [f"{len(report.gt)} samples, {len(report.classes)} classes, "
             f"{'0.x' if report.legacy else '1.x'} dump holding {kind}",
             f"acc/top1  {report.top1:.4f}",
             f"acc/top5  {report.top5:.4f}",
             f"acc/mean1 {report.mean_class_accuracy:.4f}  (MMAction2: over classes in ground truth or "
             "predictions, only-predicted classes count 0)",
             f"mean class accuracy over ground-truth classes {report.mean_class_accuracy_gt:.4f}",
             "", "per class (classes present in ground truth or predictions):"]
    predicted = set(report.pred.tolist())
    for c in report.per_class():
        if c.count or c.index in predicted:
            acc = f"{c.accuracy:.4f}" if c.accuracy is not None else "  -   "
            lines.append(f"  {c.index:>4} {acc}  {c.correct:>5}/{c.count:<5} {c.name}")
    confused = report.confused_pairs(pairs)
    if confused:
        lines += ["", "most confused (ground truth -> prediction):"]
        lines += [f"  {p.count:>5}  {p.gt_name} -> {p.pred_name}" for p in confused]
    misses = [s for s in report.samples() if not s.correct]
    if misses:
        lines += ["", f"misclassified samples ({len(misses)}, first {min(wrong, len(misses))}):"]
        lines += [f"  #{s.index:<5} {report.classes[s.gt_label]} -> {report.classes[s.pred_label]} "
                  f"({s.score:.3f}){'  ' + s.video if s.video else ''}" for s in misses[:wrong]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.dumps", description=(
        "Score a results pickle from MMAction2's tools/test.py --dump (or 0.x --out), read safely."))
    parser.add_argument("results", help="results pickle (RESULTS.pkl)")
    parser.add_argument("--ann-file", help="test annotation file: sample i is its line i")
    parser.add_argument("--video-root", help="folder the annotation paths are relative to")
    parser.add_argument("--label-map", help="class names, one per line (wins over the config's)")
    parser.add_argument("--config", help="config whose test_dataloader gives ann_file and data_prefix")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)

    def action() -> int:
        report = open_dump(args.results, config=args.config, ann_file=args.ann_file, video_root=args.video_root,
                           label_map=args.label_map)
        print(json.dumps(report_dict(report)) if args.json else format_report(report))
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
