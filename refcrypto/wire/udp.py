"""UDP packets: every packet carries its own IV or salt and is sealed on its own.

::

    stream method:  [ IV (iv_size) ][ ciphertext ]
    AEAD method:    [ salt (key_size) ][ ciphertext ][ tag (16) ]   nonce = all zero bytes

A fresh IV/salt (and for AEAD a fresh subkey) per packet; no length field
(docs/methods-and-wire-formats.md, "UDP packets").
"""

from __future__ import annotations

from ..errors import InvalidTag, TruncatedData
from ..kdf import session_subkey
from ..methods import Method
from ..primitives.base import Buffer, bytes_of
from .source import OWN, Primitives

__all__ = ["decrypt_packet", "encrypt_packet"]


def encrypt_packet(
    method: Method, key: bytes, data: Buffer, iv: bytes, *, backend: Primitives = OWN
) -> bytes:
    """Seal one UDP packet with the given IV (stream) or salt (AEAD)."""
    iv = method.check_iv(iv)
    data = bytes_of(data, f"{method.name}: data")
    if method.is_aead:
        aead = backend.new_aead(method, session_subkey(key, iv))
        return iv + aead.seal(bytes(method.nonce_size), data)
    return iv + backend.new_stream(method, key, iv, False).update(data)


def decrypt_packet(
    method: Method, key: bytes, packet: Buffer, *, backend: Primitives = OWN
) -> bytes:
    """Open one UDP packet; raise ``TruncatedData`` if it is too short to hold its prefix
    (and tag), ``InvalidTag`` if it does not authenticate."""
    data = bytes_of(packet, f"{method.name}: packet")
    prefix = method.iv_size
    minimum = prefix + method.tag_size
    if len(data) < minimum:
        raise TruncatedData(
            f"{method.name}: UDP packet must be at least {minimum} bytes, got {len(data)}"
        )
    iv, body = data[:prefix], data[prefix:]
    if method.is_aead:
        aead = backend.new_aead(method, session_subkey(key, iv))
        try:
            return aead.open(bytes(method.nonce_size), body)
        except InvalidTag:
            raise InvalidTag(
                f"{method.name}: UDP packet failed authentication (wrong password, or altered)"
            ) from None
    return backend.new_stream(method, key, iv, True).update(body)
