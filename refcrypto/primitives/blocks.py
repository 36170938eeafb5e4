"""Block ciphers from pycryptodome, as refcrypto :class:`~.base.BlockCipher` objects.

Each class wraps ONE pycryptodome ECB object created at construction (``new(key,
MODE_ECB)``), so a cipher is keyed once and can then serve any number of modes of
:mod:`refcrypto.primitives.modes`:

* :class:`AES` -- FIPS 197, 16/24/32-byte keys, 16-byte blocks;
* :class:`Blowfish` -- Schneier 1993, 4..56-byte keys, 8-byte blocks;
* :class:`CAST5` -- RFC 2144 (CAST-128), 5..16-byte keys, 8-byte blocks;
* :class:`DES` -- FIPS 46-3, 8-byte keys (parity bits ignored), 8-byte blocks;
* :class:`RC2` -- RFC 2268, 5..128-byte keys, 8-byte blocks, ``effective_bits`` default 128.

``encrypt_blocks`` is one ECB call over a whole multiple of the block size: this is the
batch entry point the modes use to encrypt every block input they know in advance.
``encrypt_block`` / ``decrypt_block`` take exactly one block. Wrong key lengths raise
:class:`~refcrypto.errors.InvalidKeySize`; wrong data lengths raise
:class:`~refcrypto.errors.RefcryptoError`; both messages name the cipher and the length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from Crypto.Cipher import AES as _AES
from Crypto.Cipher import ARC2 as _ARC2
from Crypto.Cipher import CAST as _CAST
from Crypto.Cipher import DES as _DES
from Crypto.Cipher import Blowfish as _Blowfish

from ..errors import InvalidKeySize, RefcryptoError
from .base import Buffer

__all__ = ["AES", "CAST5", "DES", "RC2", "Blowfish"]

_Transform = Callable[[Buffer], bytes]


class _ECBObject(Protocol):
    """What the adapters use of a pycryptodome ECB object."""

    def encrypt(self, plaintext: Buffer) -> bytes: ...

    def decrypt(self, ciphertext: Buffer) -> bytes: ...


def _key_in_range(name: str, key: Buffer, low: int, high: int) -> bytes:
    """Return ``key`` as bytes, or raise :class:`InvalidKeySize` naming the allowed range."""
    if not low <= len(key) <= high:
        raise InvalidKeySize(f"{name}: key must be {low}..{high} bytes, got {len(key)}")
    return bytes(key)


class _ECBAdapter:
    """Shared body of the adapters: length checks around two bound ECB methods.

    The adapter stores the ``encrypt``/``decrypt`` methods of its pycryptodome ECB object
    (another object, so no reference cycle) and calls them directly.
    """

    __slots__ = ("__weakref__", "_decrypt", "_encrypt", "key_size")

    #: Cipher name used in error messages (set by each subclass).
    name = ""
    #: Block length in bytes (set by each subclass).
    block_size: int = 0
    #: ``encrypt_blocks`` is one C call whose fixed cost outweighs hundreds of blocks, so
    #: modes may batch speculative inputs (CFB-1 encryption, see ``modes.CFB``).
    ecb_in_c = True

    def __init__(self, ecb: _ECBObject, key_size: int) -> None:
        self._encrypt: _Transform = ecb.encrypt
        self._decrypt: _Transform = ecb.decrypt
        #: Length of the key this object was made with, in bytes.
        self.key_size = key_size

    def encrypt_block(self, block: Buffer) -> bytes:
        """Encrypt exactly one block."""
        if len(block) != self.block_size:
            raise RefcryptoError(
                f"{self.name}: block must be {self.block_size} bytes, got {len(block)}"
            )
        return self._encrypt(block)

    def decrypt_block(self, block: Buffer) -> bytes:
        """Decrypt exactly one block."""
        if len(block) != self.block_size:
            raise RefcryptoError(
                f"{self.name}: block must be {self.block_size} bytes, got {len(block)}"
            )
        return self._decrypt(block)

    def encrypt_blocks(self, data: Buffer) -> bytes:
        """Encrypt ``len(data) // block_size`` consecutive blocks (ECB) in one call."""
        if len(data) % self.block_size:
            raise RefcryptoError(
                f"{self.name}: data length must be a multiple of {self.block_size} bytes, "
                f"got {len(data)}"
            )
        return self._encrypt(data)

    def decrypt_blocks(self, data: Buffer) -> bytes:
        """Decrypt ``len(data) // block_size`` consecutive blocks (ECB) in one call."""
        if len(data) % self.block_size:
            raise RefcryptoError(
                f"{self.name}: data length must be a multiple of {self.block_size} bytes, "
                f"got {len(data)}"
            )
        return self._decrypt(data)


