"""Synthetic tasks written in the project (hope-spec §8): associative recall, three formal languages
of Irie et al. (2023, via Delétang et al. 2023) and two made-up languages taught in context.

Every task draws a batch from a ``torch.Generator`` and returns ``Batch(ids, targets, group)``:
ids [B, T] in the byte tokenizer's vocabulary (259), targets [B, T] already shifted (the token
position t must predict) and −100 wherever there is no loss, so ``HopeLM.forward(ids, targets=...)``
scores exactly the answers. Rows start with BOS and are padded with PAD (target −100) to one length.

Token choices (documented because the bench decodes them): formal languages use ASCII symbols and
digit answers; MQAR keys and values are two disjoint non-ASCII byte ranges (128… and 192…) so they
never collide with each other or with separators; the made-up languages use concepts 'a'… (nouns)
and 'm'… (verbs), language tags 'A'/'B', and words from disjoint byte ranges 160… (A) and 192… (B).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch

from personal_nl.tokenizer import ByteTokenizer

BOS, PAD = ByteTokenizer.bos_id, ByteTokenizer.pad_id
IGNORE = -100
KEY_BASE, VALUE_BASE, MAX_KV = 128, 192, 64
WORD_BASE, MAX_WORDS = (160, 192), 20
NOUN_BASE, VERB_BASE, MAX_NOUNS, MAX_VERBS = ord("a"), ord("m"), 12, 8


class Batch(NamedTuple):
    ids: torch.Tensor  # [B, T] int64
    targets: torch.Tensor  # [B, T] int64, −100 = no loss
    group: torch.Tensor | None = None  # [B, T] int64: which sub-task a target belongs to (−1 none)


class Task(Protocol):
    """What every task offers: its row length and a batch drawn from a generator."""

    @property
    def length(self) -> int: ...

    def sample(self, batch_size: int, g: torch.Generator) -> Batch: ...


def _randint(high: int, shape: tuple[int, ...], g: torch.Generator, low: int = 0) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=g)


def _perm(n: int, g: torch.Generator) -> list[int]:
    return torch.randperm(n, generator=g).tolist()


def _answer_rows(rows: list[list[int]], answers: list[int], length: int) -> Batch:
    """Rows of BOS + symbols + '=' + answer; the only target is the answer, predicted at '='."""
    ids = torch.full((len(rows), length), PAD, dtype=torch.long)
    targets = torch.full((len(rows), length), IGNORE, dtype=torch.long)
    for r, (symbols, answer) in enumerate(zip(rows, answers, strict=True)):
        row = [BOS, *symbols, ord("="), answer]
        ids[r, :len(row)] = torch.tensor(row)
        targets[r, len(row) - 2] = answer
    return Batch(ids, targets)


@dataclass(frozen=True)
class MQAR:
    """Multi-query associative recall (Zoology, Arora et al. 2023): ``n_pairs`` key-value pairs with
    distinct keys, then ``n_queries`` of those keys, each followed by its value; loss on values only."""

    n_pairs: int = 8
    n_queries: int = 8
    n_keys: int = 64
    n_values: int = 64

    def __post_init__(self) -> None:
        if not 0 < self.n_pairs <= self.n_keys <= MAX_KV or not 0 < self.n_values <= MAX_KV:
            raise ValueError(f"MQAR needs 0 < n_pairs ≤ n_keys ≤ {MAX_KV} and 0 < n_values ≤ {MAX_KV}, "
                             f"got n_pairs={self.n_pairs}, n_keys={self.n_keys}, n_values={self.n_values}")
        if not 0 < self.n_queries <= self.n_pairs:
            raise ValueError(f"n_queries must be in 1..n_pairs ({self.n_pairs}), got {self.n_queries}")

    @property
    def length(self) -> int:
        return 1 + 2 * self.n_pairs + 2 * self.n_queries

    def sample(self, batch_size: int, g: torch.Generator) -> Batch:
        B, n, m = batch_size, self.n_pairs, self.n_queries
        keys = torch.rand(B, self.n_keys, generator=g).argsort(dim=1)[:, :n] + KEY_BASE  # distinct per row
        values = _randint(self.n_values, (B, n), g) + VALUE_BASE
        asked = torch.rand(B, n, generator=g).argsort(dim=1)[:, :m]  # which pairs are queried, in order
        ids = torch.full((B, self.length), BOS, dtype=torch.long)
        ids[:, 1:1 + 2 * n:2], ids[:, 2:2 + 2 * n:2] = keys, values
        q0 = 1 + 2 * n
        ids[:, q0::2], ids[:, q0 + 1::2] = keys.gather(1, asked), values.gather(1, asked)
        targets = torch.full_like(ids, IGNORE)
        targets[:, q0::2] = ids[:, q0 + 1::2]  # at a query key, predict its value
        return Batch(ids, targets)


@dataclass(frozen=True)
class Parity:
    """Parity (Irie et al.): a bit string of random length, then '=' and '1' if it holds an odd
    number of ones, else '0'. Bits are the characters '0' and '1'."""

    min_len: int = 1
    max_len: int = 32

    def __post_init__(self) -> None:
        if not 0 < self.min_len <= self.max_len:
            raise ValueError(f"need 0 < min_len ≤ max_len, got {self.min_len}, {self.max_len}")

    @property
    def length(self) -> int:
        return self.max_len + 3

    def sample(self, batch_size: int, g: torch.Generator) -> Batch:
        lengths = _randint(self.max_len + 1, (batch_size,), g, low=self.min_len).tolist()
        bits = _randint(2, (batch_size, self.max_len), g).tolist()
        rows = [[ord("0") + b for b in row[:n]] for row, n in zip(bits, lengths, strict=True)]
        answers = [ord("0") + sum(row[:n]) % 2 for row, n in zip(bits, lengths, strict=True)]
        return _answer_rows(rows, answers, self.length)


def _evaluate_mod(digits: list[int], ops: list[str], modulus: int) -> int:
    """Value of d0 op d1 op … with the usual precedence (* before + and −), reduced mod ``modulus``."""
    total, term, sign = 0, digits[0], 1
    for op, d in zip(ops, digits[1:], strict=True):
        if op == "*":
            term *= d
        else:
            total, term, sign = total + sign * term, d, 1 if op == "+" else -1
    return (total + sign * term) % modulus


@dataclass(frozen=True)
class ModularArithmetic:
    """Modular arithmetic without brackets (Irie et al.; Delétang et al.'s 'simple' variant): digits
    0…modulus−1 joined by '+', '-', '*', evaluated with * first, answer mod ``modulus`` as a digit."""

    min_terms: int = 1
    max_terms: int = 8
    modulus: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.min_terms <= self.max_terms or not 1 < self.modulus <= 10:
            raise ValueError(f"need 0 < min_terms ≤ max_terms and 1 < modulus ≤ 10, got {self.min_terms}, "
                             f"{self.max_terms}, {self.modulus}")

    @property
    def length(self) -> int:
        return 2 * self.max_terms - 1 + 3

    def sample(self, batch_size: int, g: torch.Generator) -> Batch:
        terms = _randint(self.max_terms + 1, (batch_size,), g, low=self.min_terms).tolist()
        digits = _randint(self.modulus, (batch_size, self.max_terms), g).tolist()
        op_ids = _randint(3, (batch_size, self.max_terms - 1), g).tolist()
        rows, answers = [], []
        for n, ds, os in zip(terms, digits, op_ids, strict=True):
            ops = ["+-*"[o] for o in os[:n - 1]]
            row = [ord("0") + ds[0]]
            for op, d in zip(ops, ds[1:n], strict=True):
                row += [ord(op), ord("0") + d]
            rows.append(row)
            answers.append(ord("0") + _evaluate_mod(ds[:n], ops, self.modulus))
        return _answer_rows(rows, answers, self.length)


@dataclass(frozen=True)
class CycleNavigation:
    """Cycle navigation (Irie et al.; Delétang et al.): moves 'L' (−1), 'S' (0), 'R' (+1) on a cycle of
    ``cycle`` positions from 0; the answer is the final position as a digit."""

    min_len: int = 1
    max_len: int = 32
    cycle: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.min_len <= self.max_len or not 1 < self.cycle <= 10:
            raise ValueError(f"need 0 < min_len ≤ max_len and 1 < cycle ≤ 10, got {self.min_len}, "
                             f"{self.max_len}, {self.cycle}")

    @property
    def length(self) -> int:
        return self.max_len + 3

    def sample(self, batch_size: int, g: torch.Generator) -> Batch:
        lengths = _randint(self.max_len + 1, (batch_size,), g, low=self.min_len).tolist()
        moves = _randint(3, (batch_size, self.max_len), g).tolist()
        rows = [[ord("LSR"[m]) for m in row[:n]] for row, n in zip(moves, lengths, strict=True)]
        answers = [ord("0") + sum(m - 1 for m in row[:n]) % self.cycle for row, n in zip(moves, lengths, strict=True)]
        return _answer_rows(rows, answers, self.length)


@dataclass(frozen=True)
class MadeUpLanguages:
    """Two made-up languages taught in context one after the other, then tested on both (the
    paper's CTNL finding, synthetic). Each row draws a fresh lexicon per language (concept → word,
    words from the language's own byte range) and teaches it with parallel sentences
    ``tag s v o > w w w ;``: language A keeps subject-verb-object order, language B puts the object
    first and the verb last (o s v). Teaching covers every concept; the test sentences (both
    languages, shuffled) are new random s v o triples whose three translated words are the targets.
    ``group`` marks each target 0 (A) or 1 (B) so accuracy can be read per language."""

    n_nouns: int = 6
    n_verbs: int = 3
    n_teach: int = 6
    n_test: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.n_nouns <= MAX_NOUNS or not 0 < self.n_verbs <= MAX_VERBS:
            raise ValueError(f"need 1…{MAX_NOUNS} nouns and 1…{MAX_VERBS} verbs, "
                             f"got {self.n_nouns} and {self.n_verbs}")
        if 2 * self.n_teach < self.n_nouns or self.n_teach < self.n_verbs or self.n_test <= 0:
            raise ValueError(f"n_teach={self.n_teach} sentences can't teach every concept "
                             f"({self.n_nouns} nouns, {self.n_verbs} verbs), or n_test={self.n_test} ≤ 0")

    @property
    def length(self) -> int:
        return 1 + 9 * 2 * (self.n_teach + self.n_test)

    def _cycled(self, n: int, count: int, g: torch.Generator) -> list[int]:
        out: list[int] = []
        while len(out) < count:
            out += _perm(n, g)
        return out[:count]

    def _row(self, g: torch.Generator) -> tuple[list[int], list[int], list[int]]:
        n_concepts = self.n_nouns + self.n_verbs
        lexicons = [[WORD_BASE[lang] + w for w in _perm(MAX_WORDS, g)[:n_concepts]] for lang in (0, 1)]
        ids, targets, group = [BOS], [IGNORE], [-1]

        def sentence(lang: int, s: int, v: int, o: int, scored: bool) -> None:
            lex = lexicons[lang]
            order = (s, self.n_nouns + v, o) if lang == 0 else (o, s, self.n_nouns + v)
            words = [lex[c] for c in order]
            ids.extend([ord("AB"[lang]), NOUN_BASE + s, VERB_BASE + v, NOUN_BASE + o, ord(">"), *words, ord(";")])
            targets.extend([IGNORE] * 5 + (words if scored else [IGNORE] * 3) + [IGNORE])
            group.extend([-1] * 5 + [lang if scored else -1] * 3 + [-1])

        for lang in (0, 1):
            nouns = self._cycled(self.n_nouns, 2 * self.n_teach, g)
            verbs = self._cycled(self.n_verbs, self.n_teach, g)
            for i in range(self.n_teach):
                sentence(lang, nouns[2 * i], verbs[i], nouns[2 * i + 1], scored=False)
        langs = [0] * self.n_test + [1] * self.n_test
        for i in _perm(len(langs), g):
            s, o = _randint(self.n_nouns, (2,), g).tolist()
            sentence(langs[i], s, int(_randint(self.n_verbs, (1,), g)), o, scored=True)
        return ids, targets, group

    def sample(self, batch_size: int, g: torch.Generator) -> Batch:
        rows = [self._row(g) for _ in range(batch_size)]
        ids, targets, group = (torch.tensor([r[i] for r in rows]) for i in range(3))
        # targets so far sit on the word itself; shift so position t predicts token t+1
        shifted = torch.full_like(targets, IGNORE)
        shifted[:, :-1] = targets[:, 1:]
        shifted_group = torch.full_like(group, -1)
        shifted_group[:, :-1] = group[:, 1:]
        return Batch(ids, shifted, shifted_group)


TASKS = {"mqar": MQAR, "parity": Parity, "modarith": ModularArithmetic, "cycle": CycleNavigation,
         "ctnl": MadeUpLanguages}
