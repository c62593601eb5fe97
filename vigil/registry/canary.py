"""Canary and shadow releases: a second version on an alias, judged and settled by vigil.

``Registry.start_canary("churn", "production", "4", share=0.1)`` records a canary on the
alias (who, when, why in its history); applications following the alias with
``Monitor(version_from="churn@production")`` send that share of their requests to the
canary (sticky per subject) and tag each prediction with the version that served it. In
``shadow`` mode the stable version serves everything and the candidate runs on a copy of
a share of the inputs; its answers are recorded under its version, never served.

:func:`check_canaries` (the server's registry loop) compares canary and stable on the
failure rates of the canary's metrics since it started — ``error_rate`` (failed
predictions) and optionally ``latency_p95`` (the share of requests slower than a
threshold fixed at start: ``latency_threshold_s``, else the stable version's p95 over the
hour before, else the rollback policy's ceiling; included by default when the alias's
rollback policy has a ``latency_p95`` ceiling) — with the always-valid test of
:mod:`vigil.registry.sequential`, at level ``alpha`` split evenly over the metrics:

- rolled back (canary removed) when one metric shows the canary fails more often than
  stable; a canary no worse than stable is rolled back with probability <= ``alpha``;
- promoted (the canary becomes the alias's version) when every metric shows it fails at
  most ``tolerance`` more often; a canary worse by the tolerance or more is promoted with
  probability <= ``alpha``;
- settled by ``on_timeout`` (default: rolled back, not proven safe) after
  ``max_duration_s``.

Each decision lands in the alias history (``details``: the counts and e-values), the
audit log and the notifiers named under ``notify``, and is an alert (rule
``registry:canary``): firing at the decision, resolved ``resolve_after_s`` later or when
the alias moves again.

Examples:
    >>> cfg = check_canary_config({"version": "4", "share": 0.1})
    >>> cfg["mode"], cfg["alpha"], cfg["tolerance"]["error_rate"]
    ('canary', 0.05, 0.01)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from vigil.engine.alerts.dispatch import with_dashboard_link
from vigil.errors import InvalidParameterError
from vigil.registry import sequential
from vigil.store import Store
from vigil.store.registry import queries as q

log = logging.getLogger("vigil.registry")

ACTOR = "vigil:canary"
ALERT_RULE = "registry:canary"  # alerts of canary decisions; rules.RESERVED_PREFIX
MODES = ("canary", "shadow")
METRICS = ("error_rate", "latency_p95")
DEFAULT_TOLERANCE = {"error_rate": 0.01, "latency_p95": 0.025}
DEFAULTS: dict[str, Any] = {
    "mode": "canary",
    "share": 0.1,
    "alpha": 0.05,
    "min_count": 50,
    "max_duration_s": 86400.0,
    "on_timeout": "rollback",
    "resolve_after_s": 300.0,
}
_KEYS = {
    "version",
    "share",
    "mode",
    "alpha",
    "tolerance",
    "metrics",
    "min_count",
    "max_duration_s",
    "on_timeout",
    "latency_threshold_s",
    "notify",
    "resolve_after_s",
}


def _number(
    cfg: dict[str, Any], key: str, low: float, high: float | None, *, open_low: bool = True
) -> float:
    value = cfg.get(key, DEFAULTS.get(key))
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not (value > low if open_low else value >= low)
        or (high is not None and value > high)
    ):
        left = "in (" if open_low else "in ["
        bound = (
            f"{left}{low:g}, {high:g}]"
            if high is not None
            else f"{'>' if open_low else '>='} {low:g}"
        )
        raise InvalidParameterError(f"'{key}' of a canary must be a number {bound}. Got {value!r}.")
    return float(value)


def check_canary_config(cfg: Any) -> dict[str, Any]:
    """Validate a canary's settings and fill the defaults.

    Raises:
        InvalidParameterError: unknown keys, a bad share, level, tolerance or metric.
    """
    from vigil.registry.registry import check_version

    if not isinstance(cfg, dict):
        raise InvalidParameterError(f"A canary must be an object. Got {cfg!r}.")
    unknown = set(cfg) - _KEYS
    if unknown:
        raise InvalidParameterError(
            f"Unknown canary fields {sorted(unknown)}; allowed: {sorted(_KEYS)}."
        )
    out: dict[str, Any] = {"version": check_version(cfg.get("version"))}
    mode = cfg.get("mode", DEFAULTS["mode"])
    if mode not in MODES:
        raise InvalidParameterError(f"'mode' of a canary is one of {MODES}. Got {mode!r}.")
    out["mode"] = mode
    out["share"] = _number(cfg, "share", 0.0, 1.0)
    out["alpha"] = _number(cfg, "alpha", 0.0, 0.5)
    out["min_count"] = int(_number(cfg, "min_count", 1.0, None, open_low=False))
    out["max_duration_s"] = _number(cfg, "max_duration_s", 0.0, None)
    out["resolve_after_s"] = _number(cfg, "resolve_after_s", 0.0, None, open_low=False)
    on_timeout = cfg.get("on_timeout", DEFAULTS["on_timeout"])
    if on_timeout not in ("rollback", "promote"):
        raise InvalidParameterError(
            f"'on_timeout' of a canary is 'rollback' or 'promote'. Got {on_timeout!r}."
        )
    out["on_timeout"] = on_timeout
    metrics = cfg.get("metrics", ["error_rate"])
    if not isinstance(metrics, list) or not metrics or any(m not in METRICS for m in metrics):
        raise InvalidParameterError(
            f"'metrics' of a canary is a non-empty list of {list(METRICS)}. Got {metrics!r}."
        )
    out["metrics"] = sorted(set(metrics), key=METRICS.index)
    tolerance = cfg.get("tolerance", {})
    if isinstance(tolerance, int | float) and not isinstance(tolerance, bool):
        tolerance = dict.fromkeys(out["metrics"], tolerance)
    if not isinstance(tolerance, dict) or set(tolerance) - set(METRICS):
        raise InvalidParameterError(
            "'tolerance' of a canary is a number or maps metrics to how much more often the "
            f"canary may fail than stable (e.g. {{'error_rate': 0.01}}). Got {tolerance!r}."
        )
    out["tolerance"] = {}
    for metric in out["metrics"]:
        value = tolerance.get(metric, DEFAULT_TOLERANCE[metric])
        out["tolerance"][metric] = _number({"tolerance": value}, "tolerance", 0.0, 0.5)
    threshold = cfg.get("latency_threshold_s")
    if threshold is not None:
        threshold = _number(cfg, "latency_threshold_s", 0.0, None)
    out["latency_threshold_s"] = threshold
    notify = cfg.get("notify", [])
    if not isinstance(notify, list) or not all(isinstance(n, str) and n for n in notify):
        raise InvalidParameterError(
            f"'notify' of a canary must be a list of notifier names. Got {notify!r}."
        )
    out["notify"] = list(notify)
    return out


def start(
    registry: Any,
    model: str,
    alias: str,
    cfg: dict[str, Any],
    *,
    reason: str | None,
    actor: str,
    expected_revision: int | None = None,
) -> dict[str, Any]:
    """Validate ``cfg`` and record the canary on the alias (see ``Registry.start_canary``)."""
    from vigil.registry.errors import AliasNotFoundError

    record = registry.model(model)
    policy = q.get_policy(registry.store, record.id, alias)
    ceiling = None
    if policy is not None and policy["enabled"]:
        ceiling = (policy["policy"].get("max") or {}).get("latency_p95")
    if "metrics" not in cfg and ceiling is not None:
        cfg = {**cfg, "metrics": ["error_rate", "latency_p95"]}  # the policy's metrics
    checked = check_canary_config(cfg)
    current = q.get_alias(registry.store, record.id, alias)
    if current is None:
        raise AliasNotFoundError(
            f"Model {model!r} has no alias {alias!r}; promote a version to it first."
        )
    if current["version"] is None:
        raise InvalidParameterError(
            f"Alias {alias!r} of {model!r} follows alias {current['target_alias']!r}; a "
            "canary needs an alias that names a version."
        )
    if current.get("canary"):
        raise InvalidParameterError(
            f"Alias {alias!r} of {model!r} runs a canary of version "
            f"{current['canary']['version']!r} already; abort it first."
        )
    if checked["version"] == current["version"]:
        raise InvalidParameterError(
            f"Version {checked['version']!r} is the version {alias!r} serves already."
        )
    now = time.time()
    if "latency_p95" in checked["metrics"]:
        slow_s = checked["latency_threshold_s"]
        if slow_s is None:
            slow_s = q.latency_quantile(
                registry.store, record.id, current["version"], now - 3600.0, now, 0.95
            )
            if slow_s is None and ceiling is not None:
                slow_s = float(ceiling)  # no recent latencies: the policy's ceiling
            if slow_s is None:
                raise InvalidParameterError(
                    f"Version {current['version']!r} recorded no latencies in the last hour "
                    "to set the canary's latency threshold; give 'latency_threshold_s'."
                )
        checked["slow_s"] = slow_s
    checked.update(started_at=now, started_by=actor, stable=current["version"])
    if expected_revision is None:  # two starts racing: the second one is stale (409)
        expected_revision = current["revision"]
    row = q.set_canary(
        registry.store,
        record.id,
        alias,
        checked,
        action="canary_start",
        actor=actor,
        reason=reason,
        expected_revision=expected_revision,
    )
    registry.store.audit(
        actor,
        "registry.canary_start",
        f"{model}@{alias}",
        {**checked, "reason": reason, "revision": row["revision"]},
    )
    return {"model": model, **row}


def abort(
    registry: Any, model: str, alias: str, *, reason: str | None, actor: str
) -> dict[str, Any]:
    """End the alias's canary without promoting it (see ``Registry.abort_canary``)."""
    record = registry.model(model)
    current = registry.alias(model, alias)
    if not current.get("canary"):
        raise InvalidParameterError(f"Alias {alias!r} of {model!r} runs no canary.")
    row = q.set_canary(
        registry.store,
        record.id,
        alias,
        None,
        action="canary_abort",
        actor=actor,
        reason=reason,
        expected_revision=current["revision"],
    )
    registry.store.audit(
        actor,
        "registry.canary_abort",
        f"{model}@{alias}",
        {"version": current["canary"]["version"], "reason": reason, "revision": row["revision"]},
    )
    return {"model": model, **row}


