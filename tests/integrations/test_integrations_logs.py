"""ECS logs, Elasticsearch _bulk and Loki push, fed by a real Monitor's sender thread."""

from __future__ import annotations

import contextlib
import json
import re

import orjson
import pytest

from vigil.integrations.ecs import EcsLogSink
from vigil.integrations.elasticsearch import ElasticsearchSink
from vigil.integrations.emf import EmfSink
from vigil.integrations.loki import LokiSink
from vigil.sdk import MemoryTransport, Monitor


def _monitor(tmp_path, *sinks):
    sink = MemoryTransport()
    mon = Monitor(
        "churn", version="3", transport=sink, spool_dir=tmp_path / "spool", flush_interval_s=0.05
    )
    for s in sinks:
        mon.add_sink(s)
    return mon, sink


def _traffic(mon, n=5, fail_every=3):
    @mon.track
    def predict(features):
        if features["i"] % fail_every == 0:
            raise ValueError(f"bad input {features['i']}")
        return features["i"] * 2

    for i in range(n):
        with contextlib.suppress(ValueError):
            predict({"i": i, "email": "jane@example.com"})
    return predict


def test_ecs_lines_from_the_sdk(tmp_path):
    pytest.importorskip("ecs_logging", reason="needs the 'ecs' extra")
    path = tmp_path / "predictions.ecs.json"
    mon, memory = _monitor(tmp_path, EcsLogSink(str(path), service="churn-api"))
    _traffic(mon, 6)
    pid = mon.log_prediction({"i": 9}, 1)
    mon.log_label(pid, 0)
    assert mon.close()
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(docs) == 8 and len(memory.predictions) == 7
    preds = [d for d in docs if d["event"]["dataset"] == "vigil.predictions"]
    failed = [d for d in preds if d["event"]["outcome"] == "failure"]
    assert len(failed) == 2
    for d in failed:
        assert d["log.level"] == "error" and d["error"]["type"] == "ValueError"
        assert d["error"]["message"].startswith("bad input")
    for d in preds:
        assert d["ecs.version"] and d["service"]["name"] == "churn-api"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["@timestamp"])
        assert d["labels"] == {"model": "churn", "model_version": "3"}
        assert d["vigil"]["prediction_id"] in memory.predictions
        if d["vigil"].get("latency_s") is not None:  # tracked calls measure it
            assert d["event"]["duration"] == round(d["vigil"]["latency_s"] * 1e9)
        assert "inputs" not in d["vigil"] and "jane" not in json.dumps(d)
    label = next(d for d in docs if d["event"]["dataset"] == "vigil.labels")
    assert label["vigil"]["prediction_id"] == pid


def test_emf_lines_from_the_sdk(tmp_path):
    path = tmp_path / "emf.log"
    mon, _ = _monitor(tmp_path, EmfSink("vigil", str(path), dimensions={"Env": "prod"}))
    for i in range(250):
        mon.log_prediction(
            {"x": i},
            1,
            latency_s=0.001 * i,
            error="E: x" if i < 5 else None,
            ts=1_700_000_000.0 + i * 0.01,
        )
    assert mon.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    first = lines[0]
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "vigil"
    assert directive["Dimensions"] == [["Model", "Version", "Env"], ["Model", "Env"]]
    assert first["Predictions"] + sum(x.get("Predictions", 0) for x in lines[1:]) == 250
    assert sum(x.get("Errors", 0) for x in lines) == 5
    values = [v for x in lines for v in x["Latency"]]
    assert len(values) == 250 and max(len(x["Latency"]) for x in lines) <= 100
    for x in lines:  # every metric a directive names is a member of the line
        for metric in x["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            assert metric["Name"] in x
        assert isinstance(x["_aws"]["Timestamp"], int)


def _bulk_answer(req, status_for):
    lines = req.body.decode().splitlines()
    actions = [json.loads(x) for x in lines[0::2]]
    items = []
    for a in actions:
        doc_id = a["create"]["_id"]
        status = status_for(doc_id)
        item = {"_index": a["create"]["_index"], "_id": doc_id, "status": status}
        if status >= 300:
            item["error"] = {
                "type": "mapper_parsing_exception"
                if status == 400
                else "es_rejected_execution_exception",
                "reason": "test",
            }
        items.append({"create": item})
    body = {"took": 1, "errors": any(i["create"]["status"] >= 300 for i in items), "items": items}
    return 200, {"Content-Type": "application/json"}, orjson.dumps(body)


def test_elasticsearch_bulk_partial_failures_are_retried_item_by_item(tmp_path, receiver):
    seen: dict[str, int] = {}
    plan = {0: 429, 1: 400, 2: 503}  # by order of first appearance

    def status_for(doc_id):
        n = seen.setdefault(doc_id, 0)
        seen[doc_id] += 1
        if n == 0:
            return plan.get(list(seen).index(doc_id), 201)
        return 201

    es = receiver(lambda req: _bulk_answer(req, status_for))
    sink = ElasticsearchSink(es.url, index="vigil-test", api_key="k1", backoff_s=0.01)
    mon, memory = _monitor(tmp_path, sink)
    _traffic(mon, 6)
    assert mon.flush()
    assert sink.flush()
    first, second = es.requests[0], es.requests[1]
    assert first.headers["content-type"] == "application/x-ndjson"
    assert first.headers["authorization"] == "ApiKey k1"
    assert first.body.endswith(b"\n")
    ids_first = [json.loads(x)["create"]["_id"] for x in first.body.decode().splitlines()[0::2]]
    ids_second = [json.loads(x)["create"]["_id"] for x in second.body.decode().splitlines()[0::2]]
    assert ids_second == [ids_first[0], ids_first[2]]  # only the 429 and the 503
    assert sink.stats["delivered"] == 5 and sink.stats["rejected"] == 1
    assert sink.stats["dropped"] == 0 and sink.stats["retried_items"] == 2
    doc = json.loads(first.body.decode().splitlines()[1])
    assert doc["event"]["dataset"] == "vigil.predictions" and "@timestamp" in doc
    assert set(ids_first) == set(memory.predictions)
    mon.close()


def test_elasticsearch_resent_documents_count_as_duplicates(tmp_path, receiver):
    es = receiver(lambda req: _bulk_answer(req, lambda _id: 409))
    sink = ElasticsearchSink(es.url)
    sink.emit("m", "predictions", [{"id": "p1", "version": "1", "ts": 1.0, "error": None}])
    assert sink.flush()
    assert sink.stats["duplicates"] == 1 and sink.stats["delivered"] == 1
    sink.close()


def _valid_push(req):
    """Checks the Loki push format; 400 with the reason when it is wrong."""
    try:
        assert req.path == "/loki/api/v1/push"
        assert req.headers["content-type"] == "application/json"
        body = json.loads(req.body)
        assert set(body) == {"streams"}
        for stream in body["streams"]:
            assert set(stream) == {"stream", "values"}
            labels = stream["stream"]
            assert all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k) for k in labels)
            assert all(isinstance(v, str) for v in labels.values())
            stamps = [v[0] for v in stream["values"]]
            assert all(isinstance(s, str) and re.fullmatch(r"\d{19}", s) for s in stamps)
            assert stamps == sorted(stamps, key=int)
            assert all(len(v) == 2 and isinstance(v[1], str) for v in stream["values"])
    except (AssertionError, ValueError, KeyError) as exc:
        return 400, {}, f"invalid push: {exc!r}".encode()
    return 204, {}, b""


def test_loki_push_format_and_low_cardinality_labels(tmp_path, receiver):
    answers = iter([429])

    def respond(req):
        status = next(answers, None)
        return (status, {}, b"slow down") if status else _valid_push(req)

    loki = receiver(respond)
    sink = LokiSink(loki.url, labels={"env": "test"}, tenant="team-a", backoff_s=0.01)
    mon, memory = _monitor(tmp_path, sink)
    _traffic(mon, 30)
    assert mon.flush()
    assert sink.flush()
    assert [r.headers.get("x-scope-orgid") for r in loki.requests] == ["team-a", "team-a"]
    assert loki.requests[0].body == loki.requests[1].body  # the throttled push, resent
    body = json.loads(loki.requests[1].body)
    label_sets = [s["stream"] for s in body["streams"]]
    assert {tuple(sorted(s)) for s in label_sets} == {
        ("env", "kind", "level", "model", "service_name", "version")
    }
    assert {s["level"] for s in label_sets} == {"info", "error"} and len(label_sets) == 2
    lines = [json.loads(v[1]) for s in body["streams"] for v in s["values"]]
    assert {x["vigil"]["prediction_id"] for x in lines} == set(memory.predictions)
    assert sink.stats == {**sink.stats, "delivered": 30, "failures": 1, "dropped": 0}
    mon.close()


def test_down_backends_never_break_predictions(tmp_path):
    from support.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    loki = LokiSink(url, timeout_s=0.5, max_pending=10)
    es = ElasticsearchSink(url, timeout_s=0.5, max_pending=10)
    mon, memory = _monitor(tmp_path, loki, es)
    predict = _traffic(mon, 20, fail_every=1000)
    assert predict({"i": 1}) == 2
    assert mon.flush() and len(memory.predictions) == 21
    for sink in (loki, es):
        assert sink.stats["failures"] >= 1 and sink.stats["delivered"] == 0
        assert len(sink.pending) <= 10
    mon.close()
    assert loki.stats["dropped"] + es.stats["dropped"] == 42  # counted, never raised


def test_ecs_lines_match_what_ecs_logging_writes():
    import calendar
    import logging
    import time

    ecs_logging = pytest.importorskip("ecs_logging", reason="needs the 'ecs' extra")
    from vigil.integrations.ecs import ecs_document, ecs_line

    record = {
        "id": "p1",
        "version": "2",
        "ts": 1_700_000_000.25,
        "latency_s": 0.0125,
        "error": "ValueError: bad input",
        "inputs": {"a": 1},
        "outputs": None,
        "proba": [0.2, 0.8],
        "subject_id": None,
    }
    doc = ecs_document("churn", "predictions", record, service="svc")
    ours = json.loads(ecs_line(ecs_document("churn", "predictions", record, service="svc")))
    log_record = logging.LogRecord(
        "vigil.predictions", logging.ERROR, __file__, 0, doc["message"], None, None
    )
    stamp = doc["@timestamp"]
    log_record.created = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + 0.25
    log_record.msecs = 250.0
    for key in ("event", "vigil", "labels", "error", "service"):
        setattr(log_record, key, doc[key])
    formatter = ecs_logging.StdlibFormatter(
        exclude_fields=["log.origin", "log.original", "process"]
    )
    theirs = json.loads(formatter.format(log_record))
    assert list(ours)[:3] == list(theirs)[:3] == ["@timestamp", "log.level", "message"]
    assert ours == theirs


def test_server_logs_as_ecs_json(capsys):
    import logging

    pytest.importorskip("ecs_logging", reason="needs the 'ecs' extra")
    from vigil.integrations.ecs import configure_ecs_logging

    logger = logging.getLogger("vigil.test_ecs_server")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    configure_ecs_logging("vigil-server", loggers=("vigil.test_ecs_server",))
    configure_ecs_logging("vigil-server", loggers=("vigil.test_ecs_server",))  # idempotent
    try:
        logger.warning("ingest slow: %d ms", 250)
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    finally:
        logger.handlers.clear()
    assert len(lines) == 1
    assert lines[0]["message"] == "ingest slow: 250 ms" and lines[0]["log.level"] == "warning"
    assert lines[0]["service"]["name"] == "vigil-server" and lines[0]["ecs.version"]


def test_ecs_lines_to_a_text_only_stdout(monkeypatch):
    import io

    out = io.StringIO()  # like a notebook's stdout: no byte buffer
    monkeypatch.setattr("sys.stdout", out)
    sink = EcsLogSink("-")
    sink.emit("m", "predictions", [{"id": "p1", "version": "1", "ts": 1.0, "error": None}])
    assert json.loads(out.getvalue())["vigil"]["prediction_id"] == "p1"
