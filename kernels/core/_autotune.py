"""The one route to ``triton.autotune``: keep only the first config under ``TRITON_INTERPRET=1``.

The interpreter crashes on a multi-config autotune when no GPU driver is present (research
kernels.md §3), and timing configs on a CPU means nothing anyway. The variable is read when the
kernel is decorated, i.e. when its module is imported, like Triton's own interpreter switch.
"""

from __future__ import annotations

import os

import triton


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def autotune(configs: list[triton.Config], key: list[str], **kwargs):
    """``triton.autotune`` over ``configs`` on a GPU, over ``configs[:1]`` under the interpreter."""
    return triton.autotune(configs=configs[:1] if interpreting() else configs, key=key, **kwargs)
