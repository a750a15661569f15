"""Reading a test dump: the list ``tools/test.py --dump`` pickled, through :class:`core.unpickle.DumpUnpickler`.

Users share these pickles, so they are never given to ``pickle.load``: only the globals real dumps contain
are admitted, as inert stand-ins, and ``torch.storage._load_from_bytes`` (which calls
``torch.load(weights_only=False)`` on bytes from the file) is read by the same strict unpickler.
"""

from __future__ import annotations

import os

from core import access
from core.errors import CamError, first_line
from core.limits import bytes_from_env
from core.unpickle import DUMP, Budget, DumpUnpickler
from core.unpickle import size_text as _size

DUMP_LIMIT_ENV = "MMCAM_DUMP_MAX_BYTES"
DEFAULT_DUMP_LIMIT = 4 << 30  # bytes of array and tensor data one dump may declare (absolute cap)


def dump_limit() -> int:
    """The absolute cap on the array data a dump may declare: ``$MMCAM_DUMP_MAX_BYTES``, else 4 GiB."""
    return bytes_from_env(DUMP_LIMIT_ENV, DEFAULT_DUMP_LIMIT)


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
        data = DumpUnpickler(path.read_bytes(), Budget(DUMP, size, limit)).load()
    except CamError:
        raise
    except FileNotFoundError as err:
        raise CamError(f"{path} does not exist") from err
    except IsADirectoryError as err:
        raise CamError(f"{path} is a folder, not a results pickle") from err
    except RecursionError:  # not chained: its traceback is thousands of frames
        raise CamError(f"{path} nests deeper than any test dump (a damaged or crafted file)") from None
    except MemoryError:  # a cap failed to foresee it: a bug to report, not a damaged file
        raise
    except Exception as error:
        raise CamError(f"{path} is not a readable results pickle (truncated or not a pickle: "
                       f"{error.__class__.__name__}: {first_line(error)})") from error
    if not isinstance(data, list) or not data:
        what = "an empty list" if isinstance(data, list) else type(data).__name__
        raise CamError(f"{path} holds {what}, not a list of per-sample predictions")
    return data
