"""PII detection quality and speed: per-category precision, recall and F1 on the labelled set, and
throughput of `privacy.redact.detect` against one compiled email regex over the same text.

    python -m bench.redact_eval                      # tests/privacy/data/pii_labelled.jsonl
    python -m bench.redact_eval --data PATH --json out.json

A hit counts only when its span and category both match a label exactly, so a phone number found
without its "+" is one false positive and one miss. Misses are listed by text (the set is all fake).
The labelled set was written alongside the detectors, so its numbers are optimistic; the scan of
Python's own reference prose (pydoc_data, no PII expected) is a held-out check on false positives.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from bench._report import environment, format_table, median_seconds, print_header, write_json
from privacy.redact import CATEGORIES, DEFAULT_MIN_CONFIDENCE, detect

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "tests" / "privacy" / "data" / "pii_labelled.jsonl"
TIMING_COPIES = 20  # the set is ~17 kB; repeat it so one timed call is long enough to measure
# The cheapest useful scan: one compiled email pattern, no validation. detect() runs ~20 such passes.
EMAIL_BASELINE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def load(path: Path) -> list[dict[str, Any]]:
    """Records ``{"text": str, "spans": [[start, end, category], ...]}``, one per line."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evaluate(records: list[dict[str, Any]]) -> tuple[dict[str, Counter[str]], list[tuple[str, str, str]]]:
    """Exact-span counts per category (tp, fp, fn) and the misses as (kind, category, span text)."""
    counts: dict[str, Counter[str]] = {cat: Counter() for cat in CATEGORIES}
    misses: list[tuple[str, str, str]] = []
    for rec in records:
        text = rec["text"]
        gold = {(s, e, c) for s, e, c in rec["spans"]}
        pred = {(f.start, f.end, f.category) for f in detect(text)}
        for kind, spans in (("tp", gold & pred), ("fp", pred - gold), ("fn", gold - pred)):
            for s, e, c in sorted(spans):
                counts[c][kind] += 1
                if kind != "tp":
                    misses.append((kind.upper(), c, text[s:e]))
    return counts, misses


def quality_rows(counts: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    """One row per category plus the micro total: precision, recall, F1 and support (labelled spans)."""
    def row(name: str, c: Counter[str]) -> dict[str, Any]:
        tp, fp, fn = c["tp"], c["fp"], c["fn"]
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return {"category": name, "precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3),
                "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}

    return [row(cat, counts[cat]) for cat in CATEGORIES] + [row("micro", sum(counts.values(), Counter()))]


def heldout_findings() -> tuple[int, Counter[str]]:
    """Findings per category on Python's bundled reference prose, where every finding is a false alarm."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics.values())
    return len(text), Counter(f.category for f in detect(text))


def timing_rows(text: str, budget_s: float) -> list[dict[str, Any]]:
    """chars/s of the email regex alone and of the full detector over the same text."""
    email_s, _ = median_seconds(lambda: list(EMAIL_BASELINE.finditer(text)), budget_s=budget_s)
    detect_s, _ = median_seconds(lambda: detect(text), budget_s=budget_s)
    return [
        {"scan": "email regex only (baseline)", "chars": len(text), "ms": email_s * 1e3,
         "chars_per_s": len(text) / email_s, "x_baseline_time": 1.0},
        {"scan": "detect(), all 9 categories", "chars": len(text), "ms": detect_s * 1e3,
         "chars_per_s": len(text) / detect_s, "x_baseline_time": detect_s / email_s},
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled JSONL set")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of timing per scan")
    parser.add_argument("--json", metavar="PATH", help="write the full record here")
    args = parser.parse_args(argv)

    records = load(args.data)
    env = environment(["personal-nl"], data=f"{args.data.name}: {len(records)} texts, "
                                f"{sum(len(r['spans']) for r in records)} labelled spans",
                      criterion=f"exact span and category, min_confidence {DEFAULT_MIN_CONFIDENCE}")
    print_header("redact: PII detection precision/recall and throughput", env)

    counts, misses = evaluate(records)
    quality = quality_rows(counts)
    print(format_table(["category", "precision", "recall", "F1", "support", "tp", "fp", "fn"],
                       [[q["category"], q["precision"], q["recall"], q["f1"], q["support"], q["tp"], q["fp"],
                         q["fn"]] for q in quality]))
    print()
    corpus = "\n".join(r["text"] for r in records) * TIMING_COPIES
    timing = timing_rows(corpus, args.budget)
    print(format_table(["scan", "chars", "ms", "chars/s", "x email-regex time"],
                       [[t["scan"], t["chars"], t["ms"], t["chars_per_s"], t["x_baseline_time"]]
                        for t in timing]))
    print()
    for kind, cat, span in misses:
        print(f"{kind} {cat:<15} {span!r}")
    heldout_chars, heldout = heldout_findings()
    by_category = "".join(f", {c} {n}" for c, n in sorted(heldout.items()))
    print(f"held-out pydoc_data prose, {heldout_chars:,} chars, no PII: {sum(heldout.values())} findings{by_category}")
    micro = quality[-1]
    if args.json:
        write_json(args.json, {**env, "quality": quality, "timing": timing,
                               "misses": [list(m) for m in misses],
                               "heldout": {"chars": heldout_chars, "findings": dict(heldout)}})
    print(f"micro precision {micro['precision']:.3f}, recall {micro['recall']:.3f}, F1 {micro['f1']:.3f} "
          f"on {micro['support']} spans; detect {timing[1]['chars_per_s'] / 1e6:.2f} M chars/s, "
          f"{timing[1]['x_baseline_time']:.1f}x the email regex's time")


if __name__ == "__main__":
    main()
