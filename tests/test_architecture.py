"""The architecture holds: the import contracts of pyproject.toml pass, and they can fail.

``[tool.importlinter]`` in pyproject.toml encodes DESIGN.md's dependency direction (layers,
statistics without storage, the SDK without the server, SQL only in the store, no cycles
between the domains of ``store/`` and ``engine/``); ARCHITECTURE.md draws the same picture.
These tests keep both true: the contracts pass on the package, each kind of breakage makes
``lint-imports`` fail (shown on a copy of the package with one violating module added),
and ARCHITECTURE.md names every domain subpackage.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` (its entry point, in this interpreter) on the package under
    ``root`` with its pyproject.toml."""
    cmd = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [*cmd, "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout), result.stdout


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """vigil's Python files and pyproject.toml, copied once; each test adds to a copy."""
    base = tmp_path_factory.mktemp("arch") / "base"
    shutil.copytree(
        ROOT / "vigil",
        base / "vigil",
        ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", "static", "templates", "*.parquet", "*.csv"
        ),
    )
    shutil.copy(ROOT / "pyproject.toml", base / "pyproject.toml")
    return base


@pytest.mark.parametrize(
    ("modules", "broken"),
    [
        pytest.param(
            {"vigil/store/_violation.py": "import vigil.server.app\n"},
            ["The store knows tables", "Layers point one way", "vigil.store._violation"],
            id="store-imports-server",
        ),
        pytest.param(
            {"vigil/drift/_violation.py": "import sqlalchemy\n"},
            [
                "Statistics (drift, quality, profile)",
                "SQL lives only in vigil.store",
                "vigil.drift._violation -> sqlalchemy",
            ],
            id="statistics-import-sql",
        ),
        pytest.param(
            {"vigil/sdk/_violation.py": "import vigil.server.auth\n"},
            ["The SDK never imports the server", "vigil.sdk._violation"],
            id="sdk-imports-server",
        ),
        pytest.param(
            {"vigil/engine/_violation.py": "import vigil.cli.main\n"},
            ["Layers point one way", "vigil.engine._violation -> vigil.cli.main"],
            id="engine-imports-cli",
        ),
        pytest.param(
            {
                "vigil/engine/windows/_violation.py": "import vigil.engine.quality.windows\n",
                "vigil/engine/quality/_violation.py": "import vigil.engine.windows.metrics\n",
            },
            ["No cycles between the domains", "No cycles are allowed in vigil.engine"],
            id="cycle-between-domains",
        ),
    ],
)
def test_contracts_fail_on_a_violation(package_copy, tmp_path, modules, broken):
    """``broken``: the contracts the report must name as broken, and the offending import."""
    root = tmp_path / "pkg"
    shutil.copytree(package_copy, root)
    for path, text in modules.items():
        (root / path).write_text(text)
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    report = result.stdout.split("Broken contracts", 1)[-1]
    for text in broken:
        assert text in report, result.stdout


def test_architecture_md_names_every_domain():
    """A new subpackage of store/ or engine/ is a new domain: ARCHITECTURE.md must say
    what lives there."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for layer in ("store", "engine"):
        for pkg in sorted((ROOT / "vigil" / layer).iterdir()):
            if (pkg / "__init__.py").exists():
                assert f"{layer}/{pkg.name}/" in text, f"ARCHITECTURE.md lacks {layer}/{pkg.name}/"
