"""The three models of ``bench.hope_vs_baselines``, built from HopeConfig and matched in parameters.

Hope is the self-modifying Titans mixer followed by two online CMS levels (tier B: they take an
LM-loss step every 16 and 64 tokens while reading, from θ₀ for every sequence). Titans is the same
mixer with one plain SwiGLU level whose online lr is 0 (an ordinary MLP trained by the outer
optimizer), as wide as Hope's two levels together. Transformer++ is RoPE attention with one SwiGLU
level, its hidden width solved so its total parameters match Hope's.
"""

from __future__ import annotations

from personal_nl.config import CMSLevel, HopeConfig, Mixer, TitansConfig
from personal_nl.model import HopeLM

MODELS = ("Hope", "Titans", "Transformer++")
BASELINE = "Transformer++"
# Hope's CMS (our choice, fixed before any run): periods high → low frequency, one online lr; the
# tiny preset's lr 1e-2. A period longer than a row (64 > MQAR's 33 tokens) never fires there.
HOPE_PERIODS = (16, 64)
HOPE_ONLINE_LR = 1e-2
CHUNK = 16  # C_mem = C_other (hope-spec §7: 16 to start)


def _config(mixer: Mixer, levels: tuple[CMSLevel, ...], *, d_model: int, n_layers: int, n_heads: int,
            max_seq_len: int) -> HopeConfig:
    return HopeConfig(vocab_size=259, d_model=d_model, n_layers=n_layers, n_heads=n_heads, max_seq_len=max_seq_len,
                      mixers=(mixer,) * n_layers, cms=(levels,) * n_layers,
                      titans=TitansConfig(chunk_mem=CHUNK, chunk_other=CHUNK))


def param_count(cfg: HopeConfig) -> int:
    """Parameters of the model ``cfg`` builds (tied head counted once)."""
    return HopeLM(cfg).num_params()


def build_configs(*, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                  max_seq_len: int = 256) -> dict[str, HopeConfig]:
    """Hope, Titans and Transformer++ at about Hope's parameter count (see the module docstring)."""
    shape = {"d_model": d_model, "n_layers": n_layers, "n_heads": n_heads, "max_seq_len": max_seq_len}
    hidden = 2 * d_model  # per Hope level; the two together are a 4·d MLP
    hope = _config("titans", tuple(CMSLevel(period=p, lr=HOPE_ONLINE_LR, hidden=hidden) for p in HOPE_PERIODS),
                   **shape)
    titans = _config("titans", (CMSLevel(period=HOPE_PERIODS[0], lr=0.0, hidden=len(HOPE_PERIODS) * hidden),),
                     **shape)
    # Attention and the Titans mixer differ in size, so widen (or narrow) the Transformer's MLP: each
    # SwiGLU hidden unit costs 3 · d_model weights per layer.
    probe = _config("attention", (CMSLevel(period=HOPE_PERIODS[0], lr=0.0, hidden=hidden),), **shape)
    extra = round((param_count(hope) - param_count(probe)) / (3 * d_model * n_layers))
    if hidden + extra <= 0:
        raise ValueError(f"attention alone outgrows Hope at d_model={d_model}; no Transformer++ MLP matches it")
    tpp = _config("attention", (CMSLevel(period=HOPE_PERIODS[0], lr=0.0, hidden=hidden + extra),), **shape)
    return {"Hope": hope, "Titans": titans, "Transformer++": tpp}
