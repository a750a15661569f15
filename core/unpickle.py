"""The one safe unpickler: checkpoints and test dumps are read as data, whatever their bytes.

A pickle is a small program; ``pickle.load`` runs it, and so does any loader that hands the objects it
names real classes and functions (torch's ``weights_only`` unpickler calls ``__setstate__`` of allow-listed
classes and ``_rebuild_from_type_v2`` calls whatever it is given). Here nothing from the file ever reaches a
method of a foreign class:

* a GLOBAL becomes an inert :class:`Global` stand-in from :data:`GLOBALS`, a frozen table read by name and
  never changed at load time (no ``getattr`` on a name from the file); REDUCE runs this module's own
  handler for that stand-in after checking its arguments against what torch, numpy and MMEngine write;
* BUILD only completes an object a handler made in this load (an array, a dtype, a ``HistoryBuffer``
  record, a state dict's ``_metadata``), from validated plain data: numpy dtypes are made from a checked
  descriptor (kind, size, byte order), never through ``dtype.__setstate__``;
* NEWOBJ only makes the ``HistoryBuffer`` record (a plain dict); INST, OBJ, extension codes and
  out-of-band buffers are refused, SETITEM(S)/APPEND(S)/ADDITEMS only fill containers;
* every size the file declares (arrays, tensor views, storages, byte strings, zip records) is charged to
  a :class:`Budget` before anything is allocated: the data of a genuine file is inside it, so no load may
  declare more than a few times the file's size, nor more than an absolute cap.

:func:`read_torch_file` reads ``torch.save``'s two formats (the zip archive and the legacy stream) this way;
:class:`DumpUnpickler` reads MMAction2's test dumps (plain pickles whose tensors carry legacy-format bytes).
What a file may hold is the reader's ``ALLOWED`` subset of :data:`GLOBALS`; anything else raises
:class:`ForeignGlobal` (a :class:`CamError`) naming it, so the checkpoint loader can offer trust.
"""

from __future__ import annotations

import collections
import io
import pickle
import re
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Final

import numpy as np
import torch

from core.errors import CamError

PLAUSIBLE_FACTOR = 4  # a file holds its arrays' bytes itself: the data it declares may reach 4x its size
PLAUSIBLE_SLACK = 1 << 16
MAX_DIMS = 32  # numpy's own limit on an array's dimensions


def size_text(nbytes: float) -> str:
    """``1.4 GiB``-style byte counts for messages (powers of 1024, as free/top print them)."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError  # pragma: no cover


@dataclass(frozen=True)
class Kind:
    """What is being read, for messages: ``the dump`` / ``MMAction2 test dumps``."""

    noun: str
    plural: str
    limit_env: str | None = None  # the variable that raises the absolute cap, named in its message


DUMP: Final = Kind("the dump", "MMAction2 test dumps", "MMCAM_DUMP_MAX_BYTES")
CHECKPOINT: Final = Kind("the checkpoint", "PyTorch and MMEngine checkpoints")


class ForeignGlobal(CamError):
    """The file names a class or function outside the allow-list (only a full unpickle could read it)."""

    def __init__(self, kind: Kind, name: str) -> None:
        super().__init__(f"refused to read {kind.noun}: it asks for the global `{name}`, which {kind.plural} "
                         "never contain (a tampered or foreign pickle?)")
        self.name = name


def refuse_op(kind: Kind, what: str) -> CamError:
    return CamError(f"refused to read {kind.noun}: it {what}, which {kind.plural} never do "
                    "(a tampered or foreign pickle?)")


class Budget:
    """The bytes of array and tensor data one load may declare, counted before anything is allocated.

    The data of every tensor and array in a pickle is stored in the file itself, so a genuine file never
    declares much more than its own size; the absolute cap (``limit``) protects the machine from huge
    genuine ones. Zero-size items count one byte each (a billion of them is no less a bomb)."""

    def __init__(self, kind: Kind, file_size: int, limit: int | None = None) -> None:
        self.kind, self.file_size, self.limit, self.used = kind, file_size, limit, 0
        self.plausible = PLAUSIBLE_FACTOR * file_size + PLAUSIBLE_SLACK

    def charge(self, nbytes: int, what: str) -> None:
        self.used += nbytes
        if self.used > self.plausible:
            raise CamError(f"refused to read {self.kind.noun}: it declares {what} of {size_text(nbytes)}, more "
                           f"array data than a {size_text(self.file_size)} file can hold (a damaged or crafted file)")
        if self.limit is not None and self.used > self.limit:
            raise CamError(f"{self.kind.noun} holds more than {size_text(self.limit)} of array data ({what} of "
                           f"{size_text(nbytes)}); set {self.kind.limit_env} to a larger number of bytes to read it")


# --------------------------------------------------------------------------- the allow-list


@dataclass(frozen=True)
class Global:
    """The inert stand-in a GLOBAL pushes: a name and the role this module gives it. It has no behaviour
    of the class or function it names; only :class:`StrictUnpickler`'s handler for ``role`` acts on it."""

    module: str
    name: str
    role: str


