"""A conversation with a local model: the headless core that `hope chat` and `hope ask` drive.

It keeps the messages, renders them with the model's chat template, fits them into the context
budget by dropping the oldest turns, and streams the reply through a ``Reader`` (onnxruntime or torch,
``runtime.decoding``). The model's recurrent state (the KV cache) is reused while the new prompt
extends what it has already read, so a turn costs only its new tokens.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from personal_nl.chat import ChatTokenizer
from personal_nl.generate import Sampling
from personal_nl.model import State
from runtime import HopeError
from runtime.decoding import Reader

log = logging.getLogger(__name__)


def literal(tokenizer: ChatTokenizer, text: str) -> str:
    """Text as text: a control-token string in a message (``<|im_end|>`` typed by the user, or spelled
    out by the model in a reply) would end the turn or forge a system message when the conversation is
    read again, so a zero-width space keeps it from matching."""
    for added in tokenizer.tokenizer.get_added_tokens_decoder().values():
        token = added.content
        if added.special and token:
            text = text.replace(token, token[:1] + "\u200b" + token[1:])
    return text


@dataclass
class Conversation:
    reader: Reader
    tokenizer: ChatTokenizer
    sampling: Sampling = Sampling(max_new_tokens=256)
    context_tokens: int = 2048  # prompt + reply budget; older turns are dropped to stay inside it
    system: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    _read: list[int] = field(default_factory=list)  # ids the state has read
    _state: State | None = None

    def __post_init__(self) -> None:
        limit = self.reader.max_seq_len
        if not 0 < self.sampling.max_new_tokens < min(self.context_tokens, limit):
            raise HopeError(f"max_new_tokens must be between 1 and the context budget "
                            f"({min(self.context_tokens, limit)} tokens)")
        self.context_tokens = min(self.context_tokens, limit)
        self.sampling = dataclasses.replace(self.sampling,
                                            stop_ids=tuple(self.tokenizer.stop_ids) + self.sampling.stop_ids)

    def clear(self) -> None:
        self.messages.clear()
        self._read, self._state = [], None

    def use(self, reader: Reader) -> None:
        """Reply from now on with other weights (a user's, after learning); the next turn re-reads the
        prompt with them."""
        self.reader = reader
        self._read, self._state = [], None

    def _prompt(self) -> list[int]:
        """The rendered conversation, oldest turns dropped until it leaves room for the reply."""
        budget = self.context_tokens - self.sampling.max_new_tokens
        head = [{"role": "system", "content": self.system}] if self.system else []
        start = 0
        while True:
            ids = self.tokenizer.encode_chat(head + [{**m, "content": literal(self.tokenizer, m["content"])}
                                                     for m in self.messages[start:]])
            if len(ids) <= budget:
                if start:
                    log.info("dropped %d oldest messages to fit the context budget", start)
                return ids
            if start >= len(self.messages) - 1:  # the newest message alone is too long
                raise HopeError(f"the message is {len(ids)} tokens; the budget for a prompt is {budget}. "
                                "Send a shorter message or raise --context.")
            start += 1

    def reply(self, text: str) -> Iterator[str]:
        """Stream the reply to ``text`` as pieces of text; the turn is kept once it has streamed whole."""
        if not text.strip():
            raise HopeError("empty message")
        self.messages.append({"role": "user", "content": text})
        try:
            prompt = self._prompt()
        except HopeError:
            self.messages.pop()
            raise
        reuse = len(self._read) < len(prompt) and prompt[:len(self._read)] == self._read
        state, new = (self._state, prompt[len(self._read):]) if reuse else (None, prompt)
        tokens: list[int] = []
        generator = self.reader.stream(new, self.sampling, state)

        def ids() -> Iterator[int]:
            nonlocal state
            try:
                while True:
                    token = next(generator)
                    tokens.append(token)
                    yield token
            except StopIteration as done:
                state = done.value

        finished = False
        try:
            yield from self.tokenizer.decode_stream(ids())
            finished = True
        finally:
            if finished:
                self._state, self._read = state, prompt + tokens
                reply = self.tokenizer.decode(tokens, skip_special_tokens=True)
                self.messages.append({"role": "assistant", "content": reply})
            else:  # interrupted: the turn is not kept, and the state may hold half of it
                self.messages.pop()
                self._state, self._read = None, []
