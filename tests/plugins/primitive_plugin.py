"""A primitive-backend plug-in (docs/backends.md): the primitives of a few methods, which
refcrypto runs inside its own codecs and against the published known answers. Here they
are pycryptodome's, called directly."""

from __future__ import annotations

from Crypto.Cipher import AES

from refcrypto.errors import InvalidTag
from refcrypto.methods import Method
from refcrypto.primitives.base import AEAD, Buffer, Stream

API_VERSION = 1


class _Stream:
    def __init__(self, cipher: object, decrypt: bool) -> None:
        self.cipher, self.decrypt = cipher, decrypt

    def update(self, data: Buffer) -> bytes:
        run = self.cipher.decrypt if self.decrypt else self.cipher.encrypt  # type: ignore[attr-defined]
        return bytes(run(bytes(data)))


class _Gcm:
    key_size, nonce_size, tag_size = 0, 12, 16

    def __init__(self, key: bytes) -> None:
        self.key, self.key_size = key, len(key)

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        cipher = AES.new(self.key, AES.MODE_GCM, nonce=bytes(nonce), mac_len=16)
        cipher.update(bytes(aad))
        body, tag = cipher.encrypt_and_digest(bytes(plaintext))
        return bytes(body + tag)

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        data = bytes(data)
        cipher = AES.new(self.key, AES.MODE_GCM, nonce=bytes(nonce), mac_len=16)
        cipher.update(bytes(aad))
        try:
            return bytes(cipher.decrypt_and_verify(data[:-16], data[-16:]))
        except ValueError:
            raise InvalidTag("tag does not verify") from None


class Backend:
    name = "pycryptodome-direct"

    def available(self) -> str | None:
        return None

    def describe(self) -> str:
        return "AES-CFB and AES-GCM of pycryptodome, called directly (tests/plugins)"

    def unsupported(self, method: Method) -> str | None:
        if method.name in ("aes-128-cfb", "aes-256-cfb", "aes-128-gcm", "aes-256-gcm"):
            return None
        return "only aes-128/256-cfb and aes-128/256-gcm"

    def new_stream(self, method: Method, key: bytes, iv: bytes, decrypt: bool) -> Stream:
        return _Stream(AES.new(key, AES.MODE_CFB, iv=iv, segment_size=128), decrypt)

    def new_aead(self, method: Method, key: bytes) -> AEAD:
        return _Gcm(key)
