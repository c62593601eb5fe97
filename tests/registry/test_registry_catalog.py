"""Editing, deprecating, archiving and searching versions, on each backend."""

from __future__ import annotations

import pytest

from vigil.errors import InvalidParameterError
from vigil.registry import (
    DeprecatedVersionWarning,
    VersionArchivedError,
)


def _audit(registry, action):
    return [e for e in registry.store.audit_entries() if e["action"] == action]


def test_notes_and_tags_are_edited_with_a_history(registry, artifacts):
    registry.register(
        "churn",
        "1",
        artifacts / "model1.pkl",
        notes="first try",
        tags={"team": "risk", "stage": "dev"},
    )
    row = registry.edit(
        "churn",
        "1",
        notes="retrained on March data",
        tags={"stage": "prod", "owner": "ana"},
        untag=["team"],
        reason="review",
        actor="ana",
    )
    assert row["notes"] == "retrained on March data"
    assert row["tags"] == {"stage": "prod", "owner": "ana"}
    (entry,) = row["history"]
    assert entry["action"] == "edit" and entry["actor"] == "ana"
    assert entry["reason"] == "review"
    assert entry["changes"] == {
        "notes": {"from": "first try", "to": "retrained on March data"},
        "tags": {
            "set": {"owner": {"from": None, "to": "ana"}, "stage": {"from": "dev", "to": "prod"}},
            "removed": {"team": "risk"},
        },
    }
    # stored, not only answered
    assert registry.get("churn", "1")["tags"] == {"stage": "prod", "owner": "ana"}
    registry.edit("churn", "1", untag=["owner", "stage"])  # the registry's actor
    assert registry.get("churn", "1")["tags"] is None
    history = registry.version_history("churn", "1")
    assert [h["actor"] for h in history] == ["ana", "tester"]
    # a change that changes nothing leaves no entry
    registry.edit("churn", "1", notes="retrained on March data")
    assert len(registry.version_history("churn", "1")) == 2
    assert [e["target"] for e in _audit(registry, "registry.edit")] == ["churn:1"] * 2


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "Nothing to change"),
        ({"untag": ["nope"]}, "has no tag 'nope'; its tags: team"),
        ({"tags": {"team": "a"}, "untag": ["team"]}, "both set and removed"),
        ({"tags": {"a=b": "c"}}, "Tags are KEY=VALUE"),
        ({"tags": {"team": 3}}, "Tags are KEY=VALUE"),
    ],
)
def test_bad_edits_are_refused_with_the_reason(registry, kwargs, needle):
    registry.register("churn", "1", tags={"team": "risk"})
    with pytest.raises(InvalidParameterError, match=needle):
        registry.edit("churn", "1", **kwargs)
    assert registry.version_history("churn", "1") == []


def test_an_archived_version_cannot_be_served(registry, artifacts):
    for v in ("1", "2", "3"):
        registry.register("churn", v, artifacts / f"model{v}.pkl")
    registry.promote("churn", "production", "1")
    registry.promote("churn", "production", "2")
    # an alias serves 2: it cannot be archived
    with pytest.raises(VersionArchivedError, match=r"served by alias.*production"):
        registry.set_status("churn", "2", "archived")
    registry.start_canary("churn", "production", "3", share=0.1)
    with pytest.raises(VersionArchivedError, match="production"):
        registry.set_status("churn", "3", "archived")  # the canary runs it
    registry.abort_canary("churn", "production")
    row = registry.set_status("churn", "1", "archived", reason="leaks labels", actor="ana")
    assert row["status"] == "archived"
    assert row["history"][-1]["changes"] == {"status": {"from": "active", "to": "archived"}}
    assert _audit(registry, "registry.archive")[-1]["details"]["reason"] == "leaks labels"
    for attempt in (
        lambda: registry.promote("churn", "staging", "1"),
        lambda: registry.rollback("churn", "production", "1"),
        lambda: registry.start_canary("churn", "production", "1", share=0.1),
    ):
        with pytest.raises(VersionArchivedError, match="'1' is archived"):
            attempt()
    assert registry.alias("churn", "production")["version"] == "2"
    # a rollback without target skips the archived version: none is left before 2
    assert registry.rollback_target("churn", "production") is None
    # lists hide it unless asked
    assert [v["version"] for v in registry.versions("churn", include_archived=False)] == ["2", "3"]
    assert [v["status"] for v in registry.versions("churn")] == ["archived", "active", "active"]
    registry.set_status("churn", "1", "active", reason="false alarm")
    assert registry.promote("churn", "staging", "1")["version"] == "1"
    assert [h["action"] for h in registry.version_history("churn", "1")] == ["archive", "restore"]


def test_a_deprecated_version_still_loads_with_a_warning(registry, artifacts):
    registry.register("churn", "1", artifacts / "model1.pkl")
    registry.promote("churn", "production", "1")
    registry.set_status("churn", "1", "deprecated", reason="use 2")
    with pytest.warns(DeprecatedVersionWarning, match="'1' of 'churn' is deprecated"):
        assert registry.load("churn@production", deserialize=True) == {"weights": [1, 2]}
    with pytest.raises(InvalidParameterError, match="one of active, deprecated, archived"):
        registry.set_status("churn", "1", "retired")


def test_search_by_tag_and_metric_across_models(registry, store, artifacts):
    store.upsert_model("fraud", "binary_classification", {"features": []})
    registry.register("churn", "1", metrics={"accuracy": 0.85, "auc": 0.9}, tags={"team": "risk"})
    registry.register("churn", "2", metrics={"accuracy": 0.92}, tags={"team": "risk", "gpu": "yes"})
    registry.register("churn", "3", tags={"team": "growth"})  # no metrics at all
    registry.register("fraud", "7", metrics={"accuracy": 0.95}, tags={"team": "risk"})
    registry.register("fraud", "8", metrics={"accuracy": 0.99}, tags={"team": "risk"})
    registry.set_status("fraud", "8", "archived")

    def found(**kwargs):
        return [(r["model"], r["version"]) for r in registry.search(**kwargs)]

    assert found(metrics=["accuracy>=0.9"]) == [("churn", "2"), ("fraud", "7")]
    assert found(metrics=["accuracy>=0.9"], include_archived=True) == [
        ("churn", "2"),
        ("fraud", "7"),
        ("fraud", "8"),
    ]
    assert found(metrics=["accuracy<0.9"]) == [("churn", "1")]
    assert found(metrics=["accuracy > 0.9", "accuracy != 0.95"]) == [("churn", "2")]
    assert found(metrics=["accuracy==0.85", "auc>0.5"]) == [("churn", "1")]
    assert found(tags=["team=risk"], model="churn") == [("churn", "1"), ("churn", "2")]
    assert found(tags=["gpu"]) == [("churn", "2")]
    assert found(tags=["team=growth"], metrics=["accuracy>0"]) == []  # no metric: no match
    assert found(status="archived") == [("fraud", "8")]
    for bad in ("accuracy>>1", "accuracy>=high", ">=0.9"):
        with pytest.raises(InvalidParameterError, match="NAME OP NUMBER"):
            registry.search(metrics=[bad])
    with pytest.raises(InvalidParameterError, match="KEY=VALUE or KEY"):
        registry.search(tags=["team="])


def test_lists_give_each_versions_file_count(registry, artifacts):
    registry.register("churn", "1", artifacts / "model1.pkl")
    registry.register("churn", "2", artifacts / "tree")
    registry.register("churn", "3")  # metadata only
    assert [(v["version"], v["files"]) for v in registry.versions("churn")] == [
        ("1", 1),
        ("2", 2),
        ("3", None),
    ]
