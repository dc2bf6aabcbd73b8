"""Training data, offline only (environment.md): text corpora that ship inside Python packages, and the
synthetic tasks of ``personal_nl.tasks``, as batches that are pure functions of (seed, index).

Text comes from Python's own ``pydoc_data`` (always present) and, when installed, the optional
``chitchat_dataset`` and ``shakespeare`` (``shksprdata``) packages; a missing optional corpus is
skipped with a log line, never an error. Documents are split train / held-out by a hash of their
name, so the split never depends on which other corpora are present or on their order.

Because batch k is computed from (seed, k) and nothing else, a resumed run continues exactly by
asking for batch k again; the data position is just the number of batches consumed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import torch

from personal_nl.tasks import IGNORE, PAD, TASKS, Batch, Task
from personal_nl.tokenizer import ByteTokenizer

log = logging.getLogger(__name__)

CORPORA = ("pydoc", "chitchat", "shakespeare")
_PACKAGES = {"pydoc": "pydoc_data", "chitchat": "chitchat_dataset", "shakespeare": "shksprdata"}


class TextData(NamedTuple):
    train: torch.Tensor  # [N] int16 token ids, documents separated by EOS
    held_out: torch.Tensor  # [M] int16


def _package_dir(package: str) -> Path | None:
    """The package's folder, found without importing it (importing is for code, we want its files)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def available_corpora() -> list[str]:
    """The corpora this machine has: pydoc always, the others when their package is installed."""
    return [name for name in CORPORA if _package_dir(_PACKAGES[name]) is not None]


def documents(name: str) -> list[tuple[str, str]]:
    """(document id, text) pairs of one corpus, in a fixed order."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose from {', '.join(CORPORA)}")
    folder = _package_dir(_PACKAGES[name])
    if folder is None:
        raise ValueError(f"corpus {name!r} needs the {_PACKAGES[name]!r} package, which is not installed")
    if name == "pydoc":
        from pydoc_data.topics import topics
        return sorted(topics.items())
    if name == "chitchat":
        dialogues = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        # each dialogue is a list of turns, a turn a list of one speaker's messages: one line per turn
        return [(key, "\n".join(" ".join(m["text"] for m in turn) for turn in conv["messages"]))
                for key, conv in sorted(dialogues.items())]
    # shksprdata ships each play twice (modern '*_gut.txt' and First Folio '*_gut_f.txt'): keep one
    plays = sorted(p for p in (folder / "texts").glob("*_gut.txt"))
    return [(p.stem, p.read_text(encoding="utf-8", errors="replace")) for p in plays]


def is_held_out(corpus: str, doc_id: str, fraction: float) -> bool:
    """Deterministic document-level split: a stable hash of the document's name, not its position."""
    return zlib.crc32(f"{corpus}/{doc_id}".encode()) % 10_000 < fraction * 10_000


@functools.lru_cache(maxsize=8)
def load_text(corpora: tuple[str, ...] | None = None, held_out: float = 0.1) -> TextData:
    """Byte tokens of the chosen corpora (default: every available one), split by document."""
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out}")
    unknown = [c for c in corpora or () if c not in CORPORA]
    if unknown:
        raise ValueError(f"unknown corpus {unknown[0]!r}; choose from {', '.join(CORPORA)}")
    present = available_corpora()
    for name in corpora or ():
        if name not in present:
            log.warning("corpus %s skipped: package %s is not installed", name, _PACKAGES[name])
    names = [c for c in (corpora or CORPORA) if c in present]
    if not names:
        raise ValueError(f"none of the corpora {list(corpora or CORPORA)} is installed")
    tok = ByteTokenizer()
    parts: dict[bool, list[int]] = {False: [], True: []}
    for name in names:
        for doc_id, text in documents(name):
            parts[is_held_out(name, doc_id, held_out)].extend(tok.encode(text, eos=True))
    log.info("text corpora %s: %d train tokens, %d held-out", ",".join(names), len(parts[False]), len(parts[True]))
    if not parts[True] or not parts[False]:
        raise ValueError(f"held_out={held_out} leaves one side of the split empty for corpora {names}")
    return TextData(torch.tensor(parts[False], dtype=torch.int16), torch.tensor(parts[True], dtype=torch.int16))


