"""ChatTokenizer: ids equal transformers' tokenizers, templates render as apply_chat_template does,
and a saved tokenizer comes back identical. The slow test checks the real SmolLM2 GGUF."""

from __future__ import annotations

import json
import os
import unicodedata

import pytest

from personal_nl.chat import ChatTokenizer
from personal_nl.importers.gguf import metadata, open_gguf
from tests.personal_nl.llama_fakes import CHATML, TEXTS, random_llama, train_tokenizer, write_gguf, write_hf_folder

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2 + 2?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, how can I help?"},
     {"role": "user", "content": "Ünïcödé 😀 and\nnewlines\ttoo"}],
]
# Exercises what Hugging Face's environment adds: trimmed blocks, loop controls, tojson, bos_token,
# raise_exception.
FEATURES = (
    "{{ bos_token }}\n{% for m in messages %}\n"
    "  {% if m['role'] not in ['system', 'user', 'assistant'] %}{{ raise_exception('unknown role') }}{% endif %}\n"
    "  {% if loop.index > 4 %}{% break %}{% endif %}\n"
    "  [{{ m['role'] | upper }}] {{ m['content'] | tojson }}\n"
    "{% endfor %}\n{% if add_generation_prompt %}[ASSISTANT]{% endif %}"
)


def hf_transformers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_hf_folder(tmp_path_factory.mktemp("chat") / "hf", random_llama(), train_tokenizer())


def template_ids(hf_tok, messages, **kwargs) -> list[int]:
    out = hf_tok.apply_chat_template(messages, tokenize=True, **kwargs)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


def test_tokenizer_json_ids_equal_transformers(folder):
    ours = ChatTokenizer.from_hf_dir(folder)
    reference = hf_transformers().AutoTokenizer.from_pretrained(folder)
    for text in TEXTS:
        ids = ours.encode(text)
        assert ids == reference(text).input_ids, text
        assert ours.decode(ids) == reference.decode(ids) == text


def test_gguf_gpt2_tokenizer_equals_transformers_reading_the_same_file(tmp_path):
    tok = train_tokenizer()
    path = write_gguf(tmp_path / "tiny.gguf", random_llama(), tok, pre="gpt2")
    ours = ChatTokenizer.from_gguf_metadata(metadata(open_gguf(path)))
    reference = hf_transformers().AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    for text in TEXTS:
        assert ours.encode(text) == reference(text).input_ids, text


def test_gguf_smollm_tokenizer_splits_digits_like_its_tokenizer_json(tmp_path):
    tok = train_tokenizer()
    path = write_gguf(tmp_path / "tiny.gguf", random_llama(), tok, pre="smollm")
    ours = ChatTokenizer.from_gguf_metadata(metadata(open_gguf(path)))
    for text in TEXTS:
        assert ours.encode(text) == tok.encode(text).ids, text
        assert ours.decode(ours.encode(text)) == text


@pytest.mark.parametrize("template", [CHATML, FEATURES], ids=["chatml", "features"])
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_render_equals_transformers_apply_chat_template(tmp_path, template, add_generation_prompt):
    folder = write_hf_folder(tmp_path / "hf", random_llama(), train_tokenizer())
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}))
    ours = ChatTokenizer.from_hf_dir(folder)
    reference = hf_transformers().AutoTokenizer.from_pretrained(folder)
    for messages in CONVERSATIONS:
        expected = reference.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        assert ours.render(messages, add_generation_prompt) == expected
        assert ours.encode_chat(messages, add_generation_prompt) == template_ids(
            reference, messages, add_generation_prompt=add_generation_prompt)


def test_template_refusals_are_value_errors(tmp_path):
    folder = write_hf_folder(tmp_path / "hf", random_llama(), train_tokenizer())
    (folder / "chat_template.jinja").write_text(FEATURES)  # the file wins over tokenizer_config.json
    ours = ChatTokenizer.from_hf_dir(folder)
    with pytest.raises(ValueError, match="chat template refused the messages: unknown role"):
        ours.render([{"role": "tool", "content": "x"}])
    with pytest.raises(ValueError, match="message 1 needs string 'role' and 'content' fields"):
        ours.render([{"role": "user", "content": "x"}, {"role": "user"}])
    (folder / "chat_template.jinja").write_text("{% for m in messages %}")
    with pytest.raises(ValueError, match="chat template does not parse"):
        ChatTokenizer.from_hf_dir(folder)
    bare = ChatTokenizer(ours.tokenizer, chat_template=None, bos_id=None, eos_id=None)
    with pytest.raises(ValueError, match="this tokenizer has no chat template"):
        bare.render([{"role": "user", "content": "x"}])


