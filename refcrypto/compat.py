"""Python shadowsocks on refcrypto: its ``cryptor`` module API, cipher classes in the package's
shape, and :func:`install`.

``from refcrypto import compat as cryptor`` is a drop-in for ``from shadowsocks import cryptor``:
:class:`Cryptor`, :func:`encrypt_all`, :func:`decrypt_all`, :func:`encrypt_all_m`,
:func:`gen_key_iv`, :func:`EVP_BytesToKey`, :func:`try_cipher`, :func:`random_string`,
:data:`method_supported` and the ``CIPHER_ENC_*`` / ``METHOD_INFO_*`` constants have the
package's signatures and return what it returns, so code written for ``shadowsocks.cryptor``
runs unchanged (tests/test_compat_api.py compares the signatures with the installed package).
The differences, all on inputs the package mishandles, are in :class:`Cryptor` and
:func:`decrypt_all`.

The Python shadowsocks package (``shadowsocks`` 3.x, published on PyPI as
``shadowsocks-alexforks``) assembles its method table in ``shadowsocks/cryptor.py`` by merging
the ``ciphers`` dicts of five modules, ``shadowsocks.crypto.{rc4_md5, openssl, mbedtls, sodium,
table}``. Each entry is ``name -> (key_len, iv_len, constructor)`` and the constructor is called
as ``constructor(cipher_name, key, iv, op, crypto_path)``, with ``op`` 1 to encrypt and 0 to
decrypt (``Cryptor.get_cipher``, ``encrypt_all``). The object it returns must offer:

* ``encrypt(data)`` / ``decrypt(data)``: one direction of a TCP stream *after* the IV/salt
  (``Cryptor`` sends and strips the IV/salt itself). For AEAD methods this is the SIP004
  chunk codec: ``[sealed length][tag][sealed payload][tag]`` per chunk of at most 0x3FFF
  bytes, buffering partial chunks on the decrypting side;
* ``encrypt_once(data)`` / ``decrypt_once(data)``: one UDP packet body. Stream methods: the
  same keystream update; AEAD methods: one seal/open with the current nonce (all zero for a
  fresh object, which is what UDP uses);
* ``clean()``: release the cipher.

AEAD constructors receive the *master* key and the salt, and derive the SIP007 session subkey
themselves (HKDF-SHA1, ``ss-subkey``).

:class:`StreamCipher` and :class:`AeadCipher` are those objects on refcrypto. They hold no
reference to themselves (no ``self.encrypt = self.update``, no closures, no ``__del__``, which
is what made the package's own classes leak, shadowsocks/shadowsocks PR #921) and have ``__slots__``
with ``__weakref__``.

:func:`install` switches an imported (or not yet imported) package over: see its docstring for
exactly what it patches. Run ``ssserver`` on refcrypto with :func:`run_ssserver` or
``python -m refcrypto.compat [ssserver options]``; docs/interop.md has a launcher that also
keeps OpenSSL's libcrypto out of the process.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import InvalidTag, TruncatedData, UnknownMethod
from .kdf import evp_bytes_to_key, password_bytes, session_subkey
from .methods import Method, methods
from .methods import method as lookup_method
from .primitives.base import AEAD, Buffer, Stream, bytes_of
from .wire.aead import AeadDecoder, AeadEncoder

__all__ = [
    "BACKEND_MODULES",
    "CIPHERS",
    "CIPHER_ENC_DECRYPTION",
    "CIPHER_ENC_ENCRYPTION",
    "METHOD_INFO_CRYPTO",
    "METHOD_INFO_IV_LEN",
    "METHOD_INFO_KEY_LEN",
    "NATIVE_CRYPTO_LIBRARIES",
    "OP_DECRYPT",
    "OP_ENCRYPT",
    "AeadCipher",
    "Cryptor",
    "EVP_BytesToKey",
    "StreamCipher",
    "decrypt_all",
    "encrypt_all",
    "encrypt_all_m",
    "gen_key_iv",
    "install",
    "installed",
    "method_supported",
    "native_crypto_libraries",
    "random_string",
    "run_ssserver",
    "try_cipher",
    "uninstall",
]

#: ``op`` values of the package (``shadowsocks.cryptor.CIPHER_ENC_ENCRYPTION``/``_DECRYPTION``).
OP_ENCRYPT = 1
OP_DECRYPT = 0

#: The package's backend modules, in the order ``shadowsocks/cryptor.py`` merges them.
BACKEND_MODULES = ("rc4_md5", "openssl", "mbedtls", "sodium", "table")

#: Shared objects a process has mapped when a native crypto backend is loaded.
NATIVE_CRYPTO_LIBRARIES = ("libcrypto", "libssl", "libsodium", "libmbedcrypto", "libmbedtls")


def _row(cipher_name: str | bytes, *, aead: bool) -> Method:
    name = cipher_name.decode("ascii") if isinstance(cipher_name, bytes) else cipher_name
    row = lookup_method(name)
    if row.is_aead is not aead:
        kind = "an AEAD" if row.is_aead else "a stream"
        other = "AeadCipher" if row.is_aead else "StreamCipher"
        raise TypeError(f"{row.name} is {kind} method; use {other}")
    return row


def _cleaned(row: Method) -> ValueError:
    return ValueError(f"{row.name}: cipher used after clean()")


class StreamCipher:
    """One direction of a stream method (``OpenSSLStreamCrypto``, ``SodiumCrypto``,
    ``TableCipher`` and ``rc4_md5.create_cipher`` in the package).

    ``key`` and ``iv`` may be longer than the method needs: as OpenSSL and libsodium do, only
    the first ``key_size``/``iv_size`` bytes are used (the package's own self-tests pass a
    32-byte key and a 16-byte IV to every method). ``table`` uses the raw password as key.
    ``encrypt``, ``decrypt``, ``encrypt_once`` and ``decrypt_once`` are all the keystream
    update; the direction is fixed by ``op``, which matters for CFB modes.
    """

    __slots__ = ("__weakref__", "_stream", "method")

    def __init__(
        self,
        cipher_name: str | bytes,
        key: Buffer,
        iv: Buffer,
        op: int,
        crypto_path: object = None,
    ) -> None:
        row = _row(cipher_name, aead=False)
        key = bytes(key)
        self.method = row
        self._stream: Stream | None = row.new_stream(
            key[: row.key_size] if row.key_size else key, bytes(iv)[: row.iv_size],
            int(op) == OP_DECRYPT,
        )

    def update(self, data: Buffer) -> bytes:
        stream = self._stream
        if stream is None:
            raise _cleaned(self.method)
        return stream.update(data) if data else b""

    # Class attributes naming the same function: no bound method is stored on an instance.
    encrypt = update
    decrypt = update
    encrypt_once = update
    decrypt_once = update

    def clean(self) -> None:
        self._stream = None


class AeadCipher:
    """One direction of an AEAD method (``OpenSSLAeadCrypto``, ``SodiumAeadCrypto`` and
    ``MbedTLSAeadCrypto`` in the package).

    ``key`` is the master key and ``iv`` the salt; the session subkey is
    HKDF-SHA1(key, salt, ``ss-subkey``) (SIP007). ``encrypt``/``decrypt`` are the SIP004 TCP
    chunk codec without the salt (refcrypto's :class:`~refcrypto.wire.aead.AeadEncoder` and
    :class:`~refcrypto.wire.aead.AeadDecoder`); ``encrypt_once``/``decrypt_once`` seal or
    open one message with the next nonce (nonce 0 first, as UDP packets use).

    Differences from the package, all on inputs the package never produces: ``encrypt(b"")``
    returns ``b""`` (the package emits a zero-length chunk that every decoder rejects); the
    TCP codec and the ``_once`` calls count nonces separately (the package shares one
    counter, but never mixes the two on one object); a failed ``decrypt`` raises
    :class:`~refcrypto.errors.InvalidTag` or
    :class:`~refcrypto.errors.InvalidChunkLength`, and every later call
    :class:`~refcrypto.errors.DecoderFailed` (all ``ValueError``, where the package raised
    ``Exception``).
    """

    __slots__ = (
        "__weakref__",
        "_aead",
        "_decoder",
        "_encoder",
        "_master_key",
        "_nonce",
        "_salt",
        "_strip",
        "method",
    )

    def __init__(
        self,
        cipher_name: str | bytes,
        key: Buffer,
        iv: Buffer,
        op: int,
        crypto_path: object = None,
    ) -> None:
        row = _row(cipher_name, aead=True)
        self.method = row
        self._master_key: bytes | None = bytes(key)
        self._salt = row.check_iv(bytes(iv))
        # Built on first use: UDP makes one object per packet and only calls the _once pair.
        self._encoder: AeadEncoder | None = None
        self._decoder: AeadDecoder | None = None
        self._aead: AEAD | None = None
        self._nonce = 0
        self._strip = 0

    def _key(self) -> bytes:
        if self._master_key is None:
            raise _cleaned(self.method)
        return self._master_key

    def encrypt(self, data: Buffer) -> bytes:
        """Seal ``data`` as SIP004 chunks (the salt is not included)."""
        if not data:
            return b""
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = AeadEncoder(self.method, self._key(), self._salt)
            self._strip = len(self._salt)  # the encoder puts the salt before its first chunk
        elif self._master_key is None:
            raise _cleaned(self.method)
        out = encoder.update(data)
        if self._strip:
            out, self._strip = out[self._strip :], 0
        return out

    def decrypt(self, data: Buffer) -> bytes:
        """Open the SIP004 chunks completed by ``data``; partial chunks stay buffered."""
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = AeadDecoder(self.method, self._key())
            decoder.update(self._salt)  # the package's Cryptor has already stripped it
        elif self._master_key is None:
            raise _cleaned(self.method)
        return decoder.update(data) if data else b""

    def _next_nonce(self) -> tuple[AEAD, bytes]:
        aead = self._aead
        if aead is None:
            aead = self._aead = self.method.new_aead(session_subkey(self._key(), self._salt))
        elif self._master_key is None:
            raise _cleaned(self.method)
        nonce = self._nonce.to_bytes(self.method.nonce_size, "little")
        self._nonce += 1
        return aead, nonce

    def encrypt_once(self, data: Buffer) -> bytes:
        """``ciphertext || tag`` of one message (a UDP packet body)."""
        aead, nonce = self._next_nonce()
        return aead.seal(nonce, data)

    def decrypt_once(self, data: Buffer) -> bytes:
        """Open one ``ciphertext || tag``; raise :class:`~refcrypto.errors.InvalidTag`."""
        aead, nonce = self._next_nonce()
        try:
            return aead.open(nonce, data)
        except InvalidTag:
            raise InvalidTag(
                f"{self.method.name}: message failed authentication (wrong password, or altered)"
            ) from None

    def clean(self) -> None:
        self._master_key = None
        self._encoder = self._decoder = self._aead = None


CipherClass = type[StreamCipher] | type[AeadCipher]

#: Every Python shadowsocks method name -> ``(key_len, iv_len, class)``, the shape of the
#: package's ``ciphers`` dicts (``iv_len`` is the salt length for AEAD methods).
CIPHERS: dict[str, tuple[int, int, CipherClass]] = {
    row.name: (row.key_size, row.iv_size, AeadCipher if row.is_aead else StreamCipher)
    for row in methods()
}


# --- shadowsocks.cryptor's module API ------------------------------------------------------

#: ``op`` values under the package's names.
CIPHER_ENC_ENCRYPTION = OP_ENCRYPT
CIPHER_ENC_DECRYPTION = OP_DECRYPT

#: Indexes into a ``(key_len, iv_len, class)`` entry of :data:`method_supported`.
METHOD_INFO_KEY_LEN = 0
METHOD_INFO_IV_LEN = 1
METHOD_INFO_CRYPTO = 2

#: The package's merged method table under its name (the same dict as :data:`CIPHERS`).
method_supported = CIPHERS

MethodInfo = tuple[int, int, CipherClass]
Cipher = StreamCipher | AeadCipher


def _method_info(method: str) -> MethodInfo:
    """The table entry of a (lower-cased) name; :class:`~refcrypto.errors.UnknownMethod` (a
    ``LookupError`` and ``ValueError``) for a name the package does not have."""
    info = method_supported.get(method)
    if info is None:
        close = difflib.get_close_matches(method, list(method_supported), n=3, cutoff=0.5)
        raise UnknownMethod(method, close)
    return info


def random_string(length: int) -> bytes:
    """``length`` random bytes from the operating system (``os.urandom``), as the package."""
    return os.urandom(length)


def EVP_BytesToKey(password: str | Buffer, key_len: int, iv_len: int) -> tuple[bytes, bytes]:
    """``(key, iv)``: OpenSSL's EVP_BytesToKey with MD5, one round and no salt, on
    pycryptodome's MD5, as ``shadowsocks.cryptor.EVP_BytesToKey`` returns them (the MD5
    chain is prefix-stable, so one call yields both parts). ``str`` passwords are UTF-8
    encoded; nothing is cached."""
    material = evp_bytes_to_key(password_bytes(password), key_len + iv_len)
    return material[:key_len], material[key_len : key_len + iv_len]


def try_cipher(key: str | Buffer, method: str | None = None, crypto_path: object = None) -> None:
    """Check that ``method`` exists by building a :class:`Cryptor` (the package's config
    check); raises :class:`~refcrypto.errors.UnknownMethod` where the package exits."""
    Cryptor(key, method, crypto_path)  # type: ignore[arg-type]  # None fails as in the package


def gen_key_iv(password: str | Buffer, method: str) -> tuple[bytes, bytes, CipherClass]:
    """``(key, random iv, cipher class)`` for one UDP packet, as the package's ``gen_key_iv``:
    the master key (the raw password bytes for ``table``), a fresh IV or salt, and the class
    to pass to :func:`encrypt_all_m`."""
    key_len, iv_len, cls = _method_info(method.lower())
    key = EVP_BytesToKey(password, key_len, iv_len)[0] if key_len else password_bytes(password)
    return key, random_string(iv_len), cls


def encrypt_all_m(
    key: Buffer,
    iv: Buffer,
    m: CipherClass,
    method: str,
    data: Buffer,
    crypto_path: object = None,
) -> bytes:
    """One UDP packet from :func:`gen_key_iv`'s parts: ``iv || m(...).encrypt_once(data)``."""
    return bytes(iv) + m(method, key, iv, CIPHER_ENC_ENCRYPTION, crypto_path).encrypt_once(data)


