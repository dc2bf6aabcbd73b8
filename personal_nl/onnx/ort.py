"""onnxruntime as this project uses it: imported on first use, with its telemetry off.

onnxruntime keeps a queue of usage events (device id, session id, OS, CPU, interpreter path) in
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` to send when a network is there, created as soon as
it is imported. A private assistant sends and keeps nothing of the kind: ``ORT_DISABLE_TELEMETRY=1``
(set by ``personal_nl.onnx`` before onnxruntime can be imported) stops the queue from being created,
and the API switch below stops the events themselves.
"""

from __future__ import annotations

import functools
from types import ModuleType


@functools.cache
def runtime() -> ModuleType:
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime
