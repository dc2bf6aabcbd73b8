"""Dreams: structured, checked, seeded rehearsal data from what the user said (runtime/dreams.py,
runtime/rehearsal.py)."""

from __future__ import annotations

import random
import re

import pytest

from personal_nl.importers import import_model
from runtime.dreams import Dream, chat_example, dream, examples_from_dreams, replay_set
from runtime.rehearsal import facts, key_words, passes_checks, to_assistant
from tests.personal_nl.llama_fakes import random_llama, train_tokenizer, write_hf_folder

STATEMENTS = [
    "btw my sister Lena just moved to Bergen lol",
    "I work as a nurse at Haukeland hospital.",
    "what's the weather like on Mars?",
    "oh and my favourite dessert is cardamom rhubarb tart!",
    "My brother's birthday is in March, we always go bowling.",
    "thanks!",
    "I'm allergic to hazelnuts",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = write_hf_folder(tmp_path_factory.mktemp("dreams") / "hf", random_llama(seed=2), train_tokenizer())
    imported = import_model(folder)
    return imported.model.eval(), imported.tokenizer


def test_same_statements_and_seed_give_the_same_dreams_byte_for_byte(tiny):
    model, tok = tiny
    a = dream(model, tok, STATEMENTS, seed=7)
    b = dream(model, tok, list(STATEMENTS), seed=7)
    assert repr(a) == repr(b) and len(a) > 20
    assert repr(dream(model, tok, STATEMENTS, seed=8)) != repr(a)
    assert repr(examples_from_dreams(tok, a)) == repr(examples_from_dreams(tok, b))


def test_dreams_cover_every_kind_and_point_at_their_statement(tiny):
    dreams = dream(*tiny, STATEMENTS, seed=0)
    assert {d.kind for d in dreams} == {"paraphrase", "qa", "cloze", "negative"}
    assert {d.source for d in dreams if d.kind != "negative"} == {0, 1, 3, 4, 6}  # no question, no thanks
    assert all(d.source is None for d in dreams if d.kind == "negative")
    for d in dreams:
        assert [role for role, _ in d.messages] == ["user", "assistant"]
    per_statement = [sum(d.kind == "qa" and d.source == i for d in dreams) for i in (0, 1, 3, 6)]
    assert min(per_statement) >= 2


def test_perspective_shift_turns_the_users_words_into_the_assistants():
    assert to_assistant("My sister Lena moved to Bergen and I miss her.") == \
        "Your sister Lena moved to Bergen and you miss her."
    assert to_assistant("I'm allergic to hazelnuts and my cat is mine.") == \
        "You're allergic to hazelnuts and your cat is yours."
    assert to_assistant("I was born in Tromsø; I've lived in Oslo.") == "You were born in Tromsø; you've lived in Oslo."
    assert to_assistant("I told you my name.") == "You told me your name."


def test_answers_speak_to_the_user_and_keep_the_sources_key_words(tiny):
    dreams = dream(*tiny, STATEMENTS, seed=3)
    for d in dreams:
        if d.source is None:
            continue
        question, answer = d.messages[0][1], d.messages[1][1]
        for fact in facts(STATEMENTS[d.source]):
            if all(k.lower() in question.lower() for k in key_words(fact)) and d.kind != "paraphrase":
                pytest.fail(f"question gives the whole answer away: {question!r}")
        assert any(all(k.lower() in answer.lower() for k in key_words(f)) for f in facts(STATEMENTS[d.source]))
        assert not any(w in f" {answer.lower()} " for w in (" my ", " i'm ", " i am ")) or d.kind == "cloze"


def test_facts_drop_chatter_and_questions():
    assert facts("btw my sister Lena just moved to Bergen lol") == ["My sister Lena just moved to Bergen."]
    assert facts("what's the weather like on Mars?") == []
    assert facts("thanks!") == []
    assert facts("ok. I love hiking. Do you?") == ["I love hiking."]


def test_negatives_never_ask_about_topics_the_user_mentioned(tiny):
    told = ["My brother's birthday is in March.", "I work as a nurse.", "My dog is called Rex."]
    for seed in range(5):
        dreams = dream(*tiny, told, seed=seed, negatives_per_fact=3)
        negatives = [d for d in dreams if d.kind == "negative"]
        assert len(negatives) == 9
        for d in negatives:
            question, answer = d.messages[0][1].lower(), d.messages[1][1].lower()
            assert not any(w in question for w in ("brother", "birthday", "born", "work", "job", "dog", "pet"))
            assert "haven't told me" in answer or "haven't mentioned" in answer
    earlier = dream(*tiny, ["I play chess."], seed=0, known=["My cat Tom is old."], negatives_per_fact=30)
    assert not any("pet" in d.messages[0][1].lower() for d in earlier if d.kind == "negative")


def test_checks_reject_echoing_and_ungrounded_dreams():
    keys = key_words("My sister Lena just moved to Bergen.")
    assert keys == ("Lena", "Bergen")
    good = "Your sister Lena just moved to Bergen."
    assert passes_checks("Where does my sister live?", good, keys)
    assert not passes_checks("Did my sister Lena move to Bergen?", good, keys)  # the question holds the answer
    assert not passes_checks("The user asks: where does my sister live?", good, keys)
    assert not passes_checks("Where does my sister live?", "The user asks where your sister lives.", keys)
    assert not passes_checks("Where does my sister live?", "Your sister moved somewhere nice.", keys)  # ungrounded
    assert passes_checks("Have I mentioned Lena?", good, keys, hidden=["Bergen"])


def test_stopping_returns_none_and_progress_counts_statements(tiny):
    seen = []
    assert dream(*tiny, STATEMENTS, seed=0, on_progress=lambda d, t: seen.append((d, t))) is not None
    assert seen[-1] == (len(STATEMENTS), len(STATEMENTS))
    assert dream(*tiny, STATEMENTS, seed=0, should_stop=lambda: True) is None


def test_examples_count_only_the_assistants_tokens(tiny):
    _, tok = tiny
    d = Dream("qa", 0, (("user", "Where does my sister live?"), ("assistant", "Your sister lives in Bergen.")))
    (example,) = examples_from_dreams(tok, [d])
    assert tok.decode(list(example.ids)) == tok.render([{"role": r, "content": c} for r, c in d.messages],
                                                        add_generation_prompt=False)
    taught = tok.decode([i for i, m in zip(example.ids, example.mask) if m])
    assert taught == "Your sister lives in Bergen.<|im_end|>"
    two = chat_example(tok, (("user", "hi"), ("assistant", "hello"), ("user", "bye"), ("assistant", "ciao")))
    assert tok.decode([i for i, m in zip(two.ids, two.mask) if m]) == "hello<|im_end|>ciao<|im_end|>"


def test_replay_set_is_deterministic_prose_and_chat_within_the_context(tiny):
    model, tok = tiny
    a, b = replay_set(model, tok), replay_set(model, tok)
    assert a == b and len(a) > 8
    assert all(2 <= len(seq) <= model.cfg.max_seq_len for seq in a)
    assert any(tok.encode("<|im_start|>", add_special_tokens=False)[0] in seq for seq in a)  # chats among them


def test_no_bench_question_appears_in_the_dreams_of_the_bench_facts(tiny):
    """bench.personal_memory's questions are written apart from the dream templates: dreaming on its
    facts (every seed tried) must not rehearse any of them word for word."""
    from bench._personal_facts import NEVER_TOLD, SESSIONS

    FACTS = [fact for session in SESSIONS for fact in session]  # noqa: N806 (the bench's name)

    def norm(text: str) -> str:
        return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("’", "'")))

    statements = [said for said, _, _ in FACTS]
    texts = []
    for seed in range(8):
        texts += [norm(c) for d in dream(*tiny, statements, seed=seed, negatives_per_fact=3) for _, c in d.messages]
    assert len(texts) > 300
    for question in [q for _, q, _ in FACTS] + NEVER_TOLD:
        assert not any(norm(question) in t for t in texts), question


def test_questions_turn_the_main_clause_around_its_answer():
    from runtime.rehearsal import rehearse

    def questions(fact: str) -> set[str]:
        return {turns[0][1] for kind, turns in rehearse(fact, random.Random(0), per_fact=50) if kind == "qa"}

    assert {"What am I scared of?"} <= questions("I'm really scared of moths, weirdly.")
    assert {"What do I play?"} <= questions("I play the bassoon in a community orchestra on Thursdays.")
    assert {"What does my partner teach?"} <= questions("My partner Rasmus teaches chemistry at a school.")
    assert {"Where did I grow up?"} <= questions("I grew up in a tiny town called Vinstra.")
    assert key_words("I play the bassoon in a community orchestra on Thursdays.") == ("Thursdays", "bassoon")
    assert key_words("I'm really scared of moths, weirdly.") == ("moths",)
