"""The forecast and anomaly rules shown in README and docs/insight.md are valid."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from vigil.engine.alerts.rules import Rule

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("doc", ["README.md", "docs/insight.md"])
def test_documented_insight_rules_validate(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    kinds = set()
    for block in re.findall(r"```toml\n(.*?)```", text, re.S):
        for spec in tomllib.loads(block).get("rules", []):
            if spec.get("kind") in ("forecast", "anomaly"):
                kinds.add(Rule.from_dict(spec).kind)
    assert kinds == {"forecast", "anomaly"}
