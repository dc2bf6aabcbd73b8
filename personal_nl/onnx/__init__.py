"""An onnxruntime backend for decoding attention (Llama-converted) Hope models, split by job:

    graph.py      the model's math as one exportable graph; user-dependent tensors are inputs
    attention.py  GroupQueryAttention with RoPE and the KV cache as one onnxruntime node
    quantize.py   int8 / int8 weight-only / int4 copies of an fp32 export
    cache.py      exports on disk, keyed by a fingerprint of what they depend on
    decoder.py    a session that streams tokens like ``personal_nl.generate.stream``
    ort.py        onnxruntime imported with its telemetry off

onnxruntime is an optional dependency (the ``onnx`` extra); importing this package does not load it,
but it does turn onnxruntime's telemetry off for the process (see ``ort.py``): the switch is read when
onnxruntime is imported, so it is set here, before any module of ours can import it.
"""

import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"

from personal_nl.onnx.cache import cached_export, fingerprint, onnx_dir
from personal_nl.onnx.decoder import Feeds, LowRank, OnnxDecoder
from personal_nl.onnx.graph import UnsupportedModel, check_supported, export, online_level_keys
from personal_nl.onnx.quantize import PRECISIONS, QUANTIZED, Precision, quantize

__all__ = ["PRECISIONS", "QUANTIZED", "Feeds", "LowRank", "OnnxDecoder", "Precision", "UnsupportedModel",
           "cached_export", "check_supported", "export", "fingerprint", "onnx_dir", "online_level_keys", "quantize"]
