"""The token price table: from VIGIL_GENAI_PRICES (JSON) or [settings.genai_prices]."""

from __future__ import annotations

import pytest

from vigil.config import TokenPrice, load_settings
from vigil.errors import ConfigurationError


def test_prices_from_the_environment(monkeypatch):
    monkeypatch.setenv("VIGIL_GENAI_PRICES", '{"gpt-4o": {"input": 2.5, "output": 10}}')
    assert load_settings().genai_prices == {"gpt-4o": TokenPrice(input=2.5, output=10.0)}


def test_prices_from_vigil_toml(monkeypatch, tmp_path):
    path = tmp_path / "vigil.toml"
    path.write_text(
        '[settings.genai_prices]\n"gpt-4o-mini" = { input = 0.15, output = 0.6 }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("VIGIL_CONFIG", str(path))
    assert load_settings().genai_prices == {"gpt-4o-mini": TokenPrice(input=0.15, output=0.6)}


@pytest.mark.parametrize(
    "raw",
    [
        '{"m": {"input": -1, "output": 1}}',
        '{"m": {"input": 1}}',
        '{"m": {"input": 1, "output": 1, "cached": 0.5}}',
        '["m"]',
    ],
)
def test_bad_prices_name_the_setting(monkeypatch, raw):
    monkeypatch.setenv("VIGIL_GENAI_PRICES", raw)
    with pytest.raises(ConfigurationError, match="genai_prices"):
        load_settings()
