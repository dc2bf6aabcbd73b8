"""Known-answer tests: published AES-256-GCM and Argon2id vectors, checked through the same library
calls privacy/_crypto makes (cryptography's AESGCM and Argon2id are the oracle)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from privacy import Tampered, _crypto

VECTORS = Path(__file__).parent / "vectors"
GCM = json.loads((VECTORS / "aes_gcm_256.json").read_text())["cases"]
ARGON = json.loads((VECTORS / "argon2id_rfc9106.json").read_text())


def _hex(case: dict, name: str) -> bytes:
    return bytes.fromhex(case[name])


@pytest.mark.parametrize("case", GCM, ids=[c["name"] for c in GCM])
def test_aes_gcm_encrypts_to_published_ciphertext_and_tag(case: dict) -> None:
    out = AESGCM(_hex(case, "key")).encrypt(_hex(case, "iv"), _hex(case, "plaintext"), _hex(case, "aad"))
    assert out == _hex(case, "ciphertext") + _hex(case, "tag")


@pytest.mark.parametrize("case", GCM, ids=[c["name"] for c in GCM])
def test_open_sealed_reads_the_published_layout(case: dict) -> None:
    """Our stored layout is nonce || ciphertext || tag: the vector, laid out so, must open."""
    sealed = _hex(case, "iv") + _hex(case, "ciphertext") + _hex(case, "tag")
    assert _crypto.open_sealed(_hex(case, "key"), sealed, _hex(case, "aad")) == _hex(case, "plaintext")


@pytest.mark.parametrize("case", GCM, ids=[c["name"] for c in GCM])
def test_aes_gcm_vector_with_a_flipped_tag_bit_is_refused(case: dict) -> None:
    tag = bytearray(_hex(case, "tag"))
    tag[-1] ^= 0x01
    with pytest.raises(InvalidTag):
        AESGCM(_hex(case, "key")).decrypt(_hex(case, "iv"), _hex(case, "ciphertext") + bytes(tag), _hex(case, "aad"))
    with pytest.raises(Tampered):
        _crypto.open_sealed(
            _hex(case, "key"), _hex(case, "iv") + _hex(case, "ciphertext") + bytes(tag), _hex(case, "aad")
        )


def test_argon2id_matches_rfc9106_vector() -> None:
    kdf = Argon2id(
        salt=_hex(ARGON, "salt"),
        length=ARGON["tag_length"],
        iterations=ARGON["iterations"],
        lanes=ARGON["lanes"],
        memory_cost=ARGON["memory_kib"],
        ad=_hex(ARGON, "ad"),
        secret=_hex(ARGON, "secret"),
    )
    assert kdf.derive(_hex(ARGON, "password")) == _hex(ARGON, "tag")


def test_derive_key_is_argon2id_with_the_stored_parameters() -> None:
    params = _crypto.KdfParams.for_cost(1, lambda n: b"\x02" * n)
    expected = Argon2id(salt=b"\x02" * 16, length=32, iterations=3, lanes=4, memory_cost=65536).derive(b"pw")
    assert _crypto.derive_key(b"pw", params) == expected


def test_kdf_floor_is_64_mib_and_three_passes() -> None:
    params = _crypto.KdfParams.for_cost(1, lambda n: b"\x00" * n)
    assert (params.memory_kib, params.iterations) == (64 * 1024, 3)


@pytest.mark.parametrize(("memory_kib", "iterations"), [(64 * 1024 - 1, 3), (64 * 1024, 2), (32, 3)])
def test_kdf_parameters_below_the_floor_are_refused(memory_kib: int, iterations: int) -> None:
    with pytest.raises(Tampered):
        _crypto.KdfParams(memory_kib, iterations, 4, b"\x00" * 16)


@pytest.mark.parametrize(("cost", "error"), [(0, ValueError), (17, ValueError), (1.5, TypeError), (True, TypeError)])
def test_kdf_cost_outside_its_range_is_a_caller_error(cost: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        _crypto.KdfParams.for_cost(cost, lambda n: b"\x00" * n)  # type: ignore[arg-type]


def test_associated_data_fields_cannot_be_shifted_between_positions() -> None:
    assert _crypto.aad("meta", "ab", "c") != _crypto.aad("meta", "a", "bc")
    assert _crypto.aad("meta", 1, "x") != _crypto.aad("meta", "1x")
