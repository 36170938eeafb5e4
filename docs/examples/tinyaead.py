"""A small Shadowsocks AEAD implementation, and the refcrypto check plug-in that tests it.

    refcrypto check -b docs/examples/tinyaead.py:Backend -m aes-256-gcm --quick
    PYTHONPATH=docs/examples refcrypto check -b tinyaead:Backend --quick

``Backend`` is the plug-in (docs/backends.md); the code above it stands for "your
implementation": written here from the Shadowsocks AEAD specification (SIP004 chunks, SIP007
subkeys) on pycryptodome, independently of refcrypto. ``LenientLengthBackend`` has one planted
defect, the one shadowsocks-libev has: it masks the two reserved bits of a chunk length
instead of rejecting them. Every check passes except ``negative``, which names the case.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from Crypto.Cipher import AES, ChaCha20_Poly1305
from Crypto.Hash import SHA1
from Crypto.Protocol.KDF import HKDF

from refcrypto.methods import Method  # only for the type hints of the plug-in

API_VERSION = 1  # the refcrypto backend interface this plug-in implements

CIPHERS = {"aes-128-gcm": 16, "aes-192-gcm": 24, "aes-256-gcm": 32,
           "chacha20-ietf-poly1305": 32}
TAG, LIMIT = 16, 0x3FFF


class BadStream(ValueError):
    pass


def master_key(password: bytes, size: int) -> bytes:
    """EVP_BytesToKey with MD5: D1 = MD5(pw), Di = MD5(D(i-1) || pw)."""
    out, block = b"", b""
    while len(out) < size:
        block = hashlib.md5(block + password).digest()
        out += block
    return out[:size]


def cipher(method: str, key: bytes, counter: int) -> Any:
    nonce = counter.to_bytes(12, "little")
    if method.startswith("aes"):
        return AES.new(key, AES.MODE_GCM, nonce=nonce, mac_len=TAG)
    return ChaCha20_Poly1305.new(key=key, nonce=nonce)


class Session:
    """One direction of a TCP connection (encode or decode), or one UDP packet."""

    def __init__(self, method: str, password: bytes, mask_length: bool = False) -> None:
        self.method, self.size = method, CIPHERS[method]
        self.key = master_key(password, self.size)
        self.mask_length = mask_length
        self.subkey, self.counter, self.buffer = b"", 0, b""
        self.salt_out = b""

    def start(self, salt: bytes) -> None:
        self.subkey = HKDF(self.key, self.size, salt, SHA1, context=b"ss-subkey")

    def seal(self, data: bytes) -> bytes:
        c = cipher(self.method, self.subkey, self.counter)
        self.counter += 1
        body, tag = c.encrypt_and_digest(data)
        return bytes(body + tag)

    def open(self, data: bytes) -> bytes:
        c = cipher(self.method, self.subkey, self.counter)
        self.counter += 1
        try:
            return bytes(c.decrypt_and_verify(data[:-TAG], data[-TAG:]))
        except ValueError:
            raise BadStream("tag does not verify") from None

    def encode(self, data: bytes) -> bytes:
        if not data:
            return b""  # the salt goes out with the first non-empty write
        out = [self.salt_out]
        self.salt_out = b""
        for start in range(0, len(data), LIMIT):
            piece = data[start : start + LIMIT]
            out += [self.seal(len(piece).to_bytes(2, "big")), self.seal(piece)]
        return b"".join(out)

    def decode(self, data: bytes) -> bytes:
        self.buffer += data
        if not self.subkey:
            if len(self.buffer) < self.size:
                return b""
            self.start(self.buffer[: self.size])
            self.buffer = self.buffer[self.size :]
        out = []
        while len(self.buffer) >= 2 + TAG:
            length = int.from_bytes(self.open(self.buffer[: 2 + TAG]), "big")
            if self.mask_length:
                length &= LIMIT
            if not 0 < length <= LIMIT:
                raise BadStream(f"chunk length {length:#x}")
            if len(self.buffer) < 2 + TAG + length + TAG:
                self.counter -= 1  # open the length chunk again when the payload is here
                break
            out.append(self.open(self.buffer[2 + TAG : 2 + TAG + length + TAG]))
            self.buffer = self.buffer[2 + TAG + length + TAG :]
        return b"".join(out)

    def finish(self) -> None:
        if self.buffer or (self.subkey and not self.counter):
            raise BadStream("the stream ended inside the salt or a chunk")


# --- the plug-in: refcrypto's wire-backend interface around the code above ---------------


class Backend:
    name = "tinyaead"
    mask_length = False

    def available(self) -> str | None:
        return None  # it can always run

    def describe(self) -> str:
        return "tinyaead (docs/examples/tinyaead.py, on pycryptodome)"

    def unsupported(self, method: Method) -> str | None:
        return None if method.name in CIPHERS else "tinyaead has AEAD methods only"

    def tcp_encoder(self, method: Method, password: str | bytes, iv: bytes) -> _Transform:
        session = Session(method.name, _bytes(password))
        session.start(iv)
        session.salt_out = iv
        return _Transform(session.encode, session.finish)

    def tcp_decoder(self, method: Method, password: str | bytes) -> _Transform:
        session = Session(method.name, _bytes(password), self.mask_length)
        return _Transform(session.decode, session.finish)

    def udp_encrypt(self, method: Method, password: str | bytes, iv: bytes,
                    data: bytes) -> bytes:
        session = Session(method.name, _bytes(password))
        session.start(iv)
        return iv + session.seal(data)

    def udp_decrypt(self, method: Method, password: str | bytes, packet: bytes) -> bytes:
        session = Session(method.name, _bytes(password))
        if len(packet) < session.size + TAG:
            raise BadStream("packet shorter than salt and tag")
        session.start(packet[: session.size])
        return session.open(packet[session.size :])


class LenientLengthBackend(Backend):
    """The planted defect: reserved length bits are masked off, not rejected."""

    name = "tinyaead-lenient"
    mask_length = True

    def describe(self) -> str:
        return "tinyaead with a PLANTED DEFECT: reserved length bits masked"


class _Transform:
    """What the engine calls: ``update(data) -> bytes``, and ``finish()`` at the end."""

    def __init__(self, update: Callable[[bytes], bytes], finish: Callable[[], None]) -> None:
        self.update, self.finish = update, finish


def _bytes(password: str | bytes) -> bytes:
    return password.encode() if isinstance(password, str) else bytes(password)
