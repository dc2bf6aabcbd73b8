"""The tokenizer and chat template of an imported model, kept with its checkpoint.

A ``ChatTokenizer`` is built from a GGUF's ``tokenizer.*`` metadata (byte-level BPE, llama.cpp's
``gpt2`` model) or from a Hugging Face ``tokenizer.json``, and always saved as ``tokenizer.json`` +
``chat_template.jinja`` + ``chat.json`` beside the weights, so an imported model needs nothing else.
Chat templates render in a sandboxed Jinja environment with the helpers Hugging Face templates expect.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

log = logging.getLogger(__name__)

TOKENIZER_FILE, TEMPLATE_FILE, META_FILE = "tokenizer.json", "chat_template.jinja", "chat.json"

# Tokens that end an assistant turn in the common chat formats; whichever the vocabulary has stop generation.
END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>", "<|end|>", "<end_of_turn>", "</s>")

# llama.cpp token types (tokenizer.ggml.token_type)
_CONTROL, _USER_DEFINED = 3, 4

def _byte_level() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)  # GPT-2's split, then bytes


def _digits_then_byte_level() -> pre_tokenizers.PreTokenizer:
    # SmolLM/StarCoder vocabularies were trained with every digit on its own (llama.cpp's "smollm"
    # pre-tokenizer: \p{N} first, then GPT-2's split).
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), _byte_level()])


# tokenizer.ggml.pre -> how text is split before BPE; llama.cpp gives these names these splits.
PRE_TOKENIZERS = {
    "gpt2": _byte_level,
    "smollm": _digits_then_byte_level,
    "starcoder": _digits_then_byte_level,
    "refact": _digits_then_byte_level,
    "codeshell": _digits_then_byte_level,
}


class _GenerationTag(Extension):
    """``{% generation %}…{% endgeneration %}`` marks assistant text for training masks in some
    templates; rendering keeps the body as it is."""

    tags = {"generation"}

    def parse(self, parser) -> list[nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _tojson(value: Any, indent: int | None = None, separators: tuple[str, str] | None = None,
            sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)


def _environment() -> ImmutableSandboxedEnvironment:
    """The environment Hugging Face renders chat templates in: sandboxed, blocks trimmed, loop controls."""
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols", _GenerationTag])
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = _tojson
    return env


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


class ChatTokenizer:
    """Text ↔ token ids, chat messages → prompt text, and the ids that end a reply."""

    def __init__(self, tokenizer: Tokenizer, *, chat_template: str | None, bos_id: int | None,
                 eos_id: int | None, pad_id: int | None = None, extra_stop_ids: Iterable[int] = ()) -> None:
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id), ("pad_id", pad_id)):
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"{name} {value} is outside the vocabulary of {self.vocab_size}")
        turn_ends = {i for i in map(tokenizer.token_to_id, END_OF_TURN) if i is not None}
        self.stop_ids: tuple[int, ...] = tuple(sorted(({eos_id} - {None}) | turn_ends | set(extra_stop_ids)))
        if any(not 0 <= i < self.vocab_size for i in self.stop_ids):
            raise ValueError(f"stop ids {list(self.stop_ids)} reach outside the vocabulary of {self.vocab_size}")
        self._template = None
        if chat_template is not None:
            try:
                self._template = _environment().from_string(chat_template)
            except TemplateError as err:
                raise ValueError(f"chat template does not parse: {err}") from None

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """Ids for text; special-token strings in it (``<|im_start|>``) become their ids."""
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def decode_stream(self, ids: Iterable[int], *, skip_special_tokens: bool = True) -> Iterator[str]:
        """Text pieces as generated ids arrive, holding back bytes until a character is whole."""
        stream = decoders.DecodeStream(skip_special_tokens=skip_special_tokens)
        for i in ids:
            piece = stream.step(self.tokenizer, i)
            if piece:
                yield piece

    def render(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> str:
        """The prompt text the model was tuned on for these messages (each a dict with role and content)."""
        if self._template is None:
            raise ValueError("this tokenizer has no chat template")
        for n, message in enumerate(messages):
            if not (isinstance(message, Mapping) and all(isinstance(message.get(k), str) for k in ("role", "content"))):
                raise ValueError(f"message {n} needs string 'role' and 'content' fields")
        special = {name: self.tokenizer.id_to_token(i) if i is not None else None
                   for name, i in (("bos_token", self.bos_id), ("eos_token", self.eos_id), ("pad_token", self.pad_id))}
        try:
            return self._template.render(messages=[dict(m) for m in messages],
                                         add_generation_prompt=add_generation_prompt, **special)
        except TemplateError as err:
            raise ValueError(f"chat template refused the messages: {err}") from None

    def encode_chat(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> list[int]:
        """Prompt ids for a conversation; the template already places any BOS, so none is added."""
        return self.encode(self.render(messages, add_generation_prompt), add_special_tokens=False)

    # -- persistence -------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(directory / TOKENIZER_FILE))
        if self.chat_template is not None:
            (directory / TEMPLATE_FILE).write_text(self.chat_template, encoding="utf-8")
        meta = {"bos_id": self.bos_id, "eos_id": self.eos_id, "pad_id": self.pad_id,
                "stop_ids": list(self.stop_ids)}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> ChatTokenizer:
        """What ``save`` wrote; a missing or damaged file is a ValueError naming it."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
            template = directory / TEMPLATE_FILE
            return cls(tokenizer, chat_template=template.read_text(encoding="utf-8") if template.is_file() else None,
                       bos_id=meta["bos_id"], eos_id=meta["eos_id"], pad_id=meta["pad_id"],
                       extra_stop_ids=meta["stop_ids"])
        except Exception as err:  # OSError, KeyError, JSON errors, and tokenizers' own exception type
            raise ValueError(f"{directory} holds no readable tokenizer ({META_FILE} + {TOKENIZER_FILE}): {err}") \
                from None

    # -- builders ----------------------------------------------------------------------------------

    @classmethod
    def from_gguf_metadata(cls, meta: Mapping[str, Any]) -> ChatTokenizer:
        """From a GGUF's ``tokenizer.*`` fields: llama.cpp's ``gpt2`` model is byte-level BPE whose
        tokens are already spelled in GPT-2's byte alphabet; control tokens match whole as specials."""
        kind = meta.get("tokenizer.ggml.model")
        if kind != "gpt2":
            raise ValueError(f"GGUF tokenizer model {kind!r} is not supported; only byte-level BPE ('gpt2')")
        pre = meta.get("tokenizer.ggml.pre")
        if pre not in PRE_TOKENIZERS:
            raise ValueError(f"GGUF pre-tokenizer {pre!r} is not supported; known: {', '.join(PRE_TOKENIZERS)}")
        tokens: list[str] | None = meta.get("tokenizer.ggml.tokens")
        if not tokens:
            raise ValueError("GGUF metadata lacks 'tokenizer.ggml.tokens'")
        types: list[int] = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
        vocab: dict[str, int] = {}
        for i, token in enumerate(tokens):
            vocab.setdefault(token, i)  # a duplicate spelling keeps its first id, as llama.cpp does
        if len(vocab) != len(tokens):
            log.debug("GGUF vocabulary spells %d tokens twice", len(tokens) - len(vocab))
        merges = []
        for merge in meta.get("tokenizer.ggml.merges", []):
            pair = merge.split(" ")
            if len(pair) != 2:
                raise ValueError(f"GGUF merge {merge!r} is not two tokens separated by a space")
            merges.append((pair[0], pair[1]))
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        tok.pre_tokenizer = PRE_TOKENIZERS[pre]()
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t, kind in zip(tokens, types) if kind == _CONTROL])
        tok.add_tokens([AddedToken(t, special=False, normalized=False)
                        for t, kind in zip(tokens, types) if kind == _USER_DEFINED])

        def special(key: str) -> int | None:
            value = meta.get(f"tokenizer.ggml.{key}_token_id")
            return int(value) if value is not None else None

        bos = special("bos")
        if meta.get("tokenizer.ggml.add_bos_token", False) and bos is not None:
            tok.post_processor = processors.TemplateProcessing(
                single=f"{tokens[bos]} $A", pair=f"{tokens[bos]} $A $B:1", special_tokens=[(tokens[bos], bos)])
        return cls(tok, chat_template=meta.get("tokenizer.chat_template"), bos_id=bos, eos_id=special("eos"),
                   pad_id=special("padding"))

    @classmethod
    def from_hf_dir(cls, directory: str | Path) -> ChatTokenizer:
        """From a Hugging Face model folder: tokenizer.json, the chat template (chat_template.jinja or
        tokenizer_config.json) and special tokens from tokenizer_config.json / generation_config.json."""
        directory = Path(directory)
        if not (directory / TOKENIZER_FILE).is_file():
            raise ValueError(f"{directory} has no {TOKENIZER_FILE} (only fast tokenizers are supported)")
        try:
            tok = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        except Exception as err:  # tokenizers raises its own exception type for malformed JSON
            raise ValueError(f"{directory / TOKENIZER_FILE} is not a readable tokenizer: {err}") from None
        config = read_json_object(directory / "tokenizer_config.json")
        template = config.get("chat_template")
        if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
            template = {t.get("name"): t.get("template") for t in template}.get("default")
        if (directory / TEMPLATE_FILE).is_file():
            template = (directory / TEMPLATE_FILE).read_text(encoding="utf-8")
        ids = {}
        for name in ("bos", "eos", "pad"):
            text = _token_text(config.get(f"{name}_token"))
            ids[name] = tok.token_to_id(text) if text is not None else None
        model_config = read_json_object(directory / "config.json")
        for name in ("bos", "eos", "pad"):
            if ids[name] is None and isinstance(model_config.get(f"{name}_token_id"), int):
                ids[name] = model_config[f"{name}_token_id"]
        eos_ids = read_json_object(directory / "generation_config.json").get("eos_token_id", [])
        extra = eos_ids if isinstance(eos_ids, list) else [eos_ids]
        return cls(tok, chat_template=template if isinstance(template, str) else None, bos_id=ids["bos"],
                   eos_id=ids["eos"], pad_id=ids["pad"], extra_stop_ids=extra)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a model folder's file ({} when absent); malformed files are a ValueError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object, got {type(data).__name__}")
    return data
