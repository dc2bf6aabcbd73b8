"""The Hope-vs-baselines benchmark end to end on a tiny budget: it trains all three models, prints
one table and a summary, and keeps the record as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch

from bench._hope_models import build_configs, param_count
from bench.hope_vs_baselines import main


@pytest.fixture(autouse=True)
def _threads_restored() -> Iterator[None]:
    """main() sets the torch thread count; leave the rest of the suite as it was."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_models_are_parameter_matched_within_ten_percent() -> None:
    counts = {name: param_count(cfg) for name, cfg in build_configs().items()}
    assert max(counts.values()) / min(counts.values()) <= 1.10, counts
    configs = build_configs()
    assert configs["Hope"].mixers[0] == configs["Titans"].mixers[0] == "titans"
    assert configs["Transformer++"].mixers[0] == "attention"
    assert all(level.lr > 0 and level.online for level in configs["Hope"].cms[0])
    assert [level.lr for level in configs["Titans"].cms[0]] == [0.0]


def test_quick_path_prints_one_table_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "record.json"
    main(["--quick", "--steps", "2", "--eval-batches", "1", "--tasks", "parity,ctnl,text", "--json", str(out)])
    printed = capsys.readouterr().out
    for needle in ("command: python", "within ±10%", "parity len 33-64", "ctnl lang B (second)", "text (pydoc)",
                   "Hope vs Transformer++:"):
        assert needle in printed
    record = json.loads(out.read_text())
    rows = record["rows"]
    assert {r["model"] for r in rows} == {"Hope", "Titans", "Transformer++"}
    assert len(rows) == 3 * 5  # parity, parity long, ctnl A and B, text
    assert len({r["tokens"] for r in rows if r["task"] == "text (pydoc)"}) == 1  # equal tokens
    assert all(r["metric"] == "ppl" or 0 <= r["value"] <= 100 for r in rows)
    by_task = {r["task"]: r for r in rows if r["model"] == "Hope"}
    assert by_task["text (pydoc)"]["n"] == 32 * 128  # one eval batch of 32 windows, every token scored once
    assert by_task["parity"]["n"] == by_task["parity len 33-64"]["n"] == 32  # one answer per row
    assert by_task["ctnl lang A (first)"]["n"] == by_task["ctnl lang B (second)"]["n"] == 32 * 4 * 3
    assert all(len(run["losses"]) == 2 for run in record["runs"])
