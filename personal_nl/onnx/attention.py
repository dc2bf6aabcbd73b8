"""Grouped-query attention with RoPE and a KV cache as one onnxruntime operator in the decode graph.

``attention_op()`` is a torch custom op holding the reference math (rotate-half RoPE at positions
P…P+T−1, causal softmax over the grown cache, H/H_kv query heads per kv head); the exporter writes
it as onnxruntime's ``com.microsoft.GroupQueryAttention``. That one node replaces ~25 small ones per
layer, and at B = 1 small ops had cost about as much as the matmuls (docs/BENCHMARKS.md).

onnxruntime's CPU kernel reads a chunk of several tokens after a cache only at batch 1.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

OP_NAME = "hope_onnx::group_query_attention"


def reference(qkv: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor, cos: torch.Tensor,
              sin: torch.Tensor, num_heads: int, kv_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """qkv [B, T, (H + 2·H_kv)·D] after a cache [B, H_kv, P, D]; cos/sin [max_seq_len, D/2] ->
    (attention output [B, T, H·D], grown key and value caches [B, H_kv, P+T, D])."""
    B, T, _ = qkv.shape
    P, D = past_k.shape[2], past_k.shape[3]
    q, k, v = qkv.split([num_heads * D, kv_heads * D, kv_heads * D], dim=-1)
    q = q.reshape(B, T, num_heads, D).transpose(1, 2)  # [B, H, T, D]
    k = k.reshape(B, T, kv_heads, D).transpose(1, 2)  # [B, H_kv, T, D]
    v = v.reshape(B, T, kv_heads, D).transpose(1, 2)
    c, s = cos[P:P + T].repeat(1, 2), sin[P:P + T].repeat(1, 2)  # [T, D]

    def rope(x: torch.Tensor) -> torch.Tensor:
        return x * c + torch.cat([-x[..., D // 2:], x[..., :D // 2]], dim=-1) * s

    k, v = torch.cat([past_k, rope(k)], dim=2), torch.cat([past_v, v], dim=2)
    mask = torch.ones(T, P + T, dtype=torch.bool, device=qkv.device).tril(diagonal=P)
    y = F.scaled_dot_product_attention(rope(q), k, v, attn_mask=mask, enable_gqa=kv_heads != num_heads)
    return y.transpose(1, 2).reshape(B, T, num_heads * D), k, v


@functools.cache
def attention_op() -> Any:
    """The custom op, registered on first use: importing this module registers nothing."""

    @torch.library.custom_op(OP_NAME, mutates_args=())
    def group_query_attention(qkv: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor, seqlens_k: torch.Tensor,
                              total: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, num_heads: int,
                              kv_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """seqlens_k [B] int32 (P+T−1) and total (P+T) are what onnxruntime's operator reads; the
        reference math derives both from the shapes."""
        return reference(qkv, past_k, past_v, cos, sin, num_heads, kv_heads)

    @group_query_attention.register_fake
    def _(qkv, past_k, past_v, seqlens_k, total, cos, sin, num_heads, kv_heads):
        B, T, _ = qkv.shape
        H_kv, S, D = kv_heads, past_k.shape[2] + T, past_k.shape[3]
        return qkv.new_empty(B, T, num_heads * D), past_k.new_empty(B, H_kv, S, D), past_v.new_empty(B, H_kv, S, D)

    return group_query_attention


def translation_table() -> dict[Any, Any]:
    """``custom_translation_table`` for ``torch.onnx.export``: the op as GroupQueryAttention with
    rotate-half RoPE (``rotary_interleaved=0``) applied inside, and its default 1/√D scale."""
    import onnxscript
    from onnx.defs import OpSchema

    attention_op()
    param, optional = OpSchema.FormalParameter, OpSchema.FormalParameterOption.Optional
    # onnx has no schema for onnxruntime's contrib ops; onnxscript needs one to emit a node, so this
    # declares the inputs and attributes used here (names and order as in onnxruntime's ContribOperators).
    schema = OpSchema(
        "GroupQueryAttention", "com.microsoft", 1,
        inputs=[param("query", "T"), param("key", "T", param_option=optional),
                param("value", "T", param_option=optional), param("past_key", "T", param_option=optional),
                param("past_value", "T", param_option=optional), param("seqlens_k", "M"),
                param("total_sequence_length", "M"), param("cos_cache", "T", param_option=optional),
                param("sin_cache", "T", param_option=optional)],
        outputs=[param("output", "T"), param("present_key", "T"), param("present_value", "T")],
        type_constraints=[("T", ["tensor(float)"], ""), ("M", ["tensor(int32)"], "")],
        attributes=[OpSchema.Attribute(name, OpSchema.AttrType.INT, "")
                    for name in ("num_heads", "kv_num_heads", "do_rotary", "rotary_interleaved")])
    gqa = onnxscript.values.Op(onnxscript.values.Opset("com.microsoft", 1), "GroupQueryAttention", schema)

    def translate(qkv, past_k, past_v, seqlens_k, total, cos, sin, num_heads: int, kv_heads: int):
        # key and value absent: query holds q, k and v packed, as the fused projection yields them.
        return gqa(qkv, None, None, past_k, past_v, seqlens_k, total, cos, sin, num_heads=num_heads,
                   kv_num_heads=kv_heads, do_rotary=1, rotary_interleaved=0)

    return {torch.ops.hope_onnx.group_query_attention.default: translate}
