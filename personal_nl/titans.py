"""Self-modifying Titans, the fast-weight mixer of Hope (hope-spec §2).

Five per-head memories M_k, M_v, M_mem (vector out) and M_η, M_α (scalar out) read the block input
and write themselves with DGD + weight decay toward targets they generate (v̂_□ = M_□(v)). Inside a
chunk every key, value, gate, target, read and gradient uses the memory as it stood at the end of
the previous chunk (the *anchor*; chunk C_mem for M_mem, C_other for the rest); the writes
themselves run token by token in the running weights through ``kernels`` and stay in the autograd
graph, so the outer loss trains every memory's θ₀.

Weights are stored in the kernels' layout S = Wᵀ (input rows, output columns), all five memories
stacked along the head axis: [k, v, mem, η, α] for the input weight of an MLP memory.
For an MLP memory M(z) = z + W1 σ(W2 z) (no residual for scalar memories) and the loss
½‖M(k) − v̂‖²: W2 takes the gated delta rule with value −δ (the preconditioner αI − ηkkᵀ acts on
the weight that reads k), W1 the decay-only write with activation a and residual r; W1's step is
η/(1 + ‖a‖²) because a is not normalised (our decision: it keeps that write contractive like the
unit-key W2 write). A linear memory M(z) = Wz takes the gated delta rule with value v̂ − W_anchor k
(``dgd_mode='literal'``, Eq. 93) or v̂ (``'delta_only'``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

import kernels
from kernels._state import l2norm
from personal_nl.config import HopeConfig
from personal_nl.layers import CausalConv, RMSNorm

N_VEC, N_SCA = 3, 2  # vector memories k, v, mem; scalar memories η, α


class TitansState(NamedTuple):
    """Per-sequence fast state: conv history, running weights (with momentum) and chunk anchors."""

    conv: torch.Tensor  # [B, width−1, D]
    running: dict[str, torch.Tensor]  # slot -> [B, H', K, V] or [B, H', 2, K, V] with momentum
    anchor: dict[str, torch.Tensor]  # slot -> [B, H', K, V]


def _dsilu(u: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(u)
    return s * (1 + u * (1 - s))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class SelfModifyingTitans(nn.Module):
    def __init__(self, cfg: HopeConfig) -> None:
        super().__init__()
        t = cfg.titans
        self.t, self.H, self.dh = t, cfg.n_heads, cfg.dim_head
        H, dh = self.H, self.dh
        self.is_mlp = t.memory == "mlp"
        self.conv = CausalConv(cfg.d_model, t.conv_width)
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        if self.is_mlp:
            hid = t.hidden_mult * dh
            self.theta0 = nn.ParameterDict({
                "in": nn.Parameter(torch.randn(5 * H, dh, hid) / math.sqrt(dh)),
                "out_vec": nn.Parameter(0.02 * torch.randn(N_VEC * H, hid, dh)),
                "out_sca": nn.Parameter(0.02 * torch.randn(N_SCA * H, hid, 1)),
            })
        else:
            self.theta0 = nn.ParameterDict({
                "vec": nn.Parameter(torch.eye(dh).repeat(N_VEC * H, 1, 1) + 0.02 * torch.randn(N_VEC * H, dh, dh)),
                "sca": nn.Parameter(0.02 * torch.randn(N_SCA * H, dh, 1)),
            })
        self.eta_bias = nn.Parameter(torch.full((H,), _logit(t.eta_init / t.eta_max)))
        self.alpha_bias = nn.Parameter(torch.full((H,), _logit(t.alpha_init)))
        self.momentum_gate = nn.Linear(cfg.d_model, H) if t.momentum else None
        if self.momentum_gate is not None:
            nn.init.zeros_(self.momentum_gate.weight)
            nn.init.constant_(self.momentum_gate.bias, _logit(t.momentum_init))
        self.out_norm = RMSNorm(dh, cfg.norm_eps)
        self.gate = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.o_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    # ---- state -------------------------------------------------------------------------------
    def initial_state(self, batch: int, like: torch.Tensor) -> TitansState:
        """θ₀ for every sequence of the batch, zero momentum, anchors at θ₀, empty conv history."""
        running, anchor = {}, {}
        for slot, w in self.theta0.items():
            w = w.to(like.dtype).expand(batch, *w.shape)
            anchor[slot] = w
            running[slot] = torch.stack([w, torch.zeros_like(w)], dim=2) if self.t.momentum else w
        conv = like.new_zeros(batch, self.t.conv_width - 1, like.shape[-1])
        return TitansState(conv, running, anchor)

    def _weights(self, running: torch.Tensor) -> torch.Tensor:
        return running[:, :, 0] if self.t.momentum else running

    def _refresh_anchors(self, state: TitansState, position: int) -> dict[str, torch.Tensor]:
        """At a chunk start a memory's anchor becomes its running weights (previous chunk's end)."""
        other_due, mem_due = position % self.t.chunk_other == 0, position % self.t.chunk_mem == 0
        if not (other_due or mem_due):
            return state.anchor
        anchor = {}
        for slot, old in state.anchor.items():
            n_mem = old.shape[1] // self.H  # memories stacked in this slot
            first = 0 if slot in ("in", "vec", "out_vec") else N_VEC  # index of this slot's first memory
            due = torch.tensor([mem_due if first + i == 2 else other_due for i in range(n_mem)],
                               device=old.device).repeat_interleave(self.H)
            anchor[slot] = torch.where(due[None, :, None, None], self._weights(state.running[slot]), old)
        return anchor

    # ---- memory application with anchor weights ------------------------------------------------
    def _memories(self, anchor: dict[str, torch.Tensor], z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """All five memories on inputs z [B, T, 5H, dh] -> vector outs [B, T, 3H, dh], scalar outs
        [B, T, 2H, 1], and (for MLP memories) pre-activations u and activations a [B, T, 5H, hid]."""
        H3 = N_VEC * self.H
        if not self.is_mlp:
            vec = torch.einsum("btmk,bmkv->btmv", z[:, :, :H3], anchor["vec"])
            sca = torch.einsum("btmk,bmkv->btmv", z[:, :, H3:], anchor["sca"])
            return vec, sca, None, None
        u = torch.einsum("btmk,bmkh->btmh", z, anchor["in"])
        a = F.silu(u)
        vec = z[:, :, :H3] + torch.einsum("btmh,bmhv->btmv", a[:, :, :H3], anchor["out_vec"])
        sca = torch.einsum("btmh,bmhv->btmv", a[:, :, H3:], anchor["out_sca"])
        return vec, sca, u, a

    def _five(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, H, dh] -> [B, T, 5H, dh]
        return x.repeat(1, 1, N_VEC + N_SCA, 1)

    # ---- forward -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, state: TitansState | None, position: int) -> tuple[torch.Tensor, TitansState]:
        """x [B, T, D] (normed block input) at absolute positions position…; returns y [B, T, D]."""
        B, T, D = x.shape
        state = state or self.initial_state(B, x)
        step = min(self.t.chunk_mem, self.t.chunk_other)
        outputs, start = [], 0
        while start < T:
            end = min(T, start + step - (position + start) % step)  # stop at the next chunk boundary
            y, state = self._segment(x[:, start:end], state, position + start)
            outputs.append(y)
            start = end
        return torch.cat(outputs, dim=1), state

    def _segment(self, x: torch.Tensor, state: TitansState, position: int) -> tuple[torch.Tensor, TitansState]:
        """Tokens that share every memory's anchor: read and generate from anchors, then write."""
        B, L, D = x.shape
        H, dh, H3, t = self.H, self.dh, N_VEC * self.H, self.t
        anchor = self._refresh_anchors(state, position)
        xc, conv = self.conv(x, state.conv)
        xh = xc.view(B, L, H, dh)
        q = l2norm(self.q_proj(xc).view(B, L, H, dh))

        vec, sca, _, _ = self._memories(anchor, self._five(xh))
        k = l2norm(vec[:, :, :H])
        v = vec[:, :, H:2 * H]
        eta = t.eta_max * torch.sigmoid(sca[:, :, :H, 0] + self.eta_bias)  # [B, L, H]
        log_alpha = F.logsigmoid(sca[:, :, H:, 0] + self.alpha_bias)
        beta = torch.sigmoid(self.momentum_gate(x)) if self.momentum_gate is not None else None

        target_vec, target_sca, _, _ = self._memories(anchor, self._five(v))  # v̂_□ = M_□(v)
        k5 = self._five(k)
        pred_vec, pred_sca, u, a = self._memories(anchor, k5)

        def per_memory(s: torch.Tensor | None, n: int) -> torch.Tensor | None:
            return None if s is None else s.repeat(1, 1, n)

        running = dict(state.running)
        if self.is_mlp:
            r_vec, r_sca = self._clip(pred_vec - target_vec), self._clip(pred_sca - target_sca)
            delta = torch.cat([torch.einsum("btmv,bmhv->btmh", r_vec, anchor["out_vec"]),
                               torch.einsum("btmv,bmhv->btmh", r_sca, anchor["out_sca"])], dim=2) * _dsilu(u)
            eta_a = per_memory(eta, 5) / (1 + a.pow(2).sum(-1))
            writes = [("in", k5, -self._clip(delta), per_memory(eta, 5), 5, "delta"),
                      ("out_vec", a[:, :, :H3], r_vec, eta_a[:, :, :H3], N_VEC, "decay"),
                      ("out_sca", a[:, :, H3:], r_sca, eta_a[:, :, H3:], N_SCA, "decay")]
        else:
            if t.dgd_mode == "literal":  # Eq. 93: the gradient at the anchor, the projection at the running state
                target_vec = self._clip(target_vec - pred_vec)
                target_sca = self._clip(target_sca - pred_sca)
            writes = [("vec", k5[:, :, :H3], target_vec, per_memory(eta, N_VEC), N_VEC, "delta"),
                      ("sca", k5[:, :, H3:], target_sca, per_memory(eta, N_SCA), N_SCA, "delta")]

        dual_read = None
        for slot, keys, values, etas, n, kind in writes:
            queries = keys
            if slot == "vec" and t.intra_chunk_read == "dual_form":
                queries = torch.cat([keys[:, :, :2 * H], q], dim=2)
            kwargs = dict(initial_state=running[slot], output_final_state=True, chunk_size=64)
            mom = per_memory(beta, n)
            if kind == "decay":
                o_slot, running[slot] = kernels.decay_write(queries, keys, values, per_memory(log_alpha, n), etas,
                                                            momentum=mom, **kwargs)
            elif mom is not None:
                o_slot, running[slot] = kernels.momentum_delta_rule(queries, keys, values, per_memory(log_alpha, n),
                                                                    etas, mom, **kwargs)
            else:
                o_slot, running[slot] = kernels.gated_delta_rule(queries, keys, values, per_memory(log_alpha, n),
                                                                 etas, **kwargs)
            if slot == "vec" and t.intra_chunk_read == "dual_form":
                dual_read = o_slot[:, :, 2 * H:]

        if dual_read is not None:
            o = dual_read
        else:  # snapshot read: o_t = M_mem,anchor(q_t)
            o = self._read_mem(anchor, q)
        y = self.out_norm(o).reshape(B, L, D) * F.silu(self.gate(x))
        return self.o_proj(y), TitansState(conv, running, anchor)

    def _clip(self, error: torch.Tensor) -> torch.Tensor:
        """Scale each token's error down to norm ≤ inner_clip: targets made by the memory itself can
        make the inner regression diverge; with α < 1 this bounds every fast weight (our decision)."""
        norm = error.norm(dim=-1, keepdim=True)
        return error / torch.clamp(norm / self.t.inner_clip, min=1.0)

    def _read_mem(self, anchor: dict[str, torch.Tensor], q: torch.Tensor) -> torch.Tensor:
        H = self.H
        if not self.is_mlp:
            return torch.einsum("btmk,bmkv->btmv", q, anchor["vec"][:, 2 * H:3 * H])
        a = F.silu(torch.einsum("btmk,bmkh->btmh", q, anchor["in"][:, 2 * H:3 * H]))
        return q + torch.einsum("btmh,bmhv->btmv", a, anchor["out_vec"][:, 2 * H:3 * H])
