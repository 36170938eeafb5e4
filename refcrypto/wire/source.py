"""Where the codecs get their primitives: refcrypto's own by default, or any backend.

The conformance engine runs OpenSSL, libsodium, mbed TLS and ``cryptography`` through the
same codecs by passing one of them as ``backend``; everyday use never needs to.
"""

from __future__ import annotations

from typing import Protocol

from ..methods import Method
from ..primitives.base import AEAD, Stream

__all__ = ["OWN", "OwnPrimitives", "Primitives"]


class Primitives(Protocol):
    """Anything that can make the stream or AEAD behind a method, from raw keys."""

    def new_stream(self, method: Method, key: bytes, iv: bytes, decrypt: bool) -> Stream: ...

    def new_aead(self, method: Method, key: bytes) -> AEAD: ...


class OwnPrimitives:
    """refcrypto's own primitives: the factories of the method table."""

    __slots__ = ("__weakref__",)

    def new_stream(self, method: Method, key: bytes, iv: bytes, decrypt: bool) -> Stream:
        return method.new_stream(key, iv, decrypt)

    def new_aead(self, method: Method, key: bytes) -> AEAD:
        return method.new_aead(key)


#: The default source of every codec.
OWN = OwnPrimitives()
