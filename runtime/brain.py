"""The model an assistant runs: shared weights, tokenizer, and how they learn awake and asleep."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from personal_nl.chat import ChatTokenizer
from personal_nl.consolidate import SleepConfig
from personal_nl.model import HopeLM
from runtime import HopeError


@dataclass(frozen=True)
class Brain:
    model: HopeLM  # θ₀ with its online CMS levels configured; never changed by a user
    tokenizer: ChatTokenizer
    name: str
    sleep: SleepConfig
    context_tokens: int = 2048  # prompt + reply; older turns leave the context first
    max_new_tokens: int = 256
    weights_id: str | None = None  # names θ₀ for the decode graphs' cache (None: hash the weights)
    onnx_dir: Path | None = None  # where decode graphs are cached (None: beside the converted models)

    @classmethod
    def default(cls, *, on_progress=None) -> Brain:
        """The bundled SmolLM2-135M-Instruct as Hope-Attention, learning online in the measured levels."""
        from personal_nl import default_model

        try:
            imported = default_model.load_default_model(on_progress=on_progress)
        except default_model.DefaultModelMissing as err:
            raise HopeError(str(err)) from None
        except ValueError as err:
            raise HopeError(f"the default model could not be loaded: {err}") from None
        model = default_model.with_online_learning(imported.model).eval()
        return cls(model, imported.tokenizer, "SmolLM2-135M-Instruct (Hope-Attention)", default_model.SLEEP,
                   weights_id=default_model.weights_id(imported))

    @classmethod
    def from_folder(cls, path, *, online_layers: int = 3) -> Brain:
        """A model imported with `hope model import`: its last ``online_layers`` MLPs learn online at
        the default model's measured rate; sleep uses the generic settings."""
        from personal_nl import default_model
        from personal_nl.consolidate import SleepConfig
        from personal_nl.importers import load_imported

        try:
            imported = load_imported(path)
        except (OSError, ValueError) as err:
            raise HopeError(f"the model at {path} could not be loaded: {err}") from None
        n = imported.model.cfg.n_layers
        layers = tuple(range(max(0, n - online_layers), n))
        model = default_model.with_online_learning(imported.model, layers).eval()
        context = min(2048, model.cfg.max_seq_len)
        return cls(model, imported.tokenizer, Path(path).name, SleepConfig(), context_tokens=context,
                   max_new_tokens=min(256, context // 4))
