"""A byte-level tokenizer for natively trained Hope models: every text encodes, nothing is unknown."""

from __future__ import annotations


class ByteTokenizer:
    """UTF-8 bytes 0–255, then BOS, EOS and PAD (vocab 259, the native presets' vocab_size)."""

    bos_id, eos_id, pad_id = 256, 257, 258
    vocab_size = 259

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        ids = list(text.encode("utf-8"))
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: list[int]) -> str:
        """Special ids are dropped; a byte sequence cut inside a character decodes with U+FFFD."""
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")
