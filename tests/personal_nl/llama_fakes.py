"""Tiny Llama fakes for the importer, chat and CLI tests: a byte-level BPE trained on a few sentences,
random Llama weights under Hugging Face names, and writers for a HF folder and a GGUF file (q/k rows
permuted the way llama.cpp's converter does). Nothing here touches the network."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A private assistant learns from what you tell it, and forgets on demand.",
    "In 2024 there were 365 days; 3.14159 is close to pi.",
    "Ünïcödé text — naïve café, 日本語, emoji 😀 and tabs\tand\nnewlines.",
    "def add(a, b):\n    return a + b  # a tiny function\n",
    "She said: \"don't go\"; they'll stay, we're sure, I'm not.",
]
TEXTS = SENTENCES + [
    "", " ", "   leading and trailing   ", "\n\n\tmixed \r\n whitespace", "x²+y² = 1,000,000 and ٣٤ ½",
    "<|im_start|>user\nhi<|im_end|>\n", "caps LOCK and MiXeD", "🚀🚀 中文字符 한국어 ÅÄÖ", "a1b22c333 0x1F 12ab",
]
CONFIG = {  # a Llama small enough to run in milliseconds, with grouped-query attention
    "vocab_size": 300, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
    "rms_norm_eps": 1e-5, "rope_theta": 50000.0,
}


def train_tokenizer(vocab_size: int = 290) -> Tokenizer:
    """Byte-level BPE with SmolLM2's pre-tokenizer (digits alone, then GPT-2's split)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(SENTENCES * 4, trainer)
    return tok


def random_llama(seed: int = 0, *, tied: bool = False, config: dict | None = None) -> dict[str, np.ndarray]:
    """Llama weights under Hugging Face names; norms random too, so a misplaced norm shows."""
    c = {**CONFIG, **(config or {})}
    rng = np.random.default_rng(seed)
    d, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    hd = d // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def norm() -> np.ndarray:
        return rng.uniform(0.5, 1.5, d).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((v, d)).astype(np.float32), "model.norm.weight": norm()}
    if not tied:
        w["lm_head.weight"] = mat(v, d)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w |= {p + "input_layernorm.weight": norm(), p + "post_attention_layernorm.weight": norm(),
              p + "self_attn.q_proj.weight": mat(d, d), p + "self_attn.k_proj.weight": mat(kv, d),
              p + "self_attn.v_proj.weight": mat(kv, d), p + "self_attn.o_proj.weight": mat(d, d),
              p + "mlp.gate_proj.weight": mat(f, d), p + "mlp.up_proj.weight": mat(f, d),
              p + "mlp.down_proj.weight": mat(d, f)}
    return w


def write_hf_folder(directory: Path, weights: dict[str, np.ndarray], tokenizer: Tokenizer, *, tied: bool = False,
                    config: dict | None = None) -> Path:
    """config.json + model.safetensors + tokenizer.json + tokenizer_config.json, as save_pretrained lays out."""
    import torch
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    c = {**CONFIG, "model_type": "llama", "hidden_act": "silu", "tie_word_embeddings": tied,
         "bos_token_id": 1, "eos_token_id": 2, **(config or {})}
    (directory / "config.json").write_text(json.dumps(c))
    save_file({k: torch.from_numpy(v) for k, v in weights.items()}, str(directory / "model.safetensors"))
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
         "chat_template": CHATML, "tokenizer_class": "PreTrainedTokenizerFast"}))
    return directory


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """What llama.cpp's converter does to q/k rows: each head's halves interleaved for its RoPE."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight", "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
}


def _gguf_name(hf_name: str) -> str:
    if hf_name in GGUF_NAMES:
        return GGUF_NAMES[hf_name]
    _, _, layer, rest = hf_name.split(".", 3)
    return f"blk.{layer}.{GGUF_NAMES[rest]}"


def write_gguf(path: Path, weights: dict[str, np.ndarray], tokenizer: Tokenizer, *, qtype: str = "F32",
               arch: str = "llama", pre: str = "smollm", config: dict | None = None) -> Path:
    """A llama-architecture GGUF as llama.cpp's converter writes it: matrices in ``qtype``, norms F32."""
    c = {**CONFIG, **(config or {})}
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny-llama")
    w.add_block_count(c["num_hidden_layers"])
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(c["hidden_size"])
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_head_count(c["num_attention_heads"])
    w.add_head_count_kv(c["num_key_value_heads"])
    w.add_rope_freq_base(c["rope_theta"])
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])
    w.add_rope_dimension_count(c["hidden_size"] // c["num_attention_heads"])
    w.add_vocab_size(c["vocab_size"])
    vocab = tokenizer.get_vocab()
    tokens = [""] * c["vocab_size"]
    types = [gguf.TokenType.UNUSED] * c["vocab_size"]
    for token, i in vocab.items():
        tokens[i] = token
        types[i] = gguf.TokenType.CONTROL if token in SPECIALS else gguf.TokenType.NORMAL
    for i in range(len(vocab), c["vocab_size"]):
        tokens[i] = f"[PAD{i}]"
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    w.add_bos_token_id(vocab["<|im_start|>"])
    w.add_eos_token_id(vocab["<|im_end|>"])
    w.add_pad_token_id(vocab["<|endoftext|>"])
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)
    kind = gguf.GGMLQuantizationType[qtype]
    for name, array in weights.items():
        if name.endswith("q_proj.weight"):
            array = llama_cpp_permute(array, c["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            array = llama_cpp_permute(array, c["num_key_value_heads"])
        if array.ndim == 1 or kind == gguf.GGMLQuantizationType.F32:
            w.add_tensor(_gguf_name(name), array)
        elif kind == gguf.GGMLQuantizationType.F16:
            w.add_tensor(_gguf_name(name), array.astype(np.float16))
        else:
            w.add_tensor(_gguf_name(name), gguf.quants.quantize(array, kind), raw_dtype=kind)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
