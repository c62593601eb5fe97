"""Text and embedding drift.

:func:`text_drift` compares descriptors (length, words, out-of-vocabulary rate against
the reference vocabulary, non-letter share) with a KS test each, and runs a TF-IDF domain
classifier that names the terms that appeared and vanished. :func:`embedding_drift` runs a
domain classifier (or MMD) on vector columns.
"""

from __future__ import annotations

from .descriptors import DESCRIPTORS, describe
from .embedding import embedding_drift
from .tfidf import text_drift

__all__ = ["DESCRIPTORS", "describe", "embedding_drift", "text_drift"]
