"""The onnxruntime decoder against torch on a tiny random Llama whose last layer learns online: fp32
logits agree to ≤ 1e-4 over a prefill and 64 steps, with zero deltas and with learned ones fed to the
same exported file (no re-export); greedy tokens agree; the quantized graphs run."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pytest
import torch

from personal_nl import learn, user_state
from personal_nl.config import tiny as tiny_config
from personal_nl.default_model import with_online_learning
from personal_nl.generate import Sampling, stream
from personal_nl.importers import import_model
from personal_nl.model import HopeLM
from personal_nl.onnx import OnnxDecoder, UnsupportedModel, cached_export, export
from tests.personal_nl.llama_fakes import CONFIG, random_llama, train_tokenizer, write_hf_folder

pytest.importorskip("onnxruntime")
ATOL = 1e-4  # fp32 parity with torch (issue 4)
STEPS = 64


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> HopeLM:
    """Two layers; layer 1's MLP learns online (period 8, a step large enough to move the logits)."""
    folder = write_hf_folder(tmp_path_factory.mktemp("llama") / "hf", random_llama(seed=2), train_tokenizer())
    return with_online_learning(import_model(folder).model, layers=(1,), lr=0.05, period=8).eval()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def decoder(model, cache_dir) -> OnnxDecoder:
    return OnnxDecoder(cached_export(model, directory=cache_dir), threads=2)


@pytest.fixture(scope="module")
def learned(model):
    """Deltas the model wrote while reading 40 tokens, the way the runtime's wake step does."""
    ids = torch.randint(0, CONFIG["vocab_size"], (1, 40), generator=torch.Generator().manual_seed(5))
    state = learn.start(model)
    _, _, state = learn.online_forward(model, ids, state)
    return learn.finish(model, state).model.cms


def prompt(length: int = 20, seed: int = 0) -> list[int]:
    return torch.randint(0, CONFIG["vocab_size"], (length,), generator=torch.Generator().manual_seed(seed)).tolist()


@torch.no_grad()
def torch_logits(model: HopeLM, ids: list[int], follow: list[int], state) -> list[torch.Tensor]:
    """Last-position logits after the prompt, then after each teacher-forced token of ``follow``."""
    out = model(torch.tensor([ids]), state)
    logits = [out.logits[0, -1]]
    for token in follow:
        out = model(torch.tensor([[token]]), out.state)
        logits.append(out.logits[0, -1])
    return logits


def onnx_logits(decoder: OnnxDecoder, ids: list[int], follow: list[int], deltas) -> list[torch.Tensor]:
    feeds = decoder.feeds(deltas)
    logits, cache = decoder.forward(np.asarray([ids]), decoder.initial_cache(), feeds)
    out = [torch.from_numpy(logits[0])]
    for token in follow:
        logits, cache = decoder.forward(np.asarray([[token]]), cache, feeds)
        out.append(torch.from_numpy(logits[0]))
    return out


def max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    assert len(a) == len(b)
    return max((x - y).abs().max().item() for x, y in zip(a, b))


