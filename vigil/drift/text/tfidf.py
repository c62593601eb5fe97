"""Text-column drift: a TF-IDF domain classifier and per-term document-frequency tests.

Two tests decide, combined by Bonferroni (each effectively at ``alpha / 2``): the
classifier (logistic regression on TF-IDF of words; see
:mod:`vigil.drift.multivariate.domain_classifier` for the held-out AUC test; counts when
AUC ≥ ``min_auc``), which sees changes spread over many words, and the per-term tests of
:mod:`vigil.drift.text.terms` (BH across terms, Cohen's h ≥ 0.1), which see a word that
appears or vanishes in a minority of texts. The result's p-value is
``min(1, 2 · min(p_classifier, p_terms))`` over the tests whose effect reaches its minimum,
so without drift the column alarms at most at ``alpha``. The significant terms are named
("appeared", "vanished"); without any, the classifier's coefficients name the terms that
most mark each side. ``new_terms`` lists the most frequent current tokens absent from the
whole reference.

Each descriptor gets a KS test against the reference (reported in ``details``, not part of
the verdict). The out-of-vocabulary rate of both sides is measured against the same
vocabulary, built from one half of the reference; the reference's own rate comes from the
other half. (Measuring the current texts against the whole reference's vocabulary, twice
as large, made identical corpora look drifted.)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from vigil.drift.batch import KolmogorovSmirnov, NumericSample
from vigil.drift.multivariate.domain_classifier import auc_test, split_halves
from vigil.drift.report import MultivariateDrift

from .descriptors import DESCRIPTORS, describe, tokens, vocabulary
from .terms import document_frequencies, term_tests


class TextReference:
    """A text column's reference, prepared once: vocabulary and descriptor samples.

    Args:
        texts: the reference texts (missing values already removed).
        random_state: seed of the vocabulary split.
    """

    def __init__(self, texts: list[str], random_state: int = 0) -> None:
        rng = np.random.default_rng(random_state)
        order = rng.permutation(len(texts))
        half = len(texts) // 2
        vocab_half = [texts[i] for i in order[:half]]
        self.texts = texts
        self.vocabulary_ = vocabulary(texts)
        self.oov_vocabulary_ = vocabulary(vocab_half)
        held = describe([texts[i] for i in order[half:]], self.oov_vocabulary_)
        full = describe(texts, self.vocabulary_)
        full["oov_rate"] = held["oov_rate"]
        self.descriptors_ = {k: NumericSample(v) for k, v in full.items()}
        self.document_frequencies_ = document_frequencies(texts)


def text_drift(
    reference: TextReference | list[str],
    current: list[str],
    *,
    alpha: float = 0.05,
    min_auc: float = 0.55,
    max_rows: int = 5000,
    top_terms: int = 10,
    random_state: int = 0,
) -> tuple[MultivariateDrift, dict[str, Any]]:
    """Compare two lists of texts.

    Args:
        reference: a prepared :class:`TextReference` or the reference texts.
        current: the current texts.
        alpha: significance level of the classifier and descriptor tests.
        min_auc: the AUC a significant classifier result must reach.
        max_rows: texts used per side for the classifier at most.
        top_terms: how many terms to list each way.
        random_state: seed.

    Returns:
        ``(classifier result, details)`` where details holds ``descriptors`` (one test
        result per descriptor), ``appeared``, ``vanished`` and ``new_terms``.

    Examples:
        >>> ref = [f"the service was good number {i}" for i in range(300)]
        >>> cur = [f"the service was lit fr fr {i}" for i in range(300)]
        >>> result, details = text_drift(ref, cur)
        >>> result.drifted, "lit" in details["appeared"], "good" in details["vanished"]
        (True, True, True)
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    ref = reference if isinstance(reference, TextReference) else TextReference(reference)
    cur_desc = describe(current, ref.oov_vocabulary_)
    descriptors = {}
    for name in DESCRIPTORS:
        test = KolmogorovSmirnov(alpha).fit(ref.descriptors_[name])
        descriptors[name] = test.compare(NumericSample(cur_desc[name])).to_dict()
    counts = Counter(tok for t in current for tok in tokens(t) if tok not in ref.vocabulary_)
    n_ref, n_cur = len(ref.texts), len(current)
    terms = term_tests(
        ref.document_frequencies_,
        n_ref,
        document_frequencies(current),
        n_cur,
        alpha=alpha,
        top=top_terms,
    )
    details: dict[str, Any] = {
        "descriptors": descriptors,
        "new_terms": [t for t, _ in counts.most_common(top_terms)],
        "appeared": [t["term"] for t in terms["appeared"]],
        "vanished": [t["term"] for t in terms["vanished"]],
        "terms": terms,
    }
    if min(n_ref, n_cur) < 20:
        return MultivariateDrift.too_few(
            "tfidf_classifier", "texts", n_ref, n_cur, alpha, min_auc
        ), details
    rng = np.random.default_rng(random_state)
    texts = np.asarray(ref.texts + list(current), dtype=object)
    vectorizer = TfidfVectorizer(token_pattern=r"(?u)[^\W_]+", max_features=20000)
    matrix = vectorizer.fit_transform(texts)
    train, test, y_train, y_test = split_halves(matrix[:n_ref], matrix[n_ref:], max_rows, rng)
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(train, y_train)
    scores = model.predict_proba(test)[:, 1]
    auc, p, lower = auc_test(scores[y_test == 0], scores[y_test == 1], alpha)
    names = vectorizer.get_feature_names_out()
    coef = model.coef_[0]
    order = np.argsort(coef)
    if not terms["appeared"] and not terms["vanished"]:  # the classifier's view instead
        details["appeared"] = [str(names[i]) for i in order[::-1][:top_terms] if coef[i] > 0]
        details["vanished"] = [str(names[i]) for i in order[:top_terms] if coef[i] < 0]
    details["auc_lower_bound"] = lower
    details["classifier_p_value"] = p
    p_clf = p if auc >= min_auc else 1.0
    combined = min(1.0, 2.0 * min(p_clf, terms["p_value"]))
    drifted = combined < alpha
    reason = (
        f"{'drift' if drifted else 'no drift'}: p = {combined:.3g} (Bonferroni over two "
        f"tests; drift needs p < {alpha:g}). A TF-IDF classifier tells current from "
        f"reference texts with held-out ROC AUC {auc:.3f} (p = {p:.3g}; counts from AUC "
        f"{min_auc:g}); per-term document-frequency tests: {terms['tested']} terms, "
        f"{len(terms['appeared'])} appeared and {len(terms['vanished'])} vanished "
        f"(BH-adjusted p = {terms['p_value']:.3g})."
    )
    if drifted and details["appeared"]:
        reason += f" Terms that mark current texts: {', '.join(details['appeared'][:5])}."
    return MultivariateDrift(
        "tfidf_classifier", auc, combined, auc, alpha, min_auc, drifted, n_ref, n_cur, reason, {}
    ), details
