"""A vigil server for the GenAI ingest tests."""

from __future__ import annotations

import httpx
import pytest
from genai_helpers import PRICES


@pytest.fixture
def genai_api(server_factory) -> httpx.Client:
    """A vigil server (auth off) with a token price table."""
    return server_factory(auth="off", genai_prices=PRICES)
