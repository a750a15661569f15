"""MMAction2's own ``tools/train.py`` and ``tools/test.py``, run unchanged in this environment.

The mmaction2 1.2.0 wheel ships both scripts (``mmaction/.mim/tools/``), but here they fail: the wheel lacks
``mmaction.models.localizers.drn`` and imports ``importlib_metadata`` undeclared, and ``tools/test.py`` (or
``train.py --resume``) cannot load the runner checkpoints training writes (``torch.load`` defaults to
``weights_only=True`` on torch>=2.6 and refuses MMEngine's ``HistoryBuffer``). This module applies the
project's fixes (:mod:`core._compat`) and puts the project's safe checkpoint reader
(:func:`core.checkpoint.read_checkpoint`: plain data through :mod:`core.unpickle`, the message hub's histories
made ``HistoryBuffer`` objects again for a resume) behind MMEngine's loader for local files, then runs the
script as ``python tools/X.py`` would::

    python -m core.mm train CONFIG [train.py options]            # e.g. --work-dir work_dirs/tsn --seed 0
    python -m core.mm test CONFIG CHECKPOINT --dump results.pkl [test.py options]

Nothing is unpickled in full unless ``--trust-checkpoint`` is given (for checkpoints you made yourself);
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is never needed. After ``test --dump``, the dump's checkpoint and config
are recorded beside it (``results.pkl.source.json``, :func:`core.dumps.record_source`), so the Test results
page and the Training runs page know which checkpoint made it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import runpy
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from core import _compat  # noqa: F401  (the mmaction2 wheel fixes, before the scripts import mmaction)
from core.checkpoint import read_checkpoint, with_history_buffers
from core.dumps import record_source
from core.errors import CamError, describe_error, run_command

TOOLS = ("train", "test")
TRUST_FLAG = "--trust-checkpoint"
TRACEBACK_ENV = "MMCAM_TRACEBACK"  # set to 1 to see the traceback of an error inside MMAction2's scripts


def tool_script(name: str) -> Path:
    """The wheel's ``mmaction/.mim/tools/<name>.py``."""
    if name not in TOOLS:
        raise CamError(f"Unknown tool {name!r}; use one of: {', '.join(TOOLS)}.")
    spec = importlib.util.find_spec("mmaction")
    if spec is None or spec.origin is None:
        raise CamError("mmaction2 is not installed; pip install -r requirements.txt first.")
    script = Path(spec.origin).parent / ".mim" / "tools" / f"{name}.py"
    if not script.is_file():
        raise CamError(f"This mmaction2 install has no {script}; install the mmaction2 wheel (pip) or run "
                       f"tools/{name}.py from an MMAction2 checkout.")
    return script


def _local_loader(trust_checkpoint: bool) -> Callable[[str, Any], dict]:
    """MMEngine's loader for local files (``CheckpointLoader`` prefix ``''``), reading through
    :func:`core.checkpoint.read_checkpoint` instead of a bare ``torch.load``."""
    def load_from_local(filename: str, map_location: Any = None) -> dict:
        # onto the CPU whatever map_location says: load_state_dict copies into the model's device, and the
        # optimizer's load_state_dict casts its state to its parameters' device, as for map_location='cpu'
        path = Path(os.path.expanduser(filename))
        if not path.is_file():
            raise FileNotFoundError(f"{filename} can not be found.")  # MMEngine's own wording
        return with_history_buffers(read_checkpoint(path, trust_checkpoint=trust_checkpoint))

    return load_from_local


@contextlib.contextmanager
def safe_checkpoint_loading(trust_checkpoint: bool = False) -> Iterator[None]:
    """While inside, every local checkpoint MMEngine loads (``load_from``, ``--resume``, test's CHECKPOINT)
    goes through :func:`core.checkpoint.read_checkpoint`; the previous loader is restored on exit."""
    from mmengine.runner.checkpoint import CheckpointLoader

    previous = CheckpointLoader._schemes.get("")
    CheckpointLoader.register_scheme(prefixes="", loader=_local_loader(trust_checkpoint), force=True)
    try:
        yield
    finally:
        if previous is not None:
            CheckpointLoader.register_scheme(prefixes="", loader=previous, force=True)


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