def encrypt_all(
    password: str | Buffer, method: str, data: Buffer, crypto_path: object = None
) -> bytes:
    """One UDP packet with a fresh IV or salt: ``IV || ciphertext`` (stream methods),
    ``salt || ciphertext || tag`` (AEAD), the ciphertext alone for ``table``."""
    method = method.lower()
    key, iv, cls = gen_key_iv(password, method)
    return encrypt_all_m(key, iv, cls, method, data, crypto_path)


def decrypt_all(
    password: str | Buffer, method: str, data: Buffer, crypto_path: object = None
) -> tuple[bytes, bytes, bytes]:
    """Open one UDP packet: ``(plaintext, key, iv)``, the package's tuple (``key`` is the
    master key, ``iv`` the packet's IV or salt).

    Unlike the package, a packet too short for its IV or salt (and AEAD tag) raises
    :class:`~refcrypto.errors.TruncatedData` instead of being decrypted with a truncated
    IV; a packet that fails authentication raises :class:`~refcrypto.errors.InvalidTag`.
    """
    method = method.lower()
    key, iv, cls = gen_key_iv(password, method)
    packet = bytes_of(data, f"{method}: data")
    minimum = len(iv) + lookup_method(method).tag_size
    if len(packet) < minimum:
        raise TruncatedData(f"{method}: UDP packet must be at least {minimum} bytes, "
                            f"got {len(packet)}")
    iv, body = packet[: len(iv)], packet[len(iv) :]
    plaintext = cls(method, key, iv, CIPHER_ENC_DECRYPTION, crypto_path).decrypt_once(body)
    return plaintext, key, iv


