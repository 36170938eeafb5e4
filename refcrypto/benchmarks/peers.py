"""The implementations a benchmark compares, behind one small interface.

Every peer turns ``(method, password)`` into plain callables, so the timing loop is the same
for all of them and measures only the implementation:

* ``encoder(method)`` -- ``write(data) -> wire`` for one TCP direction, its IV/salt already
  sent (the first write is made before timing starts);
* ``decoder(method, wire, plain)`` -- ``read(piece) -> data`` for a stream whose first piece
  (IV/salt and first chunk) ``wire[0]`` it has already read, and the inputs to time (the
  rest of ``wire``; ``plain``, the plaintext of one piece, for the floor);
* ``udp_encrypt(method)`` / ``udp_decrypt(method)`` -- one packet each call, key derivation
  and a fresh IV/salt included, as a UDP relay does per packet;
* ``creator(method)`` -- ``make() -> object``: what a server does per new connection.

The peers: refcrypto; the Python shadowsocks package on native libraries; pproxy; "pycryptodome,
same seals" (:class:`SealsPeer`: the Shadowsocks AEAD framing written on pycryptodome's public
API, one cipher object per seal, the design refcrypto's fast paths improve on); and the floor
(:class:`PycryptodomePeer`: one pycryptodome object, one call per write).

A peer that cannot run says why (``unavailable``); one that lacks a method says so
(``unsupported``). Third-party packages are imported on first use only.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import os
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from ..methods import Method
from ..wire.aead import MAX_CHUNK_PAYLOAD
from ..wire.cryptor import Cryptor, decrypt_all, encrypt_all, master_key

__all__ = [
    "PASSWORD",
    "PEER_NAMES",
    "Peer",
    "PproxyPeer",
    "PycryptodomePeer",
    "RefcryptoPeer",
    "SealsPeer",
    "ShadowsocksPeer",
    "all_peers",
    "chosen_peers",
]

#: Every peer, in the order of the tables (``--peer`` takes these names).
PEER_NAMES = ("refcrypto", "shadowsocks", "pproxy", "pycryptodome-seals", "pycryptodome")

#: The password every peer uses (bytes, as Python shadowsocks' shell.py hands it over).
PASSWORD = b"refcrypto benchmark"

Write = Callable[[bytes], Any]
Make = Callable[[], object]


class Peer:
    """Base class: a named implementation; subclasses override what they support."""

    __slots__ = ("__weakref__",)

    name = "peer"
    title = "peer"
    #: Whether its decoders give the plaintext back (checked before timing); not so for
    #: the floor, which only runs the cipher.
    verifies = True

    def unavailable(self) -> str | None:
        """``None`` if the peer can run here, else why not."""
        return None

    def describe(self) -> str:
        return self.title

    def unsupported(self, method: Method) -> str | None:
        """``None`` if the peer has ``method``, else why not."""
        return None

    def encoder(self, method: Method) -> Write:
        raise NotImplementedError

    def decoder(
        self, method: Method, wire: Sequence[bytes], plain: bytes
    ) -> tuple[Write, Sequence[bytes]]:
        raise NotImplementedError

    def udp_encrypt(self, method: Method) -> Write:
        raise NotImplementedError

    def udp_decrypt(self, method: Method) -> Write:
        raise NotImplementedError

    def creator(self, method: Method) -> Make | None:
        """``None``: the peer has no per-connection object to make."""
        return None


class RefcryptoPeer(Peer):
    """refcrypto's public API."""

    __slots__ = ()

    name = "refcrypto"
    title = "refcrypto"

    def describe(self) -> str:
        from .. import __version__
        from ..primitives import _fast

        path = "fast paths into pycryptodome's C code" if _fast.ENABLED else "public API only"
        return f"refcrypto {__version__} ({path})"

    def encoder(self, method: Method) -> Write:
        cryptor = Cryptor(PASSWORD, method)
        cryptor.encrypt(b"\0")  # sends the IV/salt
        return cryptor.encrypt

    def decoder(
        self, method: Method, wire: Sequence[bytes], plain: bytes
    ) -> tuple[Write, Sequence[bytes]]:
        cryptor = Cryptor(PASSWORD, method)
        cryptor.decrypt(wire[0])
        return cryptor.decrypt, wire[1:]

    def udp_encrypt(self, method: Method) -> Write:
        return partial(encrypt_all, PASSWORD, method)

    def udp_decrypt(self, method: Method) -> Write:
        return partial(decrypt_all, PASSWORD, method)

    def creator(self, method: Method) -> Make | None:
        return partial(Cryptor, PASSWORD, method)


