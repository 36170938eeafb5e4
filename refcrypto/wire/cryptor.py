"""``Cryptor``: the drop-in for Python shadowsocks' ``shadowsocks.cryptor.Cryptor``.

Same constructor shape (password, method), same ``encrypt``/``decrypt`` semantics on TCP
streams, plus ``encrypt_all``/``decrypt_all`` for UDP packets, so existing code can switch by
changing an import. Two deliberate differences, both fixes:

* the decrypting side buffers the peer's IV/salt until it is complete (Python shadowsocks
  uses whatever the first read held and silently decrypts garbage when it was short);
* ``decrypt_all`` returns the plaintext only, not ``(plaintext, key, iv)``.
"""

from __future__ import annotations

import os

from ..kdf import evp_bytes_to_key, password_bytes
from ..methods import Method
from ..methods import method as lookup_method
from ..primitives.base import Buffer, bytes_of
from .aead import AeadDecoder, AeadEncoder
from .source import OWN, Primitives
from .stream import StreamDecoder, StreamEncoder
from .udp import decrypt_packet, encrypt_packet

__all__ = ["Cryptor", "decrypt_all", "encrypt_all", "master_key", "new_decoder", "new_encoder"]

Encoder = StreamEncoder | AeadEncoder
Decoder = StreamDecoder | AeadDecoder
Password = str | bytes | bytearray | memoryview


def _classic(method: Method | str) -> Method:
    """The row of a classic (stream or 2017 AEAD) method; a 2022 method is refused here, at
    once, rather than at the first byte (its key is a base64 PSK, not a password)."""
    row = lookup_method(method)
    if row.is_2022:
        raise TypeError(
            f"{row.name} is a Shadowsocks 2022 method: it takes a base64 PSK, not a password; "
            "use Cryptor2022, new_encoder_2022/new_decoder_2022 or UdpClient2022/UdpServer2022"
        )
    return row


def master_key(password: Password, method: Method | str) -> bytes:
    """The method's master key: EVP_BytesToKey(MD5) of the password, or, for ``table``
    (key size 0), the raw password bytes (EVP_BytesToKey(3))."""
    row = _classic(method)
    raw = password_bytes(password, f"{row.name}: password")
    return evp_bytes_to_key(raw, row.key_size) if row.key_size else raw


def new_encoder(
    method: Method | str, key: Buffer, iv: Buffer | None = None, *, backend: Primitives = OWN
) -> Encoder:
    """An encoder for one direction; ``iv`` (the salt, for AEAD) is random if not given.
    ``backend`` supplies the primitives (refcrypto's own by default)."""
    row = _classic(method)
    key = bytes_of(key, f"{row.name}: key")
    iv = row.check_iv(iv) if iv is not None else os.urandom(row.iv_size)
    if row.is_aead:
        return AeadEncoder(row, key, iv, backend=backend)
    return StreamEncoder(row, key, iv, backend=backend)


def new_decoder(method: Method | str, key: Buffer, *, backend: Primitives = OWN) -> Decoder:
    """A decoder for one direction; it reads the peer's IV or salt from the stream."""
    row = _classic(method)
    key = bytes_of(key, f"{row.name}: key")
    if row.is_aead:
        return AeadDecoder(row, key, backend=backend)
    return StreamDecoder(row, key, backend=backend)


class Cryptor:
    """Both directions of one Shadowsocks TCP connection.

    >>> alice, bob = Cryptor("secret", "aes-256-gcm"), Cryptor("secret", "aes-256-gcm")
    >>> bob.decrypt(alice.encrypt(b"hello"))
    b'hello'

    ``iv`` fixes the IV (salt for AEAD) of the encrypting side, for reproducible output;
    otherwise it is random per object. ``encrypt`` emits the IV/salt with the first
    non-empty write; ``encrypt(b"")`` and ``decrypt(b"")`` return ``b""``. At the end of
    the incoming stream call :meth:`finish`: it raises if the stream was cut inside an IV,
    salt or chunk.

    Any bytes-like input counts as all its bytes (``memoryview``s of any item size,
    ``array.array``); anything else raises ``TypeError``. One thread at a time per direction:
    see :class:`~refcrypto.errors.ConcurrentUse`.
    """

    __slots__ = ("__weakref__", "_decoder", "_encoder", "method")

    def __init__(self, password: Password, method: str | Method, *, iv: Buffer | None = None):
        self.method: Method = _classic(method)
        key = master_key(password, self.method)
        self._encoder = new_encoder(self.method, key, iv)
        self._decoder = new_decoder(self.method, key)

    @property
    def cipher_iv(self) -> bytes:
        """The IV (salt) this side sends; the name Python shadowsocks uses."""
        return self._encoder.iv

    def encrypt(self, data: Buffer) -> bytes:
        """Encrypt the next piece of the outgoing stream."""
        return self._encoder.update(data)

    def decrypt(self, data: Buffer) -> bytes:
        """Decrypt the next piece of the incoming stream (see the decoders for failures)."""
        return self._decoder.update(data)

    def finish(self) -> None:
        """Declare the end of the incoming stream: raise :class:`~refcrypto.TruncatedData`
        if it ended inside the peer's IV or salt or inside a chunk (what came before was
        already returned; the missing rest never will be)."""
        self._decoder.finish()


def encrypt_all(
    password: Password, method: str | Method, data: Buffer, *, iv: Buffer | None = None
) -> bytes:
    """Encrypt one UDP packet: ``IV || ciphertext`` or ``salt || ciphertext || tag``."""
    row = _classic(method)
    packet_iv = row.check_iv(iv) if iv is not None else os.urandom(row.iv_size)
    return encrypt_packet(row, master_key(password, row), data, packet_iv)


def decrypt_all(password: Password, method: str | Method, data: Buffer) -> bytes:
    """Decrypt one UDP packet made by :func:`encrypt_all` (or any Shadowsocks peer)."""
    row = _classic(method)
    return decrypt_packet(row, master_key(password, row), data)
