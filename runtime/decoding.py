"""What a conversation decodes with: onnxruntime when it is installed (the fast path), else torch.

The user's state changes after every turn (the wake step) and after every sleep or forget. None of
that re-exports anything: the decode graph takes every user-dependent tensor as an input (the wake
deltas as full matrices, the slow level as low-rank factors), and ``Decoding.reader`` turns a state
into those inputs once, not once per token. Learning and sleep stay in torch.

    decoding = Decoding(brain, precision="int8w")
    reader = decoding.reader(user_state)       # after each change of the state
    for token in reader.stream(prompt, sampling, kv_state): ...
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Protocol

from personal_nl import generate
from personal_nl.generate import Sampling
from personal_nl.model import HopeLM, State
from personal_nl.user_state import merge
from runtime import HopeError
from runtime.brain import Brain
from runtime.settings import PRECISIONS
from runtime.state import UserState

log = logging.getLogger(__name__)

# A person chooses among runtime.settings.PRECISIONS (`hope settings set precision …`, `--precision`).
# int8 with dynamic activations is not offered: it loses SmolLM2's outlier channels (88 % agreement).
BACKEND_ENV = "HOPE_DECODER"  # "torch" forces the slow path (for comparison); unset: onnxruntime if installed


class Reader(Protocol):
    """Streams a reply with one fixed user state: ``generate.stream``'s contract."""

    max_seq_len: int

    def stream(self, prompt: Sequence[int], sampling: Sampling, state: State | None
               ) -> Generator[int, None, State]: ...


@dataclass(frozen=True)
class TorchReader:
    """Eager torch over the weights with the user's deltas folded in."""

    model: HopeLM
    backend = "torch"

    @property
    def max_seq_len(self) -> int:
        return self.model.cfg.max_seq_len

    def stream(self, prompt: Sequence[int], sampling: Sampling, state: State | None) -> Generator[int, None, State]:
        return generate.stream(self.model, prompt, sampling, state)


@dataclass(frozen=True)
class OnnxReader:
    """onnxruntime over the exported graph, with the user's tensors as precomputed inputs."""

    decoder: object  # personal_nl.onnx.OnnxDecoder (onnxruntime is imported only when used)
    feeds: dict
    backend = "onnxruntime"

    @property
    def max_seq_len(self) -> int:
        return self.decoder.max_seq_len

    def stream(self, prompt: Sequence[int], sampling: Sampling, state: State | None) -> Generator[int, None, State]:
        return self.decoder.stream(prompt, sampling, state, self.feeds)


# One session per (model, precision) in a process: the app and the CLI reopen assistants on one brain.
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Decoding:
    """The decode backend of one brain at one precision: onnxruntime when it is installed and the
    model is attention-only, else eager torch (said once in the log)."""

    def __init__(self, brain: Brain, precision: str = PRECISIONS[0], *, threads: int | None = None) -> None:
        if precision not in PRECISIONS:
            raise HopeError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.brain, self.precision, self.threads = brain, precision, threads
        self._decoder = None
        self.backend = "torch" if os.environ.get(BACKEND_ENV, "").lower() == "torch" else "onnxruntime"

    def prepare(self, on_progress: Callable[[str], None] | None = None) -> None:
        """Export and load the graph now (the first time for a model: ~20 s for the default one),
        rather than inside the first reply. Falls back to torch when onnxruntime can't run it."""
        if self.backend != "onnxruntime" or self._decoder is not None:
            return
        sessions = _SESSIONS.setdefault(self.brain.model, {})
        if self.precision not in sessions:
            try:
                from personal_nl.onnx import OnnxDecoder, UnsupportedModel, cached_export
            except ImportError as err:
                return self._fall_back(f"onnxruntime is not installed ({err.name})")
            if on_progress:
                on_progress("preparing the fast decoder")
            try:
                path = cached_export(self.brain.model, precision=self.precision, slow_layers=self._slow_layers(),
                                     weights_id=self.brain.weights_id, directory=self.brain.onnx_dir,
                                     keep_fp32=self.precision == "fp32")
            except UnsupportedModel as err:
                return self._fall_back(str(err))
            except OSError as err:  # e.g. a full disk or an unwritable models folder: slower, not broken
                return self._fall_back(f"the decode graph could not be written ({err.strerror or err})")
            sessions[self.precision] = OnnxDecoder(path, threads=self.threads)
        self._decoder = sessions[self.precision]

    def _fall_back(self, why: str) -> None:
        log.info("decoding with torch: %s", why)
        self.backend = "torch"

    def _slow_layers(self) -> tuple[int, ...]:
        layers = self.brain.sleep.layers
        return tuple(range(self.brain.model.cfg.n_layers)) if layers is None else tuple(layers)

    def reader(self, state: UserState) -> Reader:
        """A reader for the model with ``state`` added to θ₀ (made once per state)."""
        self.prepare()
        model = self.brain.model
        if self.backend == "torch":
            return TorchReader(merge(model, state.deltas(model)))
        wake, low = state.decode_parts(model)  # an online level without wake deltas gets its factors
        return OnnxReader(self._decoder, self._decoder.feeds(wake, low))
