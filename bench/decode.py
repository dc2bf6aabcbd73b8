# ruff: noqa: E402  (OMP_WAIT_POLICY must be set before torch is imported; see bench/kernels.py)
"""Decode speed of the default model on the CPU (issues 4 and 12): B = 1, greedy, a chat prompt,
against transformers eager loaded from the same GGUF, all timed in the same run.

    python -m bench.decode                 # 128 new tokens, 3 rounds, 2 threads (a few minutes)
    python -m bench.decode --quick         # 32 new tokens, 1 round
    python -m bench.decode --json out.json

Rows: transformers eager, our torch path, onnxruntime fp32 / int8 (dynamic) / int8 weight-only and
int4 (MatMulNBits) with the online CMS deltas as graph inputs, the int4 graph without delta inputs
(what those inputs cost), **the app path** (exactly what `hope chat` runs: ``runtime.decoding`` at the
default precision, with a user state holding wake deltas and slept factors) beside eager torch with
the same state (what the app ran before), and llama.cpp through llama-cpp-python when it is
installed. Exported graphs are cached beside the converted default model, so only the first run pays
for the export.

llama.cpp runs in its own process with its default thread waiting: the OMP_WAIT_POLICY=PASSIVE this
process sets for torch and onnxruntime slows llama.cpp's OpenMP threads about 3x. Its KV cache is
reset before every timed call, so a cached prompt prefix never shortens its TTFT.

Greedy text from a 135M model is fragile (one flipped near-tie and it can fall into a loop), so
besides where greedy output first diverges the table gives the share of steps whose top-1 token
equals our fp32 one when every row reads the same fp32 continuation (teacher-forced).
"""

from __future__ import annotations

import os
import sys

if "--llama-cpp-child" not in sys.argv:  # llama.cpp is timed with its own default waiting
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bench._report import environment, format_table, print_header, write_json
from personal_nl.default_model import find_default_gguf, load_default_model, with_online_learning
from personal_nl.default_model import weights_id as default_weights_id
from personal_nl.generate import Sampling, stream
from personal_nl.onnx import OnnxDecoder, cached_export

CHAT = [{"role": "user", "content": "Give me three tips for sleeping better."}]
TTFT_TOKENS = 200
# Filler for the long prompt: plain prose, so the tokenizer sees ordinary text.
FILLER = ("The harbour town woke slowly. Fishing boats came in with the tide, gulls followed them, and the "
          "market stalls opened one by one along the quay while the baker counted loaves and the ferry "
          "captain checked the weather board twice before deciding to sail. ")

Generate = Callable[[list[int], int], Iterator[int]]
Argmaxes = Callable[[list[int], list[int]], list[int]]  # (prompt, continuation) -> top-1 after each prefix


def spinning() -> bool:
    """Whether idle worker threads busy-wait: onnxruntime follows torch's OpenMP policy (bench/kernels.py)."""
    return os.environ["OMP_WAIT_POLICY"].upper() != "PASSIVE"


@dataclass
class Row:
    name: str
    generate: Generate | None  # None: skipped, see note
    argmaxes: Argmaxes | None = None
    note: str = ""  # shown in the table
    ours: bool = True  # counts toward the headline (a configuration that can learn online)
    setup_s: float | None = None
    agreement: float | None = None  # share of teacher-forced steps whose top-1 equals ours fp32
    reference: str | None = None  # the row whose greedy tokens this one is compared with (default: ours fp32)
    tok_per_s: list[float] = field(default_factory=list)
    ttft_s: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)


def timed(generate: Generate, ids: list[int], n: int) -> tuple[list[int], float, float]:
    """(tokens, seconds to the first token, seconds for the n − 1 after it). Stops at n without
    resuming the generator, so no step past the last token is timed."""
    tokens, first = [], 0.0
    start = time.perf_counter()
    for token in generate(ids, n):
        if not tokens:
            first = time.perf_counter()
        tokens.append(token)
        if len(tokens) == n:
            break
    return tokens, first - start, time.perf_counter() - first


