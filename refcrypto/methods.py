"""THE method table: one :class:`Method` row per name; nothing else decides names or sizes.

The 53 names are those of Python shadowsocks master (``shadowsocks/cryptor.py`` merges the
``ciphers`` dicts of ``rc4_md5``, ``openssl``, ``mbedtls``, ``sodium`` and ``table``),
spelled exactly as there (docs/methods-and-wire-formats.md). Rows marked ``extension``
are methods other implementations offer (shadowsocks-rust) that Python shadowsocks does not.
Aliases (``aes-256-cfb128`` for ``aes-256-cfb``, as shadowsocks-rust accepts) resolve to the
same row. Names match case-insensitively, as in Python shadowsocks.

Adding a method is one row here plus its vectors (CONTRIBUTING.md).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from .errors import InvalidIVSize, InvalidKeySize, UnknownMethod
from .primitives import aead as _aead
from .primitives import generic as _generic
from .primitives import streams as _streams
from .primitives import table as _table
from .primitives.base import AEAD, Buffer, Stream, bytes_of

__all__ = ["Category", "Method", "all_names", "method", "methods"]

#: ``(key, iv, decrypt) -> Stream``
StreamFactory = Callable[[bytes, bytes, bool], Stream]
#: ``(key) -> AEAD``
AEADFactory = Callable[[bytes], AEAD]

_STREAM_LEGACY = (
    "stream cipher: no integrity; malleable ciphertext, and the 2020 redirect attack "
    "(shadowsocks-org #154) decrypts recorded streams without the password"
)
_TABLE_LEGACY = "fixed byte substitution, no IV: not encryption in any modern sense"
_RC4_LEGACY = (
    "RC4 with no IV: every session, both directions and every UDP packet under one password "
    "share one keystream (a two-time pad: XOR two ciphertexts and the keystream cancels, "
    "readable passively); RC4 itself is prohibited in TLS for its biases (RFC 7465)"
)
_ORIGINAL_CHACHA_LEGACY = (
    "libsodium's original ChaCha20-Poly1305 (8-byte nonce); only Python shadowsocks has it, "
    "libev dropped it in 2017"
)


class Category(str, Enum):
    """Stream methods put an IV before the ciphertext; AEAD methods a salt and SIP004 chunks;
    Shadowsocks 2022 methods a salt, BLAKE3-derived subkeys and the headers of SIP022."""

    STREAM = "stream"
    AEAD = "aead"
    AEAD_2022 = "aead-2022"


@dataclass(frozen=True)
class Method:
    """One Shadowsocks method: sizes in bytes, the primitive behind it, and where it is specified.

    For AEAD methods ``iv_size`` is the salt size (= key size), as in Python shadowsocks'
    table; :attr:`salt_size` says the same thing by name. Shadowsocks 2022 rows
    (:attr:`is_2022`) are not ``is_aead``: their key is a base64 PSK, not a password, and the
    classic codecs refuse them (:mod:`refcrypto.wire.ss2022` speaks them).
    """

    name: str
    category: Category
    key_size: int
    iv_size: int
    primitive: str
    spec: str
    nonce_size: int = 0
    tag_size: int = 0
    legacy: bool = False
    legacy_reason: str = ""
    extension: bool = False
    aliases: tuple[str, ...] = ()
    stream_factory: StreamFactory | None = field(default=None, repr=False, compare=False)
    aead_factory: AEADFactory | None = field(default=None, repr=False, compare=False)

    @property
    def is_aead(self) -> bool:
        return self.category is Category.AEAD

    @property
    def is_2022(self) -> bool:
        """A Shadowsocks 2022 method (SIP022)."""
        return self.category is Category.AEAD_2022

    @property
    def salt_size(self) -> int:
        """AEAD salt size (the ``iv_size`` slot); 0 for stream methods."""
        return self.iv_size if self.is_aead or self.is_2022 else 0

    @property
    def implemented(self) -> bool:
        """Whether the row has a primitive behind it (every row of this release has)."""
        return (self.stream_factory or self.aead_factory) is not None

    def new_stream(self, key: bytes, iv: bytes, decrypt: bool) -> Stream:
        """One direction of a stream method, after checking the key and IV sizes."""
        if self.is_2022:
            raise TypeError(
                f"{self.name} is a Shadowsocks 2022 method: it takes a base64 PSK, not a "
                "password; use refcrypto.wire.ss2022 (Cryptor2022, UdpClient2022, UdpServer2022)"
            )
        if self.stream_factory is None:
            raise TypeError(f"{self.name} is an AEAD method; use new_aead")
        return self.stream_factory(self._check_key(key), self.check_iv(iv), decrypt)

    def new_aead(self, subkey: bytes) -> AEAD:
        """The AEAD keyed with a session subkey, after checking its size."""
        if self.aead_factory is None:
            raise TypeError(f"{self.name} is a stream method; use new_stream")
        return self.aead_factory(self._check_key(subkey))

    def check_iv(self, iv: Buffer) -> bytes:
        """Return ``iv`` as bytes, or raise :class:`InvalidIVSize` (says "salt" for AEAD);
        ``TypeError`` if it is not bytes-like."""
        what = "salt" if self.is_aead else "iv"
        iv = bytes_of(iv, f"{self.name}: {what}")
        if len(iv) != self.iv_size:
            raise InvalidIVSize(f"{self.name}: {what} must be {self.iv_size} bytes, got {len(iv)}")
        return iv

    def _check_key(self, key: bytes) -> bytes:
        # key_size 0 (table): the key is the raw password, any length.
        key = bytes_of(key, f"{self.name}: key")
        if self.key_size and len(key) != self.key_size:
            raise InvalidKeySize(f"{self.name}: key must be {self.key_size} bytes, got {len(key)}")
        return key

    def as_dict(self) -> dict[str, object]:
        """The row as plain data (for ``refcrypto methods --json``)."""
        return {
            "name": self.name,
            "category": self.category.value,
            "key_size": self.key_size,
            "iv_size": self.iv_size,
            "salt_size": self.salt_size,
            "nonce_size": self.nonce_size,
            "tag_size": self.tag_size,
            "legacy": self.legacy,
            "legacy_reason": self.legacy_reason,
            "extension": self.extension,
            "aliases": list(self.aliases),
            "primitive": self.primitive,
            "spec": self.spec,
            "implemented": self.implemented,
        }


def _stream(
    name: str,
    key_size: int,
    iv_size: int,
    factory: StreamFactory,
    primitive: str,
    spec: str,
    *,
    aliases: tuple[str, ...] = (),
    extension: bool = False,
    legacy_reason: str = _STREAM_LEGACY,
) -> Method:
    return Method(
        name=name,
        category=Category.STREAM,
        key_size=key_size,
        iv_size=iv_size,
        primitive=primitive,
        spec=spec,
        legacy=True,
        legacy_reason=legacy_reason,
        extension=extension,
        aliases=aliases,
        stream_factory=factory,
    )


def _aead_row(
    name: str,
    key_size: int,
    nonce_size: int,
    factory: AEADFactory,
    primitive: str,
    spec: str,
    *,
    legacy_reason: str = "",
) -> Method:
    return Method(
        name=name,
        category=Category.AEAD,
        key_size=key_size,
        iv_size=key_size,  # SIP004/SIP007: salt length = key length
        nonce_size=nonce_size,
        tag_size=_aead.TAG_SIZE,
        primitive=primitive,
        spec=spec,
        legacy=bool(legacy_reason),
        legacy_reason=legacy_reason,
        aead_factory=factory,
    )


#: The Python shadowsocks module a row comes from (shadowsocks/shadowsocks, master): the public
#: source of its behaviour. docs/methods-and-wire-formats.md explains each family.
_PY = "shadowsocks/crypto/"
_AES_MODES: tuple[tuple[str, StreamFactory, str, str], ...] = (
    ("cfb", _streams.aes_cfb128, "CFB128", "SP 800-38A 6.3 (s = 128)"),
    ("ofb", _streams.aes_ofb, "OFB", "SP 800-38A 6.4"),
    ("ctr", _streams.aes_ctr, "CTR", "SP 800-38A 6.5, 128-bit big-endian counter from the IV"),
    ("cfb8", _streams.aes_cfb8, "CFB8", "SP 800-38A 6.3 (s = 8)"),
    ("cfb1", _generic.aes_cfb1, "CFB1", "SP 800-38A 6.3 (s = 1), bits MSB first as OpenSSL"),
)
_BITS = (128, 192, 256)


def _aead_2022_row(
    name: str, key_size: int, factory: AEADFactory, primitive: str, spec: str
) -> Method:
    return Method(
        name=name,
        category=Category.AEAD_2022,
        key_size=key_size,
        iv_size=key_size,  # SIP022 2.1: salt length = key length
        nonce_size=12,  # SIP022 3.1.1: u96le counter
        tag_size=_aead.TAG_SIZE,
        primitive=primitive,
        spec=spec,
        aead_factory=factory,
    )


def _build_2022() -> list[Method]:
    """The Shadowsocks 2022 methods: the two SIP022 requires and the ChaCha one it allows.

    ``aead_factory`` is the TCP AEAD under a session subkey; the UDP constructions (AES-ECB
    separate header with AES-GCM, or XChaCha20-Poly1305 under the PSK) are in
    :mod:`refcrypto.wire.ss2022.udp`.
    """
    rows = [
        _aead_2022_row(f"2022-blake3-aes-{bits}-gcm", bits // 8, _aead.AESGCM,
                       f"AES-{bits}-GCM, BLAKE3 subkeys (pycryptodome; BLAKE3 pure Python)",
                       "SIP022 2.1, 2.2, 3.1, 3.2; SIP023")
        for bits in (128, 256)
    ]
    rows.append(_aead_2022_row(
        "2022-blake3-chacha20-poly1305", 32, _aead.ChaCha20Poly1305IETF,
        "ChaCha20-Poly1305 (TCP), XChaCha20-Poly1305 (UDP), BLAKE3 subkeys (pycryptodome; "
        "BLAKE3 pure Python)",
        "SIP022 2.1, 2.2, 3.1, 4, 4.1"))
    return rows


def _build() -> list[Method]:
    rows: list[Method] = []
    # openssl.py: 25 stream methods (its ``ciphers`` dict).
    for mode, factory, mode_name, spec in _AES_MODES:
        for bits in _BITS:
            name = f"aes-{bits}-{mode}"
            backend = "CFB-1 mode over pycryptodome AES" if mode == "cfb1" else "pycryptodome"
            rows.append(
                _stream(
                    name,
                    bits // 8,
                    16,
                    factory,
                    f"AES-{bits}-{mode_name} ({backend})",
                    f"{spec}; {_PY}openssl.py",
                    aliases=(f"aes-{bits}-cfb128",) if mode == "cfb" else (),
                )
            )
    rows += [
        _stream("bf-cfb", 16, 8, _streams.bf_cfb, "Blowfish-CFB64 (pycryptodome)",
                f"Schneier 1993; SP 800-38A 6.3 (s = 64); {_PY}openssl.py"),
    ]
    for bits in _BITS:
        rows.append(
            _stream(f"camellia-{bits}-cfb", bits // 8, 16, _generic.camellia_cfb128,
                    f"Camellia-{bits}-CFB128 (pure Python)",
                    f"RFC 3713; SP 800-38A 6.3 (s = 128); {_PY}openssl.py",
                    aliases=(f"camellia-{bits}-cfb128",))
        )
    rows += [
        _stream("cast5-cfb", 16, 8, _streams.cast5_cfb, "CAST5-CFB64 (pycryptodome)",
                f"RFC 2144; SP 800-38A 6.3 (s = 64); {_PY}openssl.py"),
        _stream("des-cfb", 8, 8, _streams.des_cfb, "DES-CFB64 (pycryptodome)",
                f"FIPS 46-3, FIPS 81 CFB64; {_PY}openssl.py"),
        _stream("idea-cfb", 16, 8, _generic.idea_cfb64, "IDEA-CFB64 (pure Python)",
                f"Lai-Massey 1991 (ISO/IEC 18033-3); SP 800-38A 6.3 (s = 64); {_PY}openssl.py"),
        _stream("rc2-cfb", 16, 8, _streams.rc2_cfb,
                "RC2-CFB64, 128 effective key bits (pycryptodome)",
                f"RFC 2268; SP 800-38A 6.3 (s = 64); {_PY}openssl.py"),
        _stream("rc4", 16, 0, _streams.rc4, "RC4 (pycryptodome)",
                f"RFC 6229 (test vectors); {_PY}openssl.py", legacy_reason=_RC4_LEGACY),
        _stream("seed-cfb", 16, 16, _generic.seed_cfb128, "SEED-CFB128 (pure Python)",
                f"RFC 4269; SP 800-38A 6.3 (s = 128); {_PY}openssl.py"),
    ]
    # openssl.py: 6 AEAD methods.
    for bits in _BITS:
        rows.append(_aead_row(f"aes-{bits}-gcm", bits // 8, 12, _aead.AESGCM,
                              f"AES-{bits}-GCM (pycryptodome)", "SP 800-38D; SIP004; SIP007"))
    for bits in _BITS:
        rows.append(_aead_row(f"aes-{bits}-ocb", bits // 8, 12, _aead.AESOCB,
                              f"AES-{bits}-OCB3 (pycryptodome)", "RFC 7253; SIP004; SIP007"))
    # rc4_md5.py
    rows.append(_stream("rc4-md5", 16, 16, _streams.rc4_md5, "RC4 keyed with MD5(key || IV)",
                        f"{_PY}rc4_md5.py"))
    # mbedtls.py: 9 stream + 3 AEAD, wire-identical to the OpenSSL rows.
    for bits in _BITS:
        rows.append(_stream(f"mbedtls:aes-{bits}-cfb128", bits // 8, 16, _streams.aes_cfb128,
                            f"AES-{bits}-CFB128 (pycryptodome)",
                            f"SP 800-38A 6.3 (s = 128); = aes-{bits}-cfb on the wire; "
                            f"{_PY}mbedtls.py"))
    for bits in _BITS:
        rows.append(_stream(f"mbedtls:aes-{bits}-ctr", bits // 8, 16, _streams.aes_ctr,
                            f"AES-{bits}-CTR (pycryptodome)",
                            f"SP 800-38A 6.5; = aes-{bits}-ctr on the wire; {_PY}mbedtls.py"))
    for bits in _BITS:
        rows.append(_stream(f"mbedtls:camellia-{bits}-cfb128", bits // 8, 16,
                            _generic.camellia_cfb128, f"Camellia-{bits}-CFB128 (pure Python)",
                            f"RFC 3713; = camellia-{bits}-cfb on the wire; {_PY}mbedtls.py"))
    for bits in _BITS:
        rows.append(_aead_row(f"mbedtls:aes-{bits}-gcm", bits // 8, 12, _aead.AESGCM,
                              f"AES-{bits}-GCM (pycryptodome)",
                              f"SP 800-38D; = aes-{bits}-gcm on the wire; SIP004; SIP007"))
    # sodium.py: 4 stream + 4 AEAD.
    rows += [
        _stream("salsa20", 32, 8, _streams.salsa20, "Salsa20/20, 64-bit counter (pycryptodome)",
                f"Bernstein, The Salsa20 family (2008); {_PY}sodium.py"),
        _stream("chacha20", 32, 8, _streams.chacha20,
                "ChaCha20, 8-byte nonce, 64-bit counter (pycryptodome)",
                f"Bernstein 2008; draft-agl-tls-chacha20poly1305-04 2; {_PY}sodium.py"),
        _stream("xchacha20", 32, 24, _streams.xchacha20, "XChaCha20 (pycryptodome)",
                f"draft-irtf-cfrg-xchacha-03 2.3; {_PY}sodium.py"),
        _stream("chacha20-ietf", 32, 12, _streams.chacha20,
                "ChaCha20, 12-byte nonce, 32-bit counter (pycryptodome)",
                f"RFC 8439 2.4; {_PY}sodium.py"),
        _aead_row("chacha20-poly1305", 32, 8, _aead.ChaCha20Poly1305Original,
                  "original ChaCha20-Poly1305 (ChaCha20 and Poly1305 from pycryptodome)",
                  "draft-agl-tls-chacha20poly1305-04 5; libsodium crypto_aead_chacha20poly1305; "
                  "SIP004; SIP007", legacy_reason=_ORIGINAL_CHACHA_LEGACY),
        _aead_row("chacha20-ietf-poly1305", 32, 12, _aead.ChaCha20Poly1305IETF,
                  "AEAD_CHACHA20_POLY1305 (pycryptodome)", "RFC 8439 2.8; SIP004; SIP007"),
        _aead_row("xchacha20-ietf-poly1305", 32, 24, _aead.XChaCha20Poly1305,
                  "AEAD_XChaCha20_Poly1305 (pycryptodome)",
                  "draft-irtf-cfrg-xchacha-03 2.3; SIP004; SIP007"),
        _aead_row("sodium:aes-256-gcm", 32, 12, _aead.AESGCM, "AES-256-GCM (pycryptodome)",
                  "SP 800-38D; = aes-256-gcm on the wire; SIP004; SIP007"),
    ]
    # table.py
    rows.append(_stream("table", 0, 0, _table.table, "MD5-seeded byte substitution",
                        f"{_PY}table.py", legacy_reason=_TABLE_LEGACY))
    # Extensions: Camellia modes shadowsocks-rust offers and Python shadowsocks does not.
    for mode, factory, mode_name, spec in (
        ("cfb8", _generic.camellia_cfb8, "CFB8", "SP 800-38A 6.3 (s = 8)"),
        ("cfb1", _generic.camellia_cfb1, "CFB1", "SP 800-38A 6.3 (s = 1), bits MSB first"),
        ("ofb", _generic.camellia_ofb, "OFB", "SP 800-38A 6.4"),
        ("ctr", _generic.camellia_ctr, "CTR", "SP 800-38A 6.5; RFC 5528"),
    ):
        for bits in _BITS:
            rows.append(_stream(f"camellia-{bits}-{mode}", bits // 8, 16, factory,
                                f"Camellia-{bits}-{mode_name} (pure Python)",
                                f"RFC 3713; {spec}; shadowsocks-rust extension", extension=True))
    return rows


_ROWS: tuple[Method, ...] = tuple(_build())
_ROWS_2022: tuple[Method, ...] = tuple(_build_2022())
_BY_NAME: dict[str, Method] = {}
for _row in (*_ROWS, *_ROWS_2022):
    for _name in (_row.name, *_row.aliases):
        if _name in _BY_NAME:  # pragma: no cover - guards the table itself
            raise RuntimeError(f"duplicate method name {_name!r}")
        _BY_NAME[_name] = _row
del _row, _name

#: How many names the Python shadowsocks master table has.
SHADOWSOCKS_METHOD_COUNT = 53


def methods(*, extensions: bool = False, edition2022: bool = False) -> tuple[Method, ...]:
    """The method rows, in Python shadowsocks' table order.

    * ``methods()``: the 53 rows of Python shadowsocks;
    * ``methods(extensions=True)``: also the rows other implementations add (65 in all);
    * ``methods(edition2022=True)``: the Shadowsocks 2022 rows only (SIP022:
      ``2022-blake3-aes-128-gcm``, ``2022-blake3-aes-256-gcm``,
      ``2022-blake3-chacha20-poly1305``), which take a base64 PSK instead of a password
      and have their own codecs; ``extensions`` does not apply to them.

    The two editions are never mixed in one call, so code parametrised over the classic
    table never receives a row it cannot run. :func:`method` finds every row by name.
    """
    if edition2022:
        return _ROWS_2022
    if extensions:
        return _ROWS
    return tuple(row for row in _ROWS if not row.extension)


def all_names() -> tuple[str, ...]:
    """Every accepted name: row names and aliases."""
    return tuple(_BY_NAME)


def method(name: str | Method) -> Method:
    """Look a method up by name or alias, case-insensitively.

    Raises :class:`~refcrypto.errors.UnknownMethod`, whose message names the closest methods.
    """
    if isinstance(name, Method):
        return name
    key = name.strip().lower() if isinstance(name, str) else name
    try:
        return _BY_NAME[key]
    except (KeyError, TypeError):
        pass
    if not isinstance(name, str):
        raise TypeError(f"method name must be str, not {type(name).__name__}")
    close = difflib.get_close_matches(key, list(_BY_NAME), n=3, cutoff=0.5)
    raise UnknownMethod(name, close)
