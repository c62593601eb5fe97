"""Notifier and action settings are declared (pydantic models per type): one bad value per
type gets the same one-line error naming the setting and the reason from the config file,
the HTTP API (422) and the CLI (`vigil rules apply`, exit 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.servers import thread_server

from vigil.engine.alerts.apply import parse_config
from vigil.errors import ValidationFailedError
from vigil.store import open_store

# (category, type, a config with one bad value, the setting named, words of the reason)
CASES = [
    ("notifier", "webhook", {"url": "http://h.example", "headers": {"X-Team": 1}}, "headers",
     "table of string values"),
    ("notifier", "slack", {"url": "hooks.slack.com/services/T0"}, "url", "http:// or https://"),
    ("notifier", "pagerduty", {"routing_key": "k", "retries": -1}, "retries", "non-negative"),
    ("notifier", "email", {"host": "smtp.example", "from": "vigil@example.com", "to": ["ops"]},
     "to", "email address"),
    ("notifier", "sentry", {"dsn": "https://k@o1.ingest.sentry.io/1", "send_resolved": "no"},
     "send_resolved", "true or false"),
    ("notifier", "log", {"level": "loud"}, "level", "one of debug, info"),
    ("action", "retrain", {"command": ["python", "train.py"], "window": "7 days"}, "window",
     "duration"),
    ("action", "rollback", {"alias": ""}, "alias", "registry alias"),
]  # fmt: skip
IDS = [case[1] for case in CASES]


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # strings, numbers, booleans and lists of them read as TOML


def _toml(category: str, type_: str, config: dict[str, Any]) -> str:
    lines = [f"[{category}s.bad]", f"type = {json.dumps(type_)}"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in config.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One real server for every case (validation does not depend on the database)."""
    from vigil.config import load_settings

    home = tmp_path_factory.mktemp("home")
    store = open_store(f"sqlite:///{home / 'v.db'}")
    try:
        with (
            thread_server(load_settings(home=home, auth="off"), store) as url,
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            yield client
    finally:
        store.close()


@pytest.mark.parametrize(("category", "type_", "config", "field", "reason"), CASES, ids=IDS)
def test_one_bad_setting_same_error_in_file_api_and_cli(
    api, tmp_path, capsys, category, type_, config, field, reason
):
    text = _toml(category, type_, config)
    # the config file
    with pytest.raises(ValidationFailedError) as raised:
        parse_config(text, "vigil.toml")
    message = raised.value.message
    assert message.startswith(f"{category} 'bad': ")
    assert f"setting '{field}'" in message and reason in message, message
    assert [d["field"] for d in raised.value.details] == [field]
    assert reason in raised.value.details[0]["reason"]
    # the HTTP API
    r = api.put(f"/api/v1/{category}s/bad", json={"type": type_, **config})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["message"] == message
    assert error["details"] == raised.value.details
    assert api.get(f"/api/v1/{category}s").json()[f"{category}s"] == []  # nothing stored
    # the CLI: one line on stderr, exit 1
    from vigil.cli.main import main

    path = tmp_path / "vigil.toml"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["rules", "apply", str(path), "--db", f"sqlite:///{tmp_path / 'cli.db'}"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err == f"error: {message}\n"


@pytest.mark.parametrize(("category", "type_", "config", "field", "reason"), CASES, ids=IDS)
def test_the_same_config_without_the_bad_value_is_accepted(
    api, category, type_, config, field, reason
):
    """The cases above fail for their one bad value, not for anything else in them."""
    good = {k: v for k, v in config.items() if k != field}
    if field in ("url", "to", "alias"):  # a required or given value: a good one instead
        good[field] = {"url": "https://hooks.example/x", "to": ["ops@example.com"]}.get(
            field, "production"
        )
    parse_config(_toml(category, type_, good))
    r = api.put(f"/api/v1/{category}s/good-{type_}", json={"type": type_, **good})
    assert r.status_code in (200, 201), r.text


def test_unknown_and_missing_settings_are_named(api):
    r = api.put(
        "/api/v1/notifiers/x", json={"type": "slack", "url": "https://h.example", "urll": 1}
    )
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("notifier 'x': Unknown slack notifier setting")
    assert r.json()["error"]["details"] == [{"field": "urll", "reason": "unknown"}]
    r = api.put("/api/v1/notifiers/x", json={"type": "email", "host": "smtp.example"})
    assert r.json()["error"]["details"] == [
        {"field": "from", "reason": "required"},
        {"field": "to", "reason": "required"},
    ]
    r = api.put("/api/v1/actions/x", json={"type": "retrain"})
    assert r.status_code == 422
    assert "exactly one of 'webhook' or 'command'" in r.json()["error"]["message"]
    r = api.put(
        "/api/v1/notifiers/x",
        json={"type": "email", "host": "h", "from": "a@b.c", "to": "a@b.c", "ssl": True,
              "starttls": True},
    )  # fmt: skip
    assert r.status_code == 422 and "exclude each other" in r.json()["error"]["message"]


def test_env_references_are_checked_when_sending_not_when_applied(monkeypatch):
    """An ``env:`` value stands for a string the server's environment holds: applying the
    file accepts it; building the notifier to send reads it (and names it when unset)."""
    from vigil.notify import build_notifier

    parse_config(_toml("notifier", "slack", {"url": "env:SLACK_URL"}))
    with pytest.raises(ValidationFailedError, match="SLACK_URL, which is not set"):
        build_notifier("n", "slack", {"url": "env:SLACK_URL"})
    monkeypatch.setenv("SLACK_URL", "not a url")
    with pytest.raises(ValidationFailedError, match="'url' must be an http"):
        build_notifier("n", "slack", {"url": "env:SLACK_URL"})
    monkeypatch.setenv("SLACK_URL", "https://hooks.example/x")
    notifier = build_notifier("n", "slack", {"url": "env:SLACK_URL"})
    assert notifier.settings.url == "https://hooks.example/x"  # type: ignore[attr-defined]


def test_file_with_several_receivers_names_the_bad_one(tmp_path: Path):
    text = _toml("notifier", "log", {}) + _toml("action", "rollback", {"to": 1.5})
    with pytest.raises(ValidationFailedError, match=r"action 'bad': .*'to' must be a version"):
        parse_config(text)
