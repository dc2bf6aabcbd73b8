"""The app's decode path (onnxruntime through runtime.decoding) against eager torch on the tiny brain,
with a user state that holds both kinds of learning: wake deltas and slept low-rank factors."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from personal_nl.generate import Sampling
from personal_nl.user_state import merge
from runtime.assistant import Assistant
from runtime.conversation import Conversation
from runtime.decoding import Decoding, OnnxReader, TorchReader
from runtime.state import UserState, learn_exchange
from runtime.users import create_user
from tests.runtime.tiny_brain import tiny_brain

pytest.importorskip("onnxruntime")
ATOL = 1e-4


@pytest.fixture(scope="module")
def own_brain():
    """Not the shared ``brain`` fixture: replies here are the model's own greedy picks (no plain-word filter)."""
    return tiny_brain(max_new_tokens=24)


def slept(brain, seed=1, deep=False) -> UserState:
    """A state as after a sleep: the light factors moved (U is no longer zero), no wake deltas; with
    ``deep``, a deep level of its own factors too."""
    state = UserState.initial(brain.model, brain.sleep, seed)
    gen = torch.Generator().manual_seed(seed)

    def moved(factors):
        return {k: torch.randn(v.shape, generator=gen) * 0.3 if k.endswith(".u") else v for k, v in factors.items()}

    deep_level = moved(UserState.initial(brain.model, brain.sleep, seed + 1).factors) if deep else {}
    return UserState(state.wake, moved(state.factors), 0, deep_level)


def awake(brain, state: UserState, text="my sister Lena moved to Bergen") -> UserState:
    ids = brain.tokenizer.encode_chat([{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}],
                                      add_generation_prompt=False)
    return learn_exchange(brain.model, state, ids)


def logits_along(reader, prompt, follow):
    """Last-position logits after the prompt and after each teacher-forced token, by either backend."""
    if isinstance(reader, OnnxReader):
        decoder = reader.decoder
        logits, cache = decoder.forward(np.asarray([prompt]), decoder.initial_cache(), reader.feeds)
        out = [torch.from_numpy(logits[0])]
        for token in follow:
            logits, cache = decoder.forward(np.asarray([[token]]), cache, reader.feeds)
            out.append(torch.from_numpy(logits[0]))
        return torch.stack(out)
    with torch.no_grad():
        return reader.model(torch.tensor([prompt + follow])).logits[0, len(prompt) - 1:]


def greedy(reader, prompt, n=24):
    return list(reader.stream(prompt, Sampling(max_new_tokens=n), None))


@pytest.mark.parametrize("learned", ["slept", "slept and awake", "slept deeply", "slept deeply and awake"])
def test_fast_path_reads_the_user_state_as_torch_does(own_brain, learned):
    state = slept(own_brain, deep="deeply" in learned)
    if learned.endswith("awake"):
        state = awake(own_brain, state)
        assert any(d is not None for levels in state.wake for d in levels)
    fast = Decoding(own_brain, "fp32").reader(state)
    slow = TorchReader(merge(own_brain.model, state.deltas(own_brain.model)))
    assert isinstance(fast, OnnxReader)
    prompt = own_brain.tokenizer.encode_chat([{"role": "user", "content": "Where does my sister live?"}])
    tokens = greedy(slow, prompt)
    assert greedy(fast, prompt) == tokens
    assert (logits_along(fast, prompt, tokens) - logits_along(slow, prompt, tokens)).abs().max() <= ATOL
    base = TorchReader(own_brain.model)  # the state matters: without it the logits differ
    assert (logits_along(base, prompt, tokens) - logits_along(slow, prompt, tokens)).abs().max() > 1e-2


def graph_files(folder):
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*.onnx"))}


def test_a_conversation_learns_between_turns_without_reexporting(own_brain, tmp_path):
    """Two turns through the assistant at fp32: each reply is what eager torch says with the user's
    state at that moment (the second one reads what the first turn taught), and no graph is rewritten."""
    assistant = Assistant.open(create_user("ana", "correct horse battery", root=tmp_path / "users"), own_brain,
                               precision="fp32")
    reader = assistant._chat.reader
    assert isinstance(reader, OnnxReader)
    folder = reader.decoder.path.parent
    exported = graph_files(folder)
    assert reader.decoder.path.name in exported

    def torch_reply(state: UserState, history: list[dict], text: str) -> str:
        chat = Conversation(TorchReader(merge(own_brain.model, state.deltas(own_brain.model))), own_brain.tokenizer,
                            assistant._chat.sampling, context_tokens=own_brain.context_tokens)
        chat.messages = [dict(m) for m in history]
        return "".join(chat.reply(text))

    first_state = assistant._state
    first = "".join(assistant.turn("my sister Lena moved to Bergen"))
    assert first == torch_reply(first_state, [], "my sister Lena moved to Bergen")
    after = assistant._chat.reader
    assert after is not reader and after.decoder is reader.decoder  # new inputs, the same session
    prompt = own_brain.tokenizer.encode_chat([{"role": "user", "content": "Where does my sister live?"}])
    learned_shift = (logits_along(after, prompt, []) - logits_along(reader, prompt, [])).abs().max()
    assert learned_shift > 1e-4  # it learned (fp32 noise is ~1e-6)
    history, learned = [dict(m) for m in assistant._chat.messages], assistant._state
    second = "".join(assistant.turn("Where does my sister live?"))
    assert second == torch_reply(learned, history, "Where does my sister live?")
    assert graph_files(folder) == exported  # same files, never written again
    assistant.close(sleep=False)


def test_decoding_leaves_nothing_in_the_home_folder(tmp_path):
    """onnxruntime queues telemetry under ~/.cache when imported with its defaults; the product turns
    that off itself (this child process does not inherit the test suite's switch)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    script = (
        "from runtime.decoding import Decoding\n"
        "from runtime.state import UserState\n"
        "from tests.runtime.tiny_brain import tiny_brain\n"
        "brain = tiny_brain()\n"
        "decoding = Decoding(brain)\n"
        "reader = decoding.reader(UserState.initial(brain.model, brain.sleep, 0))\n"
        "assert decoding.backend == 'onnxruntime', decoding.backend\n"
        "from personal_nl.generate import Sampling\n"
        "print(len(list(reader.stream([1, 2, 3], Sampling(max_new_tokens=4), None))))\n")
    done = subprocess.run([sys.executable, "-c", script], env={**env, "HOME": str(home),
                          "HOPE_DATA_DIR": str(tmp_path / "data")}, cwd=Path(__file__).parents[2],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"
    assert [p for p in home.rglob("*")] == []


def test_a_graph_that_cannot_be_written_falls_back_to_torch(tmp_path):
    """A full disk or an unwritable models folder makes the chat slower, never unusable."""
    import dataclasses

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the graphs would go")
    brain = dataclasses.replace(tiny_brain(), onnx_dir=blocked)  # a model of its own: no session cached
    decoding = Decoding(brain, "int4")
    reader = decoding.reader(UserState.initial(brain.model, brain.sleep, 0))
    assert decoding.backend == "torch" and isinstance(reader, TorchReader)
    assert len(greedy(reader, [1, 2, 3], 4)) == 4
