"""The `chunk` face: the exact chunk-parallel (WY/UT) form in plain PyTorch, autograd through it.

Inside a chunk of C tokens the state after j tokens is an affine function of the chunk-start state
(m0, p0) and of the chunk's errors E, with scalar coefficients from products of the per-token
transition [[α, β], [0, β]] acting on (memory, momentum) (research/kernels.md §2.6). For the exact
rule the errors solve one unit-lower-triangular system per chunk, so chunk size never changes the
result. Only the walk from chunk to chunk is sequential.

Sequences are packed into rows of whole chunks with identity tokens (α = 1, η = 0, momentum kept):
right padding for ragged lengths, left padding so chunk_start chunks line up with the position
carried in the initial state.
"""

from __future__ import annotations

import torch

from kernels._state import MemoryState, Rule, l2norm, state_dtype, zero_state


def linear_memory_chunk(
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
    chunk_size: int | None = 64,
) -> tuple[torch.Tensor, MemoryState | None]:
    """Same contract as the naive face; ``chunk_size`` is the compute chunk (the semantic one for
    chunk_start rules, where it must match the model's)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    C = chunk_size or 64
    dt = state_dtype(q.dtype)
    N = B if cu_seqlens is None else cu_seqlens.numel() - 1
    state = initial_state or zero_state(rule, N, H, K, V, dtype=dt, device=q.device)

    in_dtype = v.dtype
    q, k, v = q.to(dt), k.to(dt), v.to(dt)
    if use_qk_l2norm:
        q, k = l2norm(q), l2norm(k)
    g, eta = log_decay.to(dt), eta.to(dt)
    beta = momentum.to(dt) if rule.momentum else torch.zeros_like(g)

    # Pack sequences into N rows of NC whole chunks.
    if cu_seqlens is None:
        starts = torch.arange(N, device=q.device) * T
        lengths = torch.full((N,), T, device=q.device)
    else:
        starts, lengths = cu_seqlens[:-1].long(), cu_seqlens.diff().long()
    lpad = state.position % C if rule.error == "chunk_start" else torch.zeros_like(lengths)
    longest = int((lpad + lengths).max().item()) if N else 0
    if longest <= C:  # one chunk holds everything: don't pad a short call out to a whole chunk
        C = max(longest, 1)
    NC = -(-longest // C)
    Tp = NC * C
    token = torch.arange(B * T, device=q.device)
    seq_of_token = torch.searchsorted(starts + lengths, token, right=True)  # (repeat_interleave is slow here)
    offset_in_seq = token - starts[seq_of_token]
    dest = seq_of_token * Tp + lpad[seq_of_token] + offset_in_seq  # [B·T] row-major slot of each token

    def pack(x: torch.Tensor, fill: float = 0.0) -> torch.Tensor:  # [B, T, H, *] -> [N, H, NC, C, *]
        flat = x.reshape(B * T, *x.shape[2:])
        out = torch.full((N * Tp, *flat.shape[1:]), fill, dtype=flat.dtype, device=flat.device)
        out = out.index_copy(0, dest, flat).reshape(N, NC, C, *flat.shape[1:])
        return out.movedim(3, 1)

    valid = pack(torch.ones(B, T, H, dtype=torch.bool, device=q.device), False)
    qc, kc, vc = pack(q), pack(k), pack(v)  # [N, H, NC, C, K|V]
    gc, etac = pack(g), pack(eta)  # [N, H, NC, C]
    beta_b = pack(beta)  # momentum's (0,1) entry: 0 on identity tokens
    beta_c = torch.where(valid, pack(beta), 1.0)  # momentum's (1,1) entry: 1 on identity tokens

    a, b, c = _transition_products(gc, beta_b, beta_c, rule.momentum)  # [.., C+1 (to), C+1 (from)]
    to_mem = a + b if rule.momentum else a  # how a write at token i reaches the memory at position t
    eta_col = etac[..., None, :]  # scales column i

    if rule.error == "exact":
        # e_t = v_t − m_{t−1}ᵀ k_t with m_{t−1} affine in (m0, p0, e_<t):  (I + L) E = V − D_a K m0 − D_b K p0.
        L = to_mem[..., :-1, 1:] * eta_col * (kc @ kc.transpose(-1, -2))  # strictly lower [.., C, C]
        eye = torch.eye(C, dtype=dt, device=q.device)
        rhs = [vc, a[..., :-1, :1] * kc] + ([b[..., :-1, :1] * kc] if rule.momentum else [])
        # One solve for all right-hand sides: small batched triangular solves cost per call.
        solved = torch.linalg.solve_triangular(eye + L, torch.cat(rhs, dim=-1), upper=False, unitriangular=True)
        U, Wm, *rest = solved.split([V, K] + ([K] if rule.momentum else []), dim=-1)
        Wp = rest[0] if rule.momentum else None

    m, p = state.memory, state.momentum
    anchor = state.anchor
    firsts_use_carried = (lpad > 0)[:, None, None, None] if rule.error == "chunk_start" else None
    # Per-chunk operands, split once: indexing a stacked tensor inside the loop would make every
    # slice's backward fill a zero tensor of the whole stack (quadratic in the number of chunks).
    chunks = lambda x: x.unbind(2)  # noqa: E731  [N, H, NC, ...] -> NC × [N, H, ...]
    decay_end = chunks(a[..., -1, 0, None, None])  # memory's own decay over the chunk
    write_m = chunks((kc * (to_mem[..., -1, 1:] * etac)[..., None]).transpose(-1, -2))  # [K, C]
    if rule.momentum:
        mix_end, keep_end = chunks(b[..., -1, 0, None, None]), chunks(c[..., -1, 0, None, None])
        write_p = chunks((kc * (c[..., -1, 1:] * etac)[..., None]).transpose(-1, -2))
    if rule.error == "exact":
        U_n, Wm_n = chunks(U), chunks(Wm)
        Wp_n = chunks(Wp) if rule.momentum else None
    else:
        v_n, k_n, has_real = chunks(vc), chunks(kc), chunks(valid[:, 0].any(-1)[:, None, :, None, None])
    m0s, p0s, errors = [], [], []
    for n in range(NC):
        m0s.append(m)
        p0s.append(p)
        if rule.error == "exact":
            e = U_n[n] - Wm_n[n] @ m
            if rule.momentum:
                e = e - Wp_n[n] @ p
        elif rule.error == "chunk_start":
            chunk_anchor = torch.where(firsts_use_carried, anchor, m) if n == 0 else m
            anchor = torch.where(has_real[n], chunk_anchor, anchor)
            e = v_n[n] - k_n[n] @ chunk_anchor
        else:
            e = -v_n[n]
        errors.append(e)
        m_next = decay_end[n] * m + write_m[n] @ e
        if rule.momentum:
            m_next = m_next + mix_end[n] * p
            p = keep_end[n] * p + write_p[n] @ e
        m = m_next

    o = _outputs(qc, kc, etac, a, b, to_mem, m0s, p0s, errors, rule.momentum)  # [N, H, NC, C, V]
    o = o.movedim(1, 3).reshape(N * Tp, H, V)[dest].reshape(B, T, H, V).to(in_dtype)
    if not output_final_state:
        return o, None
    position = state.position + lengths if rule.error == "chunk_start" else None
    return o, MemoryState(m, p, anchor, position)


def _transition_products(
    g: torch.Tensor, beta_b: torch.Tensor, beta_c: torch.Tensor, has_momentum: bool
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Entries of Γ[t, i] = A_t ⋯ A_{i+1} = [[a, b], [0, c]] for chunk positions 0 ≤ i ≤ t ≤ C.

    Position 0 is the chunk-start state, position j the state after token j. Products are built
    from differences of cumulative log decays (a), masked cumulative products (c, which may hit 0)
    and one matmul (b = Σ_j a[t, j] β_j c[j−1, i]); nothing divides, so nothing overflows.
    """
    C = g.shape[-1]
    pos = torch.arange(C + 1, device=g.device)
    causal = pos[:, None] >= pos[None, :]  # [to, from]
    G = torch.cat([torch.zeros_like(g[..., :1]), g.cumsum(-1)], dim=-1)  # [.., C+1]
    a = torch.where(causal, G[..., :, None] - G[..., None, :], float("-inf")).exp()
    if not has_momentum:
        return a, None, None
    # P[i, l] = Π_{i < l' ≤ l} β_l'  (1 where l ≤ i), then c[t, i] = P[i, t].
    later = pos[1:][None, :] > pos[:, None]  # [from i, token l]
    P = torch.where(later, beta_c[..., None, :], 1.0).cumprod(-1)  # [.., C+1, C]
    P = torch.cat([torch.ones_like(P[..., :1]), P], dim=-1)  # [.., from i, to t]
    c = torch.where(causal, P.transpose(-1, -2), 0.0)
    b = a[..., :, 1:] @ (beta_b[..., :, None] * c[..., :-1, :])
    return a, b, c


def _outputs(qc, kc, etac, a, b, to_mem, m0s, p0s, errors, has_momentum) -> torch.Tensor:
    """o_t = m_tᵀ q_t for every token of every chunk, in parallel once the chunk-start states are known."""
    m0 = torch.stack(m0s, dim=2)  # [N, H, NC, K, V]
    E = torch.stack(errors, dim=2)  # [N, H, NC, C, V]
    intra = (qc @ kc.transpose(-1, -2)) * to_mem[..., 1:, 1:] * etac[..., None, :]  # [.., C, C]
    o = a[..., 1:, :1] * (qc @ m0) + intra @ E
    if has_momentum:
        o = o + b[..., 1:, :1] * (qc @ torch.stack(p0s, dim=2))
    return o