class ShadowsocksPeer(Peer):
    """Python shadowsocks on native libraries, loaded as refcrypto's conformance engine loads
    it (:mod:`refcrypto.conformance.thirdparty`: explicit library paths, OpenSSL's legacy
    provider for ``rc4-md5``), then driven directly, without that module's adapters."""

    __slots__ = ("_backend", "_state")

    name = "shadowsocks"
    title = "Python shadowsocks on native libraries"

    def __init__(self) -> None:
        from ..conformance.thirdparty import shadowsocks_backend

        self._backend = shadowsocks_backend()
        self._state: Any = None

    def _loaded(self) -> Any:
        if self._state is None:
            # The package logs and prints while it finds its libraries; keep that out of the
            # report (describe() says what was loaded).
            with contextlib.redirect_stdout(io.StringIO()):
                self._state = self._backend._loaded()
        return self._state

    def unavailable(self) -> str | None:
        reason: str | None = self._loaded().reason
        return reason

    def describe(self) -> str:
        state = self._loaded()
        if state.modules is None:
            return f"unavailable: {state.reason}"
        libraries = [
            f"{Path(found.path).name}" + (f" ({state.notes[key]})" if state.notes.get(key) else "")
            for key, found in state.loaded.items()
            if found.library is not None
        ]
        return f"{state.distribution} {state.version} on " + "; ".join(libraries)

    def unsupported(self, method: Method) -> str | None:
        return self._backend.unsupported(method)

    def encoder(self, method: Method) -> Write:
        state = self._loaded()
        cryptor = state.modules.cryptor(PASSWORD, method.name, state.crypto_path)
        cryptor.encrypt(b"\0")
        return cryptor.encrypt  # type: ignore[no-any-return]

    def decoder(
        self, method: Method, wire: Sequence[bytes], plain: bytes
    ) -> tuple[Write, Sequence[bytes]]:
        state = self._loaded()
        cryptor = state.modules.cryptor(PASSWORD, method.name, state.crypto_path)
        cryptor.decrypt(wire[0])
        return cryptor.decrypt, wire[1:]

    def udp_encrypt(self, method: Method) -> Write:
        state = self._loaded()
        return partial(_shadowsocks_udp_encrypt, state.modules, method.name, state.crypto_path)

    def udp_decrypt(self, method: Method) -> Write:
        state = self._loaded()
        return partial(state.modules.decrypt_all, PASSWORD, method.name,
                       crypto_path=state.crypto_path)

    def creator(self, method: Method) -> Make | None:
        state = self._loaded()
        return partial(state.modules.cryptor, PASSWORD, method.name, state.crypto_path)


def _shadowsocks_udp_encrypt(modules: Any, name: str, crypto_path: Any, data: bytes) -> Any:
    """What ``udprelay.py`` does per outgoing packet: a key and a fresh IV, then one packet."""
    key, iv, factory = modules.gen_key_iv(PASSWORD, name)
    return modules.encrypt_all_m(key, iv, factory, name, data, crypto_path)