def evidence(store: Store, row: dict[str, Any], now: float) -> dict[str, Any]:
    """The canary's counts per metric, its e-values and the decision they support."""
    c = row["canary"]
    stable, cand = row["version"], c["version"]
    counts = q.version_outcomes(
        store, row["model_id"], [stable, cand], c["started_at"], now, c.get("slow_s")
    )
    a, b = counts[stable], counts[cand]
    alpha_each = c["alpha"] / len(c["metrics"])
    per: dict[str, Any] = {}
    verdicts = []
    for metric in c["metrics"]:
        key = "errors" if metric == "error_rate" else "slow"
        tol = c["tolerance"][metric]
        verdict, roll, prom = sequential.decide(
            a[key], a["n"], b[key], b["n"], alpha=alpha_each, tolerance=tol
        )
        verdicts.append(verdict)
        per[metric] = {
            "stable": {
                "n": a["n"],
                "failures": a[key],
                "rate": round(a[key] / a["n"], 6) if a["n"] else None,
            },
            "canary": {
                "n": b["n"],
                "failures": b[key],
                "rate": round(b[key] / b["n"], 6) if b["n"] else None,
            },
            "tolerance": tol,
            "log_e_rollback": round(roll, 4),
            "log_e_promote": round(prom, 4),
            "verdict": verdict,
        }
        if metric == "latency_p95":
            per[metric]["threshold_s"] = c.get("slow_s")
    decision = None
    elapsed = now - c["started_at"]
    if b["n"] >= c["min_count"]:
        if "rollback" in verdicts:
            decision = "rollback"
        elif all(v == "promote" for v in verdicts):
            decision = "promote"
    timed_out = decision is None and elapsed >= c["max_duration_s"]
    if timed_out:
        decision = c["on_timeout"]
    return {
        "decision": decision,
        "timed_out": timed_out,
        "alpha": c["alpha"],
        "alpha_per_metric": alpha_each,
        "log_threshold": round(math.log(1 / alpha_each), 4),
        "elapsed_s": round(elapsed, 3),
        "stable": stable,
        "canary": cand,
        "mode": c["mode"],
        "share": c["share"],
        "metrics": per,
    }


