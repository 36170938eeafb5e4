"""Shadowsocks 2022 keys: the base64 PSK, and the BLAKE3 subkeys derived from it.

* SIP022 2.1: the user gives a random pre-shared key of exactly the method's key size,
  base64-encoded; no password derivation (``EVP_BytesToKey`` is forbidden).
* SIP022 2.2: ``session_subkey = blake3::derive_key("shadowsocks 2022 session subkey",
  PSK || salt)``, as many bytes as the key. On UDP (SIP022 3.2.1) the "salt" is the 8-byte
  session ID.
* SIP023 (TCP): ``identity_subkey = blake3::derive_key("shadowsocks 2022 identity subkey",
  iPSK || salt)``; every layer is named by ``blake3::hash(PSK)[0..16]``.

A client of a multi-user server (SIP023) holds a chain ``iPSK0:iPSK1:...:uPSK``: every key
but the last names an identity layer, the last is the user's own PSK.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from ...errors import InvalidPSK, MethodNotImplemented
from ...methods import Method
from ...methods import method as lookup_method
from ...primitives import blake3 as _blake3
from ...primitives.base import Buffer, bytes_of

__all__ = [
    "IDENTITY_SUBKEY_CONTEXT",
    "PSK_HASH_SIZE",
    "SESSION_SUBKEY_CONTEXT",
    "PSKInput",
    "aead_method",
    "decode_psk",
    "decode_psk_chain",
    "identity_subkey",
    "method_2022",
    "psk_hash",
    "session_subkey",
    "udp_aead_method",
]

#: BLAKE3 ``derive_key`` context of every session subkey (SIP022 2.2).
SESSION_SUBKEY_CONTEXT = "shadowsocks 2022 session subkey"
#: BLAKE3 ``derive_key`` context of a TCP identity header's key (SIP023, TCP).
IDENTITY_SUBKEY_CONTEXT = "shadowsocks 2022 identity subkey"
#: Bytes of BLAKE3(PSK) that name a PSK in an identity header: one AES block (SIP023).
PSK_HASH_SIZE = 16

#: One PSK: its base64 text (as users write it) or its raw bytes.
PSK = str | bytes | bytearray | memoryview
#: A PSK, or a chain of them (``"iPSK0:iPSK1:uPSK"`` or a sequence), last = the user's PSK.
PSKInput = PSK | Sequence[PSK]


def method_2022(method: Method | str) -> Method:
    """The table row of a Shadowsocks 2022 method; ``TypeError`` for any other method."""
    row = lookup_method(method)
    if not row.is_2022:
        raise TypeError(
            f"{row.name} is not a Shadowsocks 2022 method; use refcrypto.Cryptor "
            "(or refcrypto.methods(edition2022=True) for the 2022 names)"
        )
    return row


def decode_psk(psk: PSK, method: Method | str) -> bytes:
    """One PSK as key bytes, checked against the method's key size (SIP022 2.1).

    ``str`` is standard base64 with padding (``openssl rand -base64 32``; surrounding white
    space is ignored); bytes-like is the raw key. Raises :class:`InvalidPSK` naming the
    expected size for invalid base64 or a wrong length, ``TypeError`` for anything else.
    Unlike sing-box, which hashes a longer key down with SHA-256, a longer key is refused:
    SIP022 allows no key derivation.
    """
    row = method_2022(method)
    if isinstance(psk, str):
        try:
            key = base64.b64decode(psk.strip().encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            raise InvalidPSK(
                f"{row.name}: PSK is not valid base64 (expected the base64 of "
                f"{row.key_size} random bytes, e.g. `openssl rand -base64 {row.key_size}`)"
            ) from None
        form = "base64 PSK decodes to"
    else:
        try:
            key = bytes_of(psk, f"{row.name}: psk")
        except TypeError:
            raise TypeError(
                f"{row.name}: psk must be str (base64) or a bytes-like object (bytes, bytearray, "
                f"memoryview, array.array), not {type(psk).__name__}"
            ) from None
        form = "raw PSK is"
    if len(key) != row.key_size:
        raise InvalidPSK(f"{row.name}: PSK must be {row.key_size} bytes, {form} {len(key)}")
    return key


def decode_psk_chain(psk: PSKInput, method: Method | str) -> tuple[bytes, ...]:
    """A PSK or a SIP023 chain as key bytes, last = the user's PSK.

    A ``str`` may hold several base64 keys separated by ``:`` (the form sing-box and
    shadowsocks-rust accept); a list or tuple holds one PSK per item. Identity headers exist
    for the AES methods only (SIP023), so a chain for the ChaCha method raises
    :class:`~refcrypto.errors.MethodNotImplemented`.
    """
    row = method_2022(method)
    items: Sequence[PSK]
    if isinstance(psk, str):
        items = psk.split(":")
    elif isinstance(psk, (list, tuple)):
        items = psk
    else:
        try:
            items = (bytes_of(psk, f"{row.name}: psk"),)
        except TypeError:
            raise TypeError(
                f"{row.name}: psk must be str (base64, ':'-separated for a chain), a bytes-like "
                f"object, or a list of them, not {type(psk).__name__}"
            ) from None
    if not items:
        raise InvalidPSK(f"{row.name}: empty PSK chain")
    keys = tuple(decode_psk(item, row) for item in items)
    if len(keys) > 1 and not row.name.startswith("2022-blake3-aes-"):
        raise MethodNotImplemented(
            f"{row.name}: identity headers (SIP023) are defined for the AES methods only; "
            f"got a chain of {len(keys)} PSKs"
        )
    return keys


#: The classic row whose AEAD seals each 2022 method's TCP chunks and AES UDP bodies (SIP022
#: 3.1.1, 3.2.2): the same primitive under a BLAKE3 subkey. Codecs ask their primitive source
#: (``backend``, :mod:`refcrypto.wire.source`) for these rows, so that any backend that has the
#: AEAD can run the 2022 methods.
_AEAD_ROWS = {
    "2022-blake3-aes-128-gcm": "aes-128-gcm",
    "2022-blake3-aes-256-gcm": "aes-256-gcm",
    "2022-blake3-chacha20-poly1305": "chacha20-ietf-poly1305",
}


def aead_method(row: Method) -> Method:
    """The classic method row of the AEAD behind a 2022 method's TCP chunks (and, for the AES
    methods, its UDP bodies): ``aes-128-gcm``, ``aes-256-gcm`` or ``chacha20-ietf-poly1305``."""
    return lookup_method(_AEAD_ROWS[row.name])


def udp_aead_method(row: Method) -> Method:
    """The classic row of the AEAD that seals a 2022 method's UDP packets: that of
    :func:`aead_method`, except ``xchacha20-ietf-poly1305`` for the ChaCha method (SIP022 4.1:
    XChaCha20-Poly1305 under the PSK itself)."""
    if row.name == "2022-blake3-chacha20-poly1305":
        return lookup_method("xchacha20-ietf-poly1305")
    return aead_method(row)


def session_subkey(psk: bytes, salt: Buffer) -> bytes:
    """SIP022 2.2: BLAKE3 derive_key(session context, PSK || salt), key-sized."""
    return _blake3.derive_key(SESSION_SUBKEY_CONTEXT, psk + bytes(salt), len(psk))


def identity_subkey(ipsk: bytes, salt: Buffer) -> bytes:
    """SIP023 (TCP): BLAKE3 derive_key(identity context, iPSK || salt), key-sized."""
    return _blake3.derive_key(IDENTITY_SUBKEY_CONTEXT, ipsk + bytes(salt), len(ipsk))


def psk_hash(psk: bytes) -> bytes:
    """SIP023: the first 16 bytes of BLAKE3(PSK), the name of a PSK in an identity header."""
    return _blake3.blake3(psk, PSK_HASH_SIZE)
