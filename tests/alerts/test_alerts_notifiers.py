"""Each notifier against a real receiver: HTTP servers, aiosmtpd, a Sentry envelope endpoint."""

from __future__ import annotations

import gzip
import logging
import time

import orjson
import pytest
from alerts_support import Receiver, note
from support.servers import free_port

from vigil.errors import ValidationFailedError
from vigil.notify import NotifyError, build_notifier, deliver
from vigil.notify.webhook import SIGNATURE_HEADER, verify_signature

# these tests send to receivers on loopback, which vigil refuses by default
pytestmark = pytest.mark.usefixtures("allow_private_targets")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_webhook_alertmanager_shape_and_hmac(receiver):
    hook = build_notifier(
        "hook", "webhook", {"url": f"{receiver.url}/alerts", "secret": "s3cret", "retries": 0}
    )
    assert deliver(hook, note()) == 1
    req = receiver.requests[0]
    assert req["path"] == "/alerts"
    assert verify_signature(req["body"], req["headers"][SIGNATURE_HEADER], "s3cret")
    assert not verify_signature(req["body"], req["headers"][SIGNATURE_HEADER], "wrong")
    body = receiver.json()
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
    assert set(body) >= {
        "groupKey",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "truncatedAlerts",
        "alerts",
    }
    (alert,) = body["alerts"]
    assert alert["labels"]["alertname"] == "errors" and alert["labels"]["model"] == "churn"
    assert alert["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["fingerprint"] == "f" * 32
    deliver(hook, note("resolved"))
    resolved = receiver.json()
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] == "2023-11-14T22:23:20.000Z"


def test_slack_incoming_webhook_format(receiver):
    deliver(build_notifier("team", "slack", {"url": receiver.url, "channel": "#ml"}), note())
    body = receiver.json()
    assert body["text"].startswith(":rotating_light: [FIRING] errors on churn")
    assert body["channel"] == "#ml"
    assert body["blocks"][0]["type"] == "section"
    fields = [f["text"] for f in body["blocks"][1]["fields"]]
    assert "*Severity:* critical" in fields and any("0.12" in f for f in fields)


def test_pagerduty_trigger_resolve_dedup_and_retries():
    flaky = Receiver([429, 503, 202, 202])
    try:
        pd = build_notifier(
            "oncall",
            "pagerduty",
            {"routing_key": "R" * 32, "url": flaky.url, "backoff_s": 0.01, "retries": 3},
        )
        assert deliver(pd, note()) == 3  # 429, 503, then accepted
        trigger = flaky.json()
        assert trigger["event_action"] == "trigger" and trigger["routing_key"] == "R" * 32
        assert trigger["payload"]["severity"] == "critical"
        assert trigger["payload"]["component"] == "churn"
        deliver(pd, note("resolved"))
        resolve = flaky.json()
        assert resolve == {
            "routing_key": "R" * 32,
            "event_action": "resolve",
            "dedup_key": trigger["dedup_key"],
        }
        assert trigger["dedup_key"] == f"vigil/{'f' * 32}"
    finally:
        flaky.close()
    bad = Receiver([400, 202])
    try:
        pd = build_notifier(
            "oncall", "pagerduty", {"routing_key": "x", "url": bad.url, "backoff_s": 0.01}
        )
        with pytest.raises(NotifyError, match="HTTP 400"):
            deliver(pd, note())
        assert len(bad.requests) == 1  # a 400 is not retried
    finally:
        bad.close()


def test_retries_give_up_and_connection_errors_are_retryable():
    dead = Receiver()
    url = dead.url
    dead.close()
    hook = build_notifier("hook", "webhook", {"url": url, "retries": 2, "backoff_s": 0.01})
    slept = []
    with pytest.raises(NotifyError, match="ConnectError"):
        deliver(hook, note(), sleep=slept.append)
    assert len(slept) == 2 and slept[1] > slept[0] * 0.5


