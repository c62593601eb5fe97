"""PII detection and masking in free text: fast regular expressions, validated by checksums.

Each kind has a candidate pattern and a validator, so look-alikes do not count: card
numbers must pass Luhn and carry a card-network prefix, IBANs must pass ISO 13616's
mod-97 check, US SSNs must follow the SSA's allocation rules (all three through
python-stdnum), IP addresses must parse, a date counts as a date of birth only next to
words like "born" or "DOB", and a US ZIP code only after a state code or "ZIP".

Examples:
    >>> [f.kind for f in detect_pii("Mail jane.doe@example.com or call +44 20 7946 0958")]
    ['email', 'phone']
    >>> redact_pii("card 4111 1111 1111 1111, not 4111 1111 1111 1112")
    'card <CREDIT_CARD>, not 4111 1111 1111 1112'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.us import ssn as _ssn

from vigil.errors import InvalidParameterError

KINDS = (
    "email",
    "credit_card",
    "iban",
    "us_ssn",
    "phone",
    "ip_address",
    "date_of_birth",
    "postal_code",
    "url",
    "street_address",
    "person_name",
)
_CONTEXT_CHARS = 40  # how far before a match a context word may stand


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of PII in a text: its kind, where it is and what it is."""

    kind: str
    start: int
    end: int
    text: str


def _email(m: re.Match[str], _: str) -> bool:
    return True


_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|6(?:011|5|4[4-9])|35)")


def _card(m: re.Match[str], _: str) -> bool:
    digits = re.sub(r"[ -]", "", m.group())
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and _luhn.is_valid(digits)


def _ssn_rule(m: re.Match[str], text: str) -> bool:
    value = m.group()
    if value.isdigit() and not _context(text, m.start(), _SSN_WORDS):
        return False  # nine bare digits are an SSN only when the text says so
    return _ssn.is_valid(re.sub(r"[ -]", "", value))


def _phone(m: re.Match[str], _: str) -> bool:
    digits = re.sub(r"\D", "", m.group())
    if m.group().startswith("+"):
        return 8 <= len(digits) <= 15  # E.164: at most 15 digits with the country code
    return len(digits) == 10 and digits[0] not in "01"  # NANP: NXX-NXX-XXXX


def _ip(m: re.Match[str], _: str) -> bool:
    try:
        address = ipaddress.ip_address(m.group())
    except ValueError:
        return False
    return not (address.version == 6 and str(address) == "::")


def _dob(m: re.Match[str], text: str) -> bool:
    return _parse_date(m.group()) is not None and _context(text, m.start(), _DOB_WORDS)


def _zip(m: re.Match[str], text: str) -> bool:
    return bool(_US_STATE_BEFORE.search(text[max(0, m.start() - 4) : m.start()])) or _context(
        text, m.start(), _ZIP_WORDS
    )


def _always(m: re.Match[str], _: str) -> bool:
    return True


# a capitalised word of Latin letters, with inner apostrophes or hyphens (O'Brien, García)
_NAME_WORD = (
    "[A-ZÀ-ÖØ-Þ](?:[a-zß-öø-ÿ]+|['’][A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+)(?:-[A-ZÀ-ÖØ-Þa-zß-öø-ÿ][a-zß-öø-ÿ]*)*"
)
_NOT_NAMES = frozenset(
    {
        "The",
        "This",
        "That",
        "Not",
        "Very",
        "So",
        "Just",
        "Also",
        "Still",
        "Here",
        "There",
        "Team",
        "All",
        "Sir",
        "Madam",
        "Customer",
        "Support",
        "Sorry",
        "Happy",
        "Glad",
        "Sure",
        "Unable",
        "Able",
        "Going",
        "Looking",
        "Writing",
        "Trying",
        "Interested",
        "Please",
    }
)


def _name(m: re.Match[str], _: str) -> bool:
    """Two or three capitalised words after a naming phrase, none a common word."""
    words = m.group("pii").split()
    return 2 <= len(words) <= 3 and not any(w in _NOT_NAMES for w in words)