class AES(_ECBAdapter):
    """AES (FIPS 197) over pycryptodome: ``AES(key)`` with a 16, 24 or 32-byte key."""

    __slots__ = ()
    name = "aes"
    block_size = 16

    def __init__(self, key: Buffer) -> None:
        if len(key) not in (16, 24, 32):
            raise InvalidKeySize(f"aes: key must be 16, 24 or 32 bytes, got {len(key)}")
        super().__init__(_AES.new(bytes(key), _AES.MODE_ECB), len(key))


class Blowfish(_ECBAdapter):
    """Blowfish (Schneier, FSE 1993) over pycryptodome: ``Blowfish(key)``, 4..56-byte key.

    Shadowsocks' ``bf-cfb`` uses a 16-byte key.
    """

    __slots__ = ()
    name = "blowfish"
    block_size = 8

    def __init__(self, key: Buffer) -> None:
        raw = _key_in_range(self.name, key, 4, 56)
        super().__init__(_Blowfish.new(raw, _Blowfish.MODE_ECB), len(raw))


class CAST5(_ECBAdapter):
    """CAST5 / CAST-128 (RFC 2144) over pycryptodome: ``CAST5(key)``, 5..16-byte key.

    Keys shorter than 16 bytes are zero-padded with 12 rounds up to 80 bits, as RFC 2144
    section 2.5 says (pycryptodome does this itself).
    """

    __slots__ = ()
    name = "cast5"
    block_size = 8

    def __init__(self, key: Buffer) -> None:
        raw = _key_in_range(self.name, key, 5, 16)
        super().__init__(_CAST.new(raw, _CAST.MODE_ECB), len(raw))


class DES(_ECBAdapter):
    """DES (FIPS 46-3) over pycryptodome: ``DES(key)`` with an 8-byte key.

    The low bit of each key byte is a parity bit and is ignored, as in FIPS 46-3.
    """

    __slots__ = ()
    name = "des"
    block_size = 8

    def __init__(self, key: Buffer) -> None:
        if len(key) != 8:
            raise InvalidKeySize(f"des: key must be 8 bytes, got {len(key)}")
        super().__init__(_DES.new(bytes(key), _DES.MODE_ECB), 8)


class RC2(_ECBAdapter):
    """RC2 (RFC 2268) over pycryptodome: ``RC2(key, *, effective_bits=128)``.

    ``key`` is 5..128 bytes (pycryptodome's range). ``effective_bits`` is RFC 2268's
    "effective key length in bits" T1 (40..1024 here). It defaults to 128 because
    OpenSSL's ``rc2-ecb/cbc/cfb/ofb`` -- and so Shadowsocks' ``rc2-cfb`` -- use 128
    effective bits whatever the key length (OpenSSL ``EVP_CIPHER`` key bits default;
    ``rc2-40-cbc`` / ``rc2-64-cbc`` are the exceptions).
    """

    __slots__ = ("effective_bits",)
    name = "rc2"
    block_size = 8

    def __init__(self, key: Buffer, *, effective_bits: int = 128) -> None:
        raw = _key_in_range(self.name, key, 5, 128)
        if not 40 <= effective_bits <= 1024:
            raise RefcryptoError(f"rc2: effective_bits must be 40..1024, got {effective_bits}")
        super().__init__(_ARC2.new(raw, _ARC2.MODE_ECB, effective_keylen=effective_bits), len(raw))
        #: RFC 2268 effective key length in bits.
        self.effective_bits = effective_bits