class PproxyPeer(Peer):
    """``pproxy.cipher``: one cipher object per direction, made and set up as pproxy's
    ``apply_cipher`` does; UDP through its ``PacketCipher``.

    pproxy memoises the password's derived key by password alone, whatever the key length
    (``BaseCipher.CACHE``), so one process running several methods with one password gets
    keys of the wrong length; the entry is dropped whenever a method's objects are made (it
    is filled again, for that method, on first use, as in a pproxy process serving it)."""

    __slots__ = ("_map", "_reason")

    name = "pproxy"
    title = "pproxy.cipher (pycryptodome)"

    def __init__(self) -> None:
        self._map: dict[str, Any] | None = None
        self._reason: str | None = None

    def _classes(self) -> dict[str, Any]:
        if self._map is None:
            try:
                module = importlib.import_module("pproxy.cipher")
            except ImportError as exc:
                self._reason = f"pproxy is not installed (pip install pproxy): {exc}"
                self._map = {}
            else:
                self._map = dict(module.MAP)
        return self._map

    def unavailable(self) -> str | None:
        self._classes()
        return self._reason

    def describe(self) -> str:
        return f"pproxy {importlib.metadata.version('pproxy')} (pproxy.cipher, pycryptodome)"

    def unsupported(self, method: Method) -> str | None:
        if method.name in self._classes():
            return None
        return f"{method.name}: not a method of pproxy.cipher"

    def _cls(self, method: Method) -> Any:
        cls = self._classes()[method.name]
        cls.CACHE.pop(b"key" + PASSWORD, None)
        return cls

    def encoder(self, method: Method) -> Write:
        cipher = self._cls(method)(PASSWORD).setup_iv()
        return cipher.encrypt  # type: ignore[no-any-return]

    def decoder(
        self, method: Method, wire: Sequence[bytes], plain: bytes
    ) -> tuple[Write, Sequence[bytes]]:
        cipher = self._cls(method)(PASSWORD)
        cipher.setup_iv(wire[0][: method.iv_size])
        cipher.decrypt(wire[0][method.iv_size :])
        return cipher.decrypt, wire[1:]

    def _packets(self, method: Method) -> Any:
        module = importlib.import_module("pproxy.cipher")
        return module.PacketCipher(self._cls(method), PASSWORD, method.name)

    def udp_encrypt(self, method: Method) -> Write:
        return self._packets(method).encrypt  # type: ignore[no-any-return]

    def udp_decrypt(self, method: Method) -> Write:
        return self._packets(method).decrypt  # type: ignore[no-any-return]

    def creator(self, method: Method) -> Make | None:
        return partial(_pproxy_connection, self._cls(method))


def _pproxy_connection(cls: Any) -> object:
    """pproxy per connection: a cipher object per direction; the writer's is set up (IV,
    and for AEAD the subkey) before its first write, the reader's when the IV arrives."""
    writer: object = cls(PASSWORD).setup_iv()
    cls(PASSWORD)
    return writer


