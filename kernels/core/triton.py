"""The `triton` face: fused-recurrent Triton kernels, forward and backward, same contract as `naive`.

Design (fla's ``fused_recurrent`` style; a chunked WY kernel with a backward is later work):

* Forward, grid ``(cdiv(V, BV), N·H)``. The columns of the state are independent, so each program
  owns a ``[BK, BV]`` slice of the memory M (and of the momentum P and the anchor A when the rule has
  them) in fp32 registers, walks its sequence token by token with exactly ``core.step``'s
  recurrence, writes ``o_t = M_tᵀ q_t`` and the final state. When a gradient is needed it also writes
  a checkpoint of (M, P, A) every ``CKPT`` tokens: fp32 ``[n_ckpt, H, K, V]`` per state tensor.
* Backward, same grid. It walks the checkpoint segments of its sequence in reverse; per segment it
  re-runs the forward from the checkpoint, storing the states before each token (M and P) in an
  fp32 scratch ``[N·H, CKPT, K, V]``, then runs the reverse-mode recurrence over the segment with
  the running gradients dM, dP, dA in registers. dv is complete per program; dq, dk, dη, d log α
  and dβ are sums over V, so each program writes its block's partial sum ``[NV, …]`` and torch adds
  them up.

Reverse-mode recurrence at token t (dM, dP: gradients w.r.t. M_t, P_t; dA w.r.t. the anchor):
``dM += q doᵀ; dq = M_t do; dα = ⟨M_{t−1}, dM⟩``; with momentum ``dP += dM; dβ = ⟨P_{t−1}, dP⟩;
dW = dP; dP ← β dP`` else ``dW = dM``; then ``dM ← α dM``; from ``W = η k eᵀ``: ``dη = kᵀ dW e,
dk = η dW e, de = η dWᵀ k``; exact: ``dv = de, dk −= M_{t−1} de, dM −= k deᵀ``; chunk_start:
``dv = de, dk −= A de, dA −= k deᵀ`` and at a chunk-start token ``dM += dA, dA ← 0``; decay:
``dv = −de``. ``d log α = α dα``.

Memory for the backward: the checkpoints, ``(1 + momentum + anchor) · ⌈T/CKPT⌉ · N·H·K·V · 4`` bytes,
plus the scratch ``(1 + momentum) · N·H·CKPT·K·V · 4`` bytes and the fp32 partial sums
``NV · T·H·(2K + 3) · 4`` bytes.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels._state import MemoryState, Rule, l2norm
from kernels.core._autotune import autotune

CKPT = 64  # tokens between saved states for the backward (tradeoff: checkpoints ~ T/CKPT, scratch ~ CKPT)
MAX_K = 256  # the K×BV state slices live in registers


@triton.heuristics({
    "USE_INITIAL_STATE": lambda args: args["m0"] is not None,
    "STORE_FINAL_STATE": lambda args: args["mT"] is not None,
    "SAVE_CKPT": lambda args: args["ckpt_m"] is not None,
    "IS_VARLEN": lambda args: args["cu_seqlens"] is not None,
})
@autotune(
    configs=[triton.Config({"BV": bv}, num_warps=w) for bv in (32, 16, 64, 8) for w in (2, 4, 1)],
    key=["H", "K", "V", "ERROR_MODE", "HAS_MOMENTUM", "SAVE_CKPT"],
)
@triton.jit(do_not_specialize=["T", "chunk_size"])
def _linear_memory_fwd_kernel(
    q, k, v, g, eta, beta,  # [B, T, H, K|V], [B, T, H]
    o,  # [B, T, H, V], the input dtype
    m0, p0, a0, pos0,  # initial state [N, H, K, V] fp32, positions [N]
    mT, pT, aT,  # final state [N, H, K, V] fp32
    ckpt_m, ckpt_p, ckpt_a, ckpt_offsets,  # checkpoints [n_ckpt, H, K, V] fp32, first one per sequence [N+1]
    cu_seqlens,
    chunk_size,
    T,
    H: tl.constexpr,
    K: tl.constexpr,
    V: tl.constexpr,
    BK: tl.constexpr,
    BV: tl.constexpr,
    CKPT: tl.constexpr,
    ERROR_MODE: tl.constexpr,  # "exact" | "chunk_start" | "decay"
    HAS_MOMENTUM: tl.constexpr,
    USE_INITIAL_STATE: tl.constexpr,
    STORE_FINAL_STATE: tl.constexpr,
    SAVE_CKPT: tl.constexpr,
    IS_VARLEN: tl.constexpr,
):
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    if IS_VARLEN:
        bos = tl.load(cu_seqlens + i_n).to(tl.int64)
        eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
    else:
        bos = i_n.to(tl.int64) * T
        eos = bos + T

    o_k = tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    m_k = o_k < K
    m_v = o_v < V
    m_kv = m_k[:, None] & m_v[None, :]
    o_kv = o_k[:, None] * V + o_v[None, :]
    o_state = i_nh.to(tl.int64) * K * V

    b_m = tl.zeros([BK, BV], dtype=tl.float32)
    b_p = tl.zeros([BK, BV], dtype=tl.float32)
    b_a = tl.zeros([BK, BV], dtype=tl.float32)
    if USE_INITIAL_STATE:
        b_m += tl.load(m0 + o_state + o_kv, mask=m_kv, other=0.).to(tl.float32)
        if HAS_MOMENTUM:
            b_p += tl.load(p0 + o_state + o_kv, mask=m_kv, other=0.).to(tl.float32)
        if ERROR_MODE == "chunk_start":
            b_a += tl.load(a0 + o_state + o_kv, mask=m_kv, other=0.).to(tl.float32)
    if ERROR_MODE == "chunk_start":
        b_pos = tl.load(pos0 + i_n).to(tl.int64)
    if SAVE_CKPT:
        if IS_VARLEN:
            i_c0 = tl.load(ckpt_offsets + i_n).to(tl.int64)
        else:
            i_c0 = i_n.to(tl.int64) * tl.cdiv(T, CKPT)

    for t in range(0, eos - bos):
        if SAVE_CKPT:
            if t % CKPT == 0:
                o_c = ((i_c0 + t // CKPT) * H + i_h) * K * V
                tl.store(ckpt_m + o_c + o_kv, b_m, mask=m_kv)
                if HAS_MOMENTUM:
                    tl.store(ckpt_p + o_c + o_kv, b_p, mask=m_kv)
                if ERROR_MODE == "chunk_start":
                    tl.store(ckpt_a + o_c + o_kv, b_a, mask=m_kv)
        i_tok = (bos + t) * H + i_h
        b_q = tl.load(q + i_tok * K + o_k, mask=m_k, other=0.).to(tl.float32)
        b_k = tl.load(k + i_tok * K + o_k, mask=m_k, other=0.).to(tl.float32)
        b_v = tl.load(v + i_tok * V + o_v, mask=m_v, other=0.).to(tl.float32)
        b_alpha = tl.exp(tl.load(g + i_tok).to(tl.float32))
        b_eta = tl.load(eta + i_tok).to(tl.float32)

        if ERROR_MODE == "exact":
            b_e = b_v - tl.sum(b_m * b_k[:, None], 0)
        elif ERROR_MODE == "chunk_start":
            b_a = tl.where((b_pos + t) % chunk_size == 0, b_m, b_a)
            b_e = b_v - tl.sum(b_a * b_k[:, None], 0)
        else:
            b_e = -b_v
        b_w = (b_eta * b_k)[:, None] * b_e[None, :]
        if HAS_MOMENTUM:
            b_beta = tl.load(beta + i_tok).to(tl.float32)
            b_p = b_beta * b_p + b_w
            b_m = b_alpha * b_m + b_p
        else:
            b_m = b_alpha * b_m + b_w
        b_o = tl.sum(b_m * b_q[:, None], 0)
        tl.store(o + i_tok * V + o_v, b_o.to(o.dtype.element_ty), mask=m_v)

    if STORE_FINAL_STATE:
        tl.store(mT + o_state + o_kv, b_m, mask=m_kv)
        if HAS_MOMENTUM:
            tl.store(pT + o_state + o_kv, b_p, mask=m_kv)
        if ERROR_MODE == "chunk_start":
            tl.store(aT + o_state + o_kv, b_a, mask=m_kv)


@triton.heuristics({
    "USE_INITIAL_STATE": lambda args: args["dm0"] is not None,
    "USE_FINAL_STATE_GRADIENT": lambda args: args["dmT"] is not None,
    "IS_VARLEN": lambda args: args["cu_seqlens"] is not None,
})
@autotune(
    configs=[triton.Config({}, num_warps=w) for w in (2, 4, 1)],
    key=["H", "K", "V", "BV", "ERROR_MODE", "HAS_MOMENTUM"],
)
@triton.jit(do_not_specialize=["T", "T_total", "chunk_size"])
def _linear_memory_bwd_kernel(
    q, k, v, g, eta, beta, do,  # forward inputs, gradient of o
    dmT, dpT, daT,  # gradient of the final state [N, H, K, V] fp32
    ckpt_m, ckpt_p, ckpt_a, ckpt_offsets, pos0,
    scratch_m, scratch_p,  # [N·H, CKPT, K, V] fp32, states before each token of a segment
    dq, dk,  # [NV, T_total, H, K] fp32 partial sums over V blocks
    dv,  # [B, T, H, V], v's dtype
    dg, deta, dbeta,  # [NV, T_total, H] fp32 partial sums
    dm0, dp0, da0,  # gradient of the initial state [N, H, K, V] fp32
    cu_seqlens,
    chunk_size,
    T,
    T_total,
    H: tl.constexpr,
    K: tl.constexpr,
    V: tl.constexpr,
    BK: tl.constexpr,
    BV: tl.constexpr,
    CKPT: tl.constexpr,
    ERROR_MODE: tl.constexpr,
    HAS_MOMENTUM: tl.constexpr,
    USE_INITIAL_STATE: tl.constexpr,
    USE_FINAL_STATE_GRADIENT: tl.constexpr,
    IS_VARLEN: tl.constexpr,
):
    i_v, i_nh = tl.program_id(0), tl.program_id(1)
    i_n, i_h = i_nh // H, i_nh % H
    if IS_VARLEN:
        bos = tl.load(cu_seqlens + i_n).to(tl.int64)
        eos = tl.load(cu_seqlens + i_n + 1).to(tl.int64)
        i_c0 = tl.load(ckpt_offsets + i_n).to(tl.int64)
    else:
        bos = i_n.to(tl.int64) * T
        eos = bos + T
        i_c0 = i_n.to(tl.int64) * tl.cdiv(T, CKPT)
    L = eos - bos

    o_k = tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    m_k = o_k < K
    m_v = o_v < V
    m_kv = m_k[:, None] & m_v[None, :]
    o_kv = o_k[:, None] * V + o_v[None, :]
    o_state = i_nh.to(tl.int64) * K * V
    o_scratch = i_nh.to(tl.int64) * CKPT * K * V
    o_part_k = i_v.to(tl.int64) * T_total * H * K
    o_part = i_v.to(tl.int64) * T_total * H

    b_dm = tl.zeros([BK, BV], dtype=tl.float32)
    b_dp = tl.zeros([BK, BV], dtype=tl.float32)
    b_da = tl.zeros([BK, BV], dtype=tl.float32)
    if USE_FINAL_STATE_GRADIENT:
        b_dm += tl.load(dmT + o_state + o_kv, mask=m_kv, other=0.)
        if HAS_MOMENTUM:
            b_dp += tl.load(dpT + o_state + o_kv, mask=m_kv, other=0.)
        if ERROR_MODE == "chunk_start":
            b_da += tl.load(daT + o_state + o_kv, mask=m_kv, other=0.)
    if ERROR_MODE == "chunk_start":
        b_pos = tl.load(pos0 + i_n).to(tl.int64)

    n_seg = tl.cdiv(L, CKPT)
    for i_s in range(0, n_seg):
        i_seg = n_seg - 1 - i_s
        t0 = i_seg * CKPT
        n_t = tl.minimum(L - t0, CKPT)
        o_c = ((i_c0 + i_seg) * H + i_h) * K * V

        # Re-run the forward over the segment from its checkpoint, keeping M_{t−1} and P_{t−1}.
        b_m = tl.load(ckpt_m + o_c + o_kv, mask=m_kv, other=0.)
        b_p = tl.zeros([BK, BV], dtype=tl.float32)
        b_a = tl.zeros([BK, BV], dtype=tl.float32)
        if HAS_MOMENTUM:
            b_p += tl.load(ckpt_p + o_c + o_kv, mask=m_kv, other=0.)
        if ERROR_MODE == "chunk_start":
            b_a += tl.load(ckpt_a + o_c + o_kv, mask=m_kv, other=0.)
        for j in range(0, n_t):
            o_sj = o_scratch + j * K * V
            tl.store(scratch_m + o_sj + o_kv, b_m, mask=m_kv)
            if HAS_MOMENTUM:
                tl.store(scratch_p + o_sj + o_kv, b_p, mask=m_kv)
            i_tok = (bos + t0 + j) * H + i_h
            b_k = tl.load(k + i_tok * K + o_k, mask=m_k, other=0.).to(tl.float32)
            b_v = tl.load(v + i_tok * V + o_v, mask=m_v, other=0.).to(tl.float32)
            b_alpha = tl.exp(tl.load(g + i_tok).to(tl.float32))
            b_eta = tl.load(eta + i_tok).to(tl.float32)
            if ERROR_MODE == "exact":
                b_e = b_v - tl.sum(b_m * b_k[:, None], 0)
            elif ERROR_MODE == "chunk_start":
                b_a = tl.where((b_pos + t0 + j) % chunk_size == 0, b_m, b_a)
                b_e = b_v - tl.sum(b_a * b_k[:, None], 0)
            else:
                b_e = -b_v
            b_w = (b_eta * b_k)[:, None] * b_e[None, :]
            if HAS_MOMENTUM:
                b_beta = tl.load(beta + i_tok).to(tl.float32)
                b_p = b_beta * b_p + b_w
                b_m = b_alpha * b_m + b_p
            else:
                b_m = b_alpha * b_m + b_w
        tl.debug_barrier()

        # Reverse over the segment; b_m holds M_t, the scratch M_{t−1}.
        for i_j in range(0, n_t):
            j = n_t - 1 - i_j
            o_sj = o_scratch + j * K * V
            i_tok = (bos + t0 + j) * H + i_h
            b_q = tl.load(q + i_tok * K + o_k, mask=m_k, other=0.).to(tl.float32)
            b_k = tl.load(k + i_tok * K + o_k, mask=m_k, other=0.).to(tl.float32)
            b_v = tl.load(v + i_tok * V + o_v, mask=m_v, other=0.).to(tl.float32)
            b_do = tl.load(do + i_tok * V + o_v, mask=m_v, other=0.).to(tl.float32)
            b_alpha = tl.exp(tl.load(g + i_tok).to(tl.float32))
            b_eta = tl.load(eta + i_tok).to(tl.float32)
            b_m_prev = tl.load(scratch_m + o_sj + o_kv, mask=m_kv, other=0.)

            if ERROR_MODE == "exact":
                b_e = b_v - tl.sum(b_m_prev * b_k[:, None], 0)
            elif ERROR_MODE == "chunk_start":
                # The anchor is M before this chunk's first token: in the scratch if that token is in
                # the segment, else the segment's checkpointed anchor.
                j_c = j - (b_pos + t0 + j) % chunk_size
                b_a = tl.load(scratch_m + o_scratch + tl.maximum(j_c, 0) * K * V + o_kv,
                              mask=m_kv & (j_c >= 0), other=0.)
                b_a += tl.load(ckpt_a + o_c + o_kv, mask=m_kv & (j_c < 0), other=0.)
                b_e = b_v - tl.sum(b_a * b_k[:, None], 0)
            else:
                b_e = -b_v

            b_dm += b_q[:, None] * b_do[None, :]
            b_dq = tl.sum(b_m * b_do[None, :], 1)
            b_dalpha = tl.sum(b_m_prev * b_dm)
            if HAS_MOMENTUM:
                b_beta = tl.load(beta + i_tok).to(tl.float32)
                b_p_prev = tl.load(scratch_p + o_sj + o_kv, mask=m_kv, other=0.)
                b_dp += b_dm
                b_dbeta = tl.sum(b_p_prev * b_dp)
                b_dw = b_dp
            else:
                b_dw = b_dm
            b_dwe = tl.sum(b_dw * b_e[None, :], 1)  # [BK]
            b_deta = tl.sum(b_k * b_dwe, 0)
            b_dk = b_eta * b_dwe
            b_de = b_eta * tl.sum(b_dw * b_k[:, None], 0)  # [BV]
            b_dm = b_alpha * b_dm
            if HAS_MOMENTUM:
                b_dp = b_beta * b_dp
            if ERROR_MODE == "exact":
                b_dv = b_de
                b_dk -= tl.sum(b_m_prev * b_de[None, :], 1)
                b_dm -= b_k[:, None] * b_de[None, :]
            elif ERROR_MODE == "chunk_start":
                b_dv = b_de
                b_dk -= tl.sum(b_a * b_de[None, :], 1)
                b_da -= b_k[:, None] * b_de[None, :]
                b_dm = tl.where(j_c == j, b_dm + b_da, b_dm)  # a chunk start: A was set from M_{t−1}
                b_da = tl.where(j_c == j, 0., b_da)
            else:
                b_dv = -b_de

            tl.store(dq + o_part_k + i_tok * K + o_k, b_dq, mask=m_k)
            tl.store(dk + o_part_k + i_tok * K + o_k, b_dk, mask=m_k)
            tl.store(dv + i_tok * V + o_v, b_dv.to(dv.dtype.element_ty), mask=m_v)
            tl.store(dg + o_part + i_tok, b_alpha * b_dalpha)
            tl.store(deta + o_part + i_tok, b_deta)
            if HAS_MOMENTUM:
                tl.store(dbeta + o_part + i_tok, b_dbeta)
            b_m = b_m_prev
        tl.debug_barrier()

    if USE_INITIAL_STATE:
        tl.store(dm0 + o_state + o_kv, b_dm, mask=m_kv)
        if HAS_MOMENTUM:
            tl.store(dp0 + o_state + o_kv, b_dp, mask=m_kv)
        if ERROR_MODE == "chunk_start":
            tl.store(da0 + o_state + o_kv, b_da, mask=m_kv)


def _f32(device, *shape: int) -> torch.Tensor:
    """An uninitialised fp32 buffer: the kernels write every element (the tests NaN-poison it)."""
    return torch.empty(*shape, dtype=torch.float32, device=device)


def _bwd_block_v(K: int, V: int) -> int:
    """Columns per backward program: about eight [BK, BV] fp32 tiles live in registers."""
    BK = triton.next_power_of_2(K)
    return min(triton.next_power_of_2(V), 32 if BK <= 64 else 16)


def _checkpoint_layout(N: int, T: int, cu_seqlens: torch.Tensor | None, device) -> tuple[int, torch.Tensor | None]:
    """How many checkpoints to allocate, and (varlen) the index of each sequence's first one.

    Without a host sync: Σ⌈L_i/CKPT⌉ ≤ ⌈T/CKPT⌉ + N bounds the varlen count.
    """
    if cu_seqlens is None:
        return N * triton.cdiv(T, CKPT), None
    lengths = cu_seqlens.diff().to(torch.int64)
    offsets = torch.zeros(N + 1, dtype=torch.int64, device=device)
    offsets[1:] = ((lengths + CKPT - 1) // CKPT).cumsum(0)
    return triton.cdiv(T, CKPT) + N, offsets


class _LinearMemoryFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, q, k, v, g, eta, beta, m0, p0, a0, pos0, cu_seqlens, error, has_momentum, chunk_size,
                output_final_state, grad_enabled):
        B, T, H, K = q.shape
        V = v.shape[-1]
        N = B if cu_seqlens is None else cu_seqlens.numel() - 1
        dev = q.device
        chunk_start = error == "chunk_start"
        save = grad_enabled and any(ctx.needs_input_grad[:9])  # checkpoints only for a backward

        o = torch.empty_like(v)
        mT = _f32(dev, N, H, K, V) if output_final_state else None
        pT = _f32(dev, N, H, K, V) if output_final_state and has_momentum else None
        aT = _f32(dev, N, H, K, V) if output_final_state and chunk_start else None
        ckpt_m = ckpt_p = ckpt_a = ckpt_offsets = None
        if save:
            n_ckpt, ckpt_offsets = _checkpoint_layout(N, T, cu_seqlens, dev)
            ckpt_m = _f32(dev, n_ckpt, H, K, V)
            ckpt_p = _f32(dev, n_ckpt, H, K, V) if has_momentum else None
            ckpt_a = _f32(dev, n_ckpt, H, K, V) if chunk_start else None

        def grid(meta):
            return triton.cdiv(V, meta["BV"]), N * H

        _linear_memory_fwd_kernel[grid](
            q, k, v, g, eta, beta, o, m0, p0, a0, pos0, mT, pT, aT,
            ckpt_m, ckpt_p, ckpt_a, ckpt_offsets, cu_seqlens, chunk_size or 1, T,
            H=H, K=K, V=V, BK=triton.next_power_of_2(K), CKPT=CKPT, ERROR_MODE=error,
            HAS_MOMENTUM=has_momentum,
        )
        if save:
            ctx.save_for_backward(q, k, v, g, eta, beta, pos0, cu_seqlens, ckpt_m, ckpt_p, ckpt_a, ckpt_offsets)
        ctx.meta = (error, has_momentum, chunk_size or 1, m0 is not None)
        return o, mT, pT, aT

    @staticmethod
    def backward(ctx, do, dmT, dpT, daT):
        q, k, v, g, eta, beta, pos0, cu_seqlens, ckpt_m, ckpt_p, ckpt_a, ckpt_offsets = ctx.saved_tensors
        error, has_momentum, chunk_size, has_initial_state = ctx.meta
        B, T, H, K = q.shape
        V = v.shape[-1]
        N = B if cu_seqlens is None else cu_seqlens.numel() - 1
        dev = q.device
        BV = _bwd_block_v(K, V)
        NV = triton.cdiv(V, BV)

        do = torch.zeros_like(v) if do is None else do.contiguous()
        finals = (dmT, dpT, daT)
        if any(x is not None for x in finals):
            dmT, dpT, daT = (None if not used else x.contiguous().float() if x is not None
                             else torch.zeros(N, H, K, V, dtype=torch.float32, device=dev)
                             for x, used in zip(finals, (True, has_momentum, error == "chunk_start")))

        dq = _f32(dev, NV, B * T, H, K)
        dk = _f32(dev, NV, B * T, H, K)
        dv = torch.empty_like(v)
        dg = _f32(dev, NV, B * T, H)
        deta = _f32(dev, NV, B * T, H)
        dbeta = _f32(dev, NV, B * T, H) if has_momentum else None
        dm0 = _f32(dev, N, H, K, V) if has_initial_state else None
        dp0 = _f32(dev, N, H, K, V) if has_initial_state and has_momentum else None
        da0 = _f32(dev, N, H, K, V) if has_initial_state and error == "chunk_start" else None
        scratch_m = _f32(dev, N * H, CKPT, K, V)
        scratch_p = _f32(dev, N * H, CKPT, K, V) if has_momentum else None

        _linear_memory_bwd_kernel[(NV, N * H)](
            q, k, v, g, eta, beta, do, dmT, dpT, daT,
            ckpt_m, ckpt_p, ckpt_a, ckpt_offsets, pos0, scratch_m, scratch_p,
            dq, dk, dv, dg, deta, dbeta, dm0, dp0, da0,
            cu_seqlens, chunk_size, T, B * T,
            H=H, K=K, V=V, BK=triton.next_power_of_2(K), BV=BV, CKPT=CKPT, ERROR_MODE=error,
            HAS_MOMENTUM=has_momentum,
        )
        dq = dq.sum(0).view(B, T, H, K).to(q.dtype)
        dk = dk.sum(0).view(B, T, H, K).to(k.dtype)
        dg = dg.sum(0).view(B, T, H).to(g.dtype)
        deta = deta.sum(0).view(B, T, H).to(eta.dtype)
        dbeta = dbeta.sum(0).view(B, T, H).to(beta.dtype) if has_momentum else None
        return dq, dk, dv, dg, deta, dbeta, dm0, dp0, da0, None, None, None, None, None, None, None


def linear_memory_triton(
    q: torch.Tensor,  # [B, T, H, K]
    k: torch.Tensor,  # [B, T, H, K]
    v: torch.Tensor,  # [B, T, H, V]
    log_decay: torch.Tensor,  # [B, T, H]
    eta: torch.Tensor,  # [B, T, H]
    momentum: torch.Tensor | None,  # [B, T, H]
    *,
    rule: Rule,
    initial_state: MemoryState | None = None,
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    use_qk_l2norm: bool = False,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, MemoryState | None]:
    """Same contract as the naive face: ``o`` [B, T, H, V] in v's dtype and, if asked, the final
    state (fp32). ``chunk_size`` matters only for chunk_start rules, where it is the semantic chunk.
    Inputs may be fp16/bf16/fp32; every load is cast to fp32 and every sum runs in fp32."""
    B, T, H, K = q.shape
    if K > MAX_K:
        raise ValueError(f"the triton face keeps K×BV state slices in registers: K must be ≤ {MAX_K}, got {K}")
    N = B if cu_seqlens is None else cu_seqlens.numel() - 1
    if use_qk_l2norm:
        q, k = l2norm(q.float()), l2norm(k.float())
    chunk_start = rule.error == "chunk_start"

    def state_part(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x.float().contiguous()

    state = initial_state
    m0 = p0 = a0 = None
    if state is not None:
        m0 = state_part(state.memory)
        p0 = state_part(state.momentum) if rule.momentum else None
        a0 = state_part(state.anchor) if chunk_start else None
    pos0 = None
    if chunk_start:
        pos0 = (state.position if state is not None and state.position is not None
                else torch.zeros(N, dtype=torch.int64, device=q.device))
    o, mT, pT, aT = _LinearMemoryFunction.apply(
        q.contiguous(), k.contiguous(), v.contiguous(), log_decay.contiguous(), eta.contiguous(),
        momentum.contiguous() if rule.momentum else None, m0, p0, a0, pos0,
        None if cu_seqlens is None else cu_seqlens.contiguous(),
        rule.error, rule.momentum, chunk_size if chunk_start else None, output_final_state,
        torch.is_grad_enabled(),
    )
    if not output_final_state:
        return o, None
    position = None
    if chunk_start:
        lengths = torch.full((N,), T, device=q.device) if cu_seqlens is None else cu_seqlens.diff()
        position = pos0 + lengths.to(pos0.dtype)
    return o, MemoryState(mT, pT, aT, position)
