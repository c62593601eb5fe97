"""Run the code blocks of a Markdown page, in order, as the reader would.

A fenced block is *runnable* when its language is ``python`` or ``bash``; the blocks of one
page share a working folder, a ``VIGIL_HOME`` and (python) one namespace, so a later block
may use what an earlier one made. Two HTML comments, on the line before a fence, change
that:

- ``<!-- not-run: REASON -->``: the block is shown only (it needs a service the tests do not
  have, or starts something that never ends); the reason is required.
- ``<!-- file: NAME -->``: the block is written to ``NAME`` in the working folder at that
  point (a ``vigil.toml`` that the next block applies), whatever its language.

Other blocks are checked for what they are: ``toml``, ``json`` and ``yaml`` must parse, and
TOML with rules, notifiers or actions must pass ``vigil rules apply``'s validation; any
other language must be marked ``not-run``. When a runnable block mentions
``127.0.0.1:8765`` or ``localhost:8765``, the page gets a real ``vigil server`` on a free
port (the address is rewritten), on the same SQLite file the page's ``vigil`` commands use.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

from support.servers import free_port, wait_ready

RUNNABLE = ("python", "bash")
PARSED = ("toml", "json", "yaml")
_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.M | re.S
)
_MARK = re.compile(r"<!--\s*(not-run|file):\s*(.*?)\s*-->\s*$")
_SERVER = re.compile(r"(?:127\.0\.0\.1|localhost):8765")


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, code (dedented), line and marks."""

    lang: str
    code: str
    line: int
    not_run: str | None = None  # the reason, when marked
    file: str | None = None  # write the block to this file instead of running it

    @property
    def runs(self) -> bool:
        return self.lang in RUNNABLE and self.not_run is None and self.file is None


def blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, in order, with its marks."""
    out = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        mark = _MARK.search(before)
        kind, value = (mark.group(1), mark.group(2)) if mark else (None, None)
        if kind == "not-run" and not value:
            raise ValueError(f"line {line}: a not-run mark needs a reason")
        out.append(
            Block(
                lang=match.group("lang"),
                line=line,
                code=textwrap.dedent(match.group("body")),
                not_run=value if kind == "not-run" else None,
                file=value if kind == "file" else None,
            )
        )
    return out


def check_static(name: str, block: Block) -> None:
    """A block that does not run must parse (configuration) or carry a not-run mark."""
    where = f"{name}:{block.line}"
    if block.lang == "toml":
        data = tomllib.loads(block.code)
        if set(data) & {"rules", "notifiers", "actions", "routes", "inhibit"}:
            # rules as code: vigil's own validator, as `vigil rules apply` runs it
            from vigil.engine.alerts.apply import parse_config

            parse_config(block.code, where)
    elif block.lang == "json":
        json.loads(block.code)
    elif block.lang == "yaml":
        yaml.safe_load(block.code)
    elif not block.runs and block.not_run is None and block.file is None:
        raise AssertionError(
            f"{where}: a ```{block.lang or '(no language)'} block must be "
            "runnable (python, bash), parse (toml, json, yaml) or be marked "
            "<!-- not-run: why -->"
        )


def _driver(name: str, steps: list[Block]) -> str:
    """A script that runs the steps in order: python in one namespace, bash with -e."""
    lines = ["import subprocess, sys", "ns = {'__name__': '__main__'}"]
    for block in steps:
        where = f"{name}:{block.line}"
        if block.file is not None:
            lines.append(f"open({block.file!r}, 'w', encoding='utf-8').write({block.code!r})")
        elif block.lang == "python":
            lines.append(f"print('--- run', {where!r}, flush=True)")
            lines.append(f"exec(compile({block.code!r}, {where!r}, 'exec'), ns)")
        else:
            lines.append(f"print('--- run', {where!r}, flush=True)")
            lines.append(f"r = subprocess.run(['bash', '-euo', 'pipefail', '-c', {block.code!r}])")
            lines.append(f"r.returncode and sys.exit(f'{where}: bash exited {{r.returncode}}')")
    return "\n".join(lines) + "\n"


def run_page(path: Path, workdir: Path, *, root: Path, timeout_s: float = 300) -> str:
    """Run every runnable block of the page at ``path`` in ``workdir``; return the output.

    Raises AssertionError with the output when a block fails.
    """
    name = path.name
    steps = [b for b in blocks(path.read_text(encoding="utf-8")) if b.runs or b.file]
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{home}/vigil.db"
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "VIGIL_HOME": str(home),
        "VIGIL_DB_URL": db_url,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "COLUMNS": "100",
    }
    server = None
    server_log = workdir / "_server.log"
    if any(b.runs and _SERVER.search(b.code) for b in steps):
        port = free_port()
        # The server's log goes to a file: a pipe nobody reads could fill and stall it.
        with server_log.open("wb") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vigil.cli.main",
                    "server",
                    "--db",
                    db_url,
                    "--port",
                    str(port),
                    "--home",
                    str(home),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_ready(f"http://127.0.0.1:{port}", proc=server)
        steps = [
            Block(b.lang, _SERVER.sub(f"127.0.0.1:{port}", b.code), b.line, b.not_run, b.file)
            for b in steps
        ]
    try:
        script = workdir / "_page.py"
        script.write_text(_driver(name, steps), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and server is not None:
        output += "\n--- server log\n" + server_log.read_text(errors="replace")[-3000:]
    assert proc.returncode == 0, f"{name} failed:\n{output[-8000:]}"
    return output
