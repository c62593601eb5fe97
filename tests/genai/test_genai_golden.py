"""Golden Q/A evaluation of a chatbot: questions with reference answers, the bot served
over real HTTP in two versions; the runs store semantic similarity (checked against a
TF-IDF cosine computed here with scikit-learn when that is the backend) and exact match,
by version; a monthly schedule (cron) is accepted and the CLI runs the same evaluation."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from vigil.engine.genai.quality import normalise_answer
from vigil.quality.text import TOKEN

pytestmark = pytest.mark.integration
GOLDEN = [
    {
        "question": "How do I reset my password?",
        "answer": "Open settings and choose reset password.",
    },
    {"question": "What are your opening hours?", "answer": "9 to 5, Monday to Friday."},
    {
        "question": "How can I get a refund?",
        "answer": "Ask for a refund on the orders page within 30 days.",
    },
    {"question": "Where is my parcel?", "answer": "Track your parcel on the orders page."},
    {"question": "What is the capital of France?", "answer": "Paris"},
]
GOOD = {g["question"]: g["answer"] for g in GOLDEN}
GOOD["How can I get a refund?"] = "Refunds: ask on the orders page, within 30 days."
GOOD["What is the capital of France?"] = "paris!"  # an exact match after normalising
BAD = dict(GOOD)
BAD["Where is my parcel?"] = "The weather is sunny today."
BAD["How do I reset my password?"] = "I like turtles."


def _bot(answers: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Bot(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            out = json.dumps({"prediction": answers[body["inputs"]["question"]]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    return Bot


@pytest.fixture
def bots():
    servers = []

    def start(answers):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _bot(answers))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/chat"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _oracle(answers: list[str], references: list[str]) -> np.ndarray:
    matrix = (
        TfidfVectorizer(token_pattern=TOKEN.pattern).fit_transform(answers + references).toarray()
    )
    a, r = matrix[: len(answers)], matrix[len(answers) :]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(r, axis=1)
    return np.where(norms > 0, (a * r).sum(axis=1) / np.where(norms > 0, norms, 1), 0.0)


def test_golden_qa_similarity_and_exact_match_by_version(server_factory, bots):
    api = server_factory(auth="off")
    schema = {"task": "text_generation", "features": [{"name": "question", "kind": "text"}]}
    assert (
        api.post("/api/v1/models", json={"name": "helpdesk", "schema": schema}).status_code == 201
    )
    r = api.post(
        "/api/v1/models/helpdesk/golden-datasets",
        json={"name": "faq", "target": "answer", "records": GOLDEN},
    )
    assert r.status_code == 201, r.text
    runs = {}
    for version, answers in (("1", GOOD), ("2", BAD)):
        r = api.post(
            "/api/v1/models/helpdesk/evaluations",
            json={"dataset": "faq", "endpoint": bots(answers), "version": version},
        )
        assert r.status_code == 201, r.text
        runs[version] = r.json()
        assert runs[version]["status"] == "succeeded", runs[version]
    refs = [g["answer"] for g in GOLDEN]
    for version, answers in (("1", GOOD), ("2", BAD)):
        m = runs[version]["metrics"]
        given = [answers[g["question"]] for g in GOLDEN]
        assert m["n"] == 5 and m["non_text"] == 0
        assert m["exact_match"] == pytest.approx(
            np.mean(
                [
                    re.sub(r"[\W_]+", " ", a.lower()).split()
                    == re.sub(r"[\W_]+", " ", b.lower()).split()
                    for a, b in zip(given, refs, strict=True)
                ]
            )
        )
        if m["similarity"] == "tfidf":
            oracle = _oracle(given, refs)
            assert m["similarity_mean"] == pytest.approx(oracle.mean(), abs=1e-9)
            assert m["similarity_p10"] == pytest.approx(np.percentile(oracle, 10), abs=1e-9)
    assert runs["1"]["metrics"]["exact_match"] == pytest.approx(4 / 5)  # incl. "paris!"
    assert runs["2"]["metrics"]["exact_match"] == pytest.approx(2 / 5)
    assert runs["2"]["metrics"]["similarity_mean"] < runs["1"]["metrics"]["similarity_mean"]
    listed = api.get("/api/v1/models/helpdesk/evaluations").json()["runs"]
    assert {x["version"] for x in listed} == {"1", "2"}
    # the seed's monthly relevance check is one schedule (03:00 UTC on the 1st)
    r = api.post(
        "/api/v1/models/helpdesk/evaluation-schedules",
        json={"dataset": "faq", "endpoint": bots(GOOD), "cron": "0 3 1 * *"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["cron"] == "0 3 1 * *"
    assert normalise_answer("Paris!") == "paris"


def test_golden_answers_that_are_not_text_score_zero(store):
    from vigil.engine.genai.quality import golden_answer_metrics

    m = golden_answer_metrics(["Paris", None, 3], ["Paris", "Rome", "3"], backend="tfidf")
    assert m["non_text"] == 2 and m["exact_match"] == pytest.approx(1 / 3)
    assert m["similarity_min"] == 0.0
    with pytest.raises(Exception, match="same, non-zero length"):
        golden_answer_metrics([], [], backend="tfidf")


def test_vigil_evaluate_scores_a_chatbot_on_golden_qa(store, db_url, tmp_path, monkeypatch, capsys):
    import pandas as pd

    from vigil.cli.main import main
    from vigil.engine.ingest.ingestor import Ingestor

    Ingestor(store).register_model(
        {
            "name": "helpdesk",
            "task": "text_generation",
            "schema": {"features": [{"name": "question", "kind": "text"}]},
        }
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "faq_bot_cli.py").write_text(
        "ANSWERS = " + repr(GOOD) + "\n"
        "def predict(frame):\n    return [ANSWERS[q] for q in frame['question']]\n",
        encoding="utf-8",
    )
    pd.DataFrame(GOLDEN).to_parquet("faq.parquet")
    main(
        [
            "evaluate",
            "--model",
            "helpdesk",
            "--version",
            "3",
            "--dataset",
            "faq.parquet",
            "--target",
            "answer",
            "--predict",
            "faq_bot_cli:predict",
            "--db",
            db_url,
            "--json",
            "run.json",
        ]
    )
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["version"] == "3" and run["status"] == "succeeded"
    assert run["metrics"]["exact_match"] == pytest.approx(4 / 5)
    assert 0 < run["metrics"]["similarity_mean"] <= 1
    assert "similarity_mean" in capsys.readouterr().out
