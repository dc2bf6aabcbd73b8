"""The assistant of one unlocked user: chat that learns, sleep that consolidates, forget that is exact.

Everything here follows one rule (design.md): the encrypted log is the truth and the user state is
a cache of replaying it. A turn appends an episode and then learns it; a sleep appends a sleep
record (its seed) and checkpoints; a forget shreds, rolls back to the newest checkpoint the
shred left, and replays the rest. Start-up does the same replay from the newest checkpoint, so a
crash anywhere loses nothing committed.

Not thread-safe: call one method at a time (an app runs them in one worker at a time).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from personal_nl.generate import Sampling
from personal_nl.user_state import Deltas
from privacy import Store, Vault, detect, redact
from privacy.audit import AuditEvent, AuditVerdict
from runtime import HopeError, probes
from runtime.brain import Brain
from runtime.conversation import Conversation
from runtime.decoding import Decoding, TorchReader
from runtime.dreams import replay_set
from runtime.episodes import EPISODE, RECEIPT, SLEEP, CorruptRecord, Entry, Episode, Sleep, entries
from runtime.episodic import EpisodicIndex, memory_prompt
from runtime.rehearsal import REDACTED
from runtime.settings import Settings
from runtime.sleep import OnProgress, Progress, cycle, learned_tokens, transcript
from runtime.state import UserState, learn_exchange
from runtime.text import checked_message

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 32_000  # longer input is refused before anything reads it
KEEP_CHECKPOINTS = 3  # log positions with a checkpoint (plus the newest sleep's); older ones are shredded
_REPLAY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its replay set, made once


@dataclass(frozen=True)
class MemoryRow:
    """One episode in the review list."""

    id: str
    when: datetime
    preview: str
    flags: tuple[str, ...]  # PII categories found in what was typed
    state: str  # "fast": learned online, not slept on yet; "slept": consolidated; "redacted": replaced
    tokens: int
    levels: tuple[str, ...] = ()  # the memory levels that hold it: "wake" | "light" | "deep", and "episodic"


@dataclass(frozen=True)
class EpisodeView:
    id: str
    when: datetime
    user: str  # what was typed (or its never-learn redaction, unless raw text is kept)
    learned: str  # what the model read and learned
    reply: str
    flags: tuple[str, ...]
    state: str
    levels: tuple[str, ...] = ()  # as in MemoryRow


@dataclass(frozen=True)
class SleepReport:
    episodes: int
    dreams: int
    seconds: float
    state_hash: str
    interrupted: bool
    checkpoint: str | None = None
    deep: bool = False  # a deep sleep: the deep level retrained on every episode held


@dataclass(frozen=True)
class Verification:
    """What the model held of the forgotten text before and after, by measurement (probes.py)."""

    strength_before: float  # nats/token better than the base model
    strength_after: float
    exposure_before: float  # bits
    exposure_after: float
    exposure_base: float  # the same texts under the base model, which never saw them: where forgetting ends
    exposure_never_seen: tuple[float, ...]  # made-up texts of the same shape, for scale


@dataclass(frozen=True)
class ForgetPlan:
    """What a forget (or redact) of ``targets`` will do, worked out before anything is destroyed: the
    confirmation shows it and the receipt then reports the same numbers."""

    targets: tuple[MemoryRow, ...]
    replays: int  # log records re-learned after the roll-back: equals the receipt's episodes_replayed
    sleeps: int  # how many of those are sleeps (each one re-dreams and re-consolidates: the slow part)
    seconds: float | None  # estimated from this machine's measured speeds; None until they are known

    @property
    def episodes(self) -> int:
        return self.replays - self.sleeps


@dataclass(frozen=True)
class ForgetReceipt:
    id: str  # hash of the receipt's content
    records_shredded: tuple[str, ...]
    checkpoints_dropped: tuple[str, ...]
    episodes_replayed: int
    state_hash: str
    seconds: float
    verification: Verification | None
    replaced_by: str | None = None  # the redacted episode put in the forgotten one's place
    sleeps_replayed: int = 0  # of episodes_replayed, the sleeps (receipts before this field: 0)
    complete: bool = True  # False: written with the shred, before the replay (a crash may end it there)

    @classmethod
    def begun(cls, shredded: Sequence[str], dropped: Sequence[str], replaced_by: str | None) -> ForgetReceipt:
        """The receipt a forget writes in its shred's transaction: what was destroyed. The replay's
        result follows in a completing receipt with the same id (at the next open after a crash)."""
        body = {"shredded": list(shredded), "dropped": list(dropped), "replaced_by": replaced_by}
        rid = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        return cls(rid, tuple(shredded), tuple(dropped), 0, "", 0.0, None, replaced_by, complete=False)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, payload: bytes) -> ForgetReceipt:
        """CorruptRecord for anything but a receipt this program wrote (found by fuzzing)."""
        try:
            data = json.loads(payload)
            v = data.pop("verification")
            verification = None if v is None else Verification(
                **{**v, "exposure_never_seen": tuple(v["exposure_never_seen"])})
            receipt = cls(**{**data, "records_shredded": tuple(data["records_shredded"]),
                             "checkpoints_dropped": tuple(data["checkpoints_dropped"]),
                             "verification": verification})
        except (ValueError, TypeError, KeyError, AttributeError):
            raise CorruptRecord("a receipt record has an unknown format") from None
        if not isinstance(receipt.id, str):
            raise CorruptRecord("a receipt record has an unknown format")
        return receipt


@dataclass(frozen=True)
class Status:
    user: str
    model: str
    incognito: bool
    episodes: int
    pending: int  # episodes learned online but not slept on yet
    tokens_since_sleep: int
    state_hash: str
    last_sleep: datetime | None
    seconds_until_sleep: float | None  # None: nothing to sleep on


def _last_sleep(log_entries: Sequence[Entry]) -> int:
    """The log order of the newest sleep (-1: never slept); episodes after it are pending."""
    return max((e.order for e in log_entries if e.kind == SLEEP), default=-1)


def _now() -> datetime:
    return datetime.now(UTC)


class _Speed:
    """This machine's measured speeds, for estimates: learning a token awake, verifying a forget."""

    def __init__(self) -> None:
        self.per_token: float | None = None  # seconds to learn one token awake
        self.verify: float | None = None  # seconds one verification (before + after + base) took

    def learned(self, tokens: int, seconds: float) -> None:
        if tokens > 0:
            rate = seconds / tokens
            self.per_token = rate if self.per_token is None else 0.7 * self.per_token + 0.3 * rate