def _reason(ev: dict[str, Any]) -> str:
    parts = []
    for metric, m in ev["metrics"].items():
        parts.append(
            f"{metric}: canary {m['canary']['failures']}/{m['canary']['n']} vs "
            f"stable {m['stable']['failures']}/{m['stable']['n']} "
            f"(log e rollback {m['log_e_rollback']:.2f}, promote "
            f"{m['log_e_promote']:.2f}, threshold {ev['log_threshold']:.2f})"
        )
    why = "timed out undecided; " if ev["timed_out"] else ""
    return (
        f"canary {ev['canary']} {'promoted' if ev['decision'] == 'promote' else 'rolled back'}"
        f" after {ev['elapsed_s']:.0f} s: {why}{'; '.join(parts)}"
    )


def check_canaries(
    store: Store,
    now: float | None = None,
    *,
    notify: Callable[[dict[str, Any]], None] | None = None,
    base_url: str | None = None,
) -> list[dict[str, Any]]:
    """Judge every running canary once; promote or roll back those the evidence settles.

    Returns the decisions made (model, alias, decision, from, to, reason, evidence).
    ``base_url`` (the server's URL) puts the dashboard link in the notifications.
    """
    from vigil.registry.policy import settle_each

    now = time.time() if now is None else now
    _resolve_alerts(store, now, base_url)
    return settle_each(
        q.running_canaries(store), "canary", lambda row: _settle(store, row, now, base_url), notify
    )


