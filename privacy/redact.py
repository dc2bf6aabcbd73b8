"""Offline PII detection and redaction: regular expressions plus checksums, no model and no network.

Text the user marked *never learn* passes through `redact` before the model sees it (design.md, "A
turn"), so a detector must be cheap, deterministic and honest about its certainty: checksum-validated
hits (cards, IBANs) score 0.95 and up, bare patterns less. A `Finding` holds offsets, never the matched
text, so findings can be logged or audited without leaking what they point at.
"""

from __future__ import annotations

import bisect
import ipaddress
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from privacy import _pii_patterns as P

log = logging.getLogger(__name__)

__all__ = ["CATEGORIES", "Finding", "detect", "redact"]

CATEGORIES: tuple[str, ...] = (
    "email", "phone", "card", "iban", "ssn", "ip", "url_credentials", "secret", "address",
)
DEFAULT_MIN_CONFIDENCE = 0.5

_Hit = tuple[int, int, float]


@dataclass(frozen=True)
class Finding:
    """One detected span ``text[start:end]``; holds no text so it is safe to log or audit."""

    category: str
    start: int
    end: int
    confidence: float


# ---------------------------------------------------------------- detectors
def _emails(text: str) -> Iterator[_Hit]:
    for m in P.EMAIL.finditer(text):
        if m["tld"].lower() in P.FILE_SUFFIXES or P.AFTER_URL_USER.search(text, max(0, m.start() - 80), m.start()):
            continue
        yield m.start(), m.end(), 0.9


def _phone_confidence(text: str, start: int, span: str, base: float) -> float | None:
    if P.ISBN_CONTEXT.search(text, max(0, start - 12), start) or P.DATE_LIKE.search(span):
        return None
    if P.DECIMAL_LIKE.search(span):
        return None
    if span.count("(") != span.count(")"):
        return None
    near = P.PHONE_CONTEXT.search(text, max(0, start - 30), start)
    return round(min(1.0, base + 0.1), 2) if near else base


def _phones(text: str) -> Iterator[_Hit]:
    for m in P.PHONE_INTL.finditer(text):
        digits = sum(ch.isdigit() for ch in m[0]) - (2 if m["prefix"] == "00" else 0)
        if 8 <= digits <= 15:
            conf = _phone_confidence(text, m.start(), m[0], 0.85 if m["prefix"] == "+" else 0.7)
            if conf is not None:
                yield m.start(), m.end(), conf
    for m in P.PHONE_NANP.finditer(text):
        conf = _phone_confidence(text, m.start(), m[0], 0.8)
        if conf is not None:
            yield m.start(), m.end(), conf
    for m in P.PHONE_NATIONAL.finditer(text):
        span = m[0]
        digits = sum(ch.isdigit() for ch in span)
        if not 9 <= digits <= 12:
            continue
        separated = not span.isdigit()
        conf = _phone_confidence(text, m.start(), span, 0.7 if separated else 0.45)
        if conf is not None:
            yield m.start(), m.end(), conf


def _cards(text: str) -> Iterator[_Hit]:
    for m in P.CARD.finditer(text):
        span = m[0]
        digits = span.replace(" ", "").replace("-", "")
        if not (P.luhn_ok(digits) and P.card_issuer_ok(digits)):
            continue
        if " " in span and "-" in span:
            continue
        groups = tuple(len(g) for g in span.replace("-", " ").split(" "))
        if groups in P.CARD_GROUPINGS or (len(groups) == 1 and len(digits) in P.CARD_COMMON_LENGTHS):
            yield m.start(), m.end(), 0.97
        else:
            yield m.start(), m.end(), 0.85


def _ibans(text: str) -> Iterator[_Hit]:
    for m in P.IBAN_START.finditer(text):
        length = P.IBAN_LENGTHS.get(m["cc"].upper())
        if length is None:
            continue
        # Walk forward over the country's exact number of characters, allowing single spaces.
        compact, pos, n = m[0], m.end(), len(text)
        while len(compact) < length and pos < n:
            ch = text[pos]
            if ch == " " and pos + 1 < n and text[pos + 1].isalnum() and text[pos + 1].isascii():
                pos += 1
                continue
            if not (ch.isascii() and ch.isalnum()):
                break
            compact += ch
            pos += 1
        if len(compact) != length or (pos < n and text[pos].isalnum()):
            continue
        if P.iban_ok(compact.upper()):
            yield m.start(), pos, 0.98 if compact.isupper() else 0.95  # printed IBANs are upper case


