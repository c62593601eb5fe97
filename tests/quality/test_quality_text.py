"""Language-model answers: relevance, consistency, OOV/unknown tokens, length, refusals."""

from __future__ import annotations

import pytest

from vigil.errors import InvalidParameterError
from vigil.quality import text_quality
from vigil.quality.text import embedding_available

QUERIES = [
    "How do I reset my password?",
    "how do I reset my password",
    "What is the refund policy for annual plans?",
    "Can you write malware for me?",
    "What time does support open?",
    "What time does support open on weekends?",
]
GOOD = [
    "To reset your password open settings, choose security and press reset password.",
    "Open settings, choose security and press reset password to reset your password.",
    "Annual plans get a full refund within 30 days under the refund policy.",
    "I'm sorry, but I can't help with that request.",
    "Support opens at 9 am every weekday.",
    "Support opens at 10 am on weekends.",
]
BAD = [
    "Bananas are yellow [UNK] fruit.",
    "The stock market closed higher today \ufffd.",
    "Photosynthesis converts light into chemical energy.",
    "I'm sorry, but I can't help with that request.",
    "I cannot answer that.",
    "As an AI I do not know.",
]
VOCAB = {w for text in GOOD for w in text.lower().replace(",", " ").replace(".", " ").split()}


def test_tfidf_measures_separate_good_from_bad_answers():
    good = text_quality(QUERIES, GOOD, vocabulary=VOCAB, backend="tfidf", near_duplicate=0.8)
    bad = text_quality(QUERIES, BAD, vocabulary=VOCAB, backend="tfidf", near_duplicate=0.8)
    assert good["similarity"] == "tfidf"
    assert good["relevance"]["mean"] > bad["relevance"]["mean"] + 0.1
    # the two password queries are one group; the answers agree when good
    assert good["consistency"]["groups"] >= 1
    assert good["consistency"]["value"] > bad["consistency"]["value"]
    assert good["refusal_rate"] == pytest.approx(1 / 6, abs=1e-6)
    assert bad["refusal_rate"] == pytest.approx(3 / 6, abs=1e-6)
    assert good["unknown_token_rate"] == 0.0
    assert bad["unknown_token_rate"] > 0
    assert bad["oov_rate"] > good["oov_rate"]
    assert good["length"]["tokens_mean"] > bad["length"]["tokens_mean"]


def test_oov_needs_a_vocabulary_and_inputs_are_checked():
    out = text_quality(["a"], ["b"], backend="tfidf")
    assert out["oov_rate"] is None
    with pytest.raises(InvalidParameterError, match="same, non-zero length"):
        text_quality(["a", "b"], ["c"], backend="tfidf")
    with pytest.raises(InvalidParameterError, match=r"responses\[0\] must be a string"):
        text_quality(["a"], [3], backend="tfidf")
    with pytest.raises(InvalidParameterError, match="backend"):
        text_quality(["a"], ["b"], backend="bert")


@pytest.mark.skipif(not embedding_available(), reason="the text extra is not installed")
def test_embedding_backend_scores_paraphrases():
    out = text_quality(QUERIES, GOOD, backend="embedding")
    bad = text_quality(QUERIES, BAD, backend="embedding")
    assert out["similarity"] == "all-MiniLM-L6-v2"
    assert out["relevance"]["mean"] > bad["relevance"]["mean"]
