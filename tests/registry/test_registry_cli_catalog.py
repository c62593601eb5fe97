"""``vigil registry`` as a person runs it: the real console script in a subprocess, scans
at register, edits with history in the OS user's name, archive/deprecate/search, and one
line (never a traceback) for every usage error."""

from __future__ import annotations

import getpass
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture
def vigil(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "250"  # wide tables, so cells are not cut

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "vigil.cli.main",
                "registry",
                *args,
                "--db",
                f"sqlite:///{home / 'vigil.db'}",
                "--home",
                str(home),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    return run


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_register_refuses_a_pickle_that_runs_code_unless_allowed(vigil, tmp_path):
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps(_Payload()))
    result = vigil("register", "churn", "1", str(evil))
    assert result.returncode == 1
    assert result.stderr.startswith("error: Version '1' of 'churn' imports dangerous code")
    assert "system" in result.stderr and "Traceback" not in result.stderr
    assert "--allow module.name" in result.stderr
    # not registered: nothing to promote
    result = vigil("promote", "churn", "production", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    from vigil.registry import scan_artifact

    dangerous = scan_artifact(evil).dangerous[0].split(": ")[1]
    assert "Registered churn:1" in _ok(
        vigil("register", "churn", "1", str(evil), "--allow", dangerous)
    )
    # load checks again without the allowance
    result = vigil("verify", "churn:1")
    assert result.returncode == 1 and "dangerous code" in result.stderr


def test_edit_archive_deprecate_search_in_the_os_users_name(vigil, tmp_path):
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps({"weights": [1, 2]}))
    _ok(
        vigil(
            "register", "churn", "1", str(model), "--metric", "accuracy=0.81", "--tag", "team=risk"
        )
    )
    _ok(
        vigil(
            "register",
            "churn",
            "2",
            str(model),
            "--metric",
            "accuracy=0.93",
            "--tag",
            "team=risk",
            "--actor",
            "ana",
        )
    )
    _ok(vigil("promote", "churn", "production", "2", "--reason", "better"))
    out = _ok(
        vigil(
            "edit",
            "churn",
            "1",
            "--note",
            "baseline",
            "--tag",
            "stage=old",
            "--untag",
            "team",
            "--reason",
            "tidy",
        )
    )
    assert "stage=old" in out and "baseline" in out
    shown = json.loads(_ok(vigil("show", "churn:1")))
    assert shown["notes"] == "baseline" and shown["tags"] == {"stage": "old"}
    (entry,) = shown["history"]
    assert entry["actor"] == getpass.getuser() and entry["reason"] == "tidy"
    assert entry["changes"]["tags"]["removed"] == {"team": "risk"}
    assert json.loads(_ok(vigil("show", "churn:2")))["created_by"] == "ana"

    result = vigil("archive", "churn", "2")  # production serves it
    assert result.returncode == 1 and "served by alias(es) production" in result.stderr
    _ok(vigil("archive", "churn", "1", "--reason", "superseded", "--actor", "ana"))
    result = vigil("promote", "churn", "staging", "1")
    assert result.returncode == 1 and "'1' is archived" in result.stderr
    listed = _ok(vigil("list", "churn"))
    assert "archived" not in listed and "production" in listed
    row = next(line for line in listed.splitlines() if "production" in line)
    assert "│ 1 " in row  # the files column is filled
    assert "archived" in _ok(vigil("list", "churn", "--all"))

    found = json.loads(_ok(vigil("search", "--metric", "accuracy>=0.9", "--json")))
    assert [(r["model"], r["version"]) for r in found] == [("churn", "2")]
    found = json.loads(_ok(vigil("search", "--tag", "stage=old", "--all", "--json")))
    assert [r["version"] for r in found] == ["1"]
    assert json.loads(_ok(vigil("search", "--tag", "stage=old", "--json"))) == []

    _ok(vigil("deprecate", "churn", "2", "--reason", "retrain due"))
    result = vigil("verify", "churn@production")
    assert result.returncode == 0 and "churn:2 is deprecated" in result.stderr
    history = json.loads(_ok(vigil("show", "churn:1")))["history"]
    assert [(h["action"], h["actor"]) for h in history] == [
        ("edit", getpass.getuser()),
        ("archive", "ana"),
    ]


USAGE_ERRORS = [
    (("register", "churn", "1", "--tga", "x"), 2, "No such option: --tga"),
    (("history", "churn"), 2, "Missing argument"),
    (("canary", "churn", "production", "2", "--share", "lots"), 2, "Invalid value for '--share'"),
    (("list", "nobody"), 1, "error: Model 'nobody' is not registered"),
    (("show", "churn:9"), 1, "error: Model 'churn' has no version '9'"),
    (("edit", "churn", "1", "--tag", "team"), 1, "error: --tag takes KEY=VALUE"),
    (("edit", "churn", "9", "--note", "x"), 1, "error: Model 'churn' has no version '9'"),
    (("search", "--metric", "accuracy>>1"), 1, "error: A metric filter is NAME OP NUMBER"),
    (("archive", "churn", "1", "--actor", " "), 1, "error: --actor must be"),
    (
        ("register", "churn", "2", "--signing-key", "/nonexistent/key.pem"),
        1,
        "error: --signing-key '/nonexistent/key.pem' is not a file",
    ),
]


def test_usage_errors_are_one_line_without_traceback(vigil):
    _ok(vigil("register", "churn", "1"))
    for args, code, needle in USAGE_ERRORS:
        result = vigil(*args)
        assert result.returncode == code, (args, result.stderr)
        assert needle in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout, args