class Cryptor:
    """``shadowsocks.cryptor.Cryptor`` on refcrypto: both directions of one TCP connection,
    with the package's constructor, attributes (``password``, ``key``, ``method``,
    ``iv_sent``, ``cipher_iv``, ``cipher``, ``decipher``, ``decipher_iv``, ``crypto_path``)
    and methods (``encrypt``, ``decrypt``, ``iv_len``, ``get_cipher``, ``get_method_info``).

    ``crypto_path`` (the package's native library paths) is accepted and ignored. Two
    differences, both fixes: the peer's IV or salt is collected across reads however the
    stream is split (the package decrypts with a truncated IV when the first read is
    short), and an unknown method raises :class:`~refcrypto.errors.UnknownMethod` where the
    package logs an error and calls ``sys.exit(1)``.
    """

    def __init__(
        self, password: str | Buffer, method: str, crypto_path: object = None
    ) -> None:
        self.password = password
        self.key: bytes | None = None
        self.method = method
        self.iv_sent = False
        self.cipher_iv = b""
        self.decipher: Cipher | None = None
        self.decipher_iv: bytes | None = None
        self.crypto_path = crypto_path
        self._peer_iv = b""  # the peer's IV/salt bytes received so far
        method = method.lower()
        self._method_info = _method_info(method)
        _, iv_len, _ = self._method_info
        self.cipher: Cipher = self.get_cipher(
            password, method, CIPHER_ENC_ENCRYPTION, random_string(iv_len)
        )

    @staticmethod
    def get_method_info(method: str) -> MethodInfo | None:
        """The ``(key_len, iv_len, class)`` entry of ``method``, or ``None``."""
        return method_supported.get(method.lower())

    def iv_len(self) -> int:
        """Length of the IV (salt) this side sends."""
        return len(self.cipher_iv)

    def get_cipher(self, password: str | Buffer, method: str, op: int, iv: Buffer) -> Cipher:
        """A cipher object for one direction (``op``: 1 encrypts, 0 decrypts) with the
        password's key; sets :attr:`key`, and :attr:`cipher_iv` when encrypting."""
        key_len, iv_len, cls = self._method_info
        raw = password_bytes(password)
        if key_len > 0:
            key, _ = EVP_BytesToKey(raw, key_len, iv_len)
        else:  # table: the password itself is the key, and there is no IV
            key, iv = raw, b""
        self.key = key
        iv = bytes(iv)[:iv_len]
        if op == CIPHER_ENC_ENCRYPTION:
            self.cipher_iv = iv
        return cls(method, key, iv, op, self.crypto_path)

    def encrypt(self, buf: Buffer) -> bytes:
        """The next piece of the outgoing stream; the IV/salt goes out with the first
        non-empty piece, and empty input gives ``b""``."""
        buf = bytes_of(buf, f"{self.method}: data")
        if not buf:
            return b""
        if self.iv_sent:
            return self.cipher.encrypt(buf)
        self.iv_sent = True
        return self.cipher_iv + self.cipher.encrypt(buf)

    def decrypt(self, buf: Buffer) -> bytes:
        """The plaintext completed by the next piece of the incoming stream (``b""`` while
        the peer's IV/salt, or an AEAD chunk, is still incomplete)."""
        buf = bytes_of(buf, f"{self.method}: data")
        if not buf:
            return b""
        if self.decipher is None:
            _, iv_len, _ = self._method_info
            pending = self._peer_iv + buf
            if len(pending) < iv_len:
                self._peer_iv = pending
                return b""
            self._peer_iv = b""
            self.decipher_iv = pending[:iv_len]
            self.decipher = self.get_cipher(
                self.password, self.method, CIPHER_ENC_DECRYPTION, self.decipher_iv
            )
            buf = pending[iv_len:]
            if not buf:
                return b""
        return self.decipher.decrypt(buf)


