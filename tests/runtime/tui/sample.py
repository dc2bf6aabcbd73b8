"""A stand-in for `runtime.assistant.Assistant` with fixed memories, times and hashes, so snapshot
pictures are the same on every run (the Pilot tests drive the real engine). It returns the engine's
own dataclasses, so a screen that reads a field the engine does not have fails here too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from privacy.audit import AuditEvent, AuditVerdict
from runtime.assistant import EpisodeView, ForgetPlan, ForgetReceipt, MemoryRow, SleepReport, Status, Verification
from runtime.settings import Settings

NOW = datetime(2026, 5, 14, 15, 30, tzinfo=UTC)
REPLY = ("Oh ", "nice! ", "**Bergen** ", "is a ", "beautiful ", "city. ", "How is she ", "settling in?")


def _id(n: int) -> str:
    return f"{n:02x}" * 16


ROWS = [
    MemoryRow(_id(1), NOW - timedelta(days=10), "mail me at ana@example.org about the trip", ("email",), "slept", 41),
    MemoryRow(_id(2), NOW - timedelta(days=3), "I can't eat shellfish", (), "slept", 35),
    MemoryRow(_id(3), NOW - timedelta(days=1), "my card is [CARD] can you remind me to pay it on Friday",
              ("card",), "fast", 52),
    MemoryRow(_id(4), NOW - timedelta(minutes=88), "btw my sister Lena just moved to Bergen", (), "fast", 58),
]
STRENGTHS = {_id(1): 0.12, _id(2): 0.65, _id(3): 0.31, _id(4): 0.82}
RECEIPT = ForgetReceipt("7f3a9c1e5b2d4f60", (_id(9),), ("c0" * 16, "c1" * 16), 11, "91c0" + "5e" * 30, 41.2,
                        Verification(0.653, 0.021, 18.2, 1.3, 1.2, (1.1, 0.9, 1.4, 1.0)), sleeps_replayed=1)
ACTIONS = ["create", "setting", "append", "append", "checkpoint", "append", "shred", "checkpoint", "append"]
AUDIT = tuple(AuditEvent(i, action, () if action == "create" else (_id(20 + i),), (), NOW - timedelta(hours=30 - i),
                         f"{i:x}" * 64) for i, action in enumerate(ACTIONS))


class SampleAssistant:
    """What the app calls, answered from the fixed data above."""

    def __init__(self) -> None:
        self.brain = SimpleNamespace(name="SmolLM2-135M-Instruct (Hope-Attention)", context_tokens=2048,
                                     max_new_tokens=256)
        self.settings = Settings()
        self.incognito = False
        self.rows = list(ROWS)

    def status(self) -> Status:
        return Status("ana", self.brain.name, self.incognito, len(self.rows), 2, 312, "91c0" + "5e" * 30,
                      NOW - timedelta(days=1), 252.0)

    def turn(self, text: str) -> Iterator[str]:
        yield from REPLY

    def new_session(self) -> None:
        self.incognito = self.settings.incognito_default

    def pending(self) -> int:
        return 2

    def memories(self) -> list[MemoryRow]:
        return list(self.rows)

    def forget_plan(self, ids, *, verify: bool = True, redacting: bool = False) -> ForgetPlan:
        chosen = tuple(r for r in self.rows if r.id in ids)
        return ForgetPlan(chosen, 11, 1, 41.0)  # as RECEIPT reports it afterwards

    def last_episode(self) -> MemoryRow | None:
        return self.rows[-1] if self.rows else None

    def strengths(self, ids=None) -> dict[str, float]:
        return {r.id: STRENGTHS[r.id] for r in self.rows if ids is None or r.id in ids}

    def episode(self, rid: str) -> EpisodeView:
        row = next(r for r in self.rows if r.id == rid)
        return EpisodeView(rid, row.when, row.preview, row.preview, "Noted. Bergen is lovely in spring.",
                           row.flags, row.state)

    def receipts(self) -> list[ForgetReceipt]:
        return [RECEIPT]

    def audit_entries(self) -> tuple[AuditEvent, ...]:
        return AUDIT

    def verify_audit(self) -> AuditVerdict:
        return AuditVerdict(True, len(AUDIT))

    def update_settings(self, **changes) -> Settings:
        self.settings = replace(self.settings, **changes)
        return self.settings

    def sleep(self, *, on_progress=None, should_stop=None) -> SleepReport:
        return SleepReport(2, 14, 38.5, "91c0" + "5e" * 30, False, "c2" * 16)

    def close(self, *, sleep: bool = True, on_progress=None) -> None:
        return None