def _numpy_names() -> dict[tuple[str, str], str]:
    names = {}
    for package in ("numpy.core", "numpy._core"):  # numpy 1.x writes numpy.core, 2.x numpy._core
        names[(f"{package}.multiarray", "_reconstruct")] = "reconstruct"
        names[(f"{package}.multiarray", "scalar")] = "scalar"
        names[(f"{package}.numeric", "_frombuffer")] = "frombuffer"
    return names


# torch's storage classes as pickles name them, and the element type each holds
STORAGE_DTYPES: Final[Mapping[str, torch.dtype]] = MappingProxyType({
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128, "UntypedStorage": torch.uint8,
})
# torch dtypes as values (optimizers and AMP scalers store them): plain names, no behaviour
TORCH_DTYPES: Final[Mapping[str, torch.dtype]] = MappingProxyType({
    name: getattr(torch, name) for name in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16",
                                            "int8", "uint8", "bool", "complex64", "complex128")})

_ROLES: dict[tuple[str, str], str] = {
    ("collections", "OrderedDict"): "ordered_dict",
    ("collections", "Counter"): "counter",
    ("builtins", "set"): "set", ("__builtin__", "set"): "set",
    ("builtins", "frozenset"): "frozenset", ("__builtin__", "frozenset"): "frozenset",
    ("builtins", "getattr"): "getattr", ("__builtin__", "getattr"): "getattr",
    ("_codecs", "encode"): "encode",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    **_numpy_names(),
    ("torch._utils", "_rebuild_tensor_v2"): "rebuild_tensor",
    ("torch._utils", "_rebuild_parameter"): "rebuild_parameter",
    ("torch._tensor", "_rebuild_from_type_v2"): "rebuild_from_type",
    ("torch", "Tensor"): "tensor_type", ("torch.nn.parameter", "Parameter"): "tensor_type",
    ("torch", "Size"): "size",
    ("torch.storage", "_load_from_bytes"): "load_storage",
    ("mmengine.logging.history_buffer", "HistoryBuffer"): "history_buffer",
    **{("torch", name): "storage_type" for name in STORAGE_DTYPES},
    **{("torch", name): "torch_dtype" for name in TORCH_DTYPES},
}
GLOBALS: Final[Mapping[tuple[str, str], Global]] = MappingProxyType(
    {key: Global(*key, role) for key, role in _ROLES.items()})
del _ROLES

# what a HistoryBuffer's state may hold; ``statistics_methods`` (functions) is dropped
HISTORY_KEYS: Final = frozenset({"max_length", "_log_history", "_count_history", "statistics_methods"})
HISTORY_STATISTICS: Final = frozenset({"min", "max", "mean", "current"})


# --------------------------------------------------------------------------- checked plain values


_DESCRIPTOR = re.compile(r"[<>=|]?(?:[?bBhHiIlLqQefdgFD]|[biufc][1-9][0-9]?|[US][1-9][0-9]{0,5})")


def checked_dtype(kind: Kind, value: Any, byteorder: str = "=") -> np.dtype:
    """A numpy dtype from a descriptor: bool, integer, float, complex or fixed-width text (``f8``, ``<i8``,
    ``U12``, ``b``); structured, object, void and sub-array types are refused. Never from a dtype's state."""
    if isinstance(value, np.dtype):
        value = value.str
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) or not _DESCRIPTOR.fullmatch(value) or byteorder not in "<>=|":
        raise refuse_op(kind, f"declares the array type {value!r}")
    dtype = np.dtype(value)
    if dtype.kind not in "biufcUS" or dtype.itemsize == 0 or dtype.names is not None or dtype.subdtype is not None:
        raise refuse_op(kind, f"declares the array type {value!r}")
    return np.dtype(byteorder + dtype.str[1:]) if byteorder in ("<", ">") else dtype


def checked_shape(kind: Kind, value: Any, what: str) -> tuple[int, ...]:
    if (not isinstance(value, (tuple, list)) or len(value) > MAX_DIMS
            or not all(type(n) is int and n >= 0 for n in value)):
        raise CamError(f"{kind.noun} holds {what} with an invalid shape")
    return tuple(value)


