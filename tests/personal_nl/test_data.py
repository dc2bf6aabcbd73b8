"""Offline data: corpora, the deterministic split, windows, and the synthetic tasks' answers."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from personal_nl import data
from personal_nl.tasks import (
    BOS,
    IGNORE,
    MQAR,
    PAD,
    TASKS,
    CycleNavigation,
    MadeUpLanguages,
    ModularArithmetic,
    Parity,
)
from personal_nl.tokenizer import ByteTokenizer


def _draw(task, seed: int, batch_size: int = 16):
    return next(data.task_batches(task, batch_size, seed=seed))


@pytest.mark.parametrize("name", sorted(TASKS))
def test_same_seed_same_batch_other_seed_other_batch(name):
    task = data.make_task(name)
    a, b, c = _draw(task, 3), _draw(task, 3), _draw(task, 4)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.ids, c.ids)
    eval_batch = next(data.task_batches(task, 16, seed=3, stream="eval"))
    assert not torch.equal(a.ids, eval_batch.ids)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_targets_are_next_tokens_within_vocab(name):
    batch = _draw(data.make_task(name), 0)
    assert batch.ids.shape == batch.targets.shape and batch.ids.dtype == torch.long
    assert int(batch.ids.min()) >= 0 and int(batch.ids.max()) < ByteTokenizer.vocab_size
    assert torch.all(batch.ids[:, 0] == BOS)
    scored = batch.targets != IGNORE
    assert torch.equal(batch.targets[:, :-1][scored[:, :-1]], batch.ids[:, 1:][scored[:, :-1]])
    assert not scored[:, -1].any()
    assert not scored[batch.ids == PAD].any()


def test_mqar_scores_exactly_the_answers():
    task = MQAR(n_pairs=6, n_queries=4, n_keys=10, n_values=10)
    batch = _draw(task, 1)
    assert batch.ids.shape[1] == task.length == 1 + 12 + 8
    for ids, targets in zip(batch.ids.tolist(), batch.targets.tolist()):
        context = ids[1:13]
        table = dict(zip(context[0::2], context[1::2]))
        assert len(table) == 6  # keys are distinct
        scored = [t for t, y in enumerate(targets) if y != IGNORE]
        assert scored == list(range(13, 21, 2))
        for t in scored:
            assert targets[t] == table[ids[t]]


def test_parity_label_counts_ones():
    batch = _draw(Parity(min_len=1, max_len=12), 2, batch_size=64)
    lengths = set()
    for ids, targets in zip(batch.ids.tolist(), batch.targets.tolist()):
        eq = ids.index(ord("="))
        bits = ids[1:eq]
        lengths.add(len(bits))
        assert set(bits) <= {ord("0"), ord("1")}
        assert [t for t, y in enumerate(targets) if y != IGNORE] == [eq]
        assert targets[eq] == ord("0") + bits.count(ord("1")) % 2
    assert len(lengths) > 3  # lengths vary


def test_modular_arithmetic_matches_python_precedence():
    batch = _draw(ModularArithmetic(max_terms=6), 5, batch_size=64)
    for ids, targets in zip(batch.ids.tolist(), batch.targets.tolist()):
        eq = ids.index(ord("="))
        expression = bytes(ids[1:eq]).decode()
        assert targets[eq] == ord("0") + eval(expression) % 5  # Python's own * before + and −


def test_cycle_navigation_final_position():
    batch = _draw(CycleNavigation(max_len=20), 6, batch_size=64)
    for ids, targets in zip(batch.ids.tolist(), batch.targets.tolist()):
        eq = ids.index(ord("="))
        moves = bytes(ids[1:eq]).decode()
        assert targets[eq] == ord("0") + (moves.count("R") - moves.count("L")) % 5


def test_made_up_languages_teach_then_test_both_with_consistent_lexicons():
    task = MadeUpLanguages()
    batch = _draw(task, 7, batch_size=8)
    assert batch.ids.shape[1] == task.length
    for ids, targets, group in zip(batch.ids.tolist(), batch.targets.tolist(), batch.group.tolist()):
        sentences = [ids[i:i + 9] for i in range(1, len(ids), 9)]
        lexicon: dict[tuple[int, int], int] = {}
        words = {0: set(), 1: set()}
        for n, s in enumerate(sentences):
            lang = s[0] - ord("A")
            subj, verb, obj = s[1:4]
            order = (subj, verb, obj) if lang == 0 else (obj, subj, verb)  # A: s v o, B: o s v
            assert s[4] == ord(">") and s[8] == ord(";")
            for concept, word in zip(order, s[5:8]):
                assert lexicon.setdefault((lang, concept), word) == word  # tests reuse the taught words
                words[lang].add(word)
            teaching = n < 2 * task.n_teach
            if teaching:
                assert lang == (n >= task.n_teach)  # A first, then B
        assert not words[0] & words[1]  # disjoint vocabularies
        scored = [t for t, y in enumerate(targets) if y != IGNORE]
        assert len(scored) == 3 * 2 * task.n_test
        assert scored[0] > 9 * 2 * task.n_teach  # nothing scored while teaching
        assert sorted(group[t] for t in scored) == [0] * 3 * task.n_test + [1] * 3 * task.n_test


@pytest.mark.parametrize("bad", [dict(n_pairs=9, n_keys=8), dict(n_queries=9, n_pairs=8), dict(n_values=0)])
def test_mqar_refuses_impossible_sizes(bad):
    with pytest.raises(ValueError):
        MQAR(**bad)


def test_pad_extends_without_loss_and_refuses_shrinking():
    batch = _draw(Parity(max_len=4), 0)
    padded = data.pad(batch, 12)
    assert padded.ids.shape[1] == 12 and torch.all(padded.ids[:, 7:] == PAD)
    assert torch.all(padded.targets[:, 7:] == IGNORE)
    with pytest.raises(ValueError, match="seq_len 3"):
        data.pad(batch, 3)


def test_unknown_task_is_refused_by_name():
    with pytest.raises(ValueError, match="'sorting'"):
        data.make_task("sorting")


def test_text_split_is_by_document_and_deterministic():
    docs = data.documents("pydoc")
    held = [d for d, _ in docs if data.is_held_out("pydoc", d, 0.1)]
    assert 0 < len(held) < len(docs) // 4
    assert held == [d for d, _ in docs if data.is_held_out("pydoc", d, 0.1)]
    text = data.load_text(("pydoc",))
    assert text.train.numel() > 3 * text.held_out.numel() > 0
    assert text.train.numel() + text.held_out.numel() == sum(len(t.encode()) + 1 for _, t in docs)


def test_windows_are_shifted_and_resume_at_any_batch():
    tokens = torch.arange(1000, dtype=torch.int16)
    stream = data.batches(tokens, 4, 16, seed=1)
    first = [next(stream) for _ in range(20)]  # 20×4 windows > the 62 in one epoch: crosses epochs
    for b in first:
        assert torch.equal(b.targets, b.ids + 1)
        assert torch.all(b.ids[:, 0] % 16 == 0)
    resumed = next(data.batches(tokens, 4, 16, seed=1, start=17))
    assert torch.equal(resumed.ids, first[17].ids)
    epoch = torch.cat([b.ids[:, 0] for b in first])[:62]
    assert sorted(epoch.tolist()) == list(range(0, 62 * 16, 16))  # an epoch visits every window once
    ordered = next(data.batches(tokens, 2, 16, shuffle=False))
    assert ordered.ids[:, 0].tolist() == [0, 16]


def test_text_source_batches_eval_uses_held_out():
    train = next(data.source_batches("text", 2, 32, seed=0, corpora=("pydoc",)))
    held = next(data.source_batches("text", 2, 32, seed=0, split="eval", corpora=("pydoc",)))
    assert train.ids.shape == held.ids.shape == (2, 32)
    held_tokens = data.load_text(("pydoc",)).held_out
    assert torch.equal(held.ids[0], held_tokens[:32].long())


def test_missing_optional_corpus_is_skipped(monkeypatch, caplog):
    real = data._package_dir
    monkeypatch.setattr(data, "_package_dir", lambda pkg: None if pkg != "pydoc_data" else real(pkg))
    data.load_text.cache_clear()
    try:
        assert data.available_corpora() == ["pydoc"]
        with caplog.at_level(logging.WARNING, logger="personal_nl.data"):
            text = data.load_text(("pydoc", "chitchat"))
        assert text.train.numel() > 0 and "chitchat" in caplog.text
        with pytest.raises(ValueError, match="not installed"):
            data.documents("shakespeare")
    finally:
        data.load_text.cache_clear()


def test_optional_corpora_read_their_package_files(tmp_path, monkeypatch):
    chat = tmp_path / "chitchat_dataset"
    chat.mkdir()
    dialogue = {"messages": [[{"text": "hi"}, {"text": "there"}], [{"text": "hello"}]]}
    (chat / "dataset.json").write_text(json.dumps({"b": dialogue, "a": dialogue}))
    plays = tmp_path / "shksprdata" / "texts"
    plays.mkdir(parents=True)
    (plays / "hamlet_gut.txt").write_text("To be.")
    (plays / "hamlet_gut_f.txt").write_text("To be, folio.")
    (plays / "metadata.txt").write_text("not a play")
    folders = {"chitchat_dataset": chat, "shksprdata": tmp_path / "shksprdata"}
    monkeypatch.setattr(data, "_package_dir", lambda pkg: folders.get(pkg))
    assert data.documents("chitchat") == [("a", "hi there\nhello"), ("b", "hi there\nhello")]
    assert data.documents("shakespeare") == [("hamlet_gut", "To be.")]
