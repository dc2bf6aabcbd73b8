"""HopeConfig: every size and every decision the Hope spec leaves open, as one frozen value.

Presets are functions (``tiny()``, ``small_3m()``, ``small_20m()``, ``hope_340m()``); a config
round-trips through JSON so a checkpoint names exactly the model it holds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Mixer = Literal["titans", "attention", "hybrid"]


@dataclass(frozen=True)
class CMSLevel:
    """One Continuum Memory System level: a SwiGLU MLP whose weights change every ``period`` tokens.

    ``online`` levels (tier B, period < context) take an LM-loss gradient step of size ``lr`` at
    chunk boundaries while reading; with ``lr`` 0 they never move while reading, and their θ₀ is an
    ordinary MLP trained by the outer loop. The others (tier C) are multi-rate outer-optimizer levels
    stepped every ``period`` tokens of training at optimizer learning rate ``lr``; 0 freezes them.
    """

    period: int
    lr: float
    hidden: int
    online: bool = True


@dataclass(frozen=True)
class TitansConfig:
    """The self-modifying Titans mixer (hope-spec §2 and its decisions register)."""

    memory: Literal["mlp", "linear"] = "mlp"
    hidden_mult: int = 1  # MLP memory hidden width = hidden_mult · head_dim
    chunk_mem: int = 16  # C_mem: tokens between snapshots of M_mem
    chunk_other: int = 16  # C_other: tokens between snapshots of M_k, M_v, M_η, M_α
    eta_max: float = 0.1  # η = η_max · sigmoid(·); Titans-scale steps (at 0.5+ with momentum fast weights blew up)
    eta_init: float = 0.01
    alpha_init: float = 0.99  # α ≈ 0.99 at init (decisions register)
    momentum: bool = True
    momentum_init: float = 0.9
    intra_chunk_read: Literal["snapshot", "dual_form"] = "snapshot"
    dgd_mode: Literal["literal", "delta_only"] = "literal"
    adaptive_q: bool = False
    conv_width: int = 4
    inner_clip: float = 1.0  # max norm of one token's inner error (see titans.py): keeps fast weights bounded


@dataclass(frozen=True)
class HopeConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    max_seq_len: int
    mixers: tuple[Mixer, ...]
    cms: tuple[tuple[CMSLevel, ...], ...]  # per layer, applied high → low frequency
    n_kv_heads: int | None = None  # grouped-query attention; None = n_heads
    head_dim: int | None = None  # None = d_model // n_heads
    titans: TitansConfig = field(default_factory=TitansConfig)
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    def __post_init__(self) -> None:
        if self.d_model <= 0 or self.n_layers <= 0 or self.n_heads <= 0 or self.vocab_size <= 0:
            raise ValueError("vocab_size, d_model, n_layers and n_heads must be positive")
        if len(self.mixers) != self.n_layers or len(self.cms) != self.n_layers:
            raise ValueError(f"mixers and cms need one entry per layer ({self.n_layers}), "
                             f"got {len(self.mixers)} and {len(self.cms)}")
        bad = [m for m in self.mixers if m not in ("titans", "attention", "hybrid")]
        if bad:
            raise ValueError(f"mixers must be titans, attention or hybrid, got {bad[0]!r}")
        if self.kv_heads <= 0 or self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.kv_heads})")
        if self.head_dim is None and self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must divide by n_heads ({self.n_heads}) or set head_dim")
        t = self.titans
        if "titans" in self.mixers or "hybrid" in self.mixers:
            if self.n_heads * self.dim_head != self.d_model:
                raise ValueError("Titans memories slice the model width per head: n_heads · head_dim must "
                                 f"equal d_model ({self.n_heads} · {self.dim_head} != {self.d_model})")
            small, large = sorted((t.chunk_mem, t.chunk_other))
            if small <= 0 or large % small:
                raise ValueError(f"chunk sizes must be positive and one a multiple of the other, "
                                 f"got chunk_mem={t.chunk_mem}, chunk_other={t.chunk_other}")
            if t.intra_chunk_read == "dual_form" and t.memory != "linear":
                raise ValueError("intra_chunk_read='dual_form' is only defined for linear memories")
            if t.dgd_mode == "delta_only" and t.memory != "linear":
                raise ValueError("dgd_mode='delta_only' is only defined for linear memories")
            if t.inner_clip <= 0:
                raise ValueError(f"inner_clip must be positive, got {t.inner_clip}")
            if not 0 < t.eta_max <= 1 or not 0 < t.eta_init < t.eta_max or not 0 < t.alpha_init < 1:
                raise ValueError("need 0 < eta_init < eta_max ≤ 1 and 0 < alpha_init < 1")
        for levels in self.cms:
            for level in levels:
                if level.period <= 0 or level.hidden <= 0 or level.lr < 0:
                    raise ValueError(f"CMS level needs period > 0, hidden > 0 and lr ≥ 0, got {level}")

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.d_model // self.n_heads

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HopeConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HopeConfig:
        data = dict(data)
        try:
            data["titans"] = TitansConfig(**data.get("titans", {}))
            data["cms"] = tuple(tuple(CMSLevel(**lvl) for lvl in levels) for levels in data["cms"])
            data["mixers"] = tuple(data["mixers"])
            return cls(**data)
        except (TypeError, KeyError) as err:
            raise ValueError(f"not a HopeConfig: {err}") from None


def _uniform(n_layers: int, mixer: Mixer, levels: tuple[CMSLevel, ...]) -> dict[str, Any]:
    return {"n_layers": n_layers, "mixers": (mixer,) * n_layers, "cms": (levels,) * n_layers}


def tiny(mixer: Mixer = "titans", vocab_size: int = 259) -> HopeConfig:
    """For tests: 2 layers of width 32, two online CMS levels (periods 8 and 16)."""
    levels = (CMSLevel(period=8, lr=1e-2, hidden=48), CMSLevel(period=16, lr=1e-2, hidden=48))
    return HopeConfig(vocab_size=vocab_size, d_model=32, n_heads=4, max_seq_len=256,
                      titans=TitansConfig(chunk_mem=8, chunk_other=4), **_uniform(2, mixer, levels))


def small_3m(mixer: Mixer = "titans", vocab_size: int = 259) -> HopeConfig:
    """~3M parameters: trains on a laptop CPU at several thousand tokens per second."""
    levels = (CMSLevel(period=64, lr=1e-3, hidden=512), CMSLevel(period=256, lr=1e-3, hidden=512))
    return HopeConfig(vocab_size=vocab_size, d_model=192, n_heads=6, max_seq_len=512,
                      titans=TitansConfig(chunk_mem=16, chunk_other=16), **_uniform(4, mixer, levels))


def small_20m(mixer: Mixer = "titans", vocab_size: int = 259) -> HopeConfig:
    """~20M parameters: the largest preset meant for CPU training."""
    levels = (CMSLevel(period=128, lr=1e-3, hidden=768), CMSLevel(period=512, lr=1e-3, hidden=768))
    return HopeConfig(vocab_size=vocab_size, d_model=384, n_heads=6, max_seq_len=1024,
                      titans=TitansConfig(chunk_mem=64, chunk_other=16), **_uniform(8, mixer, levels))


def hope_340m(vocab_size: int = 32000) -> HopeConfig:
    """340M-class GPU preset (research/hope.md App. C); documented, not trained here."""
    levels = (CMSLevel(period=512, lr=1e-4, hidden=2048), CMSLevel(period=2048, lr=1e-4, hidden=2048),
              CMSLevel(period=1 << 20, lr=1e-4, hidden=2048, online=False))
    return HopeConfig(vocab_size=vocab_size, d_model=1024, n_heads=16, max_seq_len=4096,
                      titans=TitansConfig(chunk_mem=64, chunk_other=16), **_uniform(24, "titans", levels))


PRESETS = {"tiny": tiny, "small_3m": small_3m, "small_20m": small_20m, "hope_340m": hope_340m}


def preset(name: str, **overrides: Any) -> HopeConfig:
    """A named preset, optionally with fields replaced."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name](), **overrides) if overrides else PRESETS[name]()
