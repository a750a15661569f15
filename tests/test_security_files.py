"""Issue 22.1: a checkpoint or a test dump never runs code, crashes the reader or exhausts its memory.

Every file is loaded in a child process under an address-space limit (500 MB above what the child holds
after importing torch), in an empty working folder: the reader returns data or raises CamError; never a
file created, never a signal, never a MemoryError. The attacks are the ones that worked on the loader that
gave torch's ``weights_only`` unpickler MMEngine's classes as safe globals.
"""

from __future__ import annotations

import json
import os
import pickle
import pickletools
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.logging.history_buffer import HistoryBuffer
from pickle_payloads import (
    CALL,
    DICT,
    PICKLE,
    C,
    G,
    crafted_dtype_array,
    history_buffer_chain,
    rezip,
    tensor,
    valid_checkpoint,
    valid_dumps,
    write_zip_checkpoint,
    zero_size_names,
    zip_members,
)

from core.checkpoint import classes_of, read_checkpoint, with_history_buffers
from core.errors import CamError
from core.unpickle import GLOBALS

LIMIT_MB = 500

CHILD = r'''
import json, os, resource, sys
from core.checkpoint import classes_of, read_checkpoint, with_history_buffers
from core.dumps import load_dump
from core.errors import CamError

limit_mb, kind, *paths = sys.argv[1:]
with open("/proc/self/status") as status:
    held = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (held + int(limit_mb) * 2**20, resource.RLIM_INFINITY))
for path in paths:
    print(json.dumps({"start": path}), flush=True)
    try:
        if kind == "checkpoint":
            classes_of(read_checkpoint(path))  # classes_of: what the loader does next with the names
        else:
            load_dump(path)
        outcome = {"file": path, "outcome": "data"}
    except CamError as error:
        outcome = {"file": path, "outcome": "CamError", "message": str(error)}
    except BaseException as error:
        outcome = {"file": path, "outcome": type(error).__name__, "message": str(error)[:300]}
    print(json.dumps(outcome), flush=True)
'''


def load_in_child(kind: str, paths: list[Path], workdir: Path, timeout: int = 300) -> list[dict]:
    """Load ``paths`` one after the other in a child under the address-space limit; each file's outcome.
    A child killed by a signal fails the test naming the file it was reading."""
    workdir.mkdir(parents=True, exist_ok=True)
    before = set(workdir.iterdir())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", CHILD, str(LIMIT_MB), kind, *map(str, paths)], cwd=workdir,
                         capture_output=True, text=True, timeout=timeout, env=env)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    reading = next((line["start"] for line in reversed(lines) if "start" in line), None)
    assert run.returncode == 0, f"the reader died ({run.returncode}) reading {reading}: {run.stderr[-1500:]}"
    assert set(workdir.iterdir()) == before, "loading created a file"
    return [line for line in lines if "outcome" in line]


def _checkpoint(path: Path, value: bytes, **kwargs) -> Path:
    return write_zip_checkpoint(path, PICKLE(b"}" + C("meta") + value + b"s"), **kwargs)


# --------------------------------------------------------------------------- the attacks, one by one


def test_history_buffer_chain_runs_no_command(tmp_path):
    marker = tmp_path / "pwned"
    evil = _checkpoint(tmp_path / "evil.pth", history_buffer_chain(f"import os; os.system('touch {marker}')"))
    assert evil.stat().st_size < 2000  # a 1.4 KB checkpoint ran `touch` without --trust-checkpoint
    from mmengine.logging.history_buffer import HistoryBuffer

    methods = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(CamError, match=r"Refused to read checkpoint .*evil.pth: it looks up the attribute "
                                       r"'__getattribute__'") as error:
        read_checkpoint(evil)
    assert "\n" not in str(error.value) and not marker.exists()
    assert HistoryBuffer._statistics_methods == methods  # the class is not poisoned for the next load
    with pytest.raises(CamError, match="looks up the attribute"):  # trust is offered only for a foreign global
        read_checkpoint(evil, trust_checkpoint=True)
    assert not marker.exists()