def elements(shape: tuple[int, ...]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def _integer(value: Any) -> bool:
    return type(value) is int and value >= 0


class _Pending:
    """An object a handler made that BUILD completes (an array, a dtype): inert until then."""

    __slots__ = ("role", "value")

    def __init__(self, role: str, value: Any) -> None:
        self.role, self.value = role, value


class _File(io.BytesIO):
    """The file's bytes: reads past the end return short data (nothing beyond the file is allocated), and a
    line cut by the end of the file is an error instead of a shorter name."""

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if not line.endswith(b"\n"):
            raise pickle.UnpicklingError("pickle data was truncated")
        return line


_LOAD = pickle._Unpickler  # the pure-Python unpickler: its opcodes can be overridden one by one


class StrictUnpickler(pickle._Unpickler):
    """A pure-Python unpickler that builds nothing but plain data (see the module's docstring).

    Subclasses say which :data:`GLOBALS` a file may hold (``ALLOWED``) and where storages come from
    (:meth:`persistent_load`)."""

    ALLOWED: ClassVar[frozenset[str]] = frozenset()  # roles
    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = dict(_LOAD.dispatch)
    # set by pickle._Unpickler (its stub does not declare them)
    stack: list[Any]
    memo: dict[int, Any]
    append: Callable[[Any], None]
    read: Callable[[int], bytes]
    readline: Callable[[], bytes]
    readinto: Callable[[Any], int]
    pop_mark: Callable[[], list[Any]]
    _unframer: Any

    def __init__(self, data: bytes | memoryview, budget: Budget) -> None:
        self._file = _File(data)
        super().__init__(self._file)
        self.kind = budget.kind
        self._budget = budget
        self._fresh: dict[int, Any] = {}  # id -> object made by a handler in this load, awaiting its BUILD
        self._slots: dict[int, list[int]] = {}  # id of a pending object -> the memo slots holding it

    def left(self) -> int:
        """Bytes of the file not read yet."""
        return len(self._file.getbuffer()) - self._file.tell()

    def find_class(self, module: str, name: str) -> Any:
        found = GLOBALS.get((module, name))
        if found is None or found.role not in self.ALLOWED:
            raise ForeignGlobal(self.kind, f"{module}.{name}")
        if found.role == "storage_type":
            return STORAGE_DTYPES[name]
        if found.role == "torch_dtype":
            return TORCH_DTYPES[name]
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise ForeignGlobal(self.kind, "a persistent id")

    def _fresh_object(self, obj: Any) -> Any:
        self._fresh[id(obj)] = obj
        return obj

    # -- opcodes --------------------------------------------------------------------------------------------

    def _load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if type(func) is not Global or type(args) is not tuple:
            what = func.name if type(func) is Global else type(func).__name__
            raise refuse_op(self.kind, f"calls {what}")
        handler = _HANDLERS.get(func.role)
        if handler is None:
            raise refuse_op(self.kind, f"calls {func.module}.{func.name}")
        try:
            self.stack[-1] = handler(self, *args)
        except TypeError as error:  # the wrong number of arguments
            raise refuse_op(self.kind, f"calls {func.module}.{func.name} with arguments torch never writes") \
                from error

    def _load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        if type(cls) is not Global or cls.role != "history_buffer" or args != ():
            raise refuse_op(self.kind, "constructs objects")
        self.append(self._fresh_object({}))

    def _load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if self._fresh.pop(id(inst), None) is not inst:
            what = inst.name if type(inst) is Global else type(inst).__name__
            raise refuse_op(self.kind, f"sets attributes of `{what}`, an object it did not build")
        if type(inst) is _Pending:
            built = self._finish(inst, state)
            self.stack[-1] = built
            for slot in self._slots.pop(id(inst), ()):
                self.memo[slot] = built
        elif type(inst) is dict:
            self._history_state(inst, state)
        elif type(inst) is collections.OrderedDict:
            self._dict_metadata(inst, state)
        else:  # pragma: no cover (nothing else is ever fresh)
            raise refuse_op(self.kind, f"sets the state of a {type(inst).__name__}")

    def _memoize_at(self, slot: int) -> None:
        if slot < 0:
            raise ValueError("negative memo index")
        value = self.stack[-1]
        self.memo[slot] = value
        if type(value) is _Pending:
            self._slots.setdefault(id(value), []).append(slot)

    def _load_binput(self) -> None:
        self._memoize_at(self.read(1)[0])

    def _load_long_binput(self) -> None:
        self._memoize_at(struct.unpack("<I", self.read(4))[0])

    def _load_memoize(self) -> None:
        self._memoize_at(len(self.memo))

    def _load_put(self) -> None:
        self._memoize_at(int(self.readline()[:-1]))

    def _load_setitem(self) -> None:
        value, key = self.stack.pop(), self.stack.pop()
        self._container((dict, collections.OrderedDict, collections.Counter), "sets items of")[key] = value

    def _load_setitems(self) -> None:
        items = self.pop_mark()
        target = self._container((dict, collections.OrderedDict, collections.Counter), "sets items of")
        for i in range(0, len(items) - 1, 2):
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
            raise refuse_op(self.kind, f"{verb} a {type(target).__name__}")
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

    def _refused(what: str) -> Callable[[StrictUnpickler], None]:  # type: ignore[misc]  # a factory for the class body
        def load(self: StrictUnpickler) -> None:
            raise refuse_op(self.kind, what)
        return load

    dispatch[pickle.REDUCE[0]] = _load_reduce
    dispatch[pickle.NEWOBJ[0]] = _load_newobj
    dispatch[pickle.BUILD[0]] = _load_build
    dispatch[pickle.BINPUT[0]] = _load_binput
    dispatch[pickle.LONG_BINPUT[0]] = _load_long_binput
    dispatch[pickle.MEMOIZE[0]] = _load_memoize
    dispatch[pickle.PUT[0]] = _load_put
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.APPEND[0]] = _load_append
    dispatch[pickle.APPENDS[0]] = _load_appends
    dispatch[pickle.ADDITEMS[0]] = _load_additems
    dispatch[pickle.BYTEARRAY8[0]] = _load_bytearray8
    for _opcode, _what in ((pickle.NEWOBJ_EX, "constructs objects"), (pickle.OBJ, "constructs objects"),
                           (pickle.INST, "constructs objects"),
                           (pickle.EXT1, "uses extension codes"), (pickle.EXT2, "uses extension codes"),
                           (pickle.EXT4, "uses extension codes"), (pickle.NEXT_BUFFER, "uses out-of-band buffers"),
                           (pickle.READONLY_BUFFER, "uses out-of-band buffers")):
        dispatch[_opcode[0]] = _refused(_what)
    del _opcode, _what, _refused

    # -- handlers: what each allowed global does, with the arguments its writer uses ---------------------

    def _ordered_dict(self, *args: Any) -> collections.OrderedDict:
        if args:
            raise refuse_op(self.kind, "builds an OrderedDict from arguments")
        return self._fresh_object(collections.OrderedDict())  # a state dict's BUILD brings its _metadata

    def _counter(self, items: Any = None) -> collections.Counter:
        if items is not None and type(items) is not dict:
            raise refuse_op(self.kind, "builds a Counter from something other than a dict")
        return collections.Counter(items or {})

    def _set(self, items: Any = ()) -> set | frozenset:
        if type(items) not in (list, tuple):
            raise refuse_op(self.kind, "builds a set from something other than a list")
        return set(items)

    def _frozenset(self, items: Any = ()) -> frozenset:
        return frozenset(self._set(items))

    def _getattr(self, owner: Any, name: Any) -> str:
        """``getattr(HistoryBuffer, 'min')`` in a message hub's state: the statistic's name, nothing callable."""
        if type(owner) is not Global or owner.role != "history_buffer" or name not in HISTORY_STATISTICS:
            raise refuse_op(self.kind, f"looks up the attribute {name!r}")
        return f"HistoryBuffer.{name}"

    def _encode(self, text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
        """``_codecs.encode`` as protocol-2 pickles use it: bytes stored as latin-1 text."""
        if type(text) is not str or encoding not in ("latin1", "latin-1", "iso8859-1", "iso-8859-1") \
                or errors != "strict":
            raise ForeignGlobal(self.kind, f"_codecs.encode with {encoding!r}")
        self._budget.charge(len(text), "a byte string")
        return text.encode("latin-1")

    def _dtype(self, value: Any, align: Any = False, copy: Any = True) -> _Pending:
        """``numpy.dtype(descr, align, copy)``: the descriptor is checked now, its BUILD brings the byte order."""
        if align not in (False, 0):
            raise refuse_op(self.kind, "declares an aligned array type")
        return self._fresh_object(_Pending("dtype", checked_dtype(self.kind, value)))

    def _reconstruct(self, cls: Any, shape: Any, dtype: Any) -> _Pending:
        """``numpy._core.multiarray._reconstruct``: an array whose BUILD then brings shape and data."""
        if type(cls) is not Global or cls.role != "ndarray":
            raise refuse_op(self.kind, f"reconstructs a {getattr(cls, 'name', type(cls).__name__)}")
        plain = checked_dtype(self.kind, dtype)
        dims = checked_shape(self.kind, shape, "an array")
        self._budget.charge(elements(dims) * plain.itemsize, "an array")
        return self._fresh_object(_Pending("array", None))

    def _scalar(self, dtype: Any, data: Any = None) -> np.generic:
        """``numpy._core.multiarray.scalar``: one number from its bytes."""
        plain = checked_dtype(self.kind, dtype)
        if type(data) is not bytes or len(data) != plain.itemsize:
            raise CamError(f"{self.kind.noun} holds a damaged numpy scalar")
        return np.frombuffer(data, dtype=plain)[0].copy()

    def _frombuffer(self, buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        """``numpy._core.numeric._frombuffer`` (protocol 5 arrays): a copy of bytes from the file."""
        plain = checked_dtype(self.kind, dtype)
        dims = checked_shape(self.kind, shape, "an array")
        if type(buffer) not in (bytes, bytearray) or len(buffer) != elements(dims) * plain.itemsize:
            raise CamError(f"{self.kind.noun} holds an array whose data does not match its shape")
        if order not in ("C", "F"):
            raise CamError(f"{self.kind.noun} holds an array with an invalid memory order")
        self._budget.charge(len(buffer), "an array")
        return np.frombuffer(buffer, dtype=plain).reshape(dims, order=order)

    def _finish(self, pending: _Pending, state: Any) -> Any:
        if pending.role == "dtype":  # numpy's dtype state: (3, byteorder, subarray, names, fields, size, ...)
            if not (type(state) is tuple and len(state) in (8, 9) and state[0] == 3 and state[2] is None
                    and state[3] is None and state[4] is None and state[1] in ("<", ">", "=", "|")):
                raise refuse_op(self.kind, "sets a structured or sub-array dtype")
            dtype = checked_dtype(self.kind, pending.value.str[1:], state[1])
            if state[5] not in (-1, dtype.itemsize):
                raise refuse_op(self.kind, "declares an array type of the wrong size")
            return dtype
        # an array's state: (version, shape, dtype, fortran order, raw bytes)
        if type(state) is not tuple or len(state) not in (4, 5):
            raise CamError(f"{self.kind.noun} holds a damaged numpy array")
        shape, dtype, fortran, raw = state[-4:]
        if type(dtype) is _Pending and dtype.role == "dtype":  # a dtype made without its BUILD: native order
            dtype = dtype.value
        if not isinstance(dtype, np.dtype):
            raise refuse_op(self.kind, "declares an array with an unchecked type")
        dims, plain = checked_shape(self.kind, shape, "an array"), checked_dtype(self.kind, dtype.str[1:],
                                                                                  dtype.str[0])
        if type(raw) is not bytes or len(raw) != elements(dims) * plain.itemsize or type(fortran) is not bool:
            raise CamError(f"{self.kind.noun} holds an array whose data does not match its shape")
        self._budget.charge(len(raw), "an array")
        return np.frombuffer(raw, dtype=plain).reshape(dims, order="F" if fortran else "C").copy()

    def _history_buffer_call(self, *args: Any) -> None:
        raise refuse_op(self.kind, "calls HistoryBuffer")

    def _history_state(self, record: dict, state: Any) -> None:
        """A ``HistoryBuffer``'s ``__dict__``, kept as a plain dict (its statistics methods dropped)."""
        if type(state) is not dict or not set(state) <= HISTORY_KEYS:
            raise refuse_op(self.kind, "sets a HistoryBuffer's state to something MMEngine never writes")
        record.update({k: v for k, v in state.items() if k != "statistics_methods"})

    def _dict_metadata(self, target: collections.OrderedDict, state: Any) -> None:
        """A state dict's ``_metadata`` (module versions), the one attribute torch pickles on an OrderedDict."""
        if state is None:
            return
        if type(state) is not dict or set(state) - {"_metadata"}:
            raise refuse_op(self.kind, "sets attributes of an OrderedDict")
        if "_metadata" in state:
            target._metadata = state["_metadata"]  # type: ignore[attr-defined]

    # -- torch --------------------------------------------------------------------------------------------

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                        backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
        """``torch._utils._rebuild_tensor_v2`` after checking the view stays inside its storage; the view's
        declared size (shape x element size) is charged like any array's."""
        if not isinstance(storage, torch.storage.TypedStorage):
            raise refuse_op(self.kind, f"rebuilds a tensor over a {type(storage).__name__}")
        dims = checked_shape(self.kind, size, "a tensor"), checked_shape(self.kind, stride, "a tensor")
        if len(dims[0]) != len(dims[1]) or not _integer(offset):
            raise CamError(f"{self.kind.noun} holds a tensor with an invalid shape, stride or offset")
        if backward_hooks or type(requires_grad) is not bool:
            raise refuse_op(self.kind, "rebuilds a tensor with backward hooks")
        if metadata is not None and type(metadata) not in (dict, collections.OrderedDict):
            raise refuse_op(self.kind, "rebuilds a tensor with metadata torch never writes")
        count = storage._size()  # .size() warns that TypedStorage is deprecated
        itemsize = torch._utils._element_size(storage.dtype)
        if 0 not in dims[0]:
            last = offset + sum((n - 1) * s for n, s in zip(*dims, strict=True))
            if last >= count:
                raise CamError(f"{self.kind.noun} holds a tensor that reaches past the end of its data")
        self._budget.charge(elements(dims[0]) * itemsize, "a tensor")
        return torch._utils._rebuild_tensor_v2(storage, offset, dims[0], dims[1], requires_grad,
                                               collections.OrderedDict())

    def _rebuild_parameter(self, data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> torch.Tensor:
        """``torch._utils._rebuild_parameter``: the tensor itself (weights are data here, not parameters)."""
        if type(data) is not torch.Tensor or backward_hooks:
            raise refuse_op(self.kind, "rebuilds a parameter from something other than a tensor")
        return data

    def _rebuild_from_type(self, func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
        """``torch._tensor._rebuild_from_type_v2`` as torch writes it for a plain tensor or parameter: the
        tensor rebuilt by ``_rebuild_tensor_v2``, with no state; any other function or type is refused."""
        if not (type(func) is Global and func.role == "rebuild_tensor" and type(new_type) is Global
                and new_type.role == "tensor_type" and type(args) is tuple and not state):
            raise refuse_op(self.kind, "rebuilds a tensor through a function or type torch never writes")
        return self._rebuild_tensor(*args)

    def _size(self, dims: Any = ()) -> torch.Size:
        return torch.Size(checked_shape(self.kind, dims, "a torch.Size"))

    def _load_storage(self, data: Any) -> torch.storage.TypedStorage:
        """Safe stand-in for ``torch.storage._load_from_bytes`` (which runs ``torch.load(weights_only=False)``):
        one storage in torch's legacy format, read by :class:`LegacyStorages`."""
        if type(data) is not bytes:
            raise refuse_op(self.kind, "loads a tensor storage from something other than bytes")
        try:
            return LegacyStorages(data, self._budget).single()
        except CamError:
            raise
        except Exception as error:  # damaged bytes: EOFError, UnpicklingError, struct.error, ...
            raise CamError(f"the tensor data inside {self.kind.noun} is damaged ({error.__class__.__name__})") \
                from error


# role -> handler; a fixed table of this module's functions (never looked up by a name from the file)
_HANDLERS: Final[Mapping[str, Callable[..., Any]]] = MappingProxyType({
    "ordered_dict": StrictUnpickler._ordered_dict, "counter": StrictUnpickler._counter,
    "set": StrictUnpickler._set, "frozenset": StrictUnpickler._frozenset, "getattr": StrictUnpickler._getattr,
    "encode": StrictUnpickler._encode, "dtype": StrictUnpickler._dtype, "reconstruct": StrictUnpickler._reconstruct,
    "scalar": StrictUnpickler._scalar, "frombuffer": StrictUnpickler._frombuffer,
    "rebuild_tensor": StrictUnpickler._rebuild_tensor, "rebuild_parameter": StrictUnpickler._rebuild_parameter,
    "rebuild_from_type": StrictUnpickler._rebuild_from_type, "size": StrictUnpickler._size,
    "load_storage": StrictUnpickler._load_storage, "history_buffer": StrictUnpickler._history_buffer_call,
})

_NUMPY_ROLES = frozenset({"ordered_dict", "encode", "ndarray", "dtype", "reconstruct", "scalar", "frombuffer"})
_TENSOR_ROLES = frozenset({"rebuild_tensor", "storage_type"})


# --------------------------------------------------------------------------- torch's storages


def _storage(buffer: bytearray, dtype: torch.dtype) -> torch.storage.TypedStorage:
    data = torch.frombuffer(buffer, dtype=dtype) if len(buffer) else torch.empty(0, dtype=dtype)
    return torch.storage.TypedStorage(wrap_storage=data.untyped_storage(), dtype=dtype, _internal=True)


def _storage_id(kind: Kind, pid: Any) -> tuple[torch.dtype, str, int]:
    """(dtype, key, elements) of torch's ``('storage', type, key, location, elements[, view])``."""
    if not (type(pid) is tuple and len(pid) in (5, 6) and pid[0] == "storage" and isinstance(pid[1], torch.dtype)
            and type(pid[2]) is str and _integer(pid[4])):
        raise ForeignGlobal(kind, "a persistent id other than a tensor storage")
    if len(pid) == 6 and pid[5] is not None:
        raise refuse_op(kind, "holds a storage view")
    return pid[1], pid[2], pid[4]


class LegacyStorages(StrictUnpickler):
    """``torch.save``'s legacy stream (before the zip archive; what ``torch.storage._load_from_bytes``
    receives): magic number, protocol, system info, the object (storages as persistent ids), the storage
    keys; then each storage as its element count and raw data. Declared sizes are checked against the
    bytes that follow before anything is allocated."""

    ALLOWED = _NUMPY_ROLES | _TENSOR_ROLES | {"rebuild_parameter", "rebuild_from_type", "tensor_type", "size",
                                              "torch_dtype", "counter", "set", "frozenset", "history_buffer",
                                              "getattr"}

    def __init__(self, data: bytes | memoryview, budget: Budget) -> None:
        super().__init__(data, budget)
        self._declared: dict[str, tuple[torch.dtype, int]] = {}
        self._storages: dict[str, tuple[torch.storage.TypedStorage, bytearray]] = {}

    def persistent_load(self, pid: Any) -> Any:
        dtype, key, count = _storage_id(self.kind, pid)
        if self._declared.setdefault(key, (dtype, count)) != (dtype, count):
            raise CamError(f"{self.kind.noun} holds a tensor storage declared twice with different sizes")
        if key not in self._storages:
            nbytes = count * torch._utils._element_size(dtype)
            if nbytes + 8 > self.left():
                raise CamError(f"refused to read {self.kind.noun}: a tensor storage declares {size_text(nbytes)} "
                               f"but only {size_text(max(self.left() - 8, 0))} of data follow (a damaged or crafted "
                               "file)")
            self._budget.charge(nbytes, "a tensor storage")
            buffer = bytearray(nbytes)
            self._storages[key] = (_storage(buffer, dtype), buffer)
        return self._storages[key][0]

    def _header(self) -> None:
        magic, protocol, info = (self.load() for _ in range(3))
        if (magic, protocol) != (torch.serialization.MAGIC_NUMBER, torch.serialization.PROTOCOL_VERSION):
            raise CamError(f"the tensor data inside {self.kind.noun} is not in torch's storage format")
        if type(info) is not dict or info.get("little_endian") is not True:
            raise CamError(f"{self.kind.noun} holds tensor data saved on a big-endian machine, which is not "
                           "supported")

    def _fill(self) -> None:
        keys = self.load()
        if type(keys) is not list or set(keys) != set(self._storages) or len(keys) != len(self._storages):
            raise refuse_op(self.kind, "lists tensor storages other than those it declares")
        for key in keys:
            buffer = self._storages[key][1]
            if 8 + len(buffer) > self.left():
                raise CamError(f"{self.kind.noun} ends inside its tensor data (a truncated file)")
            (count,) = struct.unpack("<q", self._file.read(8))
            if count != self._declared[key][1]:
                raise CamError(f"the tensor data inside {self.kind.noun} is damaged (its element count disagrees)")
            self._file.readinto(buffer)

    def single(self) -> torch.storage.TypedStorage:
        """The one storage of ``_load_from_bytes``'s bytes."""
        self._header()
        root = self.load()
        if not isinstance(root, torch.storage.TypedStorage) or len(self._storages) != 1:
            raise refuse_op(self.kind, "holds something other than one tensor storage where tensor data belongs")
        self._fill()
        return root

    def whole(self) -> Any:
        """The object of a legacy-format checkpoint, its storages filled."""
        self._header()
        root = self.load()
        self._fill()
        return root


class ZipCheckpoint(StrictUnpickler):
    """``data.pkl`` of ``torch.save``'s zip archive; each storage is the archive's record ``data/<key>``,
    read straight into its tensor after its size is checked: records are stored (torch never compresses
    them) and hold exactly the bytes their persistent id declares."""

    ALLOWED = LegacyStorages.ALLOWED

    def __init__(self, archive: zipfile.ZipFile, file: io.BufferedReader, prefix: str, data: bytes,
                 budget: Budget) -> None:
        super().__init__(data, budget)
        self._archive, self._raw, self._prefix = archive, file, prefix
        self._storages: dict[str, torch.storage.TypedStorage] = {}

    def persistent_load(self, pid: Any) -> Any:
        dtype, key, count = _storage_id(self.kind, pid)
        if key in self._storages:
            if self._storages[key].dtype != dtype:
                raise CamError(f"{self.kind.noun} holds a tensor storage declared twice with different types")
            return self._storages[key]
        nbytes = count * torch._utils._element_size(dtype)
        try:
            info = self._archive.getinfo(f"{self._prefix}data/{key}")
        except KeyError:
            raise CamError(f"{self.kind.noun} lacks the data of its tensor storage {key!r} (a damaged file)") from None
        if info.file_size != nbytes:
            raise CamError(f"refused to read {self.kind.noun}: a tensor storage declares {size_text(nbytes)} but "
                           f"its record holds {size_text(info.file_size)} (a damaged or crafted file)")
        self._budget.charge(nbytes, "a tensor storage")
        buffer = bytearray(nbytes)
        self._raw.seek(_record_offset(self.kind, self._raw, info))
        if self._raw.readinto(buffer) != nbytes:
            raise CamError(f"{self.kind.noun} ends inside its tensor data (a truncated file)")
        self._storages[key] = _storage(buffer, dtype)
        return self._storages[key]


def _record_offset(kind: Kind, file: io.BufferedReader, info: zipfile.ZipInfo) -> int:
    """Where a stored zip record's bytes start: after its local header (whose name and extra field lengths
    may differ from the central directory's)."""
    file.seek(info.header_offset)
    header = file.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise CamError(f"{kind.noun} is a damaged zip archive (a record's header is missing)")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def _read_zip(path: Path, budget: Budget) -> Any:
    with path.open("rb") as file, zipfile.ZipFile(file) as archive:
        records = archive.infolist()
        size = path.stat().st_size
        for info in records:
            if info.compress_type != zipfile.ZIP_STORED:
                raise refuse_op(budget.kind, f"holds a compressed record ({info.filename})")
            if info.file_size > size:
                raise CamError(f"refused to read {budget.kind.noun}: its record {info.filename} declares "
                               f"{size_text(info.file_size)} in a {size_text(size)} file (a damaged or crafted file)")
        pickles = [info for info in records if info.filename.endswith("data.pkl")
                   and info.filename.count("/") == 1]
        if len(pickles) != 1:
            raise CamError(f"{budget.kind.noun} is a zip archive without torch's data.pkl")
        prefix = pickles[0].filename[: -len("data.pkl")]
        if f"{prefix}byteorder" in archive.namelist() and archive.read(f"{prefix}byteorder") != b"little":
            raise CamError(f"{budget.kind.noun} holds tensor data saved on a big-endian machine, which is not "
                           "supported")
        file.seek(_record_offset(budget.kind, file, pickles[0]))
        data = file.read(pickles[0].file_size)
        budget.charge(len(data), "its object pickle")
        return ZipCheckpoint(archive, file, prefix, data, budget).load()


class _PlainData(pickle.Unpickler):
    """The C unpickler with no class or function to reach: nothing it reads can be called."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent id")


def is_legacy_torch_file(data: bytes) -> bool:
    """Whether ``data`` starts like ``torch.save``'s legacy stream (its magic number, a plain integer)."""
    try:
        return _PlainData(io.BytesIO(data[:64])).load() == torch.serialization.MAGIC_NUMBER
    except Exception:  # (anything else: not torch's legacy format)
        return False


def read_torch_file(path: Path, budget: Budget) -> Any:
    """The object ``torch.save`` wrote to ``path`` (zip or legacy format), read by the strict unpickler.
    Raises :class:`ForeignGlobal` for a class or function outside the allow-list, :class:`CamError` for a
    crafted or damaged file, and the unpickler's own errors (EOFError, UnpicklingError...) for garbage."""
    if zipfile.is_zipfile(path):
        return _read_zip(path, budget)
    data = path.read_bytes()
    if not is_legacy_torch_file(data):
        raise pickle.UnpicklingError("not a torch.save file")
    return LegacyStorages(data, budget).whole()


class DumpUnpickler(StrictUnpickler):
    """Unpickler that admits only the globals MMAction2 test dumps hold; all else is refused.

    Tensors and arrays are rebuilt through checked stand-ins: their declared sizes are charged to a budget
    proportional to the file (and an absolute cap) before anything is allocated."""

    ALLOWED = _NUMPY_ROLES | {"rebuild_tensor", "load_storage"}

    def __init__(self, file: Any, budget: Budget | None = None) -> None:
        data = file if isinstance(file, bytes) else file.read()
        super().__init__(data, budget or Budget(DUMP, len(data)))