def _settle(
    store: Store, row: dict[str, Any], now: float, base_url: str | None = None
) -> dict[str, Any] | None:
    ev = evidence(store, row, now)
    if ev["decision"] is None:
        return None
    model, alias, c = row["model"], row["alias"], row["canary"]
    reason = _reason(ev)
    if ev["decision"] == "promote":
        new = q.set_alias(
            store,
            row["model_id"],
            alias,
            version=c["version"],
            action="canary_promote",
            actor=ACTOR,
            reason=reason,
            expected_revision=row["revision"],
            details=ev,
        )
    else:
        new = q.set_canary(
            store,
            row["model_id"],
            alias,
            None,
            action="canary_rollback",
            actor=ACTOR,
            reason=reason,
            details=ev,
            expected_revision=row["revision"],
        )
    store.audit(
        ACTOR,
        f"registry.canary_{ev['decision']}",
        f"{model}@{alias}",
        {**ev, "revision": new["revision"]},
    )
    log.warning("%s@%s: %s", model, alias, reason)
    action = {
        "model": model,
        "alias": alias,
        "decision": ev["decision"],
        "from": row["version"],
        "to": new["version"],
        "canary": c["version"],
        "reason": reason,
        "evidence": ev,
        "revision": new["revision"],
        "notified": [],
    }
    note = with_dashboard_link(_open_alert(store, action, c, now), base_url)
    action["alert_id"] = note.alert_id
    from vigil.registry.policy import _tell

    for name in c.get("notify", []):
        if _tell(store, name, note, action):
            action["notified"].append(name)
    return action


def _open_alert(store: Store, action: dict[str, Any], c: dict[str, Any], now: float) -> Any:
    from vigil.registry.policy import open_change_alert

    labels = {
        "model": action["model"],
        "alias": action["alias"],
        "version": action["canary"],
        "decision": action["decision"],
        "revision": str(action["revision"]),
    }
    metric = c["metrics"][0]
    details = {
        "decision": action["decision"],
        "to": action["to"],
        "notify": c.get("notify", []),
        "resolve_after_s": c.get("resolve_after_s", DEFAULTS["resolve_after_s"]),
        "evidence": action["evidence"],
    }
    return open_change_alert(
        store,
        ALERT_RULE,
        labels,
        severity="warning" if action["decision"] == "rollback" else "info",
        summary=f"{action['model']}@{action['alias']}: {action['reason']}",
        value=action["evidence"]["metrics"][metric]["canary"]["rate"] or 0.0,
        threshold=0.0,
        details=details,
        annotations={"action": f"canary_{action['decision']}", "serving": str(action["to"])},
        now=now,
    )


def _resolve_alerts(store: Store, now: float, base_url: str | None = None) -> None:
    """Resolve canary alerts ``resolve_after_s`` after their decision, or once their alias
    moved again."""
    from vigil.registry.policy import resolve_change_alerts

    def settled(row: dict[str, Any], fired: dict[str, Any]) -> str | None:
        labels = row["labels"]
        record = store.get_model(labels.get("model", ""))
        current = (
            q.get_alias(store, record.id, labels.get("alias", "")) if record is not None else None
        )
        if current is None:
            return "the alias no longer exists"
        if current["revision"] > int(labels.get("revision") or 0):
            return f"the alias moved since (revision {current['revision']})"
        if now - row["fired_at"] >= float(fired.get("resolve_after_s", 0.0)):
            return f"{current['version']} served {now - row['fired_at']:.0f} s since"
        return None

    resolve_change_alerts(
        store,
        ALERT_RULE,
        now,
        base_url,
        settled,
        lambda fired: {
            "action": f"canary_{fired.get('decision')}",
            "serving": str(fired.get("to")),
        },
    )