# --- install -------------------------------------------------------------------------------

#: What install() replaced, to put back on uninstall(): (object, attribute or None, old value).
#: An attribute of None means the object is a dict whose whole content was replaced.
_saved: list[tuple[Any, str | None, Any]] = []


def installed() -> bool:
    """True while :func:`install` is in effect."""
    return bool(_saved)


def _refuse_native_library(*args: object, **kwargs: object) -> None:
    raise RuntimeError(
        "refcrypto.compat is installed: the shadowsocks package must not load a native "
        "crypto library (a cipher class outside the refcrypto table was used)"
    )


def _buffering_decrypt(self: Any, buf: bytes) -> bytes:
    """``Cryptor.decrypt`` that waits until the whole peer IV/salt has arrived.

    The package takes the IV from the first read, however short (``Cryptor.decrypt``);
    this wrapper holds the bytes back until ``iv_len`` of them are there, then hands them to
    the package's own ``decrypt`` in one piece.
    """
    original = _original(type(self), "decrypt")
    if self.decipher is None:
        pending = self.__dict__.pop("_refcrypto_pending", b"") + buf
        if len(pending) < self._method_info[1]:
            if pending:
                self._refcrypto_pending = pending
            return b""
        buf = pending
    result: bytes = original(self, buf)
    return result


