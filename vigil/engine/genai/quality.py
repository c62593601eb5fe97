"""Per-answer quality of a text model: which answers were irrelevant, inconsistent or
refusals, not only how many.

The measures are those of :func:`vigil.quality.text.text_quality`, kept per answer:
relevance (similarity of the answer to its prompt), consistency (mean similarity of the
answer to the other answers of the same or near-duplicate prompts), refusal, length in
tokens and unknown tokens. :func:`answer_report` reads the newest answers of a range and
lists the worst ones. Sentence embeddings (the ``text`` extra) are cached by text hash,
so reading a window again embeds only its new answers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vigil.audit.injection import THRESHOLD as INJECTION_THRESHOLD
from vigil.errors import InvalidParameterError
from vigil.quality.text import (
    REFUSAL_PATTERNS,
    TEXT_MODEL,
    UNKNOWN_TOKENS,
    _groups,  # the grouping text_quality uses: same rule, same groups
    encoder,
    tokens,
    uses_embedding,
)
from vigil.schema import ModelSchema, Task
from vigil.store import ModelRecord, Store
from vigil.store.genai.answers import (
    scores_by_id,
    stored_scores,
    unscored_windows,
    write_scores,
)
from vigil.store.genai.queries import recent_predictions

MAX_ANSWERS = 2000
MAX_WORST = 100
MIN_ANSWERS = 5  # fewer answers in the window: no value (rules neither fire nor resolve)
QUERY_KEYS = ("prompt", "query", "question", "input", "text", "message")
ANSWER_KEYS = ("output", "prediction", "completion", "answer", "value")
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)
_SCORE_KEYS = ("relevance", "consistency", "refusal", "tokens", "unknown_tokens")


def backend_ready(backend: str = "auto") -> bool:
    """Whether answers can be scored with ``backend`` now: TF-IDF always, the text model
    once loaded. Asking starts its load in the background (once per process), so the
    first request or job pass after start triggers it and never waits for it."""
    if not uses_embedding(backend):
        return True
    TEXT_MODEL.start()
    return TEXT_MODEL.ready()


def backend_status(backend: str = "auto") -> dict[str, Any]:
    """The similarity backend as answers report it: ``name``, ``state`` (``ready``,
    ``loading``, ``failed``...), ``device`` (``cpu``, ``cuda:0``), ``precision``,
    ``threads`` and ``load_s`` for the text model; ``{"name": "tfidf", "state":
    "ready"}`` without it."""
    if not uses_embedding(backend):
        return {"name": "tfidf", "state": "ready"}
    TEXT_MODEL.start()
    return TEXT_MODEL.describe()


def answer_scores(
    queries: Sequence[str],
    responses: Sequence[str],
    *,
    backend: str = "auto",
    near_duplicate: float = 0.9,
) -> dict[str, Any]:
    """Scores of each answer.

    Returns:
        ``similarity`` (the backend's name) and, one per answer: ``relevance``,
        ``consistency`` (None outside a group of repeated prompts), ``group`` (an index,
        or None), ``refusal``, ``tokens`` and ``unknown_tokens``; plus ``pairs``: every
        pair of answers to one prompt group with their similarity, least similar first.

    Examples:
        >>> s = answer_scores(["reset my password", "Reset my password!", "opening hours"],
        ...                   ["Open settings and reset the password.",
        ...                    "Open settings and reset the password.",
        ...                    "I'm sorry, I can't help with that."], backend="tfidf")
        >>> [round(r, 2) for r in s["relevance"]], s["refusal"], s["group"]
        ([0.33, 0.33, 0.0], [False, False, True], [0, 0, None])
        >>> s["pairs"][0][:2], round(s["pairs"][0][2], 2)
        ((0, 1), 1.0)
    """
    q, r = list(queries), list(responses)
    if len(q) != len(r):
        raise InvalidParameterError(
            f"'queries' and 'responses' need the same length. Got {len(q)} and {len(r)}."
        )
    name, encode = encoder(backend)
    if not q:
        return {
            "similarity": name,
            "relevance": [],
            "consistency": [],
            "group": [],
            "refusal": [],
            "tokens": [],
            "unknown_tokens": [],
            "pairs": [],
        }
    # TF-IDF is fitted on the texts at hand (one fit for all); embeddings are per text
    vectors = encode(q + r)  # embeddings cached by text hash (see encoder)
    qv, rv = vectors[: len(q)], vectors[len(q) :]
    relevance = (qv * rv).sum(axis=1)
    consistency: list[float | None] = [None] * len(q)
    group: list[int | None] = [None] * len(q)
    pairs: list[tuple[tuple[int, int], float]] = []
    for gi, members in enumerate(_groups(q, qv, near_duplicate)):
        sim = rv[members] @ rv[members].T
        for a, i in enumerate(members):
            group[i] = gi
            consistency[i] = float((sim[a].sum() - sim[a, a]) / (len(members) - 1))
            pairs.extend(((i, j), float(sim[a, b])) for b, j in enumerate(members) if b > a)
    toks = [tokens(t) for t in r]
    return {
        "similarity": name,
        "relevance": [float(v) for v in relevance],
        "consistency": consistency,
        "group": group,
        "refusal": [bool(_REFUSAL.search(t)) for t in r],
        "tokens": [len(t) for t in toks],
        "unknown_tokens": [sum(tok in UNKNOWN_TOKENS for tok in t) for t in toks],
        "pairs": sorted(((a, b, s) for (a, b), s in pairs), key=lambda p: p[2]),
    }


def answer_report(
    store: Store,
    model: ModelRecord,
    *,
    start: float,
    end: float,
    version: str | None = None,
    limit: int = 200,
    worst: int = 10,
    backend: str = "auto",
    with_skipped: bool = False,
    wait: bool = True,
) -> dict[str, Any]:
    """Scores of the newest ``limit`` answers in ``[start, end)`` and the ``worst`` of
    each kind: lowest relevance, least consistent pairs, refusals, prompts flagged as
    injections at ingest (``injection_score`` ≥ 0.5, as ``injection_rate`` counts them).

    The prompt is the model's first text input (else an input named ``prompt``,
    ``query``, ``question``...), the answer its string output (``output``,
    ``prediction``...); predictions without both are skipped and counted.

    ``backend`` in the answer describes the similarity backend (the text model's state,
    device and precision). With ``wait=False`` (request paths) and the text model still
    loading, nothing is embedded: ``scoring`` is ``"pending"`` and each answer carries
    the scores the background job stored for it (None where it has none yet); the
    inconsistent pairs need the vectors and stay empty. Otherwise ``scoring`` is
    ``"done"``.
    """
    if not end > start:
        raise InvalidParameterError(f"'end' ({end}) must be after 'start' ({start}).")
    if not 1 <= limit <= MAX_ANSWERS:
        raise InvalidParameterError(f"'limit' must be in 1..{MAX_ANSWERS}. Got {limit}.")
    if not 0 <= worst <= MAX_WORST:
        raise InvalidParameterError(f"'worst' must be in 0..{MAX_WORST}. Got {worst}.")
    schema = ModelSchema.from_dict(model.schema)
    keys = (*[f.name for f in schema.features if f.kind.value == "text"], *QUERY_KEYS)
    rows = recent_predictions(store, model.id, start, end, version, limit)
    answers, queries, responses, skipped = [], [], [], []
    for row in rows:
        query, answer = _text(row["inputs"], keys), _text(row["outputs"], ANSWER_KEYS)
        if query is None or answer is None:
            skipped.append(row)
            continue
        answers.append(
            {
                "id": row["id"],
                "ts": row["ts"],
                "version": row["version"],
                "prompt": query,
                "output": answer,
                "injection_score": row["injection_score"],
                "ood": row["ood"],
                "flags": row["flags"],
            }
        )
        queries.append(query)
        responses.append(answer)
    if wait or backend_ready(backend):
        scores, scoring = answer_scores(queries, responses, backend=backend), "done"
    else:
        scores, scoring = _stored_answer_scores(store, model, answers), "pending"
    for i, a in enumerate(answers):
        for key in ("group", *_SCORE_KEYS):
            a[key] = scores[key][i]
    relevance = [v for v in scores["relevance"] if v is not None]
    by_relevance = sorted(
        (i for i, v in enumerate(scores["relevance"]) if v is not None),
        key=lambda i: scores["relevance"][i],
    )
    extra = {"skipped_rows": skipped} if with_skipped else {}
    return {
        **extra,
        "model": model.name,
        "start": start,
        "end": end,
        "version": version,
        "similarity": scores["similarity"],
        "backend": backend_status(backend),
        "scoring": scoring,
        "n": len(answers),
        "skipped": len(rows) - len(answers),
        "relevance_mean": float(np.mean(relevance)) if relevance else None,
        "answers": answers,
        "worst": {
            "relevance": [_brief(answers[i], "relevance") for i in by_relevance[:worst]],
            "inconsistent": [
                {
                    "a": answers[a]["id"],
                    "b": answers[b]["id"],
                    "similarity": s,
                    "prompt": answers[a]["prompt"],
                }
                for a, b, s in scores["pairs"][:worst]
            ],
            "refusals": [_brief(a, "refusal") for a in answers if a["refusal"]][:worst],
            "injections": [
                _brief(a, "injection_score")
                for a in sorted(
                    (a for a in answers if (a["injection_score"] or 0) >= INJECTION_THRESHOLD),
                    key=lambda a: -a["injection_score"],
                )
            ][:worst],
        },
    }


def _stored_answer_scores(
    store: Store, model: ModelRecord, answers: list[dict[str, Any]]
) -> dict[str, Any]:
    """The scores :func:`answer_scores` would give, as the background job stored them
    (None for answers it has not scored yet); no groups or pairs (they need vectors)."""
    stored = scores_by_id(store, model.id, [a["id"] for a in answers])
    found = [stored.get(a["id"], {}) for a in answers]
    names = {f["similarity"] for f in found if f.get("similarity")}
    return {
        "similarity": names.pop() if len(names) == 1 else None,
        "group": [None] * len(answers),
        "pairs": [],
        **{key: [f.get(key) for f in found] for key in _SCORE_KEYS},
    }


SCORE_STEP = 300  # the job scores 5-minute windows: consistency is within one of them
SCORE_LOOKBACK_S = 7 * 86400  # predictions older than this are not scored afterwards
SCORE_WINDOWS = 20  # windows per model per pass (the rest next pass)


def score_pending(
    store: Store, *, now: float | None = None, backend: str = "auto", wait: bool = False
) -> dict[str, int]:
    """The background answer-quality job: score every window (:data:`SCORE_STEP`
    seconds) of each text model that holds predictions without stored scores, and store
    each prediction's relevance, consistency, refusal and token counts. A window is
    scored whole (its consistency groups need all its answers); embeddings come from the
    per-process cache, so a window scored again only embeds its new texts. Returns the
    answers scored per model name.

    The first pass starts loading the text model in its own thread; until it is loaded
    a pass scores nothing (0 per model) rather than holding up the server's other
    quality jobs, unless ``wait``."""
    end = time.time() if now is None else now
    done: dict[str, int] = {}
    for model in store.list_models():
        if model.task == Task.TEXT_GENERATION.value:
            done[model.name] = score_range(
                store, model, end - SCORE_LOOKBACK_S, None, backend=backend, wait=wait
            )
    return done


def score_range(
    store: Store,
    model: ModelRecord,
    start: float,
    end: float | None,
    *,
    backend: str = "auto",
    windows: int = SCORE_WINDOWS,
    wait: bool = True,
) -> int:
    """Score (and store) the windows of ``model`` with unscored predictions in
    ``[start, end)``, at most ``windows`` of them, oldest first; the answers scored.
    With ``wait=False`` (request paths, rule metrics, the job) nothing is scored while
    the text model is still loading: 0, and the load goes on in the background."""
    if not wait and not backend_ready(backend):
        return 0
    n = 0
    for w in unscored_windows(store, model.id, start, SCORE_STEP, windows, until=end):
        rows = _score_window(store, model, float(w), float(w + SCORE_STEP), backend)
        write_scores(store, model.id, rows)
        n += len(rows)
    return n


def _score_window(
    store: Store, model: ModelRecord, start: float, end: float, backend: str
) -> list[dict[str, Any]]:
    report = answer_report(
        store,
        model,
        start=start,
        end=end,
        limit=MAX_ANSWERS,
        worst=0,
        backend=backend,
        with_skipped=True,
        wait=True,
    )
    rows = [
        {
            "prediction_id": a["id"],
            "version": a["version"],
            "ts": a["ts"],
            "similarity": report["similarity"],
            **{
                k: a[k] for k in ("relevance", "consistency", "refusal", "tokens", "unknown_tokens")
            },
        }
        for a in report["answers"]
    ]
    rows += [
        {"prediction_id": r["id"], "version": r["version"], "ts": r["ts"]}
        for r in report["skipped_rows"]
    ]
    return rows


def summarise_scores(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Window metrics of stored answer scores: ``answers``, ``relevance_mean``,
    ``relevance_p10``, ``consistency`` (None without repeated prompts), ``refusal_rate``,
    ``answer_tokens_mean``, ``unknown_token_rate`` (unknown tokens per answer token),
    ``injection_rate`` and ``ood_rate`` (of the prompts, as scored at ingest; ``ood_rate``
    is None when no prompt of the window was OOD-scored)."""
    n = len(rows)
    if not n:
        return {"answers": 0, **dict.fromkeys(WINDOW_METRICS)}
    relevance = np.array([r["relevance"] for r in rows], dtype=np.float64)
    consistency = [r["consistency"] for r in rows if r["consistency"] is not None]
    tokens_ = np.array([r["tokens"] or 0 for r in rows], dtype=np.float64)
    unknown = float(sum(r["unknown_tokens"] or 0 for r in rows))
    # ingest stores input scores only for prompts with a signal: no score is a clean prompt
    injection = [(r["injection_score"] or 0.0) >= INJECTION_THRESHOLD for r in rows]
    ood = [bool(r["ood"]) for r in rows] if any(r["ood"] is not None for r in rows) else []
    return {
        "answers": n,
        "relevance_mean": float(relevance.mean()),
        "relevance_p10": float(np.percentile(relevance, 10)),
        "consistency": float(np.mean(consistency)) if consistency else None,
        "refusal_rate": float(np.mean([bool(r["refusal"]) for r in rows])),
        "answer_tokens_mean": float(tokens_.mean()),
        "unknown_token_rate": unknown / tokens_.sum() if tokens_.sum() else 0.0,
        "injection_rate": float(np.mean(injection)),
        "ood_rate": float(np.mean(ood)) if ood else None,
    }


