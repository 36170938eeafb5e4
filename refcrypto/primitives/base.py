"""The three small interfaces every primitive implements (after Go's crypto/cipher).

* :class:`BlockCipher` -- a keyed permutation on ``block_size``-byte blocks.
* :class:`Stream` -- one direction of a stream cipher or stream mode. ``update`` keeps
  its state between calls, so ``update(a) + update(b) == update(a + b)`` for every split.
  Encryption and decryption are separate objects because CFB is not an XOR keystream:
  its feedback is the ciphertext, whichever direction runs.
* :class:`AEAD` -- ``seal`` / ``open`` with an explicit nonce and no associated data
  beyond what the caller passes; ``open`` raises :class:`~refcrypto.errors.InvalidTag`
  and never returns partial plaintext.

Sizes are in bytes everywhere. Implementations are plain objects with no reference back to
themselves (no stored bound methods of ``self``, no closures over ``self``, no ``__del__``),
so they are freed the moment their last reference goes.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..errors import InvalidKeySize

#: Anything the primitives accept as input bytes.
Buffer = bytes | bytearray | memoryview


@runtime_checkable
class BlockCipher(Protocol):
    """A block cipher keyed at construction: ``Cipher(key)``."""

    #: Block length in bytes (8 for Blowfish/CAST5/DES/IDEA/RC2, 16 for AES/Camellia/SEED).
    block_size: int

    def encrypt_block(self, block: bytes) -> bytes:
        """Encrypt exactly one block."""
        ...

    def decrypt_block(self, block: bytes) -> bytes:
        """Decrypt exactly one block."""
        ...

    def encrypt_blocks(self, data: bytes) -> bytes:
        """Encrypt ``len(data) // block_size`` consecutive blocks (ECB); ``len(data)``
        must be a multiple of ``block_size``. Modes whose block inputs are all known in
        advance (CFB decryption, CTR, CFB-1 decryption) call this once per write."""
        ...


@runtime_checkable
class Stream(Protocol):
    """One direction of a stream cipher: state carries across ``update`` calls."""

    def update(self, data: Buffer) -> bytes:
        """Transform ``data`` and return as many bytes as were given."""
        ...


@runtime_checkable
class AEAD(Protocol):
    """An AEAD keyed at construction: ``seal``/``open`` one message per nonce."""

    @property
    def key_size(self) -> int: ...

    @property
    def nonce_size(self) -> int: ...

    @property
    def tag_size(self) -> int: ...

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        """Return ``ciphertext || tag``."""
        ...

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        """Verify and decrypt ``ciphertext || tag``; raise ``InvalidTag`` on any mismatch."""
        ...


def check_key_size(name: str, key: Buffer, *sizes: int) -> bytes:
    """Return ``key`` as bytes, or raise :class:`InvalidKeySize` naming the allowed sizes."""
    if len(key) not in sizes:
        allowed = " or ".join(str(s) for s in sizes)
        raise InvalidKeySize(f"{name}: key must be {allowed} bytes, got {len(key)}")
    return bytes(key)
