"""onnxruntime as this project uses it: imported on first use, with its telemetry off.

onnxruntime keeps a queue of usage events (device id, session id, OS, CPU, interpreter path) under
the home folder's cache to send when a network is there; a private assistant sends nothing, so every
session in the project is created after this switch.
"""

from __future__ import annotations

import functools
from types import ModuleType


@functools.cache
def runtime() -> ModuleType:
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime
