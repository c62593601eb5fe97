"""Sample model schema and records shared by the server and SDK tests."""

from __future__ import annotations

SCHEMA = {
    "task": "binary_classification",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
        {"name": "note", "kind": "text", "required": False},
        {"name": "emb", "kind": "embedding", "dim": 2, "required": False},
    ],
}


def record(i: int, **over):
    rec = {
        "id": f"p{i}",
        "version": "1",
        "latency_s": 0.01 * (1 + i % 5),
        "inputs": {"age": 30 + i, "plan": "pro" if i % 2 else "free"},
        "outputs": i % 2,
    }
    rec.update(over)
    return rec


def feed(store, version, ts, n, errors, start=0, *, latency=0.02, spread=0.0, model="churn"):
    """Ingest ``n`` predictions of ``version`` at ``ts`` (``spread`` seconds apart), the
    first ``errors`` of them failed, ids ``<version>-<start + i>``; all must be accepted."""
    from vigil.engine.ingest.ingestor import Ingestor

    records = [
        {
            "id": f"{version}-{start + i}",
            "version": version,
            "ts": ts + i * spread,
            "latency_s": latency,
            "inputs": {"x": float(i)},
            "outputs": 1,
            **({"error": "boom"} if i < errors else {}),
        }
        for i in range(n)
    ]
    assert Ingestor(store).ingest_predictions(model, records).accepted == n


def chat_span(n: int, start_s: float, prompt: str, answer: str) -> dict:
    """An OTLP/JSON chat span of model ``faq-bot`` (ids from ``n``) that took 0.8 s."""

    def attr(key: str, value: str) -> dict:
        return {"key": key, "value": {"stringValue": value}}

    ns = 1_000_000_000
    return {
        "traceId": f"{n + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": "chat",
        "startTimeUnixNano": str(int(start_s * ns)),
        "endTimeUnixNano": str(int((start_s + 0.8) * ns)),
        "attributes": [
            attr("gen_ai.request.model", "faq-bot"),
            attr("gen_ai.operation.name", "chat"),
            attr("gen_ai.prompt.0.role", "user"),
            attr("gen_ai.prompt.0.content", prompt),
            attr("gen_ai.completion.0.role", "assistant"),
            attr("gen_ai.completion.0.content", answer),
        ],
    }