@pytest.mark.parametrize("payload, refusal", [
    # _rebuild_from_type_v2 with any function but torch's tensor rebuild, or any type but Tensor/Parameter
    (CALL(G("torch._tensor", "_rebuild_from_type_v2"), G("_codecs", "encode"), G("torch", "Tensor"),
          C(("x", "latin1")), b"}"), "rebuilds a tensor through a function or type torch never writes"),
    (CALL(G("torch._tensor", "_rebuild_from_type_v2"), G("torch._utils", "_rebuild_tensor_v2"),
          G("collections", "OrderedDict"), C(()), b"}"), "rebuilds a tensor through a function or type"),
    # BUILD on a global (setattr on a real function or class) and on an object made elsewhere
    (G("mmengine.logging.history_buffer", "HistoryBuffer") + C({"_statistics_methods": {}}) + b"b",
     "sets attributes of `HistoryBuffer`, an object it did not build"),
    (b"}" + C({"a": 1}) + b"b", "sets attributes of `dict`, an object it did not build"),
    # a HistoryBuffer state MMEngine never writes; getattr of anything but its four statistics
    (G("mmengine.logging.history_buffer", "HistoryBuffer") + b")\x81" + C({"__class__": 1}) + b"b",
     "sets a HistoryBuffer's state"),
    (CALL(G("builtins", "getattr"), G("mmengine.logging.history_buffer", "HistoryBuffer"), C("update")),
     "looks up the attribute 'update'"),
    (CALL(G("builtins", "getattr"), G("collections", "OrderedDict"), C("min")), "looks up the attribute 'min'"),
    # calling a class, constructing anything but a HistoryBuffer record
    (CALL(G("mmengine.logging.history_buffer", "HistoryBuffer"), C([1.0])), "calls HistoryBuffer"),
    (G("collections", "Counter") + C(()) + b"\x81", "constructs objects"),
])
def test_allowed_globals_are_inert(tmp_path, payload, refusal):
    with pytest.raises(CamError, match=refusal):
        read_checkpoint(_checkpoint(tmp_path / "evil.pth", payload))


def test_a_short_pickle_that_is_no_torch_file_runs_nothing(tmp_path, monkeypatch):
    """The first look at a file (is it torch's legacy format? its first 64 bytes) reads no global either."""
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    evil.write_bytes(b"cos\nsystem\n(S'touch pwned'\ntR.")
    assert len(evil.read_bytes()) < 64
    with pytest.raises(CamError, match="is a pickle but not a PyTorch checkpoint"):
        read_checkpoint(evil, trust_checkpoint=True)
    assert not marker.exists()


def test_the_allow_list_is_frozen():
    with pytest.raises(TypeError):
        GLOBALS[("os", "system")] = GLOBALS[("numpy", "dtype")]  # type: ignore[index]
    assert all(type(entry).__name__ == "Global" for entry in GLOBALS.values())


def test_crafted_dtypes_and_sizes_never_reach_numpy_or_the_allocator(tmp_path):
    """One child reads them all: a crafted dtype killed the old loader with SIGSEGV (a 244-byte pickle);
    the others declared a billion names in no bytes, a 1 GiB view of 4 bytes, a 1 GiB storage of 4 bytes,
    and a record inflating 1 MB into 1 GiB."""
    dtype = _checkpoint(tmp_path / "dtype.pth", crafted_dtype_array())
    assert len(zip_members(dtype)["archive/data.pkl"]) < 300
    names = _checkpoint(tmp_path / "names.pth", DICT(dataset_meta=DICT(classes=zero_size_names())))
    broadcast = write_zip_checkpoint(tmp_path / "view.pth", PICKLE(DICT(
        state_dict=b"}" + C("w") + tensor("0", 1, (2**28,), (0,)) + b"s")), records={"0": bytes(4)})
    storage = write_zip_checkpoint(tmp_path / "storage.pth", PICKLE(DICT(
        state_dict=b"}" + C("w") + tensor("0", 2**28, (2**28,), (1,)) + b"s")), records={"0": bytes(4)})
    inflating = write_zip_checkpoint(tmp_path / "zip.pth", PICKLE(DICT(
        state_dict=b"}" + C("w") + tensor("0", 2**28, (2**28,), (1,)) + b"s")), compressed={"0": 1 << 30})
    assert inflating.stat().st_size < 1.1e6  # 1 GiB of zeros in a 1 MB file
    outcomes = load_in_child("checkpoint", [dtype, names, broadcast, storage, inflating], tmp_path / "work")
    assert [o["outcome"] for o in outcomes] == ["CamError"] * 5, outcomes
    messages = [o["message"] for o in outcomes[1:]]
    assert "declares the array type 'V8'" in outcomes[0]["message"]
    assert "declares the array type 'U0'" in messages[0]
    assert "declares a tensor of 1.0 GiB, more array data than" in messages[1]
    assert "a tensor storage declares 1.0 GiB but its record holds 4 bytes" in messages[2]
    assert "holds a compressed record (archive/data/0)" in messages[3]