class SealsPeer(Peer):
    """pycryptodome, same seals: a Shadowsocks AEAD stream (SIP004) and packet written on
    pycryptodome's public API the plain way, as a Python implementation without refcrypto's
    fast paths would be: per session the subkey ``HKDF-SHA1(master key, salt, "ss-subkey")``;
    per chunk of at most 0x3FFF bytes one new cipher object (``AES.new(subkey, MODE_GCM,
    nonce=...)``, ``ChaCha20_Poly1305.new``) and one ``encrypt_and_digest`` for the two-byte
    length, and the same for the payload, with the little-endian nonce counter advanced after
    each; opening is the same with ``decrypt_and_verify``. UDP: a random salt, the HKDF and
    one seal per packet. AEAD methods only (for a stream method the floor is the same work)."""

    __slots__ = ()

    name = "pycryptodome-seals"
    title = "pycryptodome, same seals"

    def describe(self) -> str:
        import Crypto

        return (f"pycryptodome {Crypto.__version__}, public API: a new cipher object per seal, "
                "two seals per chunk")

    def unsupported(self, method: Method) -> str | None:
        if not method.is_aead:
            return f"{method.name}: a stream method (the pycryptodome floor is the same work)"
        if _seal_factory(method) is None:
            return f"{method.name}: no pycryptodome public AEAD with Shadowsocks' layout"
        return None

    def _subkey(self, method: Method, salt: bytes) -> bytes:
        return _hkdf(master_key(PASSWORD, method), salt, method.key_size)

    def encoder(self, method: Method) -> Write:
        salt = os.urandom(method.salt_size)
        writer = _SealWriter(_seal_new(method), self._subkey(method, salt), method.nonce_size)
        return writer.write

    def decoder(
        self, method: Method, wire: Sequence[bytes], plain: bytes
    ) -> tuple[Write, Sequence[bytes]]:
        first = wire[0]
        salt = first[: method.salt_size]
        reader = _SealReader(_seal_new(method), self._subkey(method, salt), method.nonce_size)
        reader.read(first[method.salt_size :])
        return reader.read, wire[1:]

    def udp_encrypt(self, method: Method) -> Write:
        return partial(_seal_packet, _seal_new(method), master_key(PASSWORD, method), method)

    def udp_decrypt(self, method: Method) -> Write:
        return partial(_open_packet, _seal_new(method), master_key(PASSWORD, method), method)


#: ``new(key, nonce)`` -> a fresh pycryptodome AEAD object (``encrypt_and_digest`` and
#: ``decrypt_and_verify``).
SealNew = Callable[[bytes, bytes], Any]


def _seal_factory(method: Method) -> SealNew | None:
    """The public pycryptodome constructor with Shadowsocks' layout for ``method``."""
    from Crypto.Cipher import AES, ChaCha20_Poly1305

    base = method.name.rpartition(":")[2]
    if base.endswith("-gcm"):
        return partial(_new_gcm, AES)
    if base.endswith("-ocb"):
        return partial(_new_ocb, AES)
    if base in ("chacha20-ietf-poly1305", "xchacha20-ietf-poly1305"):
        return partial(_new_chacha_poly, ChaCha20_Poly1305)
    return None


def _new_gcm(aes: Any, key: bytes, nonce: bytes) -> Any:
    return aes.new(key, aes.MODE_GCM, nonce=nonce, mac_len=16)


def _new_ocb(aes: Any, key: bytes, nonce: bytes) -> Any:
    return aes.new(key, aes.MODE_OCB, nonce=nonce, mac_len=16)


def _new_chacha_poly(module: Any, key: bytes, nonce: bytes) -> Any:
    return module.new(key=key, nonce=nonce)


def _seal_new(method: Method) -> SealNew:
    new = _seal_factory(method)
    if new is None:
        raise ValueError(f"{method.name}: no pycryptodome public AEAD for it")
    return new


def _hkdf(master: bytes, salt: bytes, size: int) -> bytes:
    """SIP004's subkey on pycryptodome's public HKDF."""
    from Crypto.Hash import SHA1
    from Crypto.Protocol.KDF import HKDF

    subkey: bytes = HKDF(master, size, salt, SHA1, context=b"ss-subkey")
    return subkey


_TAG = 16


class _SealWriter:
    """One direction of a SIP004 stream on the public API; the salt is taken as sent."""

    __slots__ = ("_counter", "_key", "_new", "_nonce_size")

    def __init__(self, new: SealNew, key: bytes, nonce_size: int) -> None:
        self._new, self._key, self._nonce_size, self._counter = new, key, nonce_size, 0

    def _seal(self, data: bytes) -> bytes:
        nonce = self._counter.to_bytes(self._nonce_size, "little")
        self._counter += 1
        sealed, tag = self._new(self._key, nonce).encrypt_and_digest(data)
        return bytes(sealed) + bytes(tag)

    def write(self, data: bytes) -> bytes:
        out = []
        for start in range(0, len(data), MAX_CHUNK_PAYLOAD):
            chunk = data[start : start + MAX_CHUNK_PAYLOAD]
            out.append(self._seal(len(chunk).to_bytes(2, "big")))
            out.append(self._seal(chunk))
        return b"".join(out)