def _test_files(argv: Sequence[str]) -> tuple[str | None, str | None, str | None]:
    """CONFIG, CHECKPOINT and ``--dump`` of a train.py/test.py command line (None where absent). The positionals
    are read where MMAction2's usage puts them, first; an unusual order is left to the scripts themselves."""
    args = list(argv)
    positional: list[str | None] = []
    for arg in args[:2]:
        if arg.startswith("-"):
            break
        positional.append(arg)
    dump = None
    for i, arg in enumerate(args):
        if arg == "--dump" and i + 1 < len(args):
            dump = args[i + 1]
        elif arg.startswith("--dump="):
            dump = arg.split("=", 1)[1]
    positional += [None, None]
    return positional[0], positional[1], dump


def _check_inputs(tool: str, argv: Sequence[str]) -> None:
    """One sentence for what the scripts would meet with an assertion or a traceback."""
    if any(a in ("-h", "--help") for a in argv):
        return
    config, checkpoint, dump = _test_files(argv)
    if config is not None and not Path(config).is_file():
        raise CamError(f"Config {config} does not exist; pass the path of an MMAction2 config (.py).")
    if tool != "test":
        return
    if checkpoint is None:
        raise CamError("test needs CONFIG and CHECKPOINT: python -m core.mm test CONFIG CHECKPOINT --dump results.pkl")
    if "://" not in checkpoint and not Path(checkpoint).expanduser().is_file():
        raise CamError(f"Checkpoint {checkpoint} does not exist; pass a .pth file (e.g. work_dirs/NAME/best_*.pth).")
    if dump is not None and not dump.endswith((".pkl", ".pickle")):
        raise CamError(f"--dump {dump}: the dump must be a .pkl or .pickle file (tools/test.py refuses others).")


def run_tool(tool: str, argv: Sequence[str], *, trust_checkpoint: bool = False) -> None:
    """Run MMAction2's ``tools/<tool>.py`` with ``argv`` (its own options) as ``python tools/<tool>.py`` would,
    with the wheel fixes and the safe checkpoint reader applied. After ``test --dump``, record the dump's
    checkpoint and config beside it."""
    script = tool_script(tool)
    argv = list(argv)
    _check_inputs(tool, argv)
    with safe_checkpoint_loading(trust_checkpoint), _argv([str(script), *argv]):
        runpy.run_path(str(script), run_name="__main__")
    config, checkpoint, dump = _test_files(argv)
    if tool == "test" and dump and checkpoint and Path(dump).is_file():
        record_source(dump, checkpoint=checkpoint, config=config, recorded_by="python -m core.mm test")


USAGE = """usage: python -m core.mm {train,test} [--trust-checkpoint] ARGS...

Run MMAction2's own tools/train.py or tools/test.py (from the mmaction2 wheel), unchanged, with this
project's fixes for the wheel and its safe checkpoint loading. ARGS are the script's own:

  python -m core.mm train CONFIG [--work-dir DIR] [--resume [CKPT]] [--seed N] [--cfg-options ...]
  python -m core.mm test CONFIG CHECKPOINT --dump results.pkl [--work-dir DIR] [--cfg-options ...]

`python -m core.mm train --help` prints train.py's own options. Checkpoints load with
torch.load(weights_only=True) and an allow-list of what MMEngine runner checkpoints hold; --trust-checkpoint
allows a full unpickle (it can run code: only for checkpoints you made yourself). After test --dump, the
checkpoint and config are recorded in results.pkl.source.json beside the dump. An error inside the scripts
prints one line; set MMCAM_TRACEBACK=1 to see its traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    tool, rest = args[0], args[1:]
    trust = TRUST_FLAG in rest
    rest = [a for a in rest if a != TRUST_FLAG]

    def action() -> int:
        try:
            run_tool(tool, rest, trust_checkpoint=trust)
        except (CamError, SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:
            if os.environ.get(TRACEBACK_ENV):
                raise
            script = f"MMAction2's tools/{tool}.py" if tool in TOOLS else "the tool"
            print(f"error: {describe_error(err)} (in {script}; set {TRACEBACK_ENV}=1 for the traceback)",
                  file=sys.stderr)
            return 1
        return 0

    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
