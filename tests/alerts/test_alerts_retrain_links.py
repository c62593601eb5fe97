"""Retrain actions finish: unique exports, an expiring download link a trainer elsewhere can
use, a labelled-only option, and the column layout of `vigil export dataset`."""

from __future__ import annotations

import io
import time

import httpx
import orjson
import pyarrow.parquet as pq
import pytest
from alerts_support import Receiver, Traffic, put_rule

from vigil.cli.main import main
from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.exports import links as export_links
from vigil.store.alerts.queries import AlertStore

pytestmark = pytest.mark.usefixtures("allow_private_targets")  # receivers on loopback


def _traffic(store) -> float:
    traffic = Traffic(store)
    traffic.model()
    now = time.time()
    traffic.send(now - 120, count=6, errors=3)
    traffic.ingestor.ingest_labels(
        "churn",
        [{"prediction_id": "churn-1", "actual": 1}, {"prediction_id": "churn-2", "actual": 0}],
    )
    return now


@pytest.mark.integration
def test_two_retrain_actions_on_one_alert_both_deliver_a_downloadable_data_set(
    store, server_factory, tmp_path
):
    api = server_factory(auth="required")
    _, read_key = store.create_api_key("reader", ["read"])
    now = _traffic(store)
    hook = Receiver()
    try:
        alerts = AlertStore(store)
        alerts.put_receiver("action", "all-rows", "retrain", {"webhook": hook.url})
        alerts.put_receiver(
            "action",
            "labelled",
            "retrain",
            {"webhook": hook.url, "labelled_only": True, "link_ttl": "1h"},
        )
        put_rule(
            store,
            name="errors",
            model="churn",
            metric="error_rate",
            threshold=0.2,
            window="10m",
            actions=["all-rows", "labelled"],
        )
        dispatcher = Dispatcher(store, tmp_path, base_url=str(api.base_url))
        try:
            AlertEngine(store, dispatcher).evaluate(now)
            dispatcher.wait(60)
        finally:
            dispatcher.close()
        bodies = sorted((orjson.loads(r["body"]) for r in hook.requests), key=lambda b: b["rows"])
    finally:
        hook.close()
    audit = [e["details"] for e in store.audit_entries() if e["action"] == "action.retrain"]
    assert len(bodies) == 2, (bodies, audit)
    assert bodies[0]["path"] != bodies[1]["path"]
    labelled, everything = bodies
    assert (labelled["rows"], labelled["labelled_rows"]) == (2, 2)
    assert (everything["rows"], everything["labelled_rows"]) == (6, 2)
    assert now + 3000 < labelled["expires_at"] <= time.time() + 3600
    for body in bodies:
        # a trainer on another host downloads with the link alone, no API key
        got = httpx.get(body["url"], timeout=30)
        assert got.status_code == 200, got.text
        table = pq.read_table(io.BytesIO(got.content))
        assert table.num_rows == body["rows"]
    assert set(
        pq.read_table(io.BytesIO(httpx.get(labelled["url"]).content))
        .column("prediction_id")
        .to_pylist()
    ) == {"churn-1", "churn-2"}
    # a forged or altered link is refused, the file without a link needs a key
    name = labelled["path"].rsplit("/", 1)[1]
    forged = labelled["url"].replace("signature=", "signature=0")
    assert httpx.get(forged).status_code == 401
    other = everything["url"].split("?")[0] + "?" + labelled["url"].split("?")[1]
    assert httpx.get(other).status_code == 401  # a link signs one file only
    assert api.get(f"/api/v1/exports/{name}").status_code == 401
    assert (
        api.get(
            f"/api/v1/exports/{name}", headers={"Authorization": f"Bearer {read_key}"}
        ).status_code
        == 200
    )
    assert api.get(
        "/api/v1/exports/..%2Fkeys%2Fexports.key", headers={"Authorization": f"Bearer {read_key}"}
    ).status_code in (400, 404)


def test_an_expired_link_is_refused(tmp_path):
    url, _ = export_links.sign(
        tmp_path, "http://vigil", "churn-1.parquet", 60, now=time.time() - 3600
    )
    query = dict(part.split("=") for part in url.split("?")[1].split("&"))
    with pytest.raises(Exception, match="invalid or has expired"):
        export_links.verify(tmp_path, "churn-1.parquet", query["expires"], query["signature"])
    fresh, _ = export_links.sign(tmp_path, "http://vigil", "churn-1.parquet", 60)
    query = dict(part.split("=") for part in fresh.split("?")[1].split("&"))
    path = export_links.verify(tmp_path, "churn-1.parquet", query["expires"], query["signature"])
    assert path == tmp_path / "exports" / "churn-1.parquet"
    assert (tmp_path / "keys" / "exports.key").stat().st_mode & 0o777 == 0o600


def test_retrain_exports_and_export_dataset_share_one_column_layout(store, db_url, tmp_path):
    from vigil.engine.alerts.actions import RetrainAction

    _traffic(store)
    action = RetrainAction("r", {"command": ["true"]}, store=store, home=tmp_path)
    path, rows, labelled = action.export("churn", time.time())
    main(
        [
            "export",
            "dataset",
            "--model",
            "churn",
            "-o",
            str(tmp_path / "cli.parquet"),
            "--db",
            db_url,
        ]
    )
    from_action = pq.read_table(path)
    from_cli = pq.read_table(tmp_path / "cli.parquet")
    assert from_action.column_names == from_cli.column_names
    assert (rows, labelled) == (from_cli.num_rows, 2)
    assert {"latency_s", "error", "prediction", "output", "label"} <= set(from_cli.column_names)