class _SealReader:
    """The other direction: buffers what is incomplete, opens each complete chunk."""

    __slots__ = ("_counter", "_key", "_new", "_nonce_size", "_rest")

    def __init__(self, new: SealNew, key: bytes, nonce_size: int) -> None:
        self._new, self._key, self._nonce_size, self._counter = new, key, nonce_size, 0
        self._rest = b""

    def _open(self, counter: int, sealed: bytes, tag: bytes) -> bytes:
        nonce = counter.to_bytes(self._nonce_size, "little")
        plain: bytes = self._new(self._key, nonce).decrypt_and_verify(sealed, tag)
        return plain

    def read(self, data: bytes) -> bytes:
        buffer = self._rest + data if self._rest else data
        out = []
        at, end = 0, len(buffer)
        while end - at >= 2 + _TAG:
            length = int.from_bytes(
                self._open(self._counter, buffer[at : at + 2], buffer[at + 2 : at + 2 + _TAG]),
                "big") & MAX_CHUNK_PAYLOAD
            start = at + 2 + _TAG
            stop = start + length + _TAG
            if stop > end:
                break  # the payload is incomplete: its length is opened again next time
            out.append(self._open(self._counter + 1, buffer[start : start + length],
                                  buffer[start + length : stop]))
            self._counter += 2
            at = stop
        self._rest = buffer[at:]
        return b"".join(out)


def _seal_packet(new: SealNew, master: bytes, method: Method, data: bytes) -> bytes:
    """One SIP004 UDP packet: salt, then the payload sealed with a zero nonce."""
    salt = os.urandom(method.salt_size)
    sealed, tag = new(_hkdf(master, salt, method.key_size),
                      bytes(method.nonce_size)).encrypt_and_digest(data)
    return salt + bytes(sealed) + bytes(tag)


def _open_packet(new: SealNew, master: bytes, method: Method, packet: bytes) -> bytes:
    size = method.salt_size
    salt, sealed, tag = packet[:size], packet[size:-_TAG], packet[-_TAG:]
    plain: bytes = new(_hkdf(master, salt, method.key_size),
                       bytes(method.nonce_size)).decrypt_and_verify(sealed, tag)
    return plain


class PycryptodomePeer(Peer):
    """The floor: pycryptodome's public API with one object made before timing and one
    ``encrypt``/``decrypt`` call per write (for AEAD modes, streaming encryption with no
    tag per write). UDP: a new object from the (already derived) key and one call per packet;
    no key derivation, no IV generation, no framing."""

    __slots__ = ()

    name = "pycryptodome"
    title = "pycryptodome primitive, one object, one call"
    verifies = False

    def describe(self) -> str:
        import Crypto

        return f"pycryptodome {Crypto.__version__}, public API"

    def unsupported(self, method: Method) -> str | None:
        if method.name in _floor_table():
            return None
        return f"{method.name}: no single pycryptodome call for it"

    def _new(self, method: Method) -> Any:
        key = master_key(PASSWORD, method)
        return _floor_table()[method.name](key, bytes(method.iv_size or 16))

    def encoder(self, method: Method) -> Write:
        return self._new(method).encrypt  # type: ignore[no-any-return]

    def decoder(
        self, method: Method, wire: Sequence[bytes], plain: bytes
    ) -> tuple[Write, Sequence[bytes]]:
        return self._new(method).decrypt, [plain] * (len(wire) - 1)

    def udp_encrypt(self, method: Method) -> Write:
        return partial(_floor_packet, _floor_table()[method.name], master_key(PASSWORD, method),
                       bytes(method.iv_size or 16), method.is_aead)

    def udp_decrypt(self, method: Method) -> Write:
        return partial(_floor_open, _floor_table()[method.name], master_key(PASSWORD, method),
                       bytes(method.iv_size or 16))


