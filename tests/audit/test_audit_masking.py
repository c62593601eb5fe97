"""Secrets in notifier and action configurations never come back in listings, answers
or the audit log: tokens in URL paths and queries, Authorization headers, userinfo."""

from __future__ import annotations

import pytest

from vigil.notify.masking import mask_config, mask_url

SECRETS = {
    "userpass": "hunter2pass",
    "query": "q7Hs9dK2lL0pZx",
    "bearer": "bearer-abcdef-123456",
    "apikey": "ak_live_998877",
    "slack": "Zr8YtQ2wXv5pLk3mNs7dHf1B",
    "discord": "AbCdEf0123456789xyzXYZ_-0123456789abcdef",
    "routing": "R0UT1NGKEY000",
    "smtp": "smtp-pass-42",
    "sig": "0a1b2c3d4e",
    "cmdtoken": "cmd-tok-31337",
    "dsn": "0123456789abcdef0123456789abcdef",
}
NOTIFIERS = {
    "hook": {
        "type": "webhook",
        "url": f"https://ops:{SECRETS['userpass']}@hooks.example.com"
        f"/alert?access_token={SECRETS['query']}&team=ml",
        "headers": {
            "Authorization": f"Bearer {SECRETS['bearer']}",
            "X-Api-Key": SECRETS["apikey"],
            "X-Team": "ml",
        },
    },
    "slack": {
        "type": "slack",
        "url": "https://hooks.slack.com/services/T0AB12CD/B0CD34EF/" + SECRETS["slack"],
    },
    "discord": {
        "type": "webhook",
        "url": "https://discord.com/api/webhooks/123456789012/" + SECRETS["discord"],
    },
    "pd": {"type": "pagerduty", "routing_key": SECRETS["routing"]},
    "mail": {
        "type": "email",
        "host": "smtp.example.com",
        "from": "v@example.com",
        "to": ["ops@example.com"],
        "username": "vigil",
        "password": SECRETS["smtp"],
    },
}
ACTIONS = {
    "retrain": {
        "type": "retrain",
        "webhook": "https://ci.example.com/hooks/retrain?sig=" + SECRETS["sig"] + "&model=churn",
    },
    "train-cmd": {
        "type": "retrain",
        "command": ["python", "train.py", "--token", SECRETS["cmdtoken"], "{path}"],
    },
}


@pytest.fixture
def api(server_factory):
    return server_factory(auth="off")


def _leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


def test_listings_and_answers_mask_every_secret(api):
    for name, spec in NOTIFIERS.items():
        r = api.put(f"/api/v1/notifiers/{name}", json=spec)
        assert r.status_code in (200, 201), r.text
        assert _leaks(r.text) == [], (name, r.text)
    for name, spec in ACTIONS.items():
        r = api.put(f"/api/v1/actions/{name}", json=spec)
        assert r.status_code in (200, 201), r.text
        assert _leaks(r.text) == [], (name, r.text)
    notifiers = api.get("/api/v1/notifiers")
    actions = api.get("/api/v1/actions")
    audit = api.get("/api/v1/audit-log")
    for r in (notifiers, actions, audit):
        assert r.status_code == 200, r.text
        assert _leaks(r.text) == [], r.text
    listed = {n["name"]: n["config"] for n in notifiers.json()["notifiers"]}
    # what is not secret stays readable
    assert listed["hook"]["url"] == "https://***@hooks.example.com/alert?access_token=***&team=ml"
    assert listed["hook"]["headers"] == {
        "Authorization": "Bearer ***",
        "X-Api-Key": "***",
        "X-Team": "ml",
    }
    assert listed["slack"]["url"].startswith("https://hooks.slack.com/services/")
    assert listed["mail"]["username"] == "vigil" and listed["mail"]["host"] == "smtp.example.com"
    commands = {a["name"]: a["config"] for a in actions.json()["actions"]}
    assert commands["train-cmd"]["command"] == ["python", "train.py", "--token", "***", "{path}"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pw@example.com/x", "https://***@example.com/x"),
        ("https://token@example.com/x", "https://***@example.com/x"),
        ("https://example.com/x?api_key=abc&q=1", "https://example.com/x?api_key=***&q=1"),
        ("https://example.com/x?X-Amz-Signature=abc", "https://example.com/x?X-Amz-Signature=***"),
        (
            "https://api.telegram.org/bot123456:ABC-DEF1234ghIkl/sendMessage",
            "https://api.telegram.org/***/sendMessage",
        ),
        ("https://example.com/hooks/retrain", "https://example.com/hooks/retrain"),
    ],
)
def test_mask_url(url, expected):
    assert mask_url(url) == expected


def test_secrets_inside_free_text_and_nested_tables():
    config = {
        "note": "posts to https://a:b@example.com/h?token=zz",
        "nested": {"deeper": [{"password": 5, "url": "http://x.example/?sig=1"}]},
        "secret": "env:S",
    }
    assert mask_config(config) == {
        "note": "posts to https://***@example.com/h?token=***",
        "nested": {"deeper": [{"password": "***", "url": "http://x.example/?sig=***"}]},
        "secret": "env:S",
    }