def test_email_over_smtp_with_aiosmtpd():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    class Inbox(Sink):
        def __init__(self) -> None:
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail = build_notifier(
            "ops",
            "email",
            {
                "host": "127.0.0.1",
                "port": port,
                "from": "vigil@example.com",
                "to": ["a@example.com", "b@example.com"],
            },
        )
        deliver(mail, note())
        (env,) = inbox.messages
        assert env.mail_from == "vigil@example.com"
        assert env.rcpt_tos == ["a@example.com", "b@example.com"]
        text = env.content.decode()
        assert "Subject: [FIRING] errors on churn" in text and "value: 0.12" in text
    finally:
        controller.stop()
    with pytest.raises(ValidationFailedError, match="'to' must be an email address"):
        build_notifier("ops", "email", {"host": "h", "from": "x@y", "to": ["nobody"]})


def test_sentry_event_with_tags_reaches_an_envelope_endpoint(receiver):
    dsn = f"http://{'a' * 32}@127.0.0.1:{receiver.url.rsplit(':', 1)[1]}/42"
    sentry = build_notifier("sentry", "sentry", {"dsn": dsn, "environment": "prod"})
    deliver(sentry, note())
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    req = receiver.requests[0]
    assert req["path"] == "/api/42/envelope/"
    raw = req["body"]
    if req["headers"].get("Content-Encoding") == "gzip":
        raw = gzip.decompress(raw)
    items = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    event = next(i for i in items if i.get("message"))
    assert event["message"].startswith("[FIRING] errors on churn")
    assert event["tags"]["model"] == "churn" and event["tags"]["alertname"] == "errors"
    assert event["level"] == "error" and event["environment"] == "prod"
    assert event["fingerprint"] == ["vigil", "f" * 32, "firing"]


def test_log_notifier(caplog):
    with caplog.at_level(logging.INFO, logger="vigil.alerts"):
        deliver(build_notifier("log", "log", {}), note())
        deliver(build_notifier("log", "log", {}), note("resolved"))
    levels = [(r.levelname, r.getMessage().split(":")[0]) for r in caplog.records]
    assert levels == [
        ("WARNING", "[FIRING] errors on churn"),
        ("INFO", "[RESOLVED] errors on churn"),
    ]


def test_log_notifier_says_the_likely_cause_and_links_the_alert(caplog):
    cause = "input drift: plan moved (TV 0.41)"
    firing = note(annotations={"cause": cause}, url="http://vigil/ui/alerts#alert-7")
    with caplog.at_level(logging.INFO, logger="vigil.alerts"):
        deliver(build_notifier("log", "log", {}), firing)
    (line,) = [r.getMessage() for r in caplog.records]
    assert f"cause={cause!r}" in line
    assert line.endswith(" http://vigil/ui/alerts#alert-7")


def test_config_errors_name_the_field(monkeypatch):
    with pytest.raises(ValidationFailedError, match="needs 'url'"):
        build_notifier("x", "webhook", {})
    with pytest.raises(ValidationFailedError, match="Unknown slack notifier setting 'urll'"):
        build_notifier("x", "slack", {"url": "http://h", "urll": 1})
    with pytest.raises(ValidationFailedError, match="unknown type 'sms'"):
        build_notifier("x", "sms", {})
    with pytest.raises(ValidationFailedError, match="PD_KEY, which is not set"):
        build_notifier("x", "pagerduty", {"routing_key": "env:PD_KEY"})
    monkeypatch.setenv("PD_KEY", "from-env")
    assert (
        build_notifier("x", "pagerduty", {"routing_key": "env:PD_KEY"}).config["routing_key"]
        == "from-env"
    )


def _self_signed(tmp_path):
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_email_starttls_with_a_private_ca(tmp_path):
    import ssl

    from aiosmtpd.controller import Controller

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    messages = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            messages.append((session.ssl is not None, envelope.content))
            return "250 OK"

    port = free_port()
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        base = {
            "host": "127.0.0.1",
            "port": port,
            "from": "v@example.com",
            "to": "ops@example.com",
            "retries": 0,
        }
        deliver(
            build_notifier("ops", "email", {**base, "starttls": True, "ca_file": str(cert)}), note()
        )
        assert messages and messages[0][0] is True  # delivered over TLS
        with pytest.raises(NotifyError, match="SMTP 530"):  # plain text is refused
            deliver(build_notifier("ops", "email", base), note())
    finally:
        controller.stop()
