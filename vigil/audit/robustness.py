"""Robustness audit: perturb inputs slightly and count how often the prediction changes.

Perturbations: ``typo`` (swap two adjacent letters of one word of each text input),
``synonym`` (replace words found in a synonym table) and ``noise`` (multiply each numeric
input by ``1 + N(0, noise)``). A stable model should flip rarely under all three.

Examples:
    >>> def predict(x):
    ...     return int(x["amount"] > 100)
    >>> out = flip_rate(predict, [{"amount": 50.0}, {"amount": 100.5}], noise=0.05)
    >>> out["noise"]["rows"], out["noise"]["flips"] > 0
    (2, True)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vigil.errors import InvalidParameterError

PERTURBATIONS = ("typo", "synonym", "noise")
SYNONYMS: dict[str, str] = {
    "good": "fine",
    "great": "excellent",
    "bad": "poor",
    "terrible": "awful",
    "happy": "glad",
    "sad": "unhappy",
    "big": "large",
    "small": "little",
    "fast": "quick",
    "slow": "sluggish",
    "buy": "purchase",
    "help": "assist",
    "problem": "issue",
    "cheap": "inexpensive",
    "love": "adore",
    "hate": "detest",
    "begin": "start",
    "end": "finish",
    "angry": "annoyed",
    "easy": "simple",
    "hard": "difficult",
}
_WORD = re.compile(r"[A-Za-z]{3,}")


def _typo(text: str, rng: random.Random) -> str:
    words = list(_WORD.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    spots = [i for i in range(m.start(), m.end() - 1) if text[i] != text[i + 1]]
    if not spots:  # e.g. "zzz": drop a letter instead
        return text[: m.start()] + text[m.start() + 1 :]
    i = rng.choice(spots)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _synonym(text: str, table: Mapping[str, str]) -> str:
    def swap(m: re.Match[str]) -> str:
        word = m.group()
        new = table.get(word.lower())
        if new is None:
            return word
        return new.capitalize() if word[0].isupper() else new

    return _WORD.sub(swap, text)


def _perturb(
    record: Mapping[str, Any], kind: str, rng: random.Random, noise: float, table: Mapping[str, str]
) -> dict[str, Any]:
    out = dict(record)
    for key, value in record.items():
        if isinstance(value, str) and kind == "typo":
            out[key] = _typo(value, rng)
        elif isinstance(value, str) and kind == "synonym":
            out[key] = _synonym(value, table)
        elif kind == "noise" and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value * (1.0 + rng.gauss(0.0, noise))
    return out


def flip_rate(
    predict: Callable[[dict[str, Any]], Any],
    records: Iterable[Mapping[str, Any]],
    *,
    perturbations: Iterable[str] = PERTURBATIONS,
    variants: int = 3,
    noise: float = 0.01,
    synonyms: Mapping[str, str] | None = None,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """How often ``predict`` changes its answer under each perturbation.

    Args:
        predict: the model, called with one input mapping.
        records: inputs to perturb.
        perturbations: any of :data:`PERTURBATIONS`.
        variants: perturbed copies per record and perturbation.
        noise: relative standard deviation of the numeric noise.
        synonyms: word replacements for ``synonym`` (default :data:`SYNONYMS`).
        seed: seeds the perturbations.

    Returns:
        Per perturbation: ``rows`` (records changed by it), ``variants``, ``flips`` and
        ``rate`` (flips per variant of a changed record), ``flipped`` (first 20 indices).
    """
    chosen = list(perturbations)
    bad = [p for p in chosen if p not in PERTURBATIONS]
    if bad or not chosen:
        raise InvalidParameterError(
            f"'perturbations' must be among {', '.join(PERTURBATIONS)}. Got {chosen!r}."
        )
    if variants < 1 or noise <= 0:
        raise InvalidParameterError(
            f"'variants' must be >= 1 and 'noise' > 0. Got {variants!r} and {noise!r}."
        )
    rng = random.Random(seed)
    table = SYNONYMS if synonyms is None else synonyms
    rows = [dict(r) for r in records]
    base = [predict(r) for r in rows]
    out: dict[str, dict[str, Any]] = {}
    for kind in chosen:
        changed = flips = tried = 0
        flipped: list[int] = []
        for i, record in enumerate(rows):
            copies = [_perturb(record, kind, rng, noise, table) for _ in range(variants)]
            copies = [c for c in copies if c != record]
            if not copies:
                continue
            changed += 1
            hits = sum(predict(c) != base[i] for c in copies)
            tried += len(copies)
            flips += hits
            if hits and len(flipped) < 20:
                flipped.append(i)
        out[kind] = {
            "rows": changed,
            "variants": tried,
            "flips": flips,
            "rate": flips / tried if tried else None,
            "flipped": flipped,
        }
    return out