def _generator(seed: int, stream: str, index: int) -> torch.Generator:
    """A generator for item ``index`` of a named stream: independent of every other (seed, stream, index)."""
    digest = hashlib.blake2b(f"{seed}/{stream}/{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") >> 1)


def batches(tokens: torch.Tensor, batch_size: int, seq_len: int, *, seed: int = 0, start: int = 0,
            shuffle: bool = True) -> Iterator[Batch]:
    """Endless batches of fixed-length windows: ids [B, seq_len] and the next tokens as targets.

    Windows do not overlap; each epoch visits all of them in an order drawn from (seed, epoch), so
    batch ``start`` is the same whether reached by iterating or by asking for it directly.
    """
    if batch_size <= 0 or seq_len <= 0:
        raise ValueError(f"batch_size and seq_len must be positive, got {batch_size} and {seq_len}")
    n_windows = (tokens.numel() - 1) // seq_len
    if n_windows < 1:
        raise ValueError(f"{tokens.numel()} tokens are too few for one window of seq_len {seq_len}")
    orders: dict[int, torch.Tensor] = {}

    def window(flat: int) -> torch.Tensor:
        epoch, i = divmod(flat, n_windows)
        if shuffle:
            if epoch not in orders:
                orders.clear()
                orders[epoch] = torch.randperm(n_windows, generator=_generator(seed, "windows", epoch))
            i = int(orders[epoch][i])
        return tokens[i * seq_len:(i + 1) * seq_len + 1].long()

    index = start
    while True:
        rows = torch.stack([window(index * batch_size + r) for r in range(batch_size)])
        yield Batch(rows[:, :-1], rows[:, 1:].clone())
        index += 1


def pad(batch: Batch, seq_len: int) -> Batch:
    """Right-pad a task batch to seq_len with PAD tokens that carry no loss."""
    B, T = batch.ids.shape
    if seq_len < T:
        raise ValueError(f"seq_len {seq_len} is shorter than the task's rows ({T} tokens)")
    if seq_len == T:
        return batch
    extra = seq_len - T

    def grow(x: torch.Tensor, fill: int) -> torch.Tensor:
        return torch.cat([x, x.new_full((B, extra), fill)], dim=1)

    return Batch(grow(batch.ids, PAD), grow(batch.targets, IGNORE),
                 None if batch.group is None else grow(batch.group, -1))


def make_task(name: str, **params: Any) -> Task:
    """A synthetic task by name (see ``personal_nl.tasks.TASKS``), with its parameters."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from text, {', '.join(TASKS)}")
    return TASKS[name](**params)


def task_batches(task: Task, batch_size: int, seq_len: int | None = None, *, seed: int = 0, start: int = 0,
                 stream: str = "train") -> Iterator[Batch]:
    """Endless batches of a synthetic task; batch k is drawn from (seed, stream, k), so the train and
    eval streams never share an example generator."""
    index = start
    while True:
        batch = task.sample(batch_size, _generator(seed, stream, index))
        yield batch if seq_len is None else pad(batch, seq_len)
        index += 1


def source_batches(source: str, batch_size: int, seq_len: int | None, *, seed: int = 0, start: int = 0,
                   split: str = "train", corpora: tuple[str, ...] | None = None) -> Iterator[Batch]:
    """One entry point for training and evaluation: ``source`` is 'text' or a task name; ``split``
    'train' or 'eval' (held-out documents for text, a separate generator stream for tasks). For text
    ``seq_len`` is required; eval text batches come in corpus order, unshuffled."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    if source == "text":
        if seq_len is None:
            raise ValueError("text batches need a seq_len")
        data = load_text(corpora)
        tokens = data.train if split == "train" else data.held_out
        return batches(tokens, batch_size, seq_len, seed=seed, start=start, shuffle=split == "train")
    return task_batches(make_task(source), batch_size, seq_len, seed=seed, start=start, stream=split)
