"""Data parallelism: two gloo ranks on halves of each batch follow one process on the whole batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from personal_nl import distributed
from personal_nl.checkpoint import load_checkpoint
from personal_nl.config import tiny
from personal_nl.tasks import Batch
from personal_nl.train import TrainConfig, train

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_match_one_process_on_the_combined_batch(tmp_path):
    out = tmp_path / "ddp"
    args = ["--preset", "tiny", "--mixer", "attention", "--task", "mqar", "--steps", "5", "--batch-size", "8",
            "--lr", "3e-3", "--seed", "3", "--eval-batches", "1", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    launch = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
              "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "personal_nl.train", *args]
    run = subprocess.run(launch, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("step 5/5") == 1  # only rank 0 prints

    parallel, extra = load_checkpoint(out)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # online CMS is on by default for tiny: DDP wraps the online objective too
        single = train(tiny("attention"), TrainConfig(steps=5, task="mqar", batch_size=8, lr=3e-3, seed=3,
                                                       eval_batches=1))
    finally:
        torch.set_num_threads(threads)
    assert extra["losses"] == pytest.approx(single.losses, rel=1e-5)
    assert extra["losses"][-1] < extra["losses"][0]
    assert extra["evals"][-1][1] == pytest.approx(single.evals[-1][1], rel=1e-5)
    for (name, p), q in zip(single.model.state_dict().items(), parallel.state_dict().values()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=name)


def test_shard_gives_each_rank_its_own_rows():
    ids = torch.arange(12).view(6, 2)
    batch = Batch(ids, ids + 1, None)
    halves = [distributed.shard(batch, distributed.World(r, 3, r, torch.device("cpu"))) for r in range(3)]
    assert torch.equal(torch.cat([h.ids for h in halves]), ids)
    assert halves[1].group is None and torch.equal(halves[1].targets, ids[2:4] + 1)
    with pytest.raises(ValueError, match="6 rows"):
        distributed.shard(batch, distributed.World(0, 4, 0, torch.device("cpu")))


def test_single_process_world_and_wrap_are_no_ops():
    world = distributed.setup("cpu")
    assert (world.rank, world.size) == (0, 1) and distributed.is_main()
    module = torch.nn.Linear(2, 2)
    assert distributed.wrap(module, "ddp") is module
    assert distributed.mean(2.5) == 2.5
    with pytest.raises(ValueError, match="'zero'"):
        distributed.wrap(module, "zero")
