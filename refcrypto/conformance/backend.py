"""The two backend interfaces the conformance engine runs, and refcrypto as a backend.

A **wire backend** encodes and decodes what goes on the wire, from a password, the way a
Shadowsocks implementation does (its own key derivation included)::

    tcp_encoder(method, password, iv) -> Transform     # emits IV/salt, then ciphertext/chunks
    tcp_decoder(method, password)     -> Transform     # reads IV/salt from the stream
    udp_encrypt(method, password, iv, data) -> bytes
    udp_decrypt(method, password, packet)   -> bytes

A **primitive backend** gives the primitive behind a method (``new_stream`` / ``new_aead``
with raw keys, as :class:`refcrypto.methods.Method` does); :class:`PrimitiveWire` puts
refcrypto's codecs and key derivation around it to make a wire backend.

Every backend also says whether it can run at all (``available``: ``None`` or the reason),
what it is (``describe``: library and file loaded), and per method whether it is supported
(``unsupported``: ``None`` or the reason).

These two protocols are the plug-in interface of ``refcrypto check`` (docs/backends.md), at
version :data:`API_VERSION`: a plug-in declares the version it implements as ``API_VERSION``
and is refused when it differs. A decoder's ``Transform`` may also have ``finish()``, called
at the end of a stream and raising if the stream ended inside an IV, salt or chunk; a wire
backend may also offer the batch operations ``tcp_encode``/``tcp_decode`` of
:mod:`.drive`, which the engine then uses instead of ``tcp_encoder``/``tcp_decoder``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..methods import Method
from ..primitives.base import AEAD, Buffer, Stream
from ..wire.cryptor import Password, master_key
from ..wire.source import OwnPrimitives
from ..wire.udp import decrypt_packet, encrypt_packet

__all__ = [
    "API_VERSION",
    "PrimitiveBackend",
    "PrimitiveWire",
    "RefcryptoPrimitives",
    "Transform",
    "WireBackend",
]

#: Version of the backend interface (these protocols, the optional ``finish`` and batch
#: operations). Incremented on any change a plug-in would have to follow.
API_VERSION = 1


class Transform(Protocol):
    """One direction of a TCP stream: bytes in, bytes out, state kept between calls."""

    def update(self, data: Buffer) -> bytes: ...


@runtime_checkable
class WireBackend(Protocol):
    name: str

    def available(self) -> str | None: ...

    def describe(self) -> str: ...

    def unsupported(self, method: Method) -> str | None: ...

    def tcp_encoder(self, method: Method, password: Password, iv: bytes) -> Transform: ...

    def tcp_decoder(self, method: Method, password: Password) -> Transform: ...

    def udp_encrypt(self, method: Method, password: Password, iv: bytes, data: bytes) -> bytes: ...

    def udp_decrypt(self, method: Method, password: Password, packet: bytes) -> bytes: ...


@runtime_checkable
class PrimitiveBackend(Protocol):
    name: str

    def available(self) -> str | None: ...

    def describe(self) -> str: ...

    def unsupported(self, method: Method) -> str | None: ...

    def new_stream(self, method: Method, key: bytes, iv: bytes, decrypt: bool) -> Stream: ...

    def new_aead(self, method: Method, key: bytes) -> AEAD: ...


class RefcryptoPrimitives(OwnPrimitives):
    """refcrypto's own primitives, behind the primitive-backend interface."""

    __slots__ = ()

    name = "refcrypto"

    def available(self) -> str | None:
        return None

    def describe(self) -> str:
        from .. import __version__

        return f"refcrypto {__version__} (pycryptodome and pure Python)"

    def unsupported(self, method: Method) -> str | None:
        return None if method.implemented else f"{method.primitive} not implemented"


class PrimitiveWire:
    """A wire backend made of a primitive backend, refcrypto's key derivation and codecs."""

    __slots__ = ("__weakref__", "name", "primitives")

    def __init__(self, primitives: PrimitiveBackend) -> None:
        self.primitives = primitives
        self.name = primitives.name

    def available(self) -> str | None:
        return self.primitives.available()

    def describe(self) -> str:
        return self.primitives.describe()

    def unsupported(self, method: Method) -> str | None:
        return self.primitives.unsupported(method)

    def tcp_encoder(self, method: Method, password: Password, iv: bytes) -> Transform:
        from ..wire.cryptor import new_encoder

        return new_encoder(method, master_key(password, method), iv, backend=self.primitives)

    def tcp_decoder(self, method: Method, password: Password) -> Transform:
        from ..wire.cryptor import new_decoder

        return new_decoder(method, master_key(password, method), backend=self.primitives)

    def udp_encrypt(self, method: Method, password: Password, iv: bytes, data: bytes) -> bytes:
        key = master_key(password, method)
        return encrypt_packet(method, key, data, iv, backend=self.primitives)

    def udp_decrypt(self, method: Method, password: Password, packet: bytes) -> bytes:
        key = master_key(password, method)
        return decrypt_packet(method, key, packet, backend=self.primitives)
