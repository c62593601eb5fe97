"""Fixtures shared by every test: a clean vigil environment per test."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_vigil_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Clear VIGIL_* variables and run in a fresh folder so no test sees another's state."""
    for name in list(os.environ):
        if name.startswith("VIGIL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
