"""Numeric descriptors of texts, each compared like a numeric column.

``length`` (characters), ``words`` (tokens), ``oov_rate`` (share of tokens absent from
the reference vocabulary) and ``non_letter_share`` (share of characters that are neither
letters nor white space: digits, punctuation, emoji).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
DESCRIPTORS = ("length", "words", "oov_rate", "non_letter_share")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens (runs of letters or digits)."""
    return TOKEN.findall(text.lower())


def vocabulary(texts: Iterable[str]) -> frozenset[str]:
    """Every token seen in ``texts``."""
    vocab: set[str] = set()
    for t in texts:
        vocab.update(tokens(t))
    return frozenset(vocab)


def describe(texts: list[str], vocab: frozenset[str]) -> dict[str, np.ndarray]:
    """Descriptor arrays for ``texts``; ``oov_rate`` is NaN for texts without tokens.

    Examples:
        >>> d = describe(["Hello world!", "hi 42"], frozenset({"hello", "world"}))
        >>> d["length"].tolist(), d["oov_rate"].tolist()
        ([12.0, 5.0], [0.0, 1.0])
        >>> [round(x, 2) for x in d["non_letter_share"].tolist()]
        [0.08, 0.4]
    """
    n = len(texts)
    length = np.empty(n)
    words = np.empty(n)
    oov = np.full(n, np.nan)
    non_letter = np.zeros(n)
    for i, t in enumerate(texts):
        toks = tokens(t)
        length[i] = len(t)
        words[i] = len(toks)
        if toks:
            oov[i] = sum(tok not in vocab for tok in toks) / len(toks)
        if t:
            letters = sum(ch.isalpha() or ch.isspace() for ch in t)
            non_letter[i] = (len(t) - letters) / len(t)
    return {"length": length, "words": words, "oov_rate": oov, "non_letter_share": non_letter}