_SSN_WORDS = re.compile(r"\b(?:ssn|social security|soc\.? sec)", re.I)
_DOB_WORDS = re.compile(
    r"\b(?:born|dob|d\.o\.b|date of birth|birth ?date|birthday|geboren|n[ée]e?)\b", re.I
)
_ZIP_WORDS = re.compile(r"\b(?:zip|postal|post ?code)", re.I)
_US_STATE_BEFORE = re.compile(
    r"\b(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|"
    r"PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY]),? $"
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|"
    "december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)

# (kind, pattern, validator), in priority order: an earlier kind wins an overlap.
_RULES: list[tuple[str, re.Pattern[str], object]] = [
    (
        "email",
        re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b"),
        _email,
    ),
    ("url", re.compile(r"\bhttps?://[^\s<>\"']+", re.I), _always),
    ("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){2,8}\b"), None),
    (
        "credit_card",
        re.compile(
            r"(?<![\w-])(?<!\d )(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2}[ -]\d{3,4}(?:[ -]?\d{1,3})?|"
            r"\d{4}[ -]\d{6}[ -]\d{5})(?![\w-]|[ -]\d)"
        ),
        _card,
    ),
    (
        "us_ssn",
        re.compile(r"(?<![\d-])(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4}|\d{9})(?![\d-])"),
        _ssn_rule,
    ),
    (
        "date_of_birth",
        re.compile(
            r"\b(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{4}|"
            rf"\d{{1,2}} (?:{_MONTHS})\.? \d{{4}}|(?:{_MONTHS})\.? \d{{1,2}},? \d{{4}})\b",
            re.I,
        ),
        _dob,
    ),
    (
        "ip_address",
        re.compile(
            r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|"
            r"(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])"
        ),
        _ip,
    ),
    (
        "phone",
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|"
            r"\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})(?!\w)"
        ),
        _phone,
    ),
    (
        "postal_code",
        re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}|[A-Z]\d[A-Z] \d[A-Z]\d)\b"),
        _always,
    ),
    ("postal_code", re.compile(r"(?<![\d-])\d{5}(?:-\d{4})?(?![\d-])"), _zip),
    # a house number, one to four capitalised words and a street type (English), or a
    # German/Dutch/Scandinavian compound street name and a house number
    (
        "street_address",
        re.compile(
            r"\b\d{1,6}[A-Za-z]?,? (?:[A-Z][A-Za-z'’.-]*\.? ){1,4}(?:Street|St|Avenue|Ave|Road|Rd|"
            r"Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Terrace|Place|Pl|Way|Square|Sq|Parkway|"
            r"Pkwy|Highway|Hwy|Close|Crescent|Gardens|Row|Mews)\b\.?|"
            r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|allee|platz|ring|damm|"
            r"laan|straat|gatan|vej|veien) \d{1,4}[a-z]?\b"
        ),
        _always,
    ),
    # names only where the text introduces one (no NER model: see docs/security.md)
    (
        "person_name",
        re.compile(
            rf"\b(?i:my name is|i am|i'm|name:|name is|mr\.|mrs\.|ms\.|dr\.|dear|"
            rf"patient:|signed,|regards,) (?P<pii>{_NAME_WORD}(?: {_NAME_WORD}){{1,2}})\b"
        ),
        _name,
    ),
]
_NEEDS_DIGIT = frozenset(KINDS) - {"email", "url", "person_name"}
_HAS_DIGIT = re.compile(r"\d")


def _context(text: str, start: int, words: re.Pattern[str]) -> bool:
    return bool(words.search(text[max(0, start - _CONTEXT_CHARS) : start]))


def _parse_date(value: str) -> date | None:
    cleaned = value.replace(",", "").replace(".", "/").replace("-", "/").replace("sept", "sep")
    for fmt in ("%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y"):
        try:
            parsed = datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
        if 1900 <= parsed.year <= date.today().year:
            return parsed
    return None


