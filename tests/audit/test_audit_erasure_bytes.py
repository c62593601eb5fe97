"""Erasure down to the last byte on SQLite: after ingest with personal data in inputs,
labels, feedback comments and error messages, then an erasure, no raw value of the
subject is left in any byte of any file of the data folder (database, WAL, shared
memory, anything else); and redaction policies reach labels, comments and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

SUBJECT = "subject-7Qx2Lm"
SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "age", "kind": "numeric"}, {"name": "income", "kind": "numeric"}],
}
# the subject's raw values, each of which must vanish
RAW = {
    "subject id": SUBJECT,
    "error e-mail": "jo.schmidtbauer@example.org",
    "error card": "4111 1111 1111 1111",
    "label": "approved-for-Schmidtbauer",
    "comment name": "Johanna Schmidtbauer",
    "comment address": "742 Evergreen Terrace",
    "comment ssn": "078-05-1120",
}
KEPT = "kept-subject-9Zq"


@pytest.fixture
def db_url(tmp_path):
    """SQLite: the data folder is the whole store."""
    return f"sqlite:///{tmp_path / 'vigil.db'}"


def _every_byte(folder: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def _found(folder: Path, values: dict[str, str]) -> list[str]:
    data = _every_byte(folder)
    return [name for name, value in values.items() if value.encode() in data]


def _ingest(api, subject: str, first: int, comment: str, error: str, label: str) -> None:
    records = [
        {
            "id": f"p{first + i}",
            "subject_id": subject,
            "inputs": {"age": 40 + i, "income": 1000.5 + i},
            "outputs": i % 2,
        }
        for i in range(3)
    ]
    records[0]["error"] = error
    r = api.post("/api/v1/models/churn/predictions", json={"records": records})
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    r = api.post(
        "/api/v1/models/churn/labels", json={"prediction_id": f"p{first + 1}", "actual": label}
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    r = api.post(
        "/api/v1/models/churn/feedback",
        json={"id": f"f{first}", "prediction_id": f"p{first + 2}", "score": 0, "comment": comment},
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text


def test_no_byte_of_an_erased_subject_is_left_in_the_data_folder(server_factory, tmp_path):
    api = server_factory(auth="off", retention_interval_s=0)
    assert api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code in (
        200,
        201,
    )
    comment = (
        f"I am {RAW['comment name']}, I live at {RAW['comment address']}, SSN {RAW['comment ssn']}"
    )
    error = f"card {RAW['error card']} declined for {RAW['error e-mail']}"
    _ingest(api, SUBJECT, 0, comment, error, RAW["label"])
    kept = {"kept comment": "Kept-Comment-of-another-subject", "kept subject": KEPT}
    _ingest(api, KEPT, 10, kept["kept comment"], "timeout", "kept-label")
    # the values are really there before (so the search below can find them)
    assert _found(tmp_path, RAW) == list(RAW)

    r = api.delete(f"/api/v1/subjects/{SUBJECT}")
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["deleted"]["predictions"] == 3
    assert receipt["deleted"]["labels"] == 1 and receipt["deleted"]["feedback"] == 1
    assert receipt["storage"] == {"backend": "sqlite", "secure_delete": True, "wal_truncated": True}
    assert _found(tmp_path, RAW) == []
    assert (tmp_path / "vigil.db-wal").stat().st_size == 0
    # the other subject is untouched and the server still works
    assert _found(tmp_path, kept) == list(kept)
    assert len(api.get(f"/api/v1/subjects/{KEPT}").json()["predictions"]) == 3


def test_retention_leaves_no_byte_of_expired_events(server_factory, tmp_path):
    import time

    api = server_factory(auth="off", retention_interval_s=0)
    api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    old = time.time() - 40 * 86400
    r = api.post(
        "/api/v1/models/churn/predictions",
        json={
            "records": [
                {
                    "id": "old1",
                    "ts": old,
                    "inputs": {"age": 1, "income": 2.0},
                    "outputs": 1,
                    "error": "expired-secret-Xy77 in the message",
                }
            ]
        },
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    assert _found(tmp_path, {"e": "expired-secret-Xy77"}) == ["e"]
    assert api.put("/api/v1/models/churn/retention", json={"days": 30}).status_code == 200
    assert api.post("/api/v1/privacy/retention/run").status_code == 200
    assert _found(tmp_path, {"e": "expired-secret-Xy77"}) == []


@pytest.mark.parametrize(
    ("field", "action"),
    [
        ("comment", "mask"),
        ("error", "mask"),
        ("label", "hash"),
        ("comment", "drop"),
        ("error", "drop"),
        ("label", "mask"),
    ],
)
def test_policies_redact_labels_comments_and_errors(server_factory, tmp_path, field, action):
    api = server_factory(auth="off", retention_interval_s=0)
    api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    r = api.put(f"/api/v1/models/churn/privacy/policies/{field}", json={"action": action})
    assert r.status_code in (200, 201), r.text
    email = RAW["error e-mail"]
    raw = f"{field} of {email}"  # personal data only in the field under test
    _ingest(
        api,
        SUBJECT,
        0,
        raw if field == "comment" else "fine",
        raw if field == "error" else "timeout",
        raw if field == "label" else "ok",
    )
    exported = api.get(f"/api/v1/subjects/{SUBJECT}").json()
    stored = {
        "comment": [f["comment"] for f in exported["feedback"]],
        "error": [p["error"] for p in exported["predictions"] if p["error"]],
        "label": [x["actual"] for x in exported["labels"]],
    }[field]
    if action == "mask":
        assert stored == [f"{field} of <EMAIL>"]
    elif action == "hash":
        assert len(stored) == 1 and stored[0].startswith("hmac:")
    elif field == "error":
        assert stored == ["error"]  # dropped, still counted as an error
    else:
        assert stored == [None]
    # not in any byte of the data folder (the WAL included), and the rollups still work
    assert _found(tmp_path, {field: email}) == []
    metrics = api.get("/api/v1/models/churn/metrics")
    assert metrics.status_code == 200, metrics.text


def test_a_label_policy_cannot_drop(server_factory):
    api = server_factory(auth="off")
    api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    r = api.put("/api/v1/models/churn/privacy/policies/label", json={"action": "drop"})
    assert r.status_code == 400 and "not dropped" in r.text


def test_every_sqlite_connection_sets_secure_delete(store):
    """Debian's SQLite defaults to secure_delete=1; other builds do not, so vigil sets it."""
    raw = store.engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA secure_delete=OFF")  # as on a default build
        raw.close()
    finally:
        pass
    store.engine.dispose()  # fresh connections run vigil's connect hook again
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_no_byte_of_an_erased_subjects_free_text_is_left(server_factory, tmp_path):
    api = server_factory(auth="off", retention_interval_s=0)
    schema = {"task": "binary_classification", "features": [{"name": "note", "kind": "text"}]}
    api.post("/api/v1/models", json={"name": "churn", "schema": schema})
    text = "I am Johanna Schmidtbauer, I live at 742 Evergreen Terrace"
    r = api.post(
        "/api/v1/models/churn/predictions",
        json={
            "records": [{"id": "t1", "subject_id": SUBJECT, "inputs": {"note": text}, "outputs": 1}]
        },
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    api.get("/api/v1/models/churn/metrics")  # whatever rolls up has rolled up
    assert api.delete(f"/api/v1/subjects/{SUBJECT}").status_code == 200
    assert _found(tmp_path, {"text": "Johanna Schmidtbauer"}) == []
