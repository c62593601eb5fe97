"""Fixtures of the registry tests: a registry on each backend and artifacts on disk."""

from __future__ import annotations

import pickle

import pytest

from vigil.registry import Registry

SCHEMA = {"task": "binary_classification", "features": [{"name": "x", "kind": "numeric"}]}


@pytest.fixture
def registry(store, tmp_path):
    """A registry on the test's store with its data folder under tmp_path/home."""
    store.upsert_model("churn", "binary_classification", SCHEMA)
    return Registry(store, tmp_path / "home", actor="tester")


@pytest.fixture
def artifacts(tmp_path):
    """Three single-file artifacts (pickled dicts) and a directory artifact."""
    out = tmp_path / "src"
    out.mkdir()
    for v in (1, 2, 3):
        (out / f"model{v}.pkl").write_bytes(pickle.dumps({"weights": [v, v + 1]}))
    tree = out / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "config.json").write_text('{"layers": 2}')
    (tree / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    return out
