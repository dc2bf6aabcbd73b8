"""A tiny Brain for engine, CLI and app tests: a random 2-layer Hope-Attention model whose CMS levels
learn online, the test tokenizer with a ChatML template, and a quick sleep. Importable from a
subprocess, so crash tests can build the very same brain."""

from __future__ import annotations

import dataclasses

import torch

from personal_nl import HopeLM
from personal_nl.chat import ChatTokenizer
from personal_nl.config import tiny
from personal_nl.consolidate import SleepConfig
from runtime.brain import Brain
from tests.personal_nl.llama_fakes import CHATML, train_tokenizer

FAST_KDF = 1  # the Argon2id floor: stores in tests unlock in ~0.1 s


def tiny_brain(max_new_tokens: int = 8, *, sleep: SleepConfig | None = None) -> Brain:
    tok = train_tokenizer()
    chat = ChatTokenizer(tok, chat_template=CHATML, bos_id=None, eos_id=tok.token_to_id("<|endoftext|>"),
                         extra_stop_ids=[tok.token_to_id("<|im_end|>")])
    torch.manual_seed(0)
    # two heads of 16: the smallest head onnxruntime's attention takes, so the app's fast path runs here too
    cfg = dataclasses.replace(tiny("attention", vocab_size=chat.vocab_size), max_seq_len=256, n_heads=2)
    model = HopeLM(cfg).eval()
    return Brain(model, chat, "tiny test model", sleep or SleepConfig(rank=2, epochs=1, replay_tokens=32),
                 context_tokens=256, max_new_tokens=max_new_tokens)


def speak_plain_words(monkeypatch, brain: Brain) -> None:
    """A random model picks arbitrary bytes; restrict its greedy choice to plain words that re-encode
    the same, so its replies still depend on its logits but read as text."""
    words = torch.tensor(brain.tokenizer.encode(" the lazy dog fox", add_special_tokens=False))
    monkeypatch.setattr("personal_nl.generate.pick", lambda logits, *rest: int(words[logits[words].argmax()]))
