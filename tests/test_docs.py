"""Every command the README and docs/ show parses: its CLI exists and knows every flag the command names.

Commands are the ``python -m core…`` / ``python -m tools…`` lines of fenced code blocks (with their ``\\``
continuations) and the inline code spans that start with one. Each CLI's ``--help`` runs once (and, for a
command whose first argument is a bare word such as ``train`` or ``paths``, that subcommand's ``--help``), in one
child process so the imports are paid once; a flag counts as known when either help text names it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"python -m ((?:core|tools)(?:\.\w+)*)(?=\s|$)(.*)")
FLAG = re.compile(r"(?<![\w.-])--[A-Za-z][\w-]*")
SUBCOMMAND = re.compile(r"[a-z]+")

# Runs each CLI's --help in-process (runpy, as `python -m` does) and prints {"module sub": help text}.
HELP_RUNNER = """
import contextlib, io, json, runpy, sys
out = {}
for key in json.loads(sys.argv[1]):
    module, *sub = key.split(" ")
    sys.argv = [module, *sub, "--help"]
    text = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(io.StringIO()):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except Exception as err:  # a CLI that cannot even print its help: reported, not raised
            code = f"{type(err).__name__}: {err}"
    out[key] = {"code": code, "help": text.getvalue()}
print(json.dumps(out))
"""


def shown_commands(text: str) -> list[str]:
    """The ``python -m core…``/``tools…`` commands of one Markdown page, continuation lines joined."""
    commands, fenced = [], False
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            while line.rstrip().endswith("\\"):
                line = line.rstrip()[:-1].rstrip() + " " + next(lines, "").strip()
            commands += [match.group(0) for match in COMMAND.finditer(line)]
        else:
            commands += [span for span in re.findall(r"`([^`]+)`", line) if COMMAND.match(span)]
    return commands


def parsed(command: str) -> tuple[str, str | None, list[str]]:
    """(module, subcommand or None, flags) of one shown command."""
    match = COMMAND.match(command)
    assert match, command
    module, rest = match.group(1), match.group(2)
    words = rest.split()
    sub = words[0] if words and SUBCOMMAND.fullmatch(words[0]) else None
    return module, sub, FLAG.findall(rest)


def all_commands() -> list[tuple[str, str]]:
    return [(page.relative_to(ROOT).as_posix(), command)
            for page in PAGES for command in shown_commands(page.read_text(encoding="utf-8"))]


def test_the_scanner_finds_fenced_continued_and_inline_commands():
    text = ("Run `python -m core.gaze a b --json` or `ls`.\n```bash\n"
            "python -m core.batch C K v/ \\\n    --out o/ --target gt   # comment --force\n"
            "ray start --head\n```\n")
    assert shown_commands(text) == ["python -m core.gaze a b --json",
                                    "python -m core.batch C K v/ --out o/ --target gt   # comment --force"]
    assert parsed("python -m core.mm test C K --dump r.pkl") == ("core.mm", "test", ["--dump"])
    assert parsed("python -m core.vis_cam C K v.mp4 --cfg-options a.b=1") == ("core.vis_cam", None, ["--cfg-options"])


@pytest.fixture(scope="module")
def helps() -> dict[str, dict]:
    keys = sorted({module for _, command in all_commands() for module, _, _ in [parsed(command)]}
                  | {f"{module} {sub}" for _, command in all_commands()
                     for module, sub, _ in [parsed(command)] if sub})
    done = subprocess.run([sys.executable, "-c", HELP_RUNNER, json.dumps(keys)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_pages_show_commands_of_every_cli():
    modules = {parsed(command)[0] for _, command in all_commands()}
    assert {"core.vis_cam", "core.batch", "core.gaze", "core.study", "core.evaluate", "core.dumps", "core.mm",
            "core.demo", "tools.bench"} <= modules


def test_every_shown_command_names_a_cli_and_only_its_flags(helps):
    broken = []
    for page, command in all_commands():
        module, sub, flags = parsed(command)
        main = helps[module]
        if main["code"] != 0 or "usage:" not in main["help"]:
            broken.append(f"{page}: `{command}`: `python -m {module} --help` fails ({main['code']})")
            continue
        known = main["help"] + (helps[f"{module} {sub}"]["help"] if sub else "")
        unknown = [flag for flag in flags if not re.search(re.escape(flag) + r"(?![\w-])", known)]
        if unknown:
            broken.append(f"{page}: `{command}`: {module} has no {', '.join(unknown)}")
    assert broken == []