def _original(owner: object, attribute: str) -> Any:
    """What install() replaced: ``owner.attribute`` before, or, for a class, the attribute
    of the nearest base class that install() patched."""
    candidates = owner.__mro__ if isinstance(owner, type) else (owner,)
    for candidate in candidates:
        for obj, name, old in _saved:
            if obj is candidate and name == attribute:
                return old
    raise RuntimeError(f"refcrypto.compat: install() did not replace {attribute}")


def _replace(owner: object, attribute: str, value: object) -> None:
    _saved.append((owner, attribute, getattr(owner, attribute)))
    setattr(owner, attribute, value)


def _replace_table(table: dict[str, Any], where: str) -> None:
    """Point every name of one of the package's tables at refcrypto, in place."""
    new: dict[str, Any] = {}
    for name, entry in table.items():
        ours = CIPHERS.get(name.lower())
        if ours is None:
            # A fork's extra method refcrypto does not implement: drop it rather than leave a
            # native path behind; the package then reports it as unsupported.
            continue
        if tuple(entry[:2]) != ours[:2]:
            raise RuntimeError(
                f"refcrypto.compat: {where} declares {name} as key/iv {tuple(entry[:2])}, "
                f"refcrypto has {ours[:2]}"
            )
        new[name] = ours
    _saved.append((table, None, dict(table)))
    table.clear()
    table.update(new)


