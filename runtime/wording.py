"""How the CLI and the app word a forget's plan, its receipt and a job's stages: one place, so the
confirmation and the receipt a person compares always say the same numbers in the same words."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runtime.assistant import ForgetPlan, ForgetReceipt, Verification
    from runtime.sleep import Progress

STAGES = {
    "replaying": "re-learning",
    "measuring before": "measuring what the model holds of it",
    "measuring after": "measuring again, to verify",
    "preparing": "preparing rehearsal text",
    "dreaming again": "re-dreaming a sleep",
    "consolidating again": "re-consolidating a sleep",
}
EXPOSURE_SLACK = 0.5  # bits: exposure is ranked among 63 variants, so it moves in steps near this size


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def stage(p: Progress) -> str:
    """'re-learning 3/7', 'shredding': a stage by name, with its count when it has one."""
    name = STAGES.get(p.stage, p.stage)
    return f"{name} {p.done}/{p.total}" if p.total else name


def duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min': an estimate, rounded as an estimate should be."""
    if seconds < 10:
        return "a few seconds"
    if seconds < 90:
        return f"about {round(seconds, -1):.0f} s"
    return f"about {round(seconds / 60):.0f} min"


def replay_words(plan: ForgetPlan) -> str:
    """What the replay re-learns: 're-learns 3 episodes and 1 sleep (4 steps of the log, about 2 min)'."""
    estimate = "" if plan.seconds is None else duration(plan.seconds)
    if not plan.replays:
        return "has nothing to re-learn, since nothing came after it" + (f" ({estimate} in all)" if estimate else "")
    parts = [plural(plan.episodes, "episode")] if plan.episodes else []
    if plan.sleeps:
        parts.append(plural(plan.sleeps, "sleep"))
    steps = plural(plan.replays, "step") + " of the log" + (f", {estimate}" if estimate else "")
    return f"re-learns {' and '.join(parts)} ({steps})"


def verdict(v: Verification) -> str:
    """What the measurement shows, in words first and numbers after."""
    level = max((v.exposure_base, *v.exposure_never_seen))
    if v.exposure_after <= level + EXPOSURE_SLACK:
        said = "verified: the model now holds it no more than a model that never saw it"
    else:
        said = "not verified: the model still holds more of it than a model that never saw it"
    return (f"{said} (exposure {v.exposure_before:.1f} → {v.exposure_after:.1f} bits, never seen "
            f"{level:.1f}; recall {v.strength_before:+.3f} → {v.strength_after:+.3f} nats/token over the base model)")


def receipt_summary(r: ForgetReceipt) -> str:
    """'forgotten: 1 record shredded with its key, …': what was done, in the plan's numbers."""
    return f"{'redacted' if r.replaced_by else 'forgotten'}: {receipt_done(r)}"


def receipt_done(r: ForgetReceipt) -> str:
    n = len(r.records_shredded)
    sleeps = f", {plural(r.sleeps_replayed, 'sleep')} among them" if r.sleeps_replayed else ""
    return (f"{plural(n, 'record')} shredded with {'its key' if n == 1 else 'their keys'}, "
            f"{plural(len(r.checkpoints_dropped), 'saved state')} derived from {'it' if n == 1 else 'them'} dropped, "
            f"{plural(r.episodes_replayed, 'step')} of the log re-learned{sleeps}, in {r.seconds:.0f} s")