def _floor_packet(new: Callable[[bytes, bytes], Any], key: bytes, iv: bytes, aead: bool,
                  data: bytes) -> Any:
    cipher = new(key, iv)
    return cipher.encrypt_and_digest(data) if aead else cipher.encrypt(data)


def _floor_open(new: Callable[[bytes, bytes], Any], key: bytes, iv: bytes, packet: Any) -> Any:
    """The floor's packet is what its ``_floor_packet`` returned: ``(ciphertext, tag)`` for
    AEAD modes (one ``decrypt_and_verify`` call), the ciphertext otherwise."""
    cipher = new(key, iv)
    if isinstance(packet, tuple):
        return cipher.decrypt_and_verify(*packet)
    return cipher.decrypt(packet)


@lru_cache(maxsize=1)
def _floor_table() -> dict[str, Callable[[bytes, bytes], Any]]:
    """Per method, how to make the one pycryptodome object (imported on first use)."""
    from Crypto.Cipher import AES, ARC4, ChaCha20, ChaCha20_Poly1305, Salsa20
    from Crypto.Hash import MD5

    def gcm(key: bytes, iv: bytes) -> Any:
        return AES.new(key, AES.MODE_GCM, nonce=bytes(12))

    def chacha_poly(key: bytes, iv: bytes) -> Any:
        return ChaCha20_Poly1305.new(key=key, nonce=bytes(12))

    def xchacha_poly(key: bytes, iv: bytes) -> Any:
        return ChaCha20_Poly1305.new(key=key, nonce=bytes(24))

    def cfb(key: bytes, iv: bytes) -> Any:
        return AES.new(key, AES.MODE_CFB, iv=iv, segment_size=128)

    def ctr(key: bytes, iv: bytes) -> Any:
        return AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv)

    def chacha(key: bytes, iv: bytes) -> Any:
        return ChaCha20.new(key=key, nonce=iv)

    def salsa(key: bytes, iv: bytes) -> Any:
        return Salsa20.new(key=key, nonce=iv)

    def rc4_md5(key: bytes, iv: bytes) -> Any:
        return ARC4.new(MD5.new(key + iv).digest())

    table: dict[str, Callable[[bytes, bytes], Any]] = {}
    for bits in (128, 192, 256):
        table[f"aes-{bits}-gcm"] = gcm
        table[f"aes-{bits}-cfb"] = cfb
        table[f"aes-{bits}-ctr"] = ctr
    table.update({
        "chacha20-ietf-poly1305": chacha_poly,
        "xchacha20-ietf-poly1305": xchacha_poly,
        "chacha20-ietf": chacha,
        "chacha20": chacha,
        "salsa20": salsa,
        "rc4-md5": rc4_md5,
    })
    return table


def chosen_peers(names: Sequence[str] | None = None) -> list[str]:
    """The names :func:`all_peers` would make, refcrypto first; ``ValueError`` for a name
    that is not in :data:`PEER_NAMES`."""
    chosen = list(PEER_NAMES) if not names else [
        "refcrypto", *dict.fromkeys(n for n in names if n != "refcrypto")]
    unknown = [n for n in chosen if n not in PEER_NAMES]
    if unknown:
        raise ValueError(f"unknown peer {', '.join(unknown)}; known: {', '.join(PEER_NAMES)}")
    return chosen


def all_peers(names: Sequence[str] | None = None) -> list[Peer]:
    """The peers to compare, refcrypto first; ``names`` picks some (refcrypto is always in)."""
    makers: dict[str, Callable[[], Peer]] = {
        "refcrypto": RefcryptoPeer,
        "shadowsocks": ShadowsocksPeer,
        "pproxy": PproxyPeer,
        "pycryptodome-seals": SealsPeer,
        "pycryptodome": PycryptodomePeer,
    }
    return [makers[n]() for n in chosen_peers(names)]
