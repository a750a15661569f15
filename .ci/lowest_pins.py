"""Print requirements.txt with every lower bound as the pin CI tests against (``name>=X,<Y`` -> ``name==X.*``).

``.ci/run`` installs these over the latest versions and runs the suite again, so what requirements.txt
allows is what is tested: the oldest release line each ``>=`` admits (its latest patch), exact pins kept.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def lowest(requirements: str) -> list[str]:
    pins = []
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"^([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)\s*(.*)$", line)
        if match is None:
            raise SystemExit(f"cannot read the requirement {line!r}")
        name, spec = match.groups()
        exact, low = re.search(r"==\s*([^,;\s]+)", spec), re.search(r">=\s*([^,;\s]+)", spec)
        pins.append(f"{name}=={exact.group(1)}" if exact else f"{name}=={low.group(1)}.*" if low else name)
    return pins


if __name__ == "__main__":
    print("\n".join(lowest(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.txt").read_text())))
