"""A user's assistant settings, kept encrypted in their store (one setting per field)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from privacy.redact import CATEGORIES

# Kinds of text a person rarely wants a model to learn; replaced by placeholders before it reads.
DEFAULT_NEVER_LEARN = ("card", "iban", "ssn", "secret", "url_credentials")
# How the chat's weights are stored while decoding on onnxruntime, best first (runtime.decoding): int8
# weight-only keeps the fp32 answer, int4 is faster and agrees less often, fp32 is exact and slowest.
PRECISIONS = ("int8w", "int4", "fp32")
# Share of the default model's greedy steps whose top-1 token equals fp32 torch's, teacher-forced over a
# chat reply (`python -m bench.decode`, docs/BENCHMARKS.md "Decode speed"): what `hope model info` shows.
AGREEMENT = {"int8w": "97-100%", "int4": "81-87%", "fp32": "100%"}


@dataclass(frozen=True)
class Settings:
    idle_sleep_seconds: int = 300  # sleep after this long without a turn, when episodes are pending
    sleep_on_exit_min: int = 3  # sleep when the app closes with at least this many pending (0: never)
    never_learn: tuple[str, ...] = DEFAULT_NEVER_LEARN  # PII categories the model never sees
    keep_raw_text: bool = False  # also store what was typed, before never-learn redaction (encrypted)
    retention_days: int | None = None  # forget episodes older than this (None: keep)
    forget_categories: tuple[str, ...] = ()  # forget episodes flagged with these PII categories
    incognito_default: bool = False  # new sessions start incognito
    precision: str = PRECISIONS[0]  # the chat's decoding precision on onnxruntime

    def __post_init__(self) -> None:
        def whole(name: str, value: Any, low: int) -> None:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be a whole number ≥ {low}, got {value!r}")

        whole("idle_sleep_seconds", self.idle_sleep_seconds, 10)
        whole("sleep_on_exit_min", self.sleep_on_exit_min, 0)
        if self.retention_days is not None:
            whole("retention_days", self.retention_days, 1)
        for name in ("never_learn", "forget_categories"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(c, str) for c in value):
                raise ValueError(f"{name} must be a list of categories")
            unknown = sorted(set(value) - set(CATEGORIES))
            if unknown:
                raise ValueError(f"unknown category {unknown[0]!r} in {name}; known: {', '.join(CATEGORIES)}")
            object.__setattr__(self, name, tuple(value))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("keep_raw_text", "incognito_default"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false")

    @classmethod
    def load(cls, store) -> Settings:
        stored = {f.name: store.get_setting(f.name) for f in fields(cls)}
        return cls(**{k: v for k, v in stored.items() if v is not None})

    def save(self, store, old: Settings | None = None) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if old is None or getattr(old, f.name) != value:
                store.set_setting(f.name, list(value) if isinstance(value, tuple) else value)

    def replace(self, **changes: Any) -> Settings:
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r}; settings: {', '.join(f.name for f in fields(self))}")
        return dataclasses.replace(self, **changes)
