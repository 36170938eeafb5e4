"""Key derivation used by Shadowsocks: password -> master key, master key -> session subkey.

Both come from pycryptodome (``Crypto.Hash``, ``Crypto.Protocol.KDF``), never from
``hashlib``, which would load OpenSSL's libcrypto into the process. The session subkey is
derived once per TCP direction and once per UDP packet, so HKDF is on a hot path: where
:mod:`.primitives._fast` is enabled it runs HMAC-SHA1 on pycryptodome's SHA-1 C code directly
(~6x faster than ``Crypto.Protocol.KDF.HKDF``, same bytes).
"""

from __future__ import annotations

from functools import lru_cache

from Crypto.Hash import MD5, SHA1
from Crypto.Protocol.KDF import HKDF

from .primitives import _fast
from .primitives.base import Buffer

__all__ = ["SUBKEY_INFO", "evp_bytes_to_key", "hkdf_sha1", "password_bytes", "session_subkey"]

#: The HKDF ``info`` string of SIP007 (shadowsocks-org whitepaper, "Key derivation").
SUBKEY_INFO = b"ss-subkey"

#: Distinct (password, key size) pairs whose master keys stay cached. Bounded, so a server
#: that sees many passwords cannot grow it without limit.
KEY_CACHE_SIZE = 1024


def password_bytes(password: str | Buffer, what: str = "password") -> bytes:
    """A password as bytes: ``str`` is encoded as UTF-8 (as Python shadowsocks' ``to_bytes``),
    any bytes-like object counts as all its bytes; anything else raises ``TypeError`` naming
    ``what``."""
    if type(password) is bytes:
        return password
    if isinstance(password, str):
        return password.encode("utf-8")
    try:
        view = memoryview(password)
    except TypeError:
        raise TypeError(
            f"{what} must be str or a bytes-like object, not {type(password).__name__}"
        ) from None
    with view:
        return view.tobytes()


@lru_cache(maxsize=KEY_CACHE_SIZE)
def evp_bytes_to_key(password: bytes, key_size: int) -> bytes:
    """OpenSSL's ``EVP_BytesToKey`` with MD5, one iteration and no salt: the key only.

    D_1 = MD5(P), D_i = MD5(D_{i-1} || P); the key is the first ``key_size`` bytes of
    D_1 || D_2 || ... (shadowsocks/shadowsocks ``cryptor.py``; the IV half that OpenSSL also
    derives is thrown away by every Shadowsocks implementation, and the chain is
    prefix-stable, so generating only ``key_size`` bytes gives the same key).

    >>> evp_bytes_to_key(b"password", 16).hex()
    '5f4dcc3b5aa765d61d8327deb882cf99'
    """
    out = b""
    digest = b""
    while len(out) < key_size:
        digest = MD5.new(digest + password).digest()
        out += digest
    return out[:key_size]


def hkdf_sha1(ikm: Buffer, salt: Buffer, info: bytes, length: int) -> bytes:
    """HKDF with SHA-1 (RFC 5869, 2.2 extract and 2.3 expand)."""
    if _fast.ENABLED:
        return _fast.hkdf_sha1(bytes(ikm), bytes(salt), info, length)
    return HKDF(bytes(ikm), length, bytes(salt), SHA1, context=info)


def session_subkey(master_key: bytes, salt: Buffer) -> bytes:
    """The SIP007 per-session subkey: HKDF-SHA1(master key, salt, ``ss-subkey``), key-sized."""
    return hkdf_sha1(master_key, salt, SUBKEY_INFO, len(master_key))