def _ssns(text: str) -> Iterator[_Hit]:
    for m in P.SSN.finditer(text):
        near = P.SSN_CONTEXT.search(text, max(0, m.start() - 30), m.start())
        if m["sep"] == "-":
            yield m.start(), m.end(), 0.95 if near else 0.85
        elif near:
            yield m.start(), m.end(), 0.9
    for m in P.SSN_BARE.finditer(text):
        if P.SSN_CONTEXT.search(text, max(0, m.start() - 30), m.start()):
            yield m.start(), m.end(), 0.8


def _ips(text: str) -> Iterator[_Hit]:
    for m in P.IPV4.finditer(text):
        if P.NOT_IP_CONTEXT.search(text, max(0, m.start() - 12), m.start()):
            continue
        try:
            address = ipaddress.IPv4Address(m[0])
        except ValueError:
            continue
        if address.packed[0] == 0:  # 0.0.0.0/8 means "this network", never a host
            continue
        yield m.start(), m.end(), 0.45 if P.IPV4_SMALL.match(m[0]) else 0.9
    for m in P.IPV6.finditer(text):
        address = m[0].split("%", 1)[0]
        groups = [g for g in address.split(":") if g]
        if len(groups) < 2 or sum(len(g) for g in groups) < 5:
            continue
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            continue
        yield m.start(), m.end(), 0.9


def _url_credentials(text: str) -> Iterator[_Hit]:
    for m in P.URL_CREDENTIALS.finditer(text):
        if not P.URL_PLACEHOLDER_PASSWORD.match(m["password"]):
            yield m.start(), m.end(), 0.95


def _secret_value_confidence(value: str) -> float | None:
    if P.NOT_A_SECRET_VALUE.match(value) or value.lower() in P.NULL_WORDS:
        return None
    if P.WORDLIKE.match(value):
        return 0.45  # a plain word after "password:" is as often prose as a password
    if P.IDENTIFIER.match(value) or (P.COMPOUND_IDENTIFIER.match(value) and P.COMPOUND_BOUNDARY.search(value)
                                     and P.looks_like_words(value)):
        return 0.45  # `password = url_user_password`, `key: PKCS7PrivateKeyTypes`: code, not a secret
    return 0.85


def _secrets(text: str) -> Iterator[_Hit]:
    for pattern, conf in P.SECRET_PREFIXED:
        for m in pattern.finditer(text):
            yield m.start(), m.end(), conf
    for pattern in (P.SECRET_ASSIGNMENT, P.SPOKEN_SECRET, P.BEARER):
        for m in pattern.finditer(text):
            group = next(g for g in ("dq", "sq", "bare") if m.groupdict().get(g) is not None)
            start, end = m.span(group)
            if group == "bare":
                # Sentence punctuation is trimmed, but "!" and "?" stay: passwords end with them too often.
                while end > start and text[end - 1] in ".,:":
                    end -= 1
            value = text[start:end]
            if len(value) < 4 and not (pattern is P.SPOKEN_SECRET and len(value) == 3 and value.isdigit()):
                continue  # three digits are a CVV or short PIN only after such a name
            conf = _secret_value_confidence(value)
            if conf is not None and (m.groupdict().get("op") or "").strip().lower() in ("is", "ist", "est", ""):
                conf = round(conf - 0.1, 2)  # "password is X" is looser prose than "password=X"
            if conf is not None:
                yield start, end, conf
    for m in P.TOKEN.finditer(text):
        token = m[0]
        if token.startswith("/") or not (any(c.isupper() for c in token) and any(c.islower() for c in token)
                                         and any(c.isdigit() for c in token)):
            continue
        # Random base64 reaches ~log2(len) bits per char; 0.8 of that keeps identifiers and paths out.
        threshold = 0.8 * min(math.log2(len(token)), 6.0)
        if (P.shannon_entropy(token) < threshold or P.class_switch_rate(token) < 0.3
                or P.looks_like_words(token)):
            continue
        near = P.SECRET_CONTEXT.search(text, max(0, m.start() - 40), m.start())
        yield m.start(), m.end(), 0.8 if near else 0.6


