"""``vigil registry``: the whole workflow on SQLite, and one-line errors."""

from __future__ import annotations

import json
import os
import stat

import pytest

from vigil.cli.main import main


@pytest.fixture
def cli(tmp_path, capsys):
    home = tmp_path / "home"
    common = ["--db", f"sqlite:///{home / 'vigil.db'}", "--home", str(home)]

    def run(*args: str) -> tuple[int, str, str]:
        argv = ["registry", *args, *common]
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    run.home = home  # type: ignore[attr-defined]
    return run


def test_registry_cli_workflow(cli, artifacts, tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("x\n1\n")
    code, out, _ = cli(
        "register",
        "churn",
        "1",
        str(artifacts / "model1.pkl"),
        "--framework",
        "sklearn",
        "--metric",
        "auc=0.8",
        "--tag",
        "team=risk",
        "--commit",
        "abc123",
        "--data",
        str(data),
    )
    assert code == 0 and "Registered churn:1" in out and "signed by key" in out
    assert cli("register", "churn", "2", str(artifacts / "tree"), "--metric", "auc=0.9")[0] == 0
    assert cli("promote", "churn", "production", "1", "--reason", "launch")[0] == 0
    code, out, _ = cli("promote", "churn", "production", "2", "--expect-revision", "1")
    assert code == 0 and "churn@production -> 2 (revision 2)" in out
    code, _, err = cli("promote", "churn", "production", "1", "--expect-revision", "1")
    assert code == 1 and err.startswith("error: Alias 'production' is at revision 2")
    assert "Traceback" not in err
    code, out, _ = cli("list", "churn")
    assert code == 0 and "production" in out and "sklearn" in out
    code, out, _ = cli("show", "churn@production")
    shown = json.loads(out)
    assert shown["version"] == "2" and len(shown["manifest"]) == 2
    code, out, _ = cli("show", "churn:1")
    assert json.loads(out)["lineage"]["code_commit"] == "abc123"
    code, out, _ = cli("diff", "churn", "1", "2", "--json")
    assert json.loads(out)["offline_metrics"]["auc"] == {"1": 0.8, "2": 0.9}
    code, out, _ = cli("diff", "churn", "1", "2")
    assert code == 0 and "offline auc" in out and "files: 2 added, 1 removed" in out
    code, out, _ = cli("verify", "churn@production")
    assert code == 0 and out.startswith("OK churn:2")
    code, out, _ = cli("rollback", "churn", "production", "--reason", "bad")
    assert code == 0 and "churn@production: 2 -> 1" in out
    code, out, _ = cli("history", "churn", "production")
    assert code == 0 and "rollback" in out and "launch" in out
    code, out, _ = cli(
        "policy", "churn", "production", "--max", "error_rate=0.1", "--notify", "oncall"
    )
    assert code == 0 and '"error_rate": 0.1' in out and '"notify": ["oncall"]' in out
    code, out, _ = cli("policy", "churn", "production", "--disable")
    assert code == 0 and "disabled" in out


def test_registry_cli_refuses_tampered_artifact_in_one_line(cli, artifacts):
    cli("register", "churn", "1", str(artifacts / "model1.pkl"))
    blobs = [p for p in (cli.home / "artifacts" / "blobs").rglob("*") if p.is_file()]
    os.chmod(blobs[0], stat.S_IRUSR | stat.S_IWUSR)
    blobs[0].write_bytes(b"evil")
    code, _, err = cli("verify", "churn:1")
    assert code == 1 and err.startswith("error: The artifact file 'model1.pkl' was altered")
    assert len(err.strip().splitlines()) <= 2  # one message (wrapped at most once)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("register", "churn", "1", "missing.pkl"), "does not exist"),
        (("register", "churn", "1", "--metric", "auc"), "KEY=VALUE"),
        (("register", "churn", "1", "--metric", "auc=high"), "must be a number"),
        (("show", "churn"), "'name@alias' or 'name:version'"),
        (("promote", "ghost", "production", "1"), "not registered"),
        (("policy", "churn", "production", "--max", "nope=1"), "Unknown metric"),
    ],
)
def test_registry_cli_bad_input(cli, args, needle, artifacts):
    cli("register", "churn", "0", str(artifacts / "model1.pkl"))
    code, _, err = cli(*args)
    assert code == 1 and needle in err and "Traceback" not in err
