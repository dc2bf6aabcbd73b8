"""The episodic level: what the person said, found again when a question is about it.

Weights answer only what sleep rehearsed in the forms it rehearsed; the log holds every word. So a
personal question (one that says I, my, me …) searches the person's own past statements and the
best matches enter the prompt (``memory_prompt``), where sleep has taught the model to read them:
answer from a statement that answers, say "I don't know" when none does (runtime/dreams.py,
``with_memories``). Only first-person statements the person typed are indexed: never a reply (the
model may have invented it) and never a sentence holding a placeholder.

The index lives only in memory: SQLite FTS5 (BM25 ranking, Porter stemming) in a ``:memory:``
database whose temporary store is memory too. It is built from the decrypted log at unlock, grows
with each recorded turn, and loses an episode the moment it is forgotten, so nothing derived from
plaintext touches the disk and forgetting needs no retraining here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from runtime.rehearsal import content_words, facts, is_personal

HEADER = "Earlier, the user told you:"


def memory_prompt(statements: Sequence[str]) -> str | None:
    """The system text that shows the model what the person said (None: nothing to show)."""
    if not statements:
        return None
    return HEADER + "\n" + "\n".join(f"- {s}" for s in statements)


class EpisodicIndex:
    """Full-text index over the person's statements, one row per first-person sentence."""

    def __init__(self, limit: int = 3) -> None:
        if limit < 1:
            raise ValueError(f"an index returns at least one statement, got limit {limit}")
        self.limit = limit
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("PRAGMA temp_store = MEMORY")  # sorting must not spill to a temp file
        self._db.execute("CREATE VIRTUAL TABLE said USING fts5(episode UNINDEXED, text, "
                         "tokenize='porter unicode61')")

    def add(self, episode: str, statement: str) -> None:
        rows = [(episode, fact) for fact in facts(statement)]
        self._db.executemany("INSERT INTO said (episode, text) VALUES (?, ?)", rows)

    def remove(self, episodes: Iterable[str]) -> None:
        self._db.executemany("DELETE FROM said WHERE episode = ?", [(e,) for e in episodes])

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM said").fetchone()[0]

    def search(self, question: str) -> list[str]:
        """The statements that best match a personal question, best first; none for any other text."""
        words = {w.lower() for w in content_words(question)} if is_personal(question) else set()
        if not words:
            return []
        query = " OR ".join(f'"{w}"' for w in sorted(words))  # quoted: the text is never FTS syntax
        rows = self._db.execute("SELECT text FROM said WHERE said MATCH ? ORDER BY bm25(said), rowid LIMIT ?",
                                (query, self.limit)).fetchall()
        return [text for (text,) in rows]

    def close(self) -> None:
        self._db.close()
