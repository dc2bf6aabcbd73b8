"""Which of the default model's MLPs should learn online, at which rate? Measured, not guessed.

For each candidate (a set of layers whose MLP becomes an online CMS level, and a learning rate) the
converted SmolLM2 reads a short chat turn that states a made-up fact, once, the way the runtime's
wake step does (``learn.online_forward`` then ``learn.finish``). We report, against the unchanged
model: the drop in loss on the turn it read, the gain in log-probability of the fact's answer asked
in a fresh context (no fact in the prompt), the drift of loss on held-out reference prose, and the
size of the user state. Three layers at most keep the fp32 state within 32 MB.

    python -m bench.online_assignment [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bench._report import environment, format_table, print_header, write_json
from personal_nl import learn, user_state
from personal_nl.default_model import ONLINE_PERIOD, load_default_model, with_online_learning

FACTS = [  # (what the user says, a question in a fresh chat, the answer's first words)
    ("My dog is called Quibbleton and he is a grey whippet.", "What is my dog called?",
     " Your dog is called Quibbleton"),
    ("I live in the village of Ostravel, near the coast.", "Where do I live?", " You live in Ostravel"),
    ("My favourite dessert is cardamom rhubarb tart.", "What is my favourite dessert?",
     " Your favourite dessert is cardamom rhubarb tart"),
]
PERIOD = ONLINE_PERIOD


def candidates(n_layers: int, quick: bool) -> list[tuple[str, tuple[int, ...], float]]:
    sets = {"early": (2, 3, 4), "middle": (13, 14, 15), "late": (n_layers - 3, n_layers - 2, n_layers - 1),
            "spread": (5, 15, 25)}
    rates = (3e-4,) if quick else (1e-4, 3e-4, 1e-3)
    names = ("middle", "late") if quick else tuple(sets)
    return [(name, sets[name], lr) for name in names for lr in rates]




def token_loss(model, ids: list[int], deltas=None, answer_from: int = 1) -> float:
    """Mean next-token loss over ids[answer_from:] given everything before."""
    x = torch.tensor([ids])
    state = user_state.fresh(model, deltas) if deltas is not None else None
    with torch.no_grad():
        logits = model(x, state).logits[0, :-1]
    return F.cross_entropy(logits[answer_from - 1:], x[0, answer_from:]).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    started = time.perf_counter()
    imported = load_default_model()
    base, tok = imported.model.eval(), imported.tokenizer
    from pydoc_data.topics import topics
    held_out = tok.encode(topics["assert"][:1200], add_special_tokens=False)[:200]
    facts = FACTS[:2] if args.quick else FACTS
    turns = [tok.encode_chat([{"role": "user", "content": said}], add_generation_prompt=False) for said, _, _ in facts]
    probes = []
    for _, question, answer in facts:
        prompt = tok.encode_chat([{"role": "user", "content": question}])
        probes.append((prompt + tok.encode(answer, add_special_tokens=False), len(prompt)))
    ref_turn = [token_loss(base, t) for t in turns]
    ref_probe = [token_loss(base, ids, answer_from=k) for ids, k in probes]
    ref_held = token_loss(base, held_out)

    rows, record = [], []
    for name, layers, lr in candidates(base.cfg.n_layers, args.quick):
        model = with_online_learning(base, layers, lr, PERIOD)
        turn_gain, probe_gain, drift, size = [], [], [], 0
        for turn, (ids, k), r_turn, r_probe in zip(turns, probes, ref_turn, ref_probe):
            _, _, state = learn.online_forward(model, torch.tensor([turn]), learn.start(model))
            deltas = learn.finish(model, state).model.cms
            size = user_state.size_bytes(deltas)
            turn_gain.append(r_turn - token_loss(model, turn, deltas))
            probe_gain.append(r_probe - token_loss(model, ids, deltas, answer_from=k))
            drift.append(token_loss(model, held_out, deltas) - ref_held)
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        row = {"layers": name, "lr": lr, "turn loss drop": mean(turn_gain), "answer loss drop": mean(probe_gain),
               "held-out drift": mean(drift), "state MB": size / 2**20}
        record.append({**row, "layer_ids": list(layers)})
        rows.append([name, f"{list(layers)}", f"{lr:.0e}", f"{row['turn loss drop']:+.3f}",
                     f"{row['answer loss drop']:+.3f}", f"{row['held-out drift']:+.4f}", f"{row['state MB']:.1f}"])
    env = environment(["torch", "gguf"], threads=torch.get_num_threads())
    print_header("online CMS assignment for the default model (nats/token; drops: + is better, drift: + is worse)",
                 env)
    print(format_table(["set", "layers", "lr", "turn loss drop", "answer loss drop", "held-out drift", "state MB"],
                       rows))
    best = max(record, key=lambda r: r["answer loss drop"] - 10 * max(0.0, r["held-out drift"]))
    print(f"reference: turn loss {sum(ref_turn) / len(ref_turn):.3f}, "
          f"answer loss {sum(ref_probe) / len(ref_probe):.3f}, held-out {ref_held:.3f}; "
          f"{time.perf_counter() - started:.0f} s")
    print(f"best: layers {best['layer_ids']} lr {best['lr']:.0e}: answer loss drop {best['answer loss drop']:+.3f}, "
          f"drift {best['held-out drift']:+.4f}")
    if args.json:
        write_json(args.json, {"environment": env, "rows": record, "best": best})


if __name__ == "__main__":
    main()