WINDOW_METRICS = (
    "relevance_mean",
    "relevance_p10",
    "consistency",
    "refusal_rate",
    "answer_tokens_mean",
    "unknown_token_rate",
    "injection_rate",
    "ood_rate",
)


def answer_series(
    store: Store,
    model: ModelRecord,
    start: float,
    end: float,
    step: int,
    version: str | None = None,
) -> dict[str, Any]:
    """The stored answer scores of ``[start, end)``: a summary and one point per
    ``step`` window with answers (see :func:`summarise_scores`)."""
    rows = stored_scores(store, model.id, start, end, version)
    by_window: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_window.setdefault(int(r["ts"] // step) * step, []).append(r)
    return {
        "summary": summarise_scores(rows),
        "series": [{"ts": w, **summarise_scores(items)} for w, items in sorted(by_window.items())],
    }


def window_answer_metrics(
    store: Store, model: ModelRecord, version: str | None, start: float, end: float
) -> dict[str, float | None] | None:
    """The :data:`WINDOW_METRICS` of the stored answer scores of ``[start, end)`` (the
    background job writes them); None below :data:`MIN_ANSWERS` scored answers. Windows
    the job has not reached yet are scored first, so a rule never reads a gap."""
    score_range(store, model, start, end)
    values = summarise_scores(stored_scores(store, model.id, start, end, version))
    return None if values["answers"] < MIN_ANSWERS else values


_PUNCT = re.compile(r"[\W_]+")


def normalise_answer(text: str) -> str:
    """Lower case, punctuation and runs of spaces folded: what exact match compares.

    Examples:
        >>> normalise_answer("  Paris!  ") == normalise_answer("paris")
        True
    """
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def golden_answer_metrics(
    answers: Sequence[Any], references: Sequence[Any], *, backend: str = "auto"
) -> dict[str, Any]:
    """Golden Q/A scores of a text model: semantic similarity of each answer to its
    reference answer (cosine of sentence embeddings, or TF-IDF without the ``text``
    extra) and exact match after :func:`normalise_answer`.

    Returns:
        ``n``, ``similarity_mean``, ``similarity_p10``, ``similarity_min``,
        ``exact_match`` (share of answers equal to the reference), ``non_text`` (answers
        that were not strings: similarity 0, no match) and ``similarity`` (the backend).

    Examples:
        >>> m = golden_answer_metrics(["Paris.", "Berlin"], ["paris", "Madrid"],
        ...                           backend="tfidf")
        >>> m["exact_match"], round(m["similarity_mean"], 2)
        (0.5, 0.5)
    """
    a, r = list(answers), list(references)
    if len(a) != len(r) or not a:
        raise InvalidParameterError(
            f"Golden answers and references need the same, non-zero length. Got {len(a)} "
            f"and {len(r)}."
        )
    texts = [isinstance(x, str) and isinstance(y, str) for x, y in zip(a, r, strict=True)]
    ans = [x if ok else "" for x, ok in zip(a, texts, strict=True)]
    ref = [str(y) if y is not None else "" for y in r]
    name, encode = encoder(backend)
    vectors = encode(ans + ref)
    sim = (vectors[: len(a)] * vectors[len(a) :]).sum(axis=1)
    sim = np.where(texts, sim, 0.0)
    exact = [
        ok and normalise_answer(x) == normalise_answer(y)
        for x, y, ok in zip(ans, ref, texts, strict=True)
    ]
    return {
        "n": len(a),
        "similarity_mean": float(sim.mean()),
        "similarity_p10": float(np.percentile(sim, 10)),
        "similarity_min": float(sim.min()),
        "exact_match": float(np.mean(exact)),
        "non_text": int(len(a) - sum(texts)),
        "similarity": name,
    }


def _text(values: Any, keys: Sequence[str]) -> str | None:
    if isinstance(values, str):
        return values
    if isinstance(values, Mapping):
        return next((values[k] for k in keys if isinstance(values.get(k), str)), None)
    return None


def _brief(answer: dict[str, Any], key: str) -> dict[str, Any]:
    return {
        "id": answer["id"],
        key: answer[key],
        "prompt": answer["prompt"],
        "output": answer["output"],
    }