def _seed_for(user_seed: int, *parts: object) -> int:
    text = ":".join(str(p) for p in (user_seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


class Assistant:
    def __init__(self, brain: Brain, store: Store, user: str, *, clock: Callable[[], float] = time.monotonic,
                 seed: int | None = None, precision: str | None = None) -> None:
        self.brain = brain
        self._store = store
        self.user = user
        self._clock = clock
        stored = store.get_setting("seed")
        if stored is None:  # a new user: the seed of all their learning, kept for every replay
            if seed is None:
                seed = int.from_bytes(hashlib.sha256(store.audit.entries()[0].hash.encode()).digest()[:4], "big")
            store.set_setting("seed", seed)
        else:
            seed = stored
        self._seed = int(seed)
        self.settings = Settings.load(store)
        self._state = UserState.initial(brain.model, brain.sleep, self._seed)
        self._saved_hash: str | None = None  # hash of the newest checkpoint's state
        self._strengths: dict[tuple[str, str], float] = {}
        self._last_activity = clock()
        self.incognito = self.settings.incognito_default
        self._decoding = Decoding(brain, precision or self.settings.precision)
        self._said: list[str] = []  # episodes recorded in this conversation, oldest first
        self._speed = _Speed()
        sampling = Sampling(max_new_tokens=brain.max_new_tokens, repetition_penalty=1.1)
        self._chat = Conversation(TorchReader(brain.model), brain.tokenizer, sampling,
                                  context_tokens=brain.context_tokens)
        self._memories = EpisodicIndex()  # in memory only; filled from the log at open

    # -- opening and closing --------------------------------------------------------------------

    @classmethod
    def open(cls, vault: Vault, brain: Brain, *, on_progress: OnProgress | None = None,
             clock: Callable[[], float] = time.monotonic, seed: int | None = None,
             precision: str | None = None, accept_older_store: bool = False) -> Assistant:
        """Open the user's store and rebuild their state: newest checkpoint, then the log after it.
        A redaction a crash left half-done is finished; the retention policy is applied. ``seed``
        fixes a new user's seed (benchmarks); a user's seed never changes once set. ``precision``
        overrides the user's decoding setting for this session; ``accept_older_store`` opens a backup
        restored on purpose (privacy.RolledBack otherwise)."""
        store = vault.open_store(accept_older=accept_older_store)
        try:
            assistant = cls(brain, store, vault.user, clock=clock, seed=seed, precision=precision)
            assistant._decoding.prepare(on_progress and (lambda stage: on_progress(Progress(stage, 0, 1))))
            assistant._finish_redactions()
            for entry in assistant._log():
                if entry.kind == EPISODE:
                    assistant._memories.add(entry.id, assistant._episode(entry.id).learned)
            assistant._state, todo = assistant._restore()
            assistant._set_state(assistant._replay(assistant._state, todo, on_progress))
            if todo:
                assistant._checkpoint("rebuild")
            assistant._complete_receipts(len(todo))
            assistant.apply_retention()
        except BaseException:
            store.close()
            raise
        return assistant

    def close(self, *, sleep: bool = True, on_progress: OnProgress | None = None,
              should_stop: Callable[[], bool] | None = None) -> SleepReport | None:
        """Sleep first if enough is pending (and ``sleep``; ``should_stop`` may cut it short, committing
        nothing of it), save the state, release the store."""
        report = None
        try:
            if sleep and self.pending_for_exit_sleep():
                report = self.sleep(on_progress=on_progress, should_stop=should_stop)
            if self._saved_hash != self._state.digest and self._log():
                self._checkpoint("exit")
        finally:
            self._store.close()
            self._memories.close()
        return report

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._store.is_open:
            self.close(sleep=False)

    # -- the log --------------------------------------------------------------------------------

    def _log(self) -> list[Entry]:
        return entries(self._store.list())

    def _episode(self, rid: str) -> Episode:
        return Episode.from_bytes(self._store.get(rid))

    def _restore(self) -> tuple[UserState, list[Entry]]:
        """The newest readable checkpoint's state and the log entries after it, in replay order."""
        log_entries = self._log()
        seq_of = {e.id: e.seq for e in log_entries}
        for info in reversed(self._store.list_checkpoints()):
            if info.last not in seq_of:
                continue
            try:
                state = UserState.from_bytes(self._store.get_checkpoint(info.id), self.brain.model)
            except ValueError as err:  # e.g. a checkpoint of another model: rebuild from older ones
                log.warning("checkpoint %s is unusable (%s); using an older one", info.id, err)
                continue
            self._saved_hash = state.digest
            last = seq_of[info.last]
            return state, [e for e in log_entries if e.seq > last]
        self._saved_hash = None
        return UserState.initial(self.brain.model, self.brain.sleep, self._seed), log_entries

    def _replay(self, state: UserState, todo: Sequence[Entry], on_progress: OnProgress | None,
                should_stop: Callable[[], bool] | None = None) -> UserState:
        """Learn the entries in order: episodes awake, sleeps as they were slept. What a later entry
        redoes from zero is skipped (runtime/sleep.py): an episode's wake step before a sleep, which
        resets the wake levels; a sleep before a deep one; a light sleep before another light one."""
        log_entries = self._log()
        sleeps = [e for e in todo if e.kind == SLEEP]

        def redone(entry: Entry) -> bool:
            later = [s for s in sleeps if s.order > entry.order]
            return bool(later) if entry.kind == EPISODE else any(s.deep or not entry.deep for s in later)

        work = [e for e in todo if not redone(e)]
        for n, entry in enumerate(work):
            if on_progress:
                on_progress(Progress("replaying", n, len(work)))
            if entry.kind == EPISODE:
                episode, started = self._episode(entry.id), time.perf_counter()
                state = self._learn(state, episode)
                self._speed.learned(len(transcript(self.brain, episode)), time.perf_counter() - started)
            else:
                seed = Sleep.from_bytes(self._store.get(entry.id)).seed
                episodes, known = self._span(log_entries, entry.order, entry.deep)
                again = None if on_progress is None else (  # a replayed sleep is long: show its steps
                    lambda p: on_progress(Progress(f"{p.stage} again", p.done, p.total)))
                slept = cycle(self.brain, state, episodes, seed, self._replay_set(on_progress), known=known,
                              deep=entry.deep, on_progress=again)
                assert slept is not None  # nothing can stop a replay
                state = slept[0]
        if on_progress:
            on_progress(Progress("replaying", len(work), len(work)))
        return state

    def _learn(self, state: UserState, episode: Episode) -> UserState:
        """The wake step on one exchange: the person's words are learned, the reply is context."""
        tokens = learned_tokens(self.brain, episode)
        return learn_exchange(self.brain.model, state, list(tokens.ids), tokens.mask)

    def _span(self, log_entries: Sequence[Entry], before: int, deep: bool) -> tuple[list[Episode], list[str]]:
        """The episodes a sleep at order ``before`` trains on, and what the user said before them:
        a deep sleep takes every episode held; a light one those since the deep sleep before it."""
        start = -1 if deep else max((e.order for e in log_entries if e.kind == SLEEP and e.deep and e.order < before),
                                    default=-1)
        episodes = [e for e in log_entries if e.kind == EPISODE and e.order < before]
        return ([self._episode(e.id) for e in episodes if e.order > start],
                [self._episode(e.id).learned for e in episodes if e.order <= start])

    def _replay_set(self, on_progress: OnProgress | None = None) -> list[list[int]]:
        model = self.brain.model
        if model not in _REPLAY:
            if on_progress:  # the base model writes its rehearsal answers once per process: seconds
                on_progress(Progress("preparing", 0, 0))
            _REPLAY[model] = replay_set(model, self.brain.tokenizer)
        return _REPLAY[model]

    def _set_state(self, state: UserState) -> None:
        self._state = state
        self._chat.use(self._decoding.reader(state))

    def _checkpoint(self, why: str) -> str | None:
        log_entries = sorted(self._log(), key=lambda e: e.seq)
        if not log_entries:
            return None
        digest = self._state.digest
        cid = self._store.put_checkpoint(self._state.to_bytes(), first=log_entries[0].id, last=log_entries[-1].id,
                                         meta={"why": why, "hash": digest})
        self._saved_hash = digest
        self._prune_checkpoints()
        return cid

    def _prune_checkpoints(self) -> None:
        """Shred the checkpoints no crash or forget needs: keep the newest at each of the last
        KEEP_CHECKPOINTS log positions (a crash restarts from the newest, a forget of a recent episode
        from one just before it) and the newest taken at a sleep (replaying a sleep is the slow part)."""
        keep: dict[str, str] = {}  # log position -> checkpoint id, newest first
        drop = []
        slept = None
        infos = self._store.list_checkpoints()  # by log position
        position = {info.last: n for n, info in enumerate(infos)}
        for info in sorted(infos, key=lambda i: (position[i.last], i.created), reverse=True):
            if slept is None and info.meta.get("why") == "sleep":
                slept = info.id
            if info.last not in keep and len(keep) < KEEP_CHECKPOINTS:
                keep[info.last] = info.id
            elif info.id != slept:
                drop.append(info.id)
        if drop:
            log.info("pruning %d checkpoints", len(drop))
            self._store.drop_checkpoints(drop)

    # -- chatting -------------------------------------------------------------------------------

    def new_session(self) -> None:
        """An empty context (a new chat); what was learned stays in the weights."""
        self._chat.clear()
        self._said.clear()
        self.incognito = self.settings.incognito_default

    def last_episode(self) -> MemoryRow | None:
        """The last exchange of this conversation that is still kept; None when this conversation has
        kept none (a new one, an incognito one, or its exchanges were forgotten). A bare /forget
        means this, never an older memory from another conversation."""
        log_entries = self._log()
        present = {e.id: e for e in log_entries if e.kind == EPISODE}
        for rid in reversed(self._said):
            if rid in present:
                return self._row(present[rid], _last_sleep(log_entries), self._levels_of(log_entries))
        return None

    def recalled(self, text: str) -> list[str]:
        """What the episodic level shows the model beside ``text``: the person's past statements it
        is about (none for a message that isn't personal)."""
        return self._memories.search(text)

    def turn(self, text: str) -> Iterator[str]:
        """Stream the reply to ``text``. Once it has streamed whole, the exchange is recorded (one
        transaction) and learned; incognito records and learns nothing. Closing the stream early
        keeps nothing of the turn."""
        if isinstance(text, str) and len(text) > MAX_MESSAGE_CHARS:
            raise HopeError(f"the message is {len(text):,} characters; the limit is {MAX_MESSAGE_CHARS:,}")
        text = checked_message(text) if isinstance(text, str) else text
        if not isinstance(text, str) or not text.strip():
            raise HopeError("empty message")
        self._last_activity = self._clock()
        flags = tuple(sorted({f.category for f in detect(text)}))
        learned = redact(text, self.settings.never_learn) if self.settings.never_learn else text
        # The episodic level: what the person said before that this message is about, shown as the
        # system text (runtime/episodic.py); sleep teaches the model to answer from it or say it doesn't know.
        self._chat.system = memory_prompt(self._memories.search(learned))
        yield from self._chat.reply(learned)
        self._last_activity = self._clock()
        if self.incognito:
            return
        episode = Episode(text if self.settings.keep_raw_text else learned, learned, self._chat.messages[-1]["content"])
        self._record(episode, {"flags": list(flags)})

    def _record(self, episode: Episode, meta: dict) -> str:
        ids = transcript(self.brain, episode)
        rid = self._store.append(EPISODE, episode.to_bytes(), meta={**meta, "tokens": len(ids)})
        self._memories.add(rid, episode.learned)
        started = time.perf_counter()
        self._set_state(self._learn(self._state, episode))
        self._speed.learned(len(ids), time.perf_counter() - started)
        self._said.append(rid)
        return rid

    # -- sleeping -------------------------------------------------------------------------------

    def _pending_entries(self, log_entries: Sequence[Entry] | None = None) -> list[Entry]:
        log_entries = self._log() if log_entries is None else log_entries
        last = _last_sleep(log_entries)
        return [e for e in log_entries if e.kind == EPISODE and e.order > last]

    def pending(self) -> int:
        return len(self._pending_entries())

    def seconds_until_sleep(self) -> float | None:
        """Time until the idle trigger fires; None when there is nothing to sleep on."""
        return self._countdown(self.pending())

    def _countdown(self, pending: int) -> float | None:
        if not pending:
            return None
        return max(0.0, self.settings.idle_sleep_seconds - (self._clock() - self._last_activity))

    def pending_for_exit_sleep(self) -> int:
        """How many episodes ``close()`` will sleep on (0: it won't): the sleep-on-exit rule, in one place."""
        pending, threshold = self.pending(), self.settings.sleep_on_exit_min
        return pending if threshold and pending >= threshold else 0

    def _deep_is_due(self, log_entries: Sequence[Entry]) -> bool:
        """A sleep is deep once ``deep_after`` episodes came since the last deep sleep."""
        last_deep = max((e.order for e in log_entries if e.kind == SLEEP and e.deep), default=-1)
        since = sum(e.kind == EPISODE and e.order > last_deep for e in log_entries)
        return since >= self.brain.sleep.deep_after

    def sleep(self, *, on_progress: OnProgress | None = None,
              should_stop: Callable[[], bool] | None = None) -> SleepReport:
        """Dream and consolidate: a light sleep retrains the light level on the episodes since the
        last deep sleep; once enough have gathered, a deep sleep retrains the deep level on every
        episode held. ``should_stop`` is asked between steps; a stopped sleep commits nothing."""
        started = time.perf_counter()
        self.apply_retention()
        log_entries = self._log()
        pending = self._pending_entries(log_entries)
        if not pending:
            return SleepReport(0, 0, 0.0, self._state.digest, False)
        seed = _seed_for(self._seed, "sleep", sum(e.kind == SLEEP for e in log_entries))
        deep = self._deep_is_due(log_entries)
        episodes, known = self._span(log_entries, max(e.order for e in log_entries) + 1, deep)
        replay = self._replay_set(on_progress)
        if on_progress:
            on_progress(Progress("dreaming", 0, 0))
        slept = cycle(self.brain, self._state, episodes, seed, replay, known=known, deep=deep,
                      on_progress=on_progress, should_stop=should_stop)
        if slept is None:
            log.info("sleep interrupted; nothing committed")
            return SleepReport(len(pending), 0, time.perf_counter() - started, self._state.digest, True, deep=deep)
        state, dreams = slept
        seconds = round(time.perf_counter() - started, 1)  # what a forget's replay of this sleep will take
        self._store.append(SLEEP, Sleep(seed, deep).to_bytes(), meta={"episodes": len(pending), "deep": deep,
                                                                       "trained_on": len(episodes),
                                                                       "seconds": seconds})
        self._set_state(state)
        cid = self._checkpoint("sleep")
        self._last_activity = self._clock()
        log.info("%s sleep done: %d episodes, %d dreams, %.0f s", "deep" if deep else "light", len(episodes), dreams,
                 time.perf_counter() - started)
        return SleepReport(len(pending), dreams, time.perf_counter() - started, state.digest, False, cid, deep)

    # -- forgetting -----------------------------------------------------------------------------

    def _verify(self, texts: Sequence[str], sequences: Sequence[Sequence[int]], *,
                base: bool = False) -> tuple[float, float]:
        """Mean strength and exposure of the given episodes under the current state (or the base model)."""
        deltas = None if base else self._state.deltas(self.brain.model)
        strength = sum(probes.strength(self.brain.model, deltas, sequences)) / len(sequences) if deltas else 0.0
        exposure = sum(probes.exposure(self.brain.model, deltas, self.brain.tokenizer, t, seed=self._seed)
                       for t in texts) / len(texts)
        return strength, exposure

    def _targets(self, ids: Sequence[str], log_entries: Sequence[Entry]) -> list[Entry]:
        by_id = {e.id: e for e in log_entries}
        for rid in ids:
            if rid not in by_id or by_id[rid].kind != EPISODE:
                raise HopeError(f"there is no memory {rid!r}")
        if not ids:
            raise HopeError("nothing to forget")
        return [by_id[rid] for rid in ids]

    def forget_plan(self, ids: Iterable[str], *, verify: bool = True, redacting: bool = False) -> ForgetPlan:
        """What forgetting ``ids`` will replay, worked out as ``_forget`` will do it (the levels that
        learned from the oldest target on, rebuilt by ``_without``'s entries), with a time estimate;
        nothing is changed. ``redacting``: one episode is learned again in the forgotten one's place
        (awake, when it comes after the last sleep; else inside the sleeps that are redone)."""
        ids = list(dict.fromkeys(ids))
        log_entries = self._log()
        targets = self._targets(ids, log_entries)
        gone = {e.id for e in targets}
        todo = [e for e in self._without(min(e.order for e in targets))[1] if e.id not in gone]
        again = redacting and targets[0].order > _last_sleep(log_entries)
        sleeps = [e for e in todo if e.kind == SLEEP]
        episodes = [e for e in todo if e.kind == EPISODE] + (targets[:1] if again else [])
        timed = [e.meta.get("seconds") for e in sleeps]  # sleeps from before sleeps were timed have none
        tokens = sum(int(e.meta.get("tokens", 0)) for e in episodes)
        speed = self._speed
        seconds = None
        known = (None not in timed and (speed.per_token is not None or not tokens)
                 and (speed.verify is not None or not verify))
        if known:
            seconds = sum(timed) + tokens * (speed.per_token or 0.0) + (speed.verify if verify else 0.0)
        last_sleep = _last_sleep(log_entries)
        return ForgetPlan(tuple(self._row(e, last_sleep, self._levels_of(log_entries)) for e in targets),
                          len(todo) + again, len(sleeps), seconds)

    def forget(self, ids: Iterable[str], *, on_progress: OnProgress | None = None,
               verify: bool = True) -> ForgetReceipt:
        """Shred the episodes and everything derived from them, roll back and replay the rest."""
        return self._forget(list(dict.fromkeys(ids)), None, on_progress, verify)

    def _forget(self, ids: list[str], replacement: tuple[Episode, dict] | None, on_progress: OnProgress | None,
                verify: bool) -> ForgetReceipt:
        started = time.perf_counter()
        first = min(e.order for e in self._targets(ids, self._log()))

        def stage(name: str) -> None:
            if on_progress:
                on_progress(Progress(name, 0, 0))

        episodes = [self._episode(rid) for rid in ids]
        texts = [e.learned for e in episodes]
        sequences = [transcript(self.brain, e) for e in episodes]
        if verify:
            stage("measuring before")
        measured = time.perf_counter()
        before = self._verify(texts, sequences) if verify else None
        measured = time.perf_counter() - measured
        stage("shredding")
        replaced_by = None
        if replacement is not None:  # written first: a crash from here on finishes the redaction at start
            episode, meta = replacement
            replaced_by = self._store.append(EPISODE, episode.to_bytes(),
                                             meta={**meta, "tokens": len(transcript(self.brain, episode))})
        begun = self._shred(ids, replaced_by)
        self._memories.remove(ids)  # no longer found, from this moment
        if replaced_by is not None:
            self._memories.add(replaced_by, replacement[0].learned)
        self._chat.clear()  # the open chat may quote what was forgotten
        self._said.clear()
        self._strengths.clear()
        state, todo = self._without(first)
        self._set_state(state)  # from here on the model holds nothing of the forgotten text
        self._set_state(self._replay(state, todo, on_progress))
        self._checkpoint("forget")
        verification = None
        if before is not None:
            stage("measuring after")
            started_after = time.perf_counter()
            after = self._verify(texts, sequences)
            deltas = self._state.deltas(self.brain.model)
            never = probes.never_seen_exposure(self.brain.model, deltas, self.brain.tokenizer, texts[0],
                                               seed=self._seed)
            base = self._verify(texts, sequences, base=True)
            verification = Verification(strength_before=before[0], strength_after=after[0],
                                        exposure_before=before[1], exposure_after=after[1],
                                        exposure_base=base[1], exposure_never_seen=tuple(never))
            self._speed.verify = measured + time.perf_counter() - started_after
        receipt = dataclasses.replace(begun, episodes_replayed=len(todo),
                                      sleeps_replayed=sum(e.kind == SLEEP for e in todo),
                                      state_hash=self._state.digest, seconds=time.perf_counter() - started,
                                      verification=verification, complete=True)
        self._store.append(RECEIPT, receipt.to_bytes())
        return receipt

    def _shred(self, ids: Sequence[str], replaced_by: str | None) -> ForgetReceipt:
        """Shred, writing the begun receipt in the same transaction (no crash separates them)."""
        begun: list[ForgetReceipt] = []

        def note(shredded: tuple[str, ...], dropped: tuple[str, ...]) -> tuple[str, bytes]:
            begun.append(ForgetReceipt.begun(shredded, dropped, replaced_by))
            return RECEIPT, begun[0].to_bytes()

        shred = self._store.shred(ids, note=note)
        return begun[0] if begun else ForgetReceipt.begun(shred.ids, shred.checkpoints, replaced_by)

    def _complete_receipts(self, replayed: int) -> None:
        """Forgets a crash cut short after their shred get their completing receipt (the state rebuilt
        at open is the forget's result; nothing was measured)."""
        for receipt in self.receipts():
            if not receipt.complete:
                done = dataclasses.replace(receipt, episodes_replayed=replayed, state_hash=self._state.digest,
                                           complete=True)
                self._store.append(RECEIPT, done.to_bytes())

    def _without(self, first: int) -> tuple[UserState, list[Entry]]:
        """The current state with every level that learned from log order ``first`` on emptied, and
        the entries that rebuild them: the deep level only if the last deep sleep came after it, the
        light level if its sleep did (or the deep level is rebuilt), the wake levels always. Sleeps
        that later sleeps redid are not among them, so the cost never grows with later sleeps."""
        log_entries = self._log()
        sleeps = [e for e in log_entries if e.kind == SLEEP]
        last = max(sleeps, key=lambda e: e.order, default=None)
        deep = max((e for e in sleeps if e.deep), key=lambda e: e.order, default=None)
        light = last if last is not None and not last.deep else None
        state, todo = self._state, []
        empty = UserState.initial(self.brain.model, self.brain.sleep, self._seed)
        if deep is not None and first < deep.order:
            state, todo = replace(state, deep=empty.deep), [deep]
        if light is not None and (todo or first < light.order):
            state, todo = replace(state, factors=empty.factors), [*todo, light]
        after = -1 if last is None else last.order
        state = replace(state, wake=empty.wake, tokens_since_sleep=0)
        return state, [*todo, *(e for e in log_entries if e.kind == EPISODE and e.order > after)]

    def redact(self, rid: str, spans: Sequence[tuple[int, int]], *, on_progress: OnProgress | None = None,
               verify: bool = True) -> ForgetReceipt:
        """Replace spans of what was typed (character offsets into ``episode(rid).user``) with
        [REDACTED], everywhere the reply repeats them too: forget the episode, learn the redacted one
        in its place."""
        entry = next((e for e in self._log() if e.id == rid and e.kind == EPISODE), None)
        if entry is None:
            raise HopeError(f"there is no memory {rid!r}")
        old = self._episode(rid)
        spans = sorted(spans)
        if not spans or any(not 0 <= a < b <= len(old.user) for a, b in spans) or any(
                b1 > a2 for (_, b1), (a2, _) in zip(spans, spans[1:])):
            raise HopeError(f"spans must be non-empty, ordered, non-overlapping ranges within the "
                            f"{len(old.user)} characters of the message")
        secrets = [old.user[a:b] for a, b in spans]
        user, pos = [], 0
        for a, b in spans:
            user += (old.user[pos:a], REDACTED)
            pos = b
        user.append(old.user[pos:])
        new_user, reply = "".join(user), old.reply
        for secret in secrets:
            reply = reply.replace(secret, REDACTED)
        learned = redact(new_user, self.settings.never_learn) if self.settings.never_learn else new_user
        meta = {"flags": list(entry.flags), "in_place_of": entry.order, "replaces": rid,
                "said": entry.created.isoformat()}
        return self._forget([rid], (Episode(new_user, learned, reply), meta), on_progress, verify)

    def _finish_redactions(self) -> None:
        """A redaction killed between writing the replacement and shredding the original is finished."""
        log_entries = self._log()
        present = {e.id for e in log_entries}
        stale = [e.meta["replaces"] for e in log_entries if e.meta.get("replaces") in present]
        if stale:
            log.info("finishing %d interrupted redactions", len(stale))
            by_original = {e.meta["replaces"]: e.id for e in log_entries if e.meta.get("replaces") in present}
            for rid in stale:
                self._shred([rid], by_original[rid])

    # -- retention ------------------------------------------------------------------------------

    def apply_retention(self, now: datetime | None = None) -> ForgetReceipt | None:
        """Forget what the retention policy says to: episodes older than N days, flagged categories."""
        now = now or _now()
        days, categories = self.settings.retention_days, set(self.settings.forget_categories)
        due = [e.id for e in self._log() if e.kind == EPISODE and (
            (days is not None and now - e.created > timedelta(days=days)) or categories & set(e.flags))]
        if not due:
            return None
        log.info("retention policy forgets %d episodes", len(due))
        return self.forget(due, verify=False)

    # -- reviewing ------------------------------------------------------------------------------

    def _state_of(self, entry: Entry, last_sleep: int) -> str:
        if entry.redacted:
            return "redacted"
        return "slept" if entry.order < last_sleep else "fast"

    def _row(self, e: Entry, last_sleep: int, levels: Callable[[Entry], tuple[str, ...]]) -> MemoryRow:
        text = " ".join(self._episode(e.id).user.split())
        preview = text if len(text) <= 80 else text[:79] + "…"
        return MemoryRow(e.id, e.created, preview, e.flags, self._state_of(e, last_sleep),
                         int(e.meta.get("tokens", 0)), levels(e))

    def _levels_of(self, log_entries: Sequence[Entry]) -> Callable[[Entry], tuple[str, ...]]:
        """Which memory levels hold an episode: the episodic level always (it is in the log); the
        wake levels until a sleep; the light level from the sleep after it until a deep sleep; the
        deep level from then on. A forget takes it out of each."""
        last = _last_sleep(log_entries)
        deep = max((e.order for e in log_entries if e.kind == SLEEP and e.deep), default=-1)

        def levels(entry: Entry) -> tuple[str, ...]:
            slow = "wake" if entry.order > last else "deep" if entry.order < deep else "light"
            return (slow, "episodic")
        return levels

    def memories(self) -> list[MemoryRow]:
        """Every episode, oldest first, with a preview (decrypted now, never stored elsewhere)."""
        log_entries = self._log()
        last_sleep = _last_sleep(log_entries)
        levels = self._levels_of(log_entries)
        return [self._row(e, last_sleep, levels) for e in log_entries if e.kind == EPISODE]

    def episode(self, rid: str) -> EpisodeView:
        log_entries = self._log()
        entry = next((e for e in log_entries if e.id == rid and e.kind == EPISODE), None)
        if entry is None:
            raise HopeError(f"there is no memory {rid!r}")
        last_sleep = _last_sleep(log_entries)
        ep = self._episode(rid)
        return EpisodeView(rid, entry.created, ep.user, ep.learned, ep.reply, entry.flags,
                           self._state_of(entry, last_sleep), self._levels_of(log_entries)(entry))

    def strengths(self, ids: Iterable[str] | None = None) -> dict[str, float]:
        """How strongly the current model remembers each episode: loss reduction vs the base model
        on its transcript, nats per token (cached until the state changes)."""
        wanted = list(ids) if ids is not None else [e.id for e in self._log() if e.kind == EPISODE]
        digest = self._state.digest
        missing = [rid for rid in wanted if (rid, digest) not in self._strengths]
        if missing:
            sequences = [transcript(self.brain, self._episode(rid)) for rid in missing]
            deltas = self._state.deltas(self.brain.model)
            for rid, value in zip(missing, probes.strength(self.brain.model, deltas, sequences), strict=True):
                self._strengths[(rid, digest)] = value
        return {rid: self._strengths[(rid, digest)] for rid in wanted}

    def receipts(self) -> list[ForgetReceipt]:
        """One per forget, oldest first: its completing receipt, or the begun one until then."""
        latest: dict[str, ForgetReceipt] = {}
        for info in self._store.list(RECEIPT):
            receipt = ForgetReceipt.from_bytes(self._store.get(info.id))
            latest[receipt.id] = receipt  # a later record with the same id completes an earlier one
        return list(latest.values())

    def export(self, path: str | Path) -> int:
        """Write every record and setting, decrypted, to a new JSON file (mode 0600)."""
        if Path(path).exists():
            raise HopeError(f"{path} exists; choose a new file name for the export")
        return self._store.export_json(path)

    # -- audit, settings, status ----------------------------------------------------------------

    def audit_entries(self) -> tuple[AuditEvent, ...]:
        return self._store.audit.entries()

    def verify_audit(self) -> AuditVerdict:
        return self._store.audit.verify()

    def update_settings(self, **changes: object) -> Settings:
        try:
            new = self.settings.replace(**changes)
        except (TypeError, ValueError) as err:
            raise HopeError(str(err)) from None
        new.save(self._store, self.settings)
        self.settings = new
        if new.precision != self._decoding.precision:
            self._decoding = Decoding(self.brain, new.precision)
            self._set_state(self._state)
        self.apply_retention()
        return new

    def deltas(self) -> Deltas:
        """The current user state as deltas from θ₀ (for measurement)."""
        return self._state.deltas(self.brain.model)

    @property
    def state_hash(self) -> str:
        return self._state.digest

    def recompute_hash(self, *, on_progress: OnProgress | None = None) -> str:
        """The state hash replayed from nothing but the base model, the log and the seeds, ignoring
        every checkpoint: equal to ``state_hash`` when the state is what the log says it is."""
        initial = UserState.initial(self.brain.model, self.brain.sleep, self._seed)
        return self._replay(initial, self._log(), on_progress).digest

    def status(self) -> Status:
        log_entries = self._log()
        sleeps = [e for e in log_entries if e.kind == SLEEP]
        pending = len(self._pending_entries(log_entries))
        return Status(self.user, self.brain.name, self.incognito, sum(e.kind == EPISODE for e in log_entries),
                      pending, self._state.tokens_since_sleep, self._state.digest,
                      max((e.created for e in sleeps), default=None), self._countdown(pending))