def test_sandbox_keeps_templates_away_from_python_internals(folder):
    ours = ChatTokenizer.from_hf_dir(folder)
    evil = ChatTokenizer(ours.tokenizer, chat_template="{{ messages.__class__.__mro__[1].__subclasses__() }}",
                         bos_id=None, eos_id=None)
    with pytest.raises(ValueError, match="chat template refused the messages"):
        evil.render([{"role": "user", "content": "x"}])


def test_stop_ids_hold_eos_and_end_of_turn_tokens(folder):
    ours = ChatTokenizer.from_hf_dir(folder)
    vocab = ours.tokenizer.get_vocab()
    assert ours.eos_id == vocab["<|im_end|>"] and ours.bos_id == vocab["<|im_start|>"]
    assert set(ours.stop_ids) == {vocab["<|im_end|>"], vocab["<|endoftext|>"]}


def test_save_and_load_give_the_same_tokenizer(folder, tmp_path):
    ours = ChatTokenizer.from_hf_dir(folder)
    ours.save(tmp_path / "ck")
    back = ChatTokenizer.load(tmp_path / "ck")
    assert (back.bos_id, back.eos_id, back.pad_id, back.stop_ids) == (ours.bos_id, ours.eos_id, ours.pad_id,
                                                                     ours.stop_ids)
    for text in TEXTS:
        assert back.encode(text) == ours.encode(text)
    assert back.render(CONVERSATIONS[2]) == ours.render(CONVERSATIONS[2])
    (tmp_path / "ck" / "chat.json").write_text("{not json")
    with pytest.raises(ValueError, match="holds no readable tokenizer"):
        ChatTokenizer.load(tmp_path / "ck")


def test_decode_stream_waits_for_whole_characters(folder):
    ours = ChatTokenizer.from_hf_dir(folder)
    text = "naïve 日本語 😀 done"
    ids = ours.encode(text)
    pieces = list(ours.decode_stream(ids))
    assert "".join(pieces) == text and all("\ufffd" not in p for p in pieces)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("tokenizer.ggml.model", "llama", "GGUF tokenizer model 'llama' is not supported"),
    ("tokenizer.ggml.pre", "qwen2", "GGUF pre-tokenizer 'qwen2' is not supported"),
])
def test_unsupported_gguf_tokenizers_are_refused(tmp_path, field, value, message):
    path = write_gguf(tmp_path / "tiny.gguf", random_llama(), train_tokenizer())
    meta = metadata(open_gguf(path)) | {field: value}
    with pytest.raises(ValueError, match=message):
        ChatTokenizer.from_gguf_metadata(meta)


# -- the real default model (slow) ------------------------------------------------------------------

VARIED = TEXTS + [
    "The year 2024 had 366 days.\n\n1. First\n2. Second", "Price: $1,299.99 (or €1.299,99)", "   12  345   ",
    "Tabs\tbefore\t42 and\n\t7", "x² ½ ٣٤ ⅷ", "<|im_start|><repo_name>x<|im_end|>", "日本語のテキスト、数字１２３",
]


def split_numbers(text: str) -> list[str]:
    """Every numeric character on its own, the other runs whole: SmolLM2's first pre-tokenizer step."""
    pieces, run = [], ""
    for ch in text:
        if unicodedata.category(ch).startswith("N"):
            pieces += [run, ch] if run else [ch]
            run = ""
        else:
            run += ch
    return pieces + [run] if run else pieces


@pytest.mark.slow
def test_smollm2_tokenizer_and_template_match_transformers():
    from personal_nl.default_model import DefaultModelMissing, find_default_gguf

    try:
        path = find_default_gguf()
    except DefaultModelMissing as err:
        pytest.skip(str(err))
    ours = ChatTokenizer.from_gguf_metadata(metadata(open_gguf(path)))
    reference = hf_transformers().AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    assert ours.stop_ids == (0, 2) and ours.eos_id == 2
    for text in VARIED:
        # transformers' GGUF loader drops SmolLM2's digit split (llama.cpp's "smollm" pre-tokenizer);
        # applied piecewise around numbers, its byte-level BPE is the oracle.
        expected = [i for piece in split_numbers(text) for i in reference(piece).input_ids]
        assert ours.encode(text) == expected, text
        assert ours.decode(ours.encode(text)) == text
    for messages in CONVERSATIONS:
        for add in (True, False):
            assert ours.render(messages, add) == reference.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add)
    prompt = [{"role": "user", "content": "What is the capital of France?"}]
    assert ours.encode_chat(prompt) == template_ids(reference, prompt, add_generation_prompt=True)