def install(*, keep_openssl_out: bool = True) -> None:
    """Make the installed ``shadowsocks`` package (3.x layout) use refcrypto for all its
    ciphers and key derivation, and refuse to load any native crypto library.

    What it does, in order (idempotent; :func:`uninstall` reverses it):

    1. ``keep_openssl_out``: if ``hashlib`` has not been imported yet, mark ``_hashlib`` as
       unavailable (``sys.modules["_hashlib"] = None``), so the package's ``import hashlib``
       falls back to CPython's built-in MD5/SHA-1 instead of mapping OpenSSL's libcrypto.
       This is process-wide and only possible before the first ``import hashlib``, which
       importing refcrypto itself may already have caused (pycryptodome imports ``hmac``);
       a launcher that wants libcrypto out of the process sets it before importing refcrypto
       (docs/interop.md).
    2. Imports ``shadowsocks.cryptor`` (which imports the five backend modules; none of them
       loads a library at import time) and replaces, in place, the content of every backend
       module's ``ciphers`` dict and of ``shadowsocks.cryptor.method_supported`` with
       :data:`CIPHERS` entries for the same names. Tables are patched rather than modules
       swapped in ``sys.modules`` so that this works whether or not the package was
       imported before, and whoever already holds a reference to a table sees the change.
    3. Replaces ``shadowsocks.cryptor.EVP_BytesToKey`` by one on pycryptodome's MD5.
    4. Wraps ``shadowsocks.cryptor.Cryptor.decrypt`` so that a peer IV/salt split across
       reads is buffered (the package would use a truncated IV).
    5. Replaces ``shadowsocks.crypto.util.find_library`` (the only way the package loads
       libcrypto, libsodium or libmbedcrypto) by a function that raises, so no code path can
       load a native library behind refcrypto's back.

    Raises ImportError if the package is not installed, RuntimeError if its layout or method
    sizes are not what refcrypto expects.
    """
    if keep_openssl_out and "hashlib" not in sys.modules and "_hashlib" not in sys.modules:
        sys.modules["_hashlib"] = None  # type: ignore[assignment]  # "import _hashlib" fails
    if _saved:
        return
    cryptor: ModuleType = importlib.import_module("shadowsocks.cryptor")
    util: ModuleType = importlib.import_module("shadowsocks.crypto.util")
    try:
        backends = [
            importlib.import_module(f"shadowsocks.crypto.{name}") for name in BACKEND_MODULES
        ]
        table: dict[str, Any] = cryptor.method_supported
        cryptor_class: type = cryptor.Cryptor
        cryptor.EVP_BytesToKey  # noqa: B018 - checks the layout before anything is changed
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(f"refcrypto.compat: unexpected shadowsocks layout: {exc}") from exc
    try:
        for module in backends:
            _replace_table(module.ciphers, f"{module.__name__}.ciphers")
        _replace_table(table, "shadowsocks.cryptor.method_supported")
        _replace(cryptor, "EVP_BytesToKey", EVP_BytesToKey)
        _replace(cryptor_class, "decrypt", _buffering_decrypt)
        _replace(util, "find_library", _refuse_native_library)
    except BaseException:
        uninstall()
        raise


