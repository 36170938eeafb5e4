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

#: Anything the primitives accept as input bytes: any object with the buffer protocol counts
#: as its bytes (a ``memoryview`` cast to 8-byte items, an ``array.array('I')``: ``nbytes``
#: bytes, never ``len()`` items). These three are the types the annotations name.
Buffer = bytes | bytearray | memoryview

_BYTES_LIKE = "a bytes-like object (bytes, bytearray, memoryview, array.array)"


def bytes_of(data: object, what: str) -> bytes:
    """``data`` as an immutable ``bytes`` object holding all its bytes.

    ``bytes`` is returned as it is. Any other object with the buffer protocol is copied once
    (``bytes(memoryview(data))``: all ``nbytes`` bytes, whatever its item size or layout), so
    a ``bytearray`` that another thread changes afterwards cannot change what is encrypted or
    authenticated. Anything else raises ``TypeError`` naming ``what`` (e.g.
    ``"aes-128-gcm: data"``): ``bytes(5)`` would silently be five zero bytes, and
    ``bytes([1, 2])`` a list's items.
    """
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be {_BYTES_LIKE}, not {type(data).__name__}") from None
    with view:
        return view.tobytes()


def readonly_bytes(data: object, what: str) -> bytes | memoryview:
    """``data`` as bytes that cannot change while a primitive reads them, without a copy
    where that is already so.

    ``bytes``, and a ``memoryview`` whose underlying object is a ``bytes`` (the AEAD decoder
    opens chunks through such slices), are returned as they are (a view of another item size
    is cast to single bytes, so ``len()`` is its byte count); everything else goes through
    :func:`bytes_of` (one immutable copy, or ``TypeError``).
    """
    if type(data) is bytes:
        return data
    if type(data) is memoryview and type(data.obj) is bytes and data.c_contiguous:
        return data if data.format == "B" and data.ndim == 1 else data.cast("B")
    return bytes_of(data, what)


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
    key = bytes_of(key, f"{name}: key")
    if len(key) not in sizes:
        allowed = " or ".join(str(s) for s in sizes)
        raise InvalidKeySize(f"{name}: key must be {allowed} bytes, got {len(key)}")
    return key
