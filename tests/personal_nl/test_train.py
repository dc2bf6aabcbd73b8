"""The trainer: bit-for-bit determinism and resume, learning, tier-C CMS cadence, and the entry point."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from personal_nl.checkpoint import load_checkpoint
from personal_nl.config import CMSLevel, tiny
from personal_nl.model import HopeLM
from personal_nl.optim import MultiRateAdamW, lr_scale
from personal_nl.train import TRAINER_STATE, TrainConfig, main, train


def _with_slow_level(cfg, period: int, lr: float = 1e-3):
    """tiny plus one cross-step (tier-C) CMS level per block."""
    levels = cfg.cms[0] + (CMSLevel(period=period, lr=lr, hidden=32, online=False),)
    return replace(cfg, cms=(levels,) * cfg.n_layers)


class Interrupted(Exception):
    pass


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine a second
    thread waiting for a core stalls every small op."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_same_seed_same_loss_trajectory_bit_for_bit():
    cfg = tiny("titans")  # titans mixer and online CMS levels: the longest code path
    tc = TrainConfig(steps=3, task="mqar", batch_size=2, seed=5, eval_batches=1)
    a, b = train(cfg, tc), train(cfg, tc)
    assert a.losses == b.losses and len(a.losses) == 3
    assert a.evals == b.evals
    c = train(cfg, replace(tc, seed=6))
    assert c.losses != a.losses


def test_resume_continues_exactly(tmp_path):
    # 4 rows × 33 tokens per step; a slow level of period 264 steps every 2nd step, so the
    # checkpoint at step 3 holds an accumulated, not yet applied gradient
    cfg = _with_slow_level(tiny("attention"), period=264)
    tc = TrainConfig(steps=6, task="mqar", batch_size=4, checkpoint_every=3, seed=1, eval_every=2, eval_batches=1)
    straight = train(cfg, tc, out=tmp_path / "straight")

    def crash_after_third(message: str, step: int, steps: int) -> None:
        if step == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(cfg, tc, out=tmp_path / "resumed", on_progress=crash_after_third)
    _, extra = load_checkpoint(tmp_path / "resumed")
    assert extra["step"] == 3 and (tmp_path / "resumed" / TRAINER_STATE).is_file()
    resumed = train(resume=tmp_path / "resumed", out=tmp_path / "resumed")
    assert resumed.losses == straight.losses
    assert resumed.evals == straight.evals
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name
    saved, _ = load_checkpoint(tmp_path / "resumed")
    assert torch.equal(saved.embed.weight, straight.model.embed.weight)


def test_loss_drops_on_associative_recall():
    tc = TrainConfig(steps=80, task="mqar", batch_size=32, lr=3e-3, seed=0, online_cms=False, eval_batches=2)
    result = train(tiny("attention"), tc)
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < 0.85 * first, (first, last)
    assert result.evals[-1][1] < 0.85 * first


def test_online_cms_training_learns_and_moves_online_theta0():
    cfg = tiny("attention")
    tc = TrainConfig(steps=4, task="mqar", batch_size=4, lr=3e-3, seed=0, online_cms=True, eval_batches=1)
    torch.manual_seed(tc.seed)
    before = HopeLM(cfg).blocks[0].cms.levels[0].mlp.down.detach().clone()
    result = train(cfg, tc)
    assert not torch.equal(result.model.blocks[0].cms.levels[0].mlp.down, before)
    assert all(torch.isfinite(torch.tensor(result.losses)))


def test_tier_c_level_steps_only_at_its_period():
    torch.manual_seed(0)
    cfg = _with_slow_level(tiny("attention"), period=96)  # 2 rows × 16 tokens = 32 per step: every 3rd step
    model = HopeLM(cfg)
    opt = MultiRateAdamW(model, lr=1e-2, tokens_per_step=32)
    slow = {id(p) for b in model.blocks for p in b.cms.levels[-1].parameters()}
    assert [s.every for s in opt.slow] == [3]
    names = {id(p): n for n, p in model.named_parameters()}
    changed_at = {n: [] for n in names.values()}
    for step in range(7):
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        ids = torch.randint(0, 256, (2, 17))
        model(ids[:, :-1], targets=ids[:, 1:]).loss.backward()
        opt.step(step, 1.0)
        for n, p in model.named_parameters():
            if not torch.equal(p, before[n]):
                changed_at[n].append(step + 1)
    for pid, name in names.items():
        if pid in slow:
            assert changed_at[name] == [3, 6], name
        elif "cms.levels.2" not in name:
            assert changed_at[name] == list(range(1, 8)), name


def test_lr_zero_tier_c_level_stays_at_theta0():
    torch.manual_seed(0)
    model = HopeLM(_with_slow_level(tiny("attention"), period=32, lr=0.0))
    frozen = model.blocks[0].cms.levels[-1].mlp.up.detach().clone()
    opt = MultiRateAdamW(model, lr=1e-2, tokens_per_step=32)
    for step in range(2):
        ids = torch.randint(0, 256, (2, 17))
        model(ids[:, :-1], targets=ids[:, 1:]).loss.backward()
        opt.step(step, 1.0)
    assert torch.equal(model.blocks[0].cms.levels[-1].mlp.up, frozen)


def test_weight_decay_only_on_matrices():
    opt = MultiRateAdamW(HopeLM(tiny("attention")), lr=1e-3, tokens_per_step=64)
    for group in opt.main.param_groups:
        dims = {p.dim() for p in group["params"]}
        assert (group["weight_decay"] > 0) == (min(dims) >= 2)


def test_schedule_warms_up_then_decays_to_floor():
    scales = [lr_scale(s, warmup=10, total=100, min_ratio=0.1) for s in range(100)]
    assert scales[0] == pytest.approx(0.1) and scales[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(scales[9:], scales[10:]))
    assert lr_scale(100, warmup=10, total=100, min_ratio=0.1) == pytest.approx(0.1)


@pytest.mark.parametrize("bad", [dict(task="sorting"), dict(steps=0), dict(parallel="zero")])
def test_train_config_refuses_bad_values(bad):
    with pytest.raises(ValueError, match=str(list(bad.values())[0])):
        TrainConfig(**bad)


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--preset", "--steps", "--task", "--resume", "--online-cms", "--eval-every"):
        assert flag in out


def test_cli_three_steps_write_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    main(["--preset", "tiny", "--mixer", "attention", "--task", "parity", "--steps", "3", "--batch-size", "4",
          "--out", str(out), "--log-every", "1", "--eval-batches", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("step 1/3 | loss ") and "tok/s | lr " in lines[0]
    assert any(line.startswith("step 3/3") and "eval" in line for line in lines)
    model, extra = load_checkpoint(out)
    assert extra["step"] == 3 and len(extra["losses"]) == 3 and extra["train"]["task"] == "parity"
    assert model.cfg.mixers == ("attention", "attention")
    main(["--resume", str(out), "--steps", "4", "--log-every", "1"])
    assert "step 4/4" in capsys.readouterr().out
    assert load_checkpoint(out)[1]["step"] == 4
