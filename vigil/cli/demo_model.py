"""The demo's model: a scikit-learn credit-risk classifier on data made here.

Six features (four numeric, two categorical); the true default probability is a logistic
function of them, so the trained model is good but not perfect and labels are realistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PLANS = ("basic", "plus", "premium")
REGIONS = ("north", "south", "east", "west")
NUMERIC = ("income", "age", "debt_ratio", "n_accounts")


def make_applicants(n: int, rng: np.random.Generator, income_shift: float = 0.0) -> list[dict]:
    """``n`` applicant records; ``income_shift`` (in log-income units) simulates drift."""
    income = np.exp(rng.normal(10.8 + income_shift, 0.45, n))
    age = rng.integers(18, 80, n)
    debt = rng.beta(2.0, 5.0, n)
    accounts = rng.poisson(3.0, n)
    plan = rng.choice(PLANS, n, p=(0.6, 0.3, 0.1))
    region = rng.choice(REGIONS, n)
    return [
        {
            "income": round(float(income[i]), 2),
            "age": int(age[i]),
            "debt_ratio": round(float(debt[i]), 4),
            "n_accounts": int(accounts[i]),
            "plan": str(plan[i]),
            "region": str(region[i]),
        }
        for i in range(n)
    ]


def true_default_probability(rec: dict[str, Any]) -> float:
    z = (
        -1.2
        - 1.1 * (np.log(rec["income"]) - 10.8) / 0.45
        + 3.5 * (rec["debt_ratio"] - 0.28)
        - 0.015 * (rec["age"] - 45)
        + 0.12 * (rec["n_accounts"] - 3)
        - 0.4 * (rec["plan"] == "premium")
        + 0.25 * (rec["region"] == "south")
    )
    return float(1.0 / (1.0 + np.exp(-z)))


def encode(rec: dict[str, Any]) -> list[float]:
    """The model's numeric encoding of one record (one-hot for categories)."""
    return [
        np.log(rec["income"]),
        rec["age"],
        rec["debt_ratio"],
        rec["n_accounts"],
        *(float(rec["plan"] == p) for p in PLANS),
        *(float(rec["region"] == r) for r in REGIONS),
    ]


@dataclass
class CreditModel:
    """A fitted scikit-learn pipeline and how to call it on one record."""

    pipeline: Any
    accuracy: float
    reference: list[dict[str, Any]]  # the training records, the demo's drift reference

    def predict(self, rec: dict[str, Any]) -> tuple[int, float]:
        """The predicted class and its default probability."""
        p = float(self.pipeline.predict_proba(np.asarray([encode(rec)]))[0, 1])
        return int(p >= 0.5), p


def train(seed: int = 7, n: int = 5000) -> CreditModel:
    """Train on ``n`` synthetic applicants; report held-out accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    recs = make_applicants(n, rng)
    x = np.asarray([encode(r) for r in recs])
    y = np.asarray([rng.random() < true_default_probability(r) for r in recs], dtype=int)
    split = int(n * 0.8)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipe.fit(x[:split], y[:split])
    accuracy = float((pipe.predict(x[split:]) == y[split:]).mean())
    return CreditModel(pipe, accuracy, recs[:split])


def predict_many(model: CreditModel, recs: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """:meth:`CreditModel.predict` for many records in one call (the backfill's speed)."""
    probs = model.pipeline.predict_proba(np.asarray([encode(r) for r in recs]))[:, 1]
    return [(int(p >= 0.5), float(p)) for p in probs]


def fmt_ranking(ranking: dict[str, Any], top: int = 3) -> list[str]:
    """The root-cause ranking of ``GET /models/{m}/explain`` as a few summary lines."""
    if not ranking:
        return ["root cause: no ranking (too little data)"]
    lines = [
        f"root cause of the {ranking.get('metric', 'metric')} change: {ranking.get('verdict', '?')}"
    ]
    for i, cand in enumerate(ranking.get("candidates", [])[:top], 1):
        lines.append(
            f"  {i}. {cand.get('summary', cand.get('name'))} (score {cand.get('score', 0):.2f})"
        )
    return lines