def _addresses(text: str) -> Iterator[_Hit]:
    for m in P.STREET_ADDRESS.finditer(text):
        yield m.start(), m.end(), 0.85 if m["city"] else 0.75 if m["unit"] else 0.65
    for m in P.UK_POSTCODE.finditer(text):
        near = P.UK_POSTCODE_PLACE.search(text, max(0, m.start() - 40), m.start())
        yield m.start(), m.end(), 0.75 if near else 0.6


_DETECTORS: dict[str, Callable[[str], Iterator[_Hit]]] = {
    "email": _emails, "phone": _phones, "card": _cards, "iban": _ibans, "ssn": _ssns, "ip": _ips,
    "url_credentials": _url_credentials, "secret": _secrets, "address": _addresses,
}
_PLACEHOLDERS = {cat: f"[{cat.upper()}]" for cat in CATEGORIES}


# ---------------------------------------------------------------- public API
def _wanted(categories: Iterable[str] | None) -> frozenset[str]:
    if categories is None:
        return frozenset(CATEGORIES)
    if isinstance(categories, str):
        raise TypeError(f"categories must be an iterable of names such as [{categories!r}], not a str")
    wanted = frozenset(categories)
    unknown = sorted(wanted - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown PII categories {unknown}; expected some of {list(CATEGORIES)}")
    return wanted


def _resolve(findings: list[Finding]) -> list[Finding]:
    """Keep a non-overlapping subset: highest confidence, then longest, then earliest, then category order."""
    rank = {cat: i for i, cat in enumerate(CATEGORIES)}
    ordered = sorted(findings, key=lambda f: (-f.confidence, f.start - f.end, f.start, rank[f.category]))
    starts: list[int] = []  # kept spans never overlap, so they sort the same by start and by end
    kept: list[Finding] = []
    for f in ordered:
        i = bisect.bisect_right(starts, f.start)
        if (i and kept[i - 1].end > f.start) or (i < len(kept) and kept[i].start < f.end):
            continue
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept


def detect(text: str, categories: Iterable[str] | None = None, *,
           min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> list[Finding]:
    """Find PII spans in ``text``, sorted by start and never overlapping.

    Only the detectors in ``categories`` run, and overlaps are resolved among them: asking for IPs
    alone reports the address inside ``https://u:pw@192.0.2.1`` that a full scan files under
    ``url_credentials``, so narrowing the categories never leaves a requested kind unredacted.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence}")
    wanted = _wanted(categories)
    found = [Finding(cat, start, end, conf)
             for cat, find in _DETECTORS.items() if cat in wanted
             for start, end, conf in find(text) if conf >= min_confidence and end > start]
    kept = _resolve(found)
    log.debug("detect: %d chars, %d candidates, %d findings", len(text), len(found), len(kept))
    return kept


def redact(text: str, categories: Iterable[str] | None = None, *,
           min_confidence: float = DEFAULT_MIN_CONFIDENCE) -> str:
    """Return ``text`` with each detected span replaced by a typed placeholder such as ``[EMAIL]``.

    Repeats until nothing more is found, so redacting twice equals redacting once: a replaced span can
    expose a neighbour that its characters hid (``…example.com+44 20 7946 0958``: the phone number is
    glued to a word until the email before it becomes ``[EMAIL]``). Each pass removes original
    characters, so the loop ends; it almost always stops after the second, confirming scan.
    """
    findings = detect(text, categories, min_confidence=min_confidence)
    while findings:
        parts: list[str] = []
        pos = 0
        for f in findings:
            parts += (text[pos:f.start], _PLACEHOLDERS[f.category])
            pos = f.end
        parts.append(text[pos:])
        redacted = "".join(parts)
        if redacted == text:  # every span was already its own placeholder
            break
        text = redacted
        findings = detect(text, categories, min_confidence=min_confidence)
    return text