def uninstall() -> None:
    """Put back everything :func:`install` replaced (not the ``_hashlib`` marker)."""
    while _saved:
        owner, attribute, old = _saved.pop()
        if attribute is None:
            owner.clear()
            owner.update(old)
        else:
            setattr(owner, attribute, old)


# --- running ssserver ----------------------------------------------------------------------


def native_crypto_libraries(pid: int | str = "self") -> list[str]:
    """The native crypto libraries (:data:`NATIVE_CRYPTO_LIBRARIES`) mapped into a process,
    from ``/proc/PID/maps`` (Linux only)."""
    maps = Path("/proc", str(pid), "maps").read_text()
    found = {
        line.split()[-1]
        for line in maps.splitlines()
        if any(Path(line.split()[-1]).name.startswith(lib) for lib in NATIVE_CRYPTO_LIBRARIES)
    }
    return sorted(found)


def run_ssserver(argv: Sequence[str] | None = None) -> None:
    """Run the package's ``ssserver`` on refcrypto: :func:`install`, then
    ``shadowsocks.server.main()`` with ``argv`` (default: this process's arguments).

    The package forbids loopback targets by default; pass ``--forbidden-ip ""`` to reach them.
    """
    install()
    server: ModuleType = importlib.import_module("shadowsocks.server")
    sys.argv = ["ssserver", *(sys.argv[1:] if argv is None else argv)]
    server.main()


if __name__ == "__main__":
    run_ssserver()