def _valid_iban(m: re.Match[str], text: str) -> tuple[int, int] | None:
    """The longest prefix of the candidate's groups that is a valid IBAN, if any."""
    groups = m.group().split(" ")
    while groups:
        candidate = "".join(groups)
        if 15 <= len(candidate) <= 34 and _iban.is_valid(candidate):
            return m.start(), m.start() + len(" ".join(groups))
        if len(groups) == 1:
            break
        groups.pop()
    # Unspaced run: a valid IBAN may still hide inside a longer token only if it is whole.
    return None


class PIIDetector:
    """Finds PII in text with the built-in rules plus user patterns.

    Args:
        kinds: the built-in kinds to look for (default: all of :data:`KINDS`).
        patterns: extra kinds, a name mapped to a regular expression.

    Examples:
        >>> det = PIIDetector(kinds=["email"], patterns={"employee_id": r"EMP-\\d{6}"})
        >>> [(f.kind, f.text) for f in det.detect("EMP-004211 wrote to a@b.io")]
        [('employee_id', 'EMP-004211'), ('email', 'a@b.io')]
    """

    def __init__(
        self, kinds: Iterable[str] | None = None, patterns: Mapping[str, str] | None = None
    ) -> None:
        chosen = set(KINDS if kinds is None else kinds)
        unknown = chosen - set(KINDS)
        if unknown:
            raise InvalidParameterError(
                f"Unknown PII kinds {sorted(unknown)}; choose from {', '.join(KINDS)}."
            )
        self.kinds = frozenset(chosen)
        self._rules = [r for r in _RULES if r[0] in chosen]
        self._custom: list[tuple[str, re.Pattern[str]]] = []
        for name, pattern in (patterns or {}).items():
            try:
                self._custom.append((name, re.compile(pattern)))
            except re.error as exc:
                raise InvalidParameterError(
                    f"The pattern for PII kind {name!r} is not a valid regular expression "
                    f"({exc}). Got {pattern!r}."
                ) from None
        self._digit_only = not self._custom and self.kinds <= _NEEDS_DIGIT

    def detect(self, text: str) -> list[Finding]:
        """Every finding in ``text``, ordered by position, overlaps resolved by priority."""
        if not text or (self._digit_only and not _HAS_DIGIT.search(text)):
            return []
        if (
            "@" not in text
            and ":" not in text
            and not _HAS_DIGIT.search(text)
            and not self._custom
            and "person_name" not in self.kinds
        ):
            return []
        taken: list[tuple[int, int]] = []
        found: list[Finding] = []

        def claim(kind: str, start: int, end: int) -> None:
            if any(start < e and s < end for s, e in taken):
                return
            taken.append((start, end))
            found.append(Finding(kind, start, end, text[start:end]))

        for name, pattern in self._custom:
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    claim(name, m.start(), m.end())
        for kind, pattern, check in self._rules:
            for m in pattern.finditer(text):
                if check is None:
                    span = _valid_iban(m, text)
                    if span is not None:
                        claim(kind, *span)
                elif check(m, text):  # type: ignore[operator]
                    # a rule may match context around the PII: its "pii" group is the PII
                    claim(kind, *(m.span("pii") if "pii" in pattern.groupindex else m.span()))
        return sorted(found, key=lambda f: f.start)

    def redact(self, text: str) -> str:
        """``text`` with each finding replaced by ``<KIND>``."""
        findings = self.detect(text)
        if not findings:
            return text
        out, pos = [], 0
        for f in findings:
            out.append(text[pos : f.start])
            out.append(f"<{f.kind.upper()}>")
            pos = f.end
        out.append(text[pos:])
        return "".join(out)


_DEFAULT: list[PIIDetector] = []


def _default() -> PIIDetector:
    if not _DEFAULT:
        _DEFAULT.append(PIIDetector())
    return _DEFAULT[0]


def detect_pii(text: str) -> list[Finding]:
    """Findings of every built-in kind in ``text`` (see :class:`PIIDetector`)."""
    return _default().detect(text)


def redact_pii(text: str) -> str:
    """``text`` with every built-in kind of PII replaced by ``<KIND>``."""
    return _default().redact(text)
