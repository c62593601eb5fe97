"""Privacy administration shared by the HTTP API and the CLI, each action audited.

Subject ids never enter the audit log or a receipt in the clear: both hold the SHA-256
of the id (:func:`vigil.store.privacy.queries.subject_hash`), so erasing a subject does not leave
its identifier behind in the very record that proves the erasure.
"""

from __future__ import annotations

from typing import Any

from vigil.engine.privacy.policies import check_policy, enforce_retention
from vigil.errors import InvalidParameterError, ModelNotFoundError, NotFoundError
from vigil.schema import ModelSchema
from vigil.store import ModelRecord, Store
from vigil.store.privacy import queries as q

MAX_RETENTION_DAYS = 36_500


def model_or_404(store: Store, name: str) -> ModelRecord:
    record = store.get_model(name)
    if record is None:
        raise ModelNotFoundError(
            f"No model named {name!r} is registered; see GET /api/v1/models or `vigil "
            "privacy policy list`."
        )
    return record


def check_subject(subject_id: Any) -> str:
    if not isinstance(subject_id, str) or not 0 < len(subject_id) <= 200:
        raise InvalidParameterError(
            f"A subject id must be a string of 1-200 characters. Got {subject_id!r}."
        )
    return subject_id


def describe(store: Store, name: str) -> dict[str, Any]:
    """A model's redaction policies and retention."""
    model = model_or_404(store, name)
    retention = q.list_retention(store, model.id)
    return {
        "model": name,
        "policies": [p.to_dict() for p in q.get_policies(store, model.id)],
        "retention": retention[0].to_dict() if retention else None,
    }


def set_policy(
    store: Store, name: str, field: str, action: str, kinds: list[str] | None, actor: str
) -> dict[str, Any]:
    """Create or replace the redaction policy of one field (checked against the schema)."""
    model = model_or_404(store, name)
    check_policy(ModelSchema.from_dict(model.schema), field, action, kinds)
    q.set_policy(store, model.id, field, action, kinds, actor)
    store.audit(
        actor, "privacy.policy.set", name, {"field": field, "action": action, "kinds": kinds}
    )
    return describe(store, name)


def delete_policy(store: Store, name: str, field: str, actor: str) -> dict[str, Any]:
    model = model_or_404(store, name)
    if not q.delete_policy(store, model.id, field):
        raise NotFoundError(f"Model {name!r} has no redaction policy for field {field!r}.")
    store.audit(actor, "privacy.policy.delete", name, {"field": field})
    return describe(store, name)


def set_retention(store: Store, name: str, days: Any, actor: str) -> dict[str, Any]:
    """Keep the model's raw events ``days`` days (enforced by the retention job)."""
    if isinstance(days, bool) or not isinstance(days, int) or not (1 <= days <= MAX_RETENTION_DAYS):
        raise InvalidParameterError(
            f"'days' must be a whole number of days in [1, {MAX_RETENTION_DAYS}]. Got {days!r}."
        )
    model = model_or_404(store, name)
    q.set_retention(store, model.id, days, actor)
    store.audit(actor, "retention.set", name, {"days": days})
    return describe(store, name)


def delete_retention(store: Store, name: str, actor: str) -> dict[str, Any]:
    model = model_or_404(store, name)
    if not q.delete_retention(store, model.id):
        raise NotFoundError(f"Model {name!r} has no retention policy.")
    store.audit(actor, "retention.delete", name)
    return describe(store, name)


def run_retention(store: Store, actor: str) -> dict[str, Any]:
    """Enforce every retention policy now."""
    return {"deleted": enforce_retention(store, actor=actor)}


def erase(store: Store, subject_id: Any, actor: str) -> dict[str, Any]:
    """Erase a data subject everywhere; the receipt (stored, audited) is returned."""
    subject_id = check_subject(subject_id)
    receipt = q.erase_subject(store, subject_id, actor)
    store.audit(
        actor,
        "subject.erase",
        receipt["subject_hash"],
        {"receipt": receipt["id"], "deleted": receipt["deleted"], "models": receipt["models"]},
    )
    wiped = q.wipe_deleted(store)  # after the audit entry: its write is checkpointed too
    return {**receipt, "subject_id": subject_id, "storage": wiped}


def export(store: Store, subject_id: Any, actor: str) -> dict[str, Any]:
    """Every event of a data subject (an access request), audited."""
    subject_id = check_subject(subject_id)
    data = q.export_subject(store, subject_id)
    store.audit(
        actor,
        "subject.export",
        q.subject_hash(subject_id),
        {"predictions": len(data["predictions"])},
    )
    return data