def long_prompt(tokenizer: Any, length: int) -> list[int]:
    """A chat prompt of ``length`` tokens or the shortest one above it (word-level filler)."""
    words = (FILLER * (length // 20 + 2)).split()
    lo, hi = 1, len(words)
    while lo < hi:  # fewest words whose chat prompt reaches length
        mid = (lo + hi) // 2
        if len(tokenizer.encode_chat([{"role": "user", "content": " ".join(words[:mid])}])) >= length:
            hi = mid
        else:
            lo = mid + 1
    return tokenizer.encode_chat([{"role": "user", "content": " ".join(words[:lo])}])


def transformers_row(gguf_path: Any) -> Row:
    """transformers' Llama loaded from the same GGUF (dequantized to fp32), its own KV cache, and
    logits only for the last prompt position as its generate() does."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging
    except ImportError as err:
        return Row("transformers eager (fp32)", None, note=f"skipped: {err}", ours=False)
    hf_logging.disable_progress_bar()  # the table is the output; the GGUF reader's own bar goes to stderr
    with contextlib.redirect_stderr(io.StringIO()):
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                     dtype=torch.float32).eval()

    @torch.inference_mode()
    def generate(ids: list[int], n: int) -> Iterator[int]:
        out = model(torch.tensor([ids]), use_cache=True, logits_to_keep=1)
        for _ in range(n):
            token = int(out.logits[0, -1].argmax())
            yield token
            out = model(torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)

    @torch.inference_mode()
    def argmaxes(ids: list[int], follow: list[int]) -> list[int]:
        return full_forward_argmaxes(lambda x: model(x).logits, ids, follow)

    return Row("transformers eager (fp32)", generate, argmaxes, "baseline", ours=False)


def llama_cpp_row(gguf_path: Any, threads: int) -> Row:
    """llama.cpp on the original Q4_1 file, as the reference; timed in its own process (see the module
    docstring), so its row is filled by ``llama_cpp_measure`` rather than by the interleaved loop."""
    try:
        import llama_cpp  # noqa: F401  (located here, run in a child process)
    except ImportError:
        return Row("llama.cpp (Q4_1 GGUF)", None, note="skipped: llama-cpp-python is not installed (BENCHMARKS.md)",
                   ours=False)
    return Row("llama.cpp (Q4_1 GGUF)", None, note=f"reference, own process, {threads} threads, default waiting",
               ours=False)


def llama_cpp_measure(row: Row, gguf_path: Any, threads: int, chat_ids: list[int], ttft_ids: list[int],
                      new_tokens: int, reference: list[int]) -> None:
    """One timed round of ``row`` in a child process that runs llama.cpp without this process's OMP
    settings (a new process per round, so the rounds interleave with the other rows')."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    job = {"gguf": str(gguf_path), "threads": threads, "chat": chat_ids, "ttft": ttft_ids, "n": new_tokens,
           "rounds": 1, "reference": reference}
    done = subprocess.run([sys.executable, "-m", "bench.decode", "--llama-cpp-child"], input=json.dumps(job),
                          capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        row.note = f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
        return
    result = json.loads(done.stdout.strip().splitlines()[-1])
    row.tok_per_s += result["tok_per_s"]
    row.ttft_s += result["ttft_s"]
    row.tokens, row.agreement = row.tokens or result["tokens"], result["agreement"]
    if result["settings"] not in row.note:
        row.note += f"; {result['settings']}"


def llama_cpp_child() -> None:
    """The child's side: read the job on stdin, print one JSON line."""
    import llama_cpp

    job = json.loads(sys.stdin.read())
    llm = llama_cpp.Llama(model_path=job["gguf"], n_ctx=1024, n_threads=job["threads"],
                          n_threads_batch=job["threads"], logits_all=True, verbose=False)

    def generate(ids: list[int], n: int) -> Iterator[int]:
        llm.reset()  # no prefix of an earlier call is reused
        for i, token in enumerate(llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True)):
            yield int(token)
            if i + 1 == n:
                return

    timed(generate, job["chat"], 4)  # warm-up
    speeds, ttfts, tokens = [], [], []
    for _ in range(job["rounds"]):
        got, _, decode_s = timed(generate, job["chat"], job["n"])
        tokens = tokens or got
        speeds.append((len(got) - 1) / decode_s)
        ttfts.append(timed(generate, job["ttft"], 1)[1])
    reference = job["reference"]
    llm.reset()
    llm.eval(job["chat"] + reference[:-1])  # teacher-forced: top-1 after the prompt and each prefix
    scores = np.asarray(llm.scores[len(job["chat"]) - 1:len(job["chat"]) + len(reference) - 1])
    agreement = float(np.mean(scores.argmax(-1) == np.asarray(reference)))
    settings = (f"llama-cpp-python {llama_cpp.__version__}, OMP_WAIT_POLICY="
                f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(json.dumps({"tok_per_s": speeds, "ttft_s": ttfts, "tokens": tokens, "agreement": agreement,
                      "settings": settings}))


def app_path_rows(threads: int) -> list[Row]:
    """What `hope chat` decodes with, on a user who has chatted and slept: ``runtime.decoding`` at the
    default precision, and eager torch over the same merged weights (the app's path before issue 12).
    The slept factors have the default model's shapes (rank 16 on layers 20-29) and seeded values; the
    wake deltas come from a real online step on one exchange."""
    from personal_nl.user_state import merge
    from runtime.brain import Brain
    from runtime.decoding import Decoding, OnnxReader, TorchReader
    from runtime.settings import PRECISIONS
    from runtime.state import UserState, learn_exchange

    brain = Brain.default()
    model = brain.model
    initial = UserState.initial(model, brain.sleep, seed=7)
    gen = torch.Generator().manual_seed(7)
    factors = {k: torch.randn(v.shape, generator=gen) * 0.02 if k.endswith(".u") else v
               for k, v in initial.factors.items()}
    exchange = brain.tokenizer.encode_chat([{"role": "user", "content": "My sister Lena moved to Bergen last spring."},
                                            {"role": "assistant", "content": "That sounds like a big move!"}],
                                           add_generation_prompt=False)
    state = learn_exchange(model, UserState(initial.wake, factors), exchange)
    started = time.perf_counter()
    decoding = Decoding(brain, PRECISIONS[0], threads=threads)
    app = decoding.reader(state)
    setup_s = time.perf_counter() - started
    eager = TorchReader(merge(model, state.deltas(model)))
    rows = []
    for label, reader, note in ((f"app path ({decoding.backend} {PRECISIONS[0]}, user state)", app,
                                 "what hope chat runs; agreement vs eager torch with the same state"),
                                ("torch eager (fp32), user state", eager, "the app before issue 12")):
        def generate(ids: list[int], n: int, reader: Any = reader) -> Iterator[int]:
            return reader.stream(ids, Sampling(max_new_tokens=n), None)

        if isinstance(reader, OnnxReader):
            def argmaxes(ids: list[int], follow: list[int], reader: Any = reader) -> list[int]:
                return forced_argmaxes(reader.decoder, reader.feeds, ids, follow)
        else:
            def argmaxes(ids: list[int], follow: list[int], reader: Any = reader) -> list[int]:
                return full_forward_argmaxes(lambda x: reader.model(x).logits, ids, follow)
        rows.append(Row(label, generate, argmaxes, note, ours=False, setup_s=setup_s if reader is app else None))
    return rows


def forced_argmaxes(decoder: OnnxDecoder, feeds: dict, ids: list[int], follow: list[int]) -> list[int]:
    """Top-1 after the prompt and after each teacher-forced token, one decode step at a time."""
    logits, cache = decoder.forward(np.asarray([ids]), decoder.initial_cache(), feeds)
    out = [int(logits[0].argmax())]
    for token in follow[:-1]:
        logits, cache = decoder.forward(np.asarray([[token]]), cache, feeds)
        out.append(int(logits[0].argmax()))
    return out


def onnx_rows(model: Any, weights_id: str, threads: int, *, quick: bool = False) -> list[Row]:
    rows = []
    for precision, online_layers, label in (("fp32", None, "onnxruntime fp32"),
                                            ("int8", None, "onnxruntime int8 dynamic"),
                                            ("int8w", None, "onnxruntime int8 weight-only (MatMulNBits)"),
                                            ("int4", None, "onnxruntime int4 (MatMulNBits)"),
                                            ("int4", (), "onnxruntime int4, no delta inputs")):
        if quick and (precision == "int8" or online_layers == ()):
            continue
        started = time.perf_counter()
        path = cached_export(model, precision=precision, online_layers=online_layers, weights_id=weights_id)
        decoder = OnnxDecoder(path, threads=threads, spinning=spinning())
        setup_s = time.perf_counter() - started
        note = f"{path.stat().st_size / 1e6:.0f} MB graph"
        if online_layers is not None:
            note += "; cannot learn online, not counted"
        print(f"  {label}: ready in {setup_s:.0f} s (export and quantization are cached)", flush=True)

        feeds = decoder.feeds(None)  # made once, as the app makes them once per user state

        def generate(ids: list[int], n: int, decoder: OnnxDecoder = decoder, feeds: dict = feeds) -> Iterator[int]:
            return decoder.stream(ids, Sampling(max_new_tokens=n), None, feeds)

        def argmaxes(ids: list[int], follow: list[int], decoder: OnnxDecoder = decoder, feeds: dict = feeds
                     ) -> list[int]:
            return forced_argmaxes(decoder, feeds, ids, follow)

        rows.append(Row(label, generate, argmaxes, note, ours=online_layers is None, setup_s=setup_s))
    return rows


@torch.inference_mode()
def full_forward_argmaxes(logits_of: Callable[[torch.Tensor], torch.Tensor], ids: list[int],
                          follow: list[int]) -> list[int]:
    """Top-1 after the prompt and after each prefix of ``follow``, from one causal forward."""
    logits = logits_of(torch.tensor([ids + follow[:-1]]))[0, len(ids) - 1:]
    return logits.argmax(-1).tolist()


def first_divergence(tokens: Sequence[int], reference: Sequence[int]) -> int | None:
    return next((i for i, (a, b) in enumerate(zip(tokens, reference)) if a != b),
                None if len(tokens) == len(reference) else min(len(tokens), len(reference)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 new tokens, one round")
    parser.add_argument("--threads", type=int, default=2, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per row (default 3, quick 1)")
    parser.add_argument("--json", metavar="PATH", help="write the full record here")
    parser.add_argument("--skip-baselines", action="store_true",
                        help="leave out transformers, int8 dynamic and no-delta rows (the app-path comparison)")
    parser.add_argument("--llama-cpp-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.llama_cpp_child:
        return llama_cpp_child()
    new_tokens = 32 if args.quick else 128
    rounds = args.rounds or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    gguf_path = find_default_gguf()
    imported = load_default_model()
    model = with_online_learning(imported.model).eval()
    tokenizer = imported.tokenizer
    chat_ids, ttft_ids = tokenizer.encode_chat(CHAT), long_prompt(tokenizer, TTFT_TOKENS)
    env = environment(["torch", "transformers", "onnxruntime", "onnx", "onnxscript", "llama-cpp-python"],
                      threads=f"torch {torch.get_num_threads()}, onnxruntime intra-op {args.threads}",
                      waiting=f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, onnxruntime allow_spinning="
                              f"{int(spinning())}",
                      model=f"{gguf_path.name} as Hope-Attention (online CMS on layers 27-29, no deltas yet)",
                      run=f"B=1, greedy, no stop tokens; {len(chat_ids)}-token chat prompt + {new_tokens} new "
                          f"tokens; TTFT on a {len(ttft_ids)}-token chat prompt; median of {rounds} rounds, "
                          "rows interleaved")
    print_header("decode: the default model on the CPU, B=1", env)
    print("preparing runtimes", flush=True)
    weights_id = default_weights_id(imported)

    def ours(ids: list[int], n: int) -> Iterator[int]:
        return stream(model, ids, Sampling(max_new_tokens=n))

    def ours_argmaxes(ids: list[int], follow: list[int]) -> list[int]:
        return full_forward_argmaxes(lambda x: model(x).logits, ids, follow)

    app_rows = app_path_rows(args.threads)
    app_rows[0].reference = app_rows[1].reference = app_rows[1].name
    rows = [*([] if args.skip_baselines else [transformers_row(gguf_path)]),
            Row("ours, torch eager (fp32)", ours, ours_argmaxes),
            *onnx_rows(model, weights_id, args.threads, quick=args.skip_baselines), *app_rows,
            llama_cpp_row(gguf_path, args.threads)]
    live = [r for r in rows if r.generate is not None]
    for row in live:  # warm-up: first calls allocate and pick kernels
        timed(row.generate, chat_ids, 4)
    print(f"timing ({time.perf_counter() - started:.0f} s so far)", flush=True)
    torch_row, llama = next(r for r in rows if r.name.startswith("ours, torch")), rows[-1]
    for _ in range(rounds):  # interleaved, so a burst of load from elsewhere hits every row alike
        for row in live:
            tokens, _, decode_s = timed(row.generate, chat_ids, new_tokens)
            row.tokens = row.tokens or tokens
            row.tok_per_s.append((len(tokens) - 1) / decode_s)
            row.ttft_s.append(timed(row.generate, ttft_ids, 1)[1])
        if llama.note.startswith("reference"):  # one round in a child process per round of the others
            llama_cpp_measure(llama, gguf_path, args.threads, chat_ids, ttft_ids, new_tokens, torch_row.tokens)

    reference = torch_row.tokens
    print("teacher-forced agreement", flush=True)
    by_name = {r.name: r for r in rows}
    for row in live:
        if row.argmaxes is not None:
            ref = by_name[row.reference].tokens if row.reference else reference
            row.agreement = statistics.mean(a == b for a, b in zip(row.argmaxes(chat_ids, ref), ref))
    baseline = rows[0]
    base_speed = statistics.median(baseline.tok_per_s) if baseline.tok_per_s else None
    records, table = [], []
    for row in rows:
        speed = statistics.median(row.tok_per_s) if row.tok_per_s else None
        ttft = statistics.median(row.ttft_s) if row.ttft_s else None
        ratio = speed / base_speed if speed and base_speed else None
        ref = by_name[row.reference].tokens if row.reference else reference
        diverges = first_divergence(row.tokens, ref) if row.tokens else None
        matches = None if not row.tokens else ("yes" if diverges is None else "no")
        records.append({"runtime": row.name, "tok_per_s": speed, "ttft_ms": ttft and 1e3 * ttft,
                        "x_transformers": ratio, "greedy_matches_fp32": matches, "first_divergence": diverges,
                        "top1_agreement_teacher_forced": row.agreement,
                        "note": row.note, "counts_for_headline": row.ours, "setup_s": row.setup_s,
                        "rounds_tok_per_s": row.tok_per_s,
                        "text": tokenizer.decode(row.tokens) if row.tokens else None})
        agreement = f"{100 * row.agreement:.0f}%" if row.agreement is not None else None
        table.append([row.name, speed, ttft and 1e3 * ttft, ratio, matches or "skipped", diverges, agreement,
                      row.note])
    print()
    print(format_table(["runtime", "tok/s", f"TTFT ms ({len(ttft_ids)} tok)", "x transformers",
                        "greedy = ours fp32", "first divergence", "top-1 = fp32 (forced)", "note"], table))
    print()
    load = os.getloadavg()
    busy = " (more runnable processes than cores: timings inflated)" if load[0] > (os.cpu_count() or 1) else ""
    print("load avg after: {:.2f} {:.2f} {:.2f}".format(*load) + busy)
    best = max((r["x_transformers"] for r, row in zip(records, rows) if row.ours and r["x_transformers"]), default=0.0)
    if args.json:
        write_json(args.json, {**env, "load avg after": "{:.2f} {:.2f} {:.2f}".format(*load), "rows": records,
                               "best_speedup_vs_transformers": best})
    print(f"best speedup vs transformers: {best:.1f}x")
    app, eager = (statistics.median(r.tok_per_s) for r in app_rows)
    if llama.tok_per_s:
        print(f"app path vs llama.cpp: {app / statistics.median(llama.tok_per_s):.2f}x")
    else:
        print("app path vs llama.cpp: - (llama-cpp-python is not installed)")
    print(f"app path vs torch eager: {app / eager:.2f}x")


if __name__ == "__main__":
    main()
