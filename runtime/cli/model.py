"""`hope model import|info`: bring a pretrained Llama-family model in as a Hope checkpoint, and show
what a model file or checkpoint holds. Torch and the importers load only when a command runs."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from runtime import HopeError

model_app = typer.Typer(name="model", help="Import pretrained models and inspect checkpoints.",
                        no_args_is_help=True, add_completion=False)


@contextmanager
def _refusals() -> Iterator[None]:
    """A missing file or a model we can't convert is a HopeError: one line and exit 1 (see main())."""
    try:
        yield
    except (ValueError, OSError) as err:
        raise HopeError(str(err)) from None


@contextmanager
def _progress(label: str) -> Iterator:
    """A rich progress bar on stderr while tensors convert; silent when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda _stage, done, total: bar.update(task, completed=done, total=total)


def _default_out(source: Path) -> Path:
    from personal_nl.default_model import models_dir

    slug = re.sub(r"[^a-z0-9._-]+", "-", source.stem.lower()).strip("-.") or "model"
    return models_dir() / slug


@model_app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="A .gguf file or a Hugging Face Llama-family folder.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Checkpoint folder to write (default: $HOPE_DATA_DIR/models/<name>).")] = None,
) -> None:
    """Convert a pretrained Llama-family model into a Hope checkpoint (weights, tokenizer, chat template).

    Each layer's MLP becomes one CMS level at learning rate 0: the original model, until learning is on.

    Examples:
      hope model import SmolLM2-135M-Instruct.Q4_1.gguf --out ./smollm2
      hope model import ./my-llama-folder
    """
    from personal_nl.importers import import_model, save_imported

    target = out or _default_out(path)
    with _refusals(), _progress("converting") as on_progress:
        imported = import_model(path, on_progress=on_progress)
        save_imported(target, imported)
    cfg = imported.model.cfg
    typer.echo(f"wrote {target}: {imported.source['architecture']} → hope, {imported.model.num_params():,} "
               f"parameters, {cfg.n_layers} layers, vocab {cfg.vocab_size}")


@model_app.command("info")
def info_command(
    path: Annotated[Path | None, typer.Argument(
        help="Checkpoint folder, .gguf file or Hugging Face folder (default: the bundled default model).")] = None,
) -> None:
    """Show a model's architecture and sizes without converting it.

    Examples:
      hope model info
      hope model info ./smollm2
      hope model info SmolLM2-135M-Instruct.Q4_1.gguf
    """
    from personal_nl.default_model import CACHE_NAME, find_default_gguf, models_dir
    from personal_nl.importers import describe

    with _refusals():
        if path is None:
            cached = models_dir() / CACHE_NAME
            path = cached if cached.is_dir() else find_default_gguf()
        info = describe(path)
    rows = [
        ("path", str(path)),
        ("format", info.format),
        ("architecture", info.architecture),
        ("name", info.name),
        ("parameters", f"{info.parameters:,}"),
        ("layers", str(info.layers)),
        ("width", f"{info.d_model} ({info.heads} heads, {info.kv_heads} KV heads)"),
        ("vocab", str(info.vocab_size)),
        ("context", str(info.context)),
    ]
    if info.tensor_types:
        rows.append(("tensor types", ", ".join(info.tensor_types)))
    rows.append(("decoding", _decoding()))
    for key, value in rows:
        typer.echo(f"{key:<13} {value}")


def _decoding() -> str:
    """Which backend the chat decodes with and how often each precision keeps fp32's answer, without
    importing onnxruntime or torch."""
    from importlib import metadata, util

    from runtime.settings import AGREEMENT, PRECISIONS

    if util.find_spec("onnxruntime") is None:
        return "eager torch (onnxruntime is not installed)"
    agree = ", ".join(f"{p} {AGREEMENT[p]}" for p in PRECISIONS)
    return (f"onnxruntime {metadata.version('onnxruntime')} at {PRECISIONS[0]} unless the `precision` setting or "
            f"--precision says otherwise (top-1 agreement with fp32: {agree})")