def file_stamp(path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_fp32_logits_match_torch_over_64_steps_with_zero_and_learned_deltas(model, decoder, learned, cache_dir):
    before = file_stamp(decoder.path)
    ids = prompt()
    follow = list(stream(model, ids, Sampling(max_new_tokens=STEPS)))
    assert len(follow) == STEPS
    assert max_diff(torch_logits(model, ids, follow, None), onnx_logits(decoder, ids, follow, None)) <= ATOL

    assert all(d.abs().max() > 0 for d in learned[1][0].values()) and learned[0] == (None,)
    state = user_state.fresh(model, learned)
    expected = torch_logits(model, ids, follow, state)
    assert max_diff(expected, torch_logits(model, ids, follow, None)) > 1e-2  # the deltas matter
    assert max_diff(expected, onnx_logits(decoder, ids, follow, learned)) <= ATOL
    # Learning changed nothing on disk, and asking for the graph again exports nothing.
    assert cached_export(model, directory=cache_dir) == decoder.path
    assert file_stamp(decoder.path) == before
    assert [p.name for p in cache_dir.iterdir()] == [decoder.path.name]


def test_greedy_tokens_equal_torch_and_returned_state_continues_in_torch(model, decoder, learned):
    ids, sampling = prompt(seed=1), Sampling(max_new_tokens=24)
    for deltas in (None, learned):
        start = user_state.fresh(model, deltas) if deltas is not None else None
        ours, theirs = decoder.stream(ids, sampling, start), stream(model, ids, sampling, start)
        tokens, expected = _drain(ours), _drain(theirs)
        assert tokens[0] == expected[0]
        state, reference = tokens[1], expected[1]
        assert state.position == reference.position == len(ids) + 24
        # The ORT state is a torch State: torch goes on from it exactly as from its own, and back.
        assert list(stream(model, [7], sampling, state)) == list(stream(model, [7], sampling, reference))
        assert list(decoder.stream([7], sampling, reference)) == list(stream(model, [7], sampling, reference))


def _drain(gen) -> tuple[list[int], object]:
    tokens = []
    while True:
        try:
            tokens.append(next(gen))
        except StopIteration as stop:
            return tokens, stop.value


@torch.no_grad()
def test_prefill_in_pieces_matches_one_forward(model, decoder, learned):
    ids = torch.tensor([prompt(17, seed=2)])
    feeds = decoder.feeds(learned)
    _, cache = decoder.forward(ids[:, :10].numpy(), decoder.initial_cache(), feeds)
    logits, _ = decoder.forward(ids[:, 10:].numpy(), cache, feeds)  # T = 7 after a 10-token cache
    expected = model(ids, user_state.fresh(model, learned)).logits[:, -1]
    assert (torch.from_numpy(logits) - expected).abs().max().item() <= ATOL


@torch.no_grad()
def test_batch_rows_read_their_own_deltas(model, decoder, learned):
    ids = torch.tensor([prompt(17, seed=2), prompt(17, seed=3)])
    deltas = tuple(tuple(None if d is None else {n: torch.cat([torch.zeros_like(t), t]) for n, t in d.items()}
                         for d in levels) for levels in learned)  # row 0 has learned nothing, row 1 has
    feeds = decoder.feeds(deltas, batch=2)
    _, cache = decoder.forward(ids[:, :16].numpy(), decoder.initial_cache(2), feeds)
    logits, _ = decoder.forward(ids[:, 16:].numpy(), cache, feeds)
    expected = model(ids, model.initial_state()._replace(cms=deltas)).logits[:, -1]
    assert (torch.from_numpy(logits) - expected).abs().max().item() <= ATOL
    with pytest.raises(ValueError, match="reads 7 tokens after a cache only at batch 1, got batch 2"):
        decoder.forward(ids[:, :7].numpy(), cache, feeds)


@pytest.mark.parametrize("precision", ["int8", "int8w", "int4"])
def test_quantized_graph_runs_and_returns_valid_tokens(model, decoder, learned, cache_dir, precision):
    import onnx

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers.clear()  # as in an application that has not configured logging (pytest has)
    try:
        path = cached_export(model, precision=precision, directory=cache_dir)
        assert (root.handlers, root.level) == ([], level)  # the quantizers' logging set-up is undone
    finally:
        root.handlers[:] = saved
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    # Every projection (qkv, o, gate+up, down per layer, and the head) is quantized; the 3 delta
    # products stay fp32 MatMuls.
    assert ops.count("MatMulInteger" if precision == "int8" else "MatMulNBits") == 9
    bits = [a.i for n in onnx.load(str(path)).graph.node for a in n.attribute if a.name == "bits"]
    assert sorted(bits) == {"int8": [], "int8w": [8] * 9, "int4": [4] * 8 + [8]}[precision]  # int4's head: 8
    assert ops.count("MatMul") == 3 and ops.count("GroupQueryAttention") == 2
    tokens = list(OnnxDecoder(path, threads=2).stream(prompt(), Sampling(max_new_tokens=16),
                                                      user_state.fresh(model, learned)))
    assert len(tokens) == 16 and all(0 <= t < CONFIG["vocab_size"] for t in tokens)


def test_titans_model_is_refused(tmp_path):
    with pytest.raises(UnsupportedModel, match="attention mixers only; this model has 'titans'"):
        export(HopeLM(tiny_config("titans")), tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())


def test_delta_for_a_level_the_graph_lacks_is_refused(model, decoder, learned):
    wrong = ((learned[1][0],), (None,))  # a delta on layer 0, which was exported without one
    with pytest.raises(ValueError, match="block 0 level 0 has a delta"):
        decoder.feeds(wrong)
    with pytest.raises(ValueError, match="exceeds max_seq_len 128"):
        next(decoder.stream(prompt(129)))


@pytest.mark.slow
def test_default_model_fp32_graph_matches_torch(tmp_path):
    """The real default model with its online layers: fp32 logits over a chat prompt and 32 greedy
    steps agree with torch, zero and learned deltas alike."""
    from personal_nl.default_model import DefaultModelMissing, load_default_model

    try:
        imported = load_default_model(cache_dir=tmp_path / "model")
    except DefaultModelMissing as err:
        pytest.skip(str(err))
    big = with_online_learning(imported.model).eval()
    decoder = OnnxDecoder(cached_export(big, directory=tmp_path / "onnx"), threads=2)
    ids = imported.tokenizer.encode_chat([{"role": "user", "content": "Give me three tips for sleeping better."}])
    state = learn.start(big)
    _, _, state = learn.online_forward(big, torch.tensor([ids]), state)
    deltas = learn.finish(big, state).model.cms
    for cms in (None, deltas):
        start = user_state.fresh(big, cms) if cms is not None else None
        follow = list(stream(big, ids, Sampling(max_new_tokens=32), start))
        assert list(decoder.stream(ids, Sampling(max_new_tokens=32), start)) == follow
        assert max_diff(torch_logits(big, ids, follow, start), onnx_logits(decoder, ids, follow, cms)) <= ATOL


def test_a_quantized_graph_kept_alone_is_reused_without_its_fp32_source(model, tmp_path):
    """What the app keeps on disk: only the graph it decodes with (the default model's fp32 export is
    654 MB); asking again finds it and exports nothing."""
    path = cached_export(model, precision="int8w", directory=tmp_path, keep_fp32=False)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    stamp = path.stat().st_mtime_ns
    assert cached_export(model, precision="int8w", directory=tmp_path, keep_fp32=False) == path
    assert path.stat().st_mtime_ns == stamp and [p.name for p in tmp_path.iterdir()] == [path.name]
