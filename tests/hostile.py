"""What the tests of hostile files share: running a step in a fresh child process and measuring its peak
memory there (the kernel's high-water mark, reset after the imports), so that a bomb costs the test
nothing but the child."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from conftest import ROOT

_CHILD = """
import json, os, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))  # a bomb that gets through fails here, not the machine
{setup}
def _rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
before = _rss("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM to the current RSS
error = None
try:
{step}
except BaseException as caught:
    error = f"{{type(caught).__name__}}: {{caught}}"
print(json.dumps({{"extra": _rss("VmHWM:") - before, "error": error}}))
"""


def peak_in_child(setup: str, step: str, *, limit_gb: float = 6, timeout: float = 120) -> dict:
    """Run ``setup`` (imports, not measured) then ``step`` in a fresh Python under an address-space limit of
    ``limit_gb``; returns ``{"extra": peak bytes above the RSS before the step, "error": "Type: message" or
    None}``."""
    code = _CHILD.format(limit=int(limit_gb * 2**30), setup=textwrap.dedent(setup),
                         step=textwrap.indent(textwrap.dedent(step), "    "))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
