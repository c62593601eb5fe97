"""Text drift: terms that appear in a minority of texts are flagged and named, the
false-alarm rate on same-corpus samples stays at or below nominal, and the OOV descriptor
is unbiased (identical corpora used to look drifted) and grows with real drift."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from vigil import detect_drift
from vigil.drift.text import text_drift
from vigil.drift.text.terms import document_frequencies, term_tests

VOCAB = [f"w{i}" for i in range(4000)]
P = 1.0 / np.arange(1, len(VOCAB) + 1) ** 1.05
P /= P.sum()
SEEDS = 20


def _corpus(
    rng: np.random.Generator, n: int, *, new_share: float = 0.0, slang: str | None = None
) -> list[str]:
    texts = []
    for _ in range(n):
        words = rng.choice(VOCAB, int(rng.integers(8, 20)), p=P).tolist()
        if rng.random() < new_share:  # words never seen in the reference
            words += [f"new{int(rng.integers(0, 500))}" for _ in range(3)]
        if slang is not None and rng.random() < 0.1:
            words.insert(int(rng.integers(0, len(words))), slang)
        texts.append(" ".join(words))
    return texts


def test_slang_in_ten_percent_of_texts_is_flagged_and_named() -> None:
    rng = np.random.default_rng(0)
    result, details = text_drift(_corpus(rng, 1500), _corpus(rng, 1500, slang="bussin"))
    assert result.drifted, result.reason
    assert details["appeared"][0] == "bussin"
    entry = details["terms"]["appeared"][0]
    assert entry["reference_share"] == 0.0 and 0.07 < entry["current_share"] < 0.13
    assert "bussin" in result.reason


def test_term_p_values_match_fishers_exact_test() -> None:
    ref = document_frequencies(["a b"] * 40 + ["a c"] * 60)
    cur = document_frequencies(["a b"] * 20 + ["a c"] * 60 + ["a d"] * 10)
    r = term_tests(ref, 100, cur, 90, alpha=1.0, min_effect=0.0, min_docs=1)
    got = {t["term"]: t for t in r["appeared"] + r["vanished"]}
    raw = {"a": 1.0}  # in every text of both sides
    for term, (a, b) in {"b": (40, 20), "c": (60, 60), "d": (0, 10)}.items():
        raw[term] = stats.fisher_exact([[a, 100 - a], [b, 90 - b]]).pvalue
    adjusted = dict(zip(raw, stats.false_discovery_control(list(raw.values())), strict=True))
    for term in ("b", "d"):  # doubled one-sided tails: at least Fisher's two-sided p
        assert got[term]["p_value_adjusted"] >= adjusted[term] * (1 - 1e-9)
        assert got[term]["p_value_adjusted"] <= 2 * adjusted[term]
    assert r["tested"] == 4  # "a" is in every text: tested, p = 1


def test_same_corpus_false_alarms_at_or_below_nominal() -> None:
    tolerance = 0.05 + 2 * math.sqrt(0.05 * 0.95 / SEEDS)
    column = oov = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(100 + seed)
        result, details = text_drift(_corpus(rng, 800), _corpus(rng, 800), random_state=seed)
        column += result.drifted
        oov += details["descriptors"]["oov_rate"]["p_value"] < 0.05
    assert column / SEEDS <= tolerance
    assert oov / SEEDS <= tolerance


def test_oov_rate_is_unbiased_and_grows_with_drift() -> None:
    rng = np.random.default_rng(5)
    ref = _corpus(rng, 2000)
    stats_ = []
    for share in (0.0, 0.1, 0.3, 0.6):
        _, details = text_drift(ref, _corpus(rng, 2000, new_share=share))
        d = details["descriptors"]["oov_rate"]
        stats_.append(d["statistic"])
    assert stats_ == sorted(stats_) and stats_[0] < 0.05
    assert details["descriptors"]["oov_rate"]["drifted"]


def test_detect_drift_text_column_uses_both_tests() -> None:
    rng = np.random.default_rng(9)
    ref = {"review": np.asarray(_corpus(rng, 1500), dtype=object)}
    cur = {"review": np.asarray(_corpus(rng, 1500, slang="bussin"), dtype=object)}
    col = detect_drift(ref, cur, multivariate=None)["review"]
    assert col.drifted and col.details["appeared"][0] == "bussin"
    assert col.p_value_adjusted is not None and col.p_value_adjusted < 0.05
