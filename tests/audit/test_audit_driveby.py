"""Drive-by attacks on the default server (loopback, keys off): cross-site bodies a web
page can send without a CORS preflight, DNS rebinding, foreign origins, and server-side
request forgery through probes and webhooks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from support.aio import run_async
from support.records import SCHEMA

from vigil.egress import EgressPolicy
from vigil.engine.resources.probe import run_probe, validate_probe
from vigil.notify import build_notifier
from vigil.notify.base import Notification, NotifyError, deliver

JSON = {"Content-Type": "application/json"}
MODEL = b'{"name": "churn", "schema": {"inputs": {"age": "numeric"}}}'


@pytest.fixture
def api(server_factory) -> httpx.Client:
    return server_factory(auth="off")


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.seen.append({"path": self.path, "host": self.headers.get("host", "")})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """An HTTP server on loopback that records what reaches it."""
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def _code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


# -- bodies a page can send cross-site without a preflight -------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "text/plain;charset=UTF-8"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},  # fetch() with a Blob body of no type sends no Content-Type
    ],
)
def test_cross_site_simple_bodies_are_415_and_change_nothing(api, headers):
    r = api.post("/api/v1/models", content=MODEL, headers=headers)
    assert r.status_code == 415, r.text
    assert _code(r) == "unsupported_media_type"
    assert "application/json" in r.json()["error"]["message"]
    # the routes that made state changes in the report: rules, silences, probes, versions
    for path, body in (
        ("/api/v1/rules", b'{"name": "r", "metric": "error_rate", "op": ">", "threshold": 0.1}'),
        ("/api/v1/silences", b'{"matchers": {"model": "churn"}, "for": "1h"}'),
        ("/api/v1/models/churn/probes", b'{"url": "http://example.com/"}'),
        ("/api/v1/models/churn/versions", b'{"version": "9"}'),
        ("/api/v1/models/churn/predictions", b'{"records": []}'),
    ):
        assert api.post(path, content=body, headers=headers).status_code == 415, path
    assert api.get("/api/v1/models").json()["models"] == []


def test_json_routes_refuse_other_types_but_take_json_and_gzip(api):
    r = api.post("/api/v1/models", content=MODEL, headers={"Content-Type": "application/xml"})
    assert r.status_code == 415 and _code(r) == "unsupported_media_type"
    assert r.json()["error"]["details"][0]["field"] == "Content-Type"
    assert api.post("/api/v1/models", content=MODEL, headers=JSON).status_code in (200, 201)
    import gzip

    body = gzip.compress(b'{"records": [{"id": "p1", "inputs": {"age": 3}, "outputs": 1}]}')
    r = api.post(
        "/api/v1/models/churn/predictions",
        content=body,
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1


# -- DNS rebinding -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8765", "127.0.0.1.nip.io", "localhost.evil.example"]
)
def test_a_rebinding_host_is_421_on_every_route(api, host):
    for method, path in (
        ("GET", "/api/v1/models"),
        ("POST", "/api/v1/keys"),
        ("GET", "/"),
        ("GET", "/openapi.json"),
    ):
        r = api.request(
            method,
            path,
            headers={"Host": host, **JSON},
            content=b'{"scopes": ["admin"]}' if method == "POST" else None,
        )
        assert r.status_code == 421, (method, path, r.text)
        assert _code(r) == "host_not_allowed" and "VIGIL_ALLOWED_HOSTS" in r.text
    assert api.get("/healthz", headers={"Host": host}).status_code == 200  # orchestrators


def test_loopback_names_pass_and_allowed_hosts_are_configurable(server_factory):
    api = server_factory(auth="off")
    port = api.base_url.port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "app.localhost"):
        assert api.get("/api/v1/models", headers={"Host": host}).status_code == 200, host
    named = server_factory(auth="off", allowed_hosts="vigil.internal, *.corp.example")
    for host, status in (
        ("vigil.internal", 200),
        ("a.corp.example:443", 200),
        ("corp.example.evil", 421),
        ("127.0.0.1", 421),
    ):
        assert named.get("/api/v1/models", headers={"Host": host}).status_code == status, host


# -- foreign origins ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://localhost:3000", "https://127.0.0.1"]
)
def test_a_foreign_origin_cannot_change_state(api, origin):
    r = api.post("/api/v1/models", content=MODEL, headers={**JSON, "Origin": origin})
    assert r.status_code == 403 and _code(r) == "cross_origin", r.text
    r = api.post("/ui/alerts/1/ack", data={"csrf": "x"}, headers={"Origin": origin})
    assert r.status_code == 403
    assert api.get("/api/v1/models", headers={"Origin": origin}).status_code == 200  # reads
    assert api.get("/api/v1/models").json()["models"] == []


def test_same_origin_and_non_browser_clients_may_change_state(api):
    own = f"http://127.0.0.1:{api.base_url.port}"
    assert api.post(
        "/api/v1/models", content=MODEL, headers={**JSON, "Origin": own}
    ).status_code in (200, 201)
    r = api.post(
        "/api/v1/models",
        content=MODEL.replace(b"churn", b"b"),
        headers={**JSON, "Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 403
    assert [m["name"] for m in api.get("/api/v1/models").json()["models"]] == ["churn"]


def test_security_headers_on_api_and_pages(api):
    for path in ("/api/v1/models", "/", "/healthz"):
        headers = api.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"


# -- server-side request forgery ----------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://127.0.0.1:8765/api/v1/keys",
        "http://localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.7/admin",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://2130706433/",  # 127.0.0.1 as one number
    ],
)
def test_probes_to_internal_targets_are_refused(api, url):
    api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    r = api.post("/api/v1/models/churn/probes", json={"url": url})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "url"
    assert "VIGIL_ALLOW_PRIVATE_TARGETS" in r.json()["error"]["message"]
    assert api.get("/api/v1/models/churn/probes").json()["probes"] == []


def test_allowed_private_targets_are_probed(server_factory, receiver):
    url, seen = receiver
    api = server_factory(auth="off", allow_private_targets="127.0.0.0/8")
    api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    r = api.post(
        "/api/v1/models/churn/probes", json={"url": f"{url}/ping", "interval_s": 1, "timeout_s": 1}
    )
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 30
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen and seen[0]["path"] == "/ping"


def test_a_probe_is_checked_again_when_it_runs(receiver):
    """A name that resolved elsewhere at creation is refused when it runs, and nothing is
    sent; allowed, the connection goes to the checked address with the original Host."""

    url, seen = receiver
    port = url.rsplit(":", 1)[1]

    async def go(policy: EgressPolicy) -> dict:
        async with httpx.AsyncClient() as client:
            return await run_probe(
                client,
                validate_probe({"url": f"http://localhost:{port}/x", "timeout_s": 5}),
                policy,
            )

    refused = run_async(go(EgressPolicy("")))
    assert not refused["ok"] and refused["error"].startswith("refused:")
    assert "127.0.0.1" in refused["error"] or "::1" in refused["error"]
    assert seen == []
    allowed = run_async(go(EgressPolicy("127.0.0.0/8,::1")))
    assert allowed["ok"], allowed
    assert seen == [{"path": "/x", "host": f"localhost:{port}"}]


def _note() -> Notification:
    return Notification(
        status="firing",
        alert_id=1,
        rule="r",
        fingerprint="f",
        labels={"model": "churn"},
        severity="critical",
        summary="s",
        value=1.0,
        threshold=0.5,
        started_at=0.0,
    )


@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_webhooks_to_internal_targets_are_refused(receiver, kind, monkeypatch):
    url, seen = receiver
    notifier = build_notifier("n", kind, {"url": f"{url}/hook", "retries": 0})
    with pytest.raises(NotifyError, match="VIGIL_ALLOW_PRIVATE_TARGETS"):
        deliver(notifier, _note())
    assert seen == []
    monkeypatch.setenv("VIGIL_ALLOW_PRIVATE_TARGETS", "127.0.0.1/32")
    assert deliver(notifier, _note()) == 1
    assert [s["path"] for s in seen] == ["/hook"]


def test_api_docs_are_served_without_a_cdn(api):
    import re

    page = api.get("/docs")
    assert page.status_code == 200
    assert "<script>" not in page.text  # no inline script: the CSP applies unchanged
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
    for source in sources:
        r = api.get(source)
        assert r.status_code == 200 and len(r.content) > 100, source
    assert "SwaggerUIBundle" in api.get("/docs/assets/swagger-ui-bundle.js").text
    assert api.get("/docs/assets/..%2Fswagger-ui.js").status_code == 404
    assert api.get("/docs/assets/index.html").status_code == 404
    redoc = api.get("/redoc")
    assert redoc.status_code == 200 and "<script>" not in redoc.text
    assert 'src="/docs/assets/redoc.standalone.js"' in redoc.text
    assert api.get("/openapi.json").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_host_is_the_origin(server_factory):
    """A TLS proxy that passes Host as its upstream: the browser's Origin matches
    X-Forwarded-Host, believed only when VIGIL_TRUST_FORWARDED_PROTO is set."""
    proxied = {
        **JSON,
        "Origin": "https://vigil.example",
        "X-Forwarded-Host": "vigil.example",
        "X-Forwarded-Proto": "https",
    }
    plain = server_factory(auth="off")
    assert plain.post("/api/v1/models", content=MODEL, headers=proxied).status_code == 403
    trusting = server_factory(auth="off", trust_forwarded_proto=True)
    r = trusting.post("/api/v1/models", content=MODEL, headers=proxied)
    assert r.status_code in (200, 201), r.text
    forged = {**proxied, "X-Forwarded-Host": "other.example"}
    assert trusting.post("/api/v1/models", content=MODEL, headers=forged).status_code == 403


def test_a_wrong_method_is_405_with_allow(api):
    r = api.delete("/api/v1/models")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


@pytest.mark.parametrize(
    ("kind", "key", "url"),
    [
        ("notifiers", "url", "http://169.254.169.254/latest/meta-data/"),
        ("notifiers", "url", "http://[::1]:8765/api/v1/keys"),
        ("actions", "webhook", "http://10.1.2.3/retrain"),
    ],
)
def test_receivers_with_internal_targets_are_refused_when_configured(api, kind, key, url):
    spec = (
        {"type": "webhook", "url": url}
        if kind == "notifiers"
        else {"type": "retrain", "webhook": url}
    )
    r = api.put(f"/api/v1/{kind}/n", json=spec)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"] == [{"field": key, "reason": "an internal address"}]
    assert api.get(f"/api/v1/{kind}").json()[kind] == []
    by_env = {**spec, key: "env:HOOK_URL"}  # checked when sending, once the name is known
    assert api.put(f"/api/v1/{kind}/n", json=by_env).status_code in (200, 201)


def test_allowed_receivers_are_configured(server_factory):
    api = server_factory(auth="off", allow_private_targets="10.0.0.0/8")
    r = api.put("/api/v1/notifiers/n", json={"type": "webhook", "url": "http://10.1.2.3/h"})
    assert r.status_code in (200, 201), r.text
