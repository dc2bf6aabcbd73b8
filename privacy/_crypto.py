"""Hazmat layer: AES-256-GCM, Argon2id, key wrapping and the associated-data layout.

Only privacy/ imports this module. Every nonce, key, salt and KDF parameter is chosen here, so no
caller of the public API can pick a weak one. All authentication failures surface as
`Tampered` (or `WrongPassphrase` where the key came from a passphrase) - never as `InvalidTag`,
which would leak the hazmat layer into callers' except clauses.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privacy.errors import Tampered

Rng = Callable[[int], bytes]

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's native nonce size; random nonces, one encryption per data key
SALT_BYTES = 16

# Floor for every stored parameter set (design.md "Storage and keys"): 64 MiB, t = 3.
FLOOR_MEMORY_KIB = 64 * 1024
FLOOR_ITERATIONS = 3
LANES = 4  # RFC 9106 section 4 recommendation; costs no time on fewer cores, memory is the defence
MAX_COST = 16  # 1 GiB: above this a typo would swap a laptop to death


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters stored in the vault header; construction refuses anything below the floor."""

    memory_kib: int
    iterations: int
    lanes: int
    salt: bytes

    def __post_init__(self) -> None:
        if self.memory_kib < FLOOR_MEMORY_KIB or self.iterations < FLOOR_ITERATIONS:
            # Only a damaged or hand-edited header can hold weaker parameters: we never write them.
            raise Tampered()
        if not 1 <= self.lanes <= 64 or len(self.salt) != SALT_BYTES:
            raise Tampered()
        if self.memory_kib > FLOOR_MEMORY_KIB * MAX_COST:
            raise Tampered()

    @classmethod
    def for_cost(cls, cost: int, rng: Rng) -> KdfParams:
        """Fresh salt; memory = cost x 64 MiB, so raising the cost later is one integer."""
        if isinstance(cost, bool) or not isinstance(cost, int):
            raise TypeError(f"kdf_cost must be an int, got {type(cost).__name__}")
        if not 1 <= cost <= MAX_COST:
            raise ValueError(f"kdf_cost must be between 1 and {MAX_COST}, got {cost}")
        return cls(FLOOR_MEMORY_KIB * cost, FLOOR_ITERATIONS, LANES, rng(SALT_BYTES))

    @property
    def cost(self) -> int:
        return self.memory_kib // FLOOR_MEMORY_KIB

    def fields(self) -> tuple[int, int, int, str]:
        """The parameters as associated-data fields, so editing the header breaks the wrap."""
        return (self.memory_kib, self.iterations, self.lanes, self.salt.hex())


def passphrase_bytes(passphrase: str) -> bytes:
    """NFC-normalised UTF-8, so the same passphrase typed on another OS derives the same key."""
    if not isinstance(passphrase, str):
        raise TypeError(f"passphrase must be a str, got {type(passphrase).__name__}")
    if not passphrase:
        raise ValueError("passphrase must not be empty")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def derive_key(passphrase: bytes, params: KdfParams) -> bytes:
    """Passphrase -> 256-bit key with Argon2id (the slow step of unlocking)."""
    kdf = Argon2id(
        salt=params.salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return kdf.derive(passphrase)


def subkey(master: bytes, label: str, salt: bytes) -> bytes:
    """Independent 256-bit key per purpose (HKDF-SHA256), so no key serves two algorithms."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=label.encode()).derive(master)


def aad(label: str, *fields: str | int) -> bytes:
    """Associated data: a label and fields, each length-prefixed so no two layouts collide."""
    parts = [b"hope-aad-v1"]
    for field in (label, *fields):
        if isinstance(field, bool) or not isinstance(field, str | int):
            raise TypeError(f"associated-data field must be str or int, got {type(field).__name__}")
        data = str(field).encode("utf-8")
        parts.append(len(data).to_bytes(4, "big") + data)
    return b"".join(parts)


def new_key(rng: Rng) -> bytes:
    key = rng(KEY_BYTES)
    assert len(key) == KEY_BYTES, "rng returned the wrong number of bytes"
    return key


def seal(key: bytes, plaintext: bytes, associated: bytes, rng: Rng) -> bytes:
    """AES-256-GCM with a fresh random nonce; returns nonce || ciphertext || tag."""
    nonce = rng(NONCE_BYTES)
    assert len(nonce) == NONCE_BYTES, "rng returned the wrong number of bytes"
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    """Inverse of `seal`; any wrong key, nonce, associated data or byte raises `Tampered`."""
    if not isinstance(sealed, bytes) or len(sealed) < NONCE_BYTES + 16:
        raise Tampered()
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
    except InvalidTag:
        raise Tampered() from None


def wrap_key(kek: bytes, data_key: bytes, associated: bytes, rng: Rng) -> bytes:
    """Encrypt a data key under the key-encryption key, bound to the owning record's identity."""
    assert len(data_key) == KEY_BYTES
    return seal(kek, data_key, associated, rng)


def unwrap_key(kek: bytes, wrapped: bytes, associated: bytes) -> bytes:
    data_key = open_sealed(kek, wrapped, associated)
    if len(data_key) != KEY_BYTES:
        raise Tampered()
    return data_key


def mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def mac_matches(key: bytes, message: bytes, tag: object) -> bool:
    """Constant-time check; a tag of the wrong type (an edited database cell) simply fails."""
    return isinstance(tag, str) and hmac.compare_digest(mac(key, message), tag)


def digest(data: bytes) -> str:
    """SHA-256 hex of ciphertext bytes: what the audit log records instead of content."""
    return hashlib.sha256(data).hexdigest()