def test_a_legitimate_checkpoint_reads_as_plain_data(tmp_path):
    path = valid_checkpoint(tmp_path / "ok.pth")
    ours, theirs = read_checkpoint(path), torch.load(path, weights_only=False)
    for key, value in theirs["state_dict"].items():
        assert torch.equal(ours["state_dict"][key], value) and ours["state_dict"][key].dtype == value.dtype
    assert ours["state_dict"]._metadata == theirs["state_dict"]._metadata  # load_state_dict reads versions
    assert ours["meta"]["epoch"] == 3 and ours["meta"]["epoch"].dtype == np.int64
    assert np.array_equal(ours["meta"]["curve"], theirs["meta"]["curve"])
    assert classes_of(ours) == ["run", "jump"] and ours["counts"] == Counter({1: 2})
    history = ours["message_hub"]["log_scalars"]["lr"]
    assert type(history) is dict and history["_log_history"].tolist() == [0.1, 0.2]  # data, not a HistoryBuffer
    resumed = with_history_buffers(ours)["message_hub"]["log_scalars"]["lr"]  # what `core.mm train --resume` gets
    assert isinstance(resumed, HistoryBuffer) and resumed.current() == 0.2 and resumed.mean() == pytest.approx(0.15)
    assert resumed._count_history.tolist() == theirs["message_hub"]["log_scalars"]["lr"]._count_history.tolist()
    legacy = tmp_path / "legacy.pth"  # torch.save's format before 1.6 reads the same
    torch.save(theirs["state_dict"], legacy, _use_new_zipfile_serialization=False)
    for key, value in read_checkpoint(legacy).items():
        assert torch.equal(value, theirs["state_dict"][key])


# --------------------------------------------------------------------------- fuzzing


INSERTS = [b"b", b"R", b"\x81", b"0", b"2", b"(", b"t", b")", b"}", b"]", b"N", b"s", b"a", b"u", b"e", b"Q",
           C(10**9), C(-1), C((2**31 - 1,)), C("__class__"), C(b"\x01" * 8),
           *(G(module, name) for module, name in GLOBALS), G("os", "system"), G("builtins", "eval")]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1 to 3 opcode-level edits of a pickle: drop, repeat or move an opcode, insert one (a global of the
    allow-list among them), replace an argument by an extreme one, or flip a byte."""
    for _ in range(rng.randint(1, 3)):
        try:
            starts = [pos for _, _, pos in pickletools.genops(data)]
        except Exception:  # (an earlier edit broke the stream: edit the bytes)
            starts = list(range(len(data)))
        bounds = list(zip(starts, [*starts[1:], len(data)], strict=True))
        start, end = bounds[rng.randrange(len(bounds))]
        choice = rng.randrange(6)
        if choice == 0:
            data = data[:start] + data[end:]
        elif choice == 1:
            data = data[:end] + data[start:end] + data[end:]
        elif choice == 2:
            other_start, other_end = bounds[rng.randrange(len(bounds))]
            data = data[:start] + data[other_start:other_end] + data[end:]
        elif choice == 3:
            data = data[:start] + rng.choice(INSERTS) + data[start:]
        elif choice == 4 and end - start > 1:
            data = data[:start + 1] + bytes(rng.choice([0, 255]) for _ in range(end - start - 1)) + data[end:]
        else:
            at = rng.randrange(len(data))
            data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]
    return data


def fuzz_cases(folder: Path, count: int, seed: int) -> tuple[list[Path], list[Path]]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    members = zip_members(valid_checkpoint(folder / "valid.pth"))
    data_pkl = next(name for name in members if name.endswith("/data.pkl"))
    checkpoints, dumps = [], []
    for i in range(count):
        changed = dict(members, **{data_pkl: mutate(members[data_pkl], rng)})
        checkpoints.append(rezip(folder / f"c{i}.pth", changed))
        dump = folder / f"d{i}.pkl"
        dump.write_bytes(mutate(rng.choice(valid_dumps()), rng))
        dumps.append(dump)
    return checkpoints, dumps


def _fuzz(tmp_path: Path, count: int, seed: int) -> None:
    checkpoints, dumps = fuzz_cases(tmp_path / "cases", count, seed)
    for kind, paths in (("checkpoint", checkpoints), ("dump", dumps)):
        outcomes = load_in_child(kind, paths, tmp_path / "work", timeout=1200)
        assert len(outcomes) == len(paths)
        wrong = [o for o in outcomes if o["outcome"] not in ("data", "CamError")]
        assert not wrong, wrong[:5]
        assert all("\n" not in o.get("message", "") for o in outcomes)
        assert any(o["outcome"] == "data" for o in outcomes)  # the mutations leave some files readable


def test_fuzzed_checkpoints_and_dumps_return_data_or_one_sentence(tmp_path):
    _fuzz(tmp_path, 200, seed=22)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_fuzzed_checkpoints_and_dumps_many(tmp_path, seed):
    _fuzz(tmp_path, 1000, seed=1000 + seed)


def test_fuzzing_reaches_the_readers_refusals():
    """The mutations are not all rejected at the first byte: they reach the allow-list and the size checks."""
    rng = random.Random(5)
    base = pickle.dumps([np.arange(3.0)], protocol=2)
    assert len({mutate(base, rng) for _ in range(50)}) > 40
