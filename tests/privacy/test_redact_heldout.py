"""Spoken secrets (PINs, door and locker codes, passcodes, CVVs, German and French passwords) on a
held-out set written before the rules were widened: every one found, no false alarm on the
negatives beside them (`python -m bench.redact_eval --data tests/privacy/data/pii_heldout.jsonl`)."""

from __future__ import annotations

import json
from pathlib import Path

from privacy.redact import detect, redact

HELD_OUT = [json.loads(line) for line in
            (Path(__file__).parent / "data" / "pii_heldout.jsonl").read_text(encoding="utf-8").splitlines()]


def test_every_held_out_secret_is_found_and_nothing_else() -> None:
    for rec in HELD_OUT:
        found = {(f.start, f.end, f.category) for f in detect(rec["text"])}
        assert found == {tuple(s) for s in rec["spans"]}, rec["text"]


def test_a_pin_inside_a_word_or_a_bare_number_is_not_a_secret() -> None:
    assert detect("In my opinion 1234 people came.") == []
    assert detect("spinning 3 times") == []
    assert redact("My bank PIN is 4821.") == "My bank PIN is [SECRET]."
