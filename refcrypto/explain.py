"""``refcrypto explain``: Shadowsocks wire bytes dissected field by field.

Given a method and its key (a password, or for the 2022 edition a base64 PSK), :func:`explain`
walks a TCP stream or one UDP packet the way a receiver does and returns one :class:`Field`
per piece of the wire: its offset, length and bytes, what it is (``kind``), whether it
checked out (``ok``), what it means, and the values decoded from it::

    kind        what
    ----------  ------------------------------------------------------------------------
    iv          a stream method's IV; the random nonce in front of a 2022 ChaCha packet
    salt        an AEAD salt (its decoded values hold the master key and the subkey)
    ciphertext  stream-cipher output, or sealed bytes whose plaintext is withheld
    length      an encrypted chunk length (SIP004; SIP022), or a header's length field
    payload     an encrypted payload (its decoded values hold the plaintext)
    header      a header field: target address, type, timestamp, padding, session ID...
    tag         an AEAD tag: ``ok`` says whether it verified the bytes it covers

The walk stops at the first field that fails (a tag that does not verify, a length with
reserved bits, a header type or timestamp a receiver refuses, input that ends inside a
field) and that field's ``expected`` says what a receiver expected there. Nothing of an
AEAD piece is decoded before its tag verified, as in the decoders.

:func:`make_wire` encrypts plaintext with a fixed IV or salt, so ``explain --encrypt``
annotates bytes it made itself; :func:`first_difference` says at which field two wires
(a reference and another implementation's) first differ. :func:`render_text` and
:func:`as_json` are the two outputs of the command.

Specs: shadowsocks-org whitepaper (stream, AEAD), SIP004 and SIP007 (chunks, HKDF subkey),
SIP022 (2022 edition: headers 3.1.3 and 3.2.3, UDP separate header 3.2.2, ChaCha UDP 4.1),
SIP023 (identity headers), RFC 1928 section 5 (addresses).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from Crypto.Hash import MD5

from .errors import InvalidTag
from .kdf import SUBKEY_INFO, session_subkey
from .methods import Method
from .methods import method as lookup_method
from .primitives.aead import XChaCha20Poly1305
from .primitives.base import AEAD
from .primitives.blocks import AES
from .wire.aead import MAX_CHUNK_PAYLOAD, RESERVED_LENGTH_BITS
from .wire.cryptor import Password, master_key, new_encoder
from .wire.ss2022 import keys as keys2022
from .wire.ss2022.header import (
    MAX_PADDING,
    MAX_TIME_DIFFERENCE,
    TYPE_CLIENT,
    TYPE_SERVER,
    Address,
    Clock,
    encode_address,
)
from .wire.ss2022.identity import IDENTITY_HEADER_SIZE
from .wire.ss2022.tcp import RequestEncoder, ResponseEncoder
from .wire.ss2022.udp import SEPARATE_HEADER_SIZE, XCHACHA_NONCE_SIZE, UdpClient2022
from .wire.udp import encrypt_packet

__all__ = [
    "KINDS",
    "Difference",
    "Explanation",
    "Field",
    "add_parser",
    "as_json",
    "explain",
    "field_at",
    "first_difference",
    "make_wire",
    "render_text",
]

#: Every value of :attr:`Field.kind`.
KINDS = ("iv", "salt", "ciphertext", "length", "payload", "header", "tag")

Kind = Literal["iv", "salt", "ciphertext", "length", "payload", "header", "tag"]
Key = Password | Sequence[str | bytes]

#: Bytes of plaintext shown in a preview (the JSON holds all of it).
PREVIEW_BYTES = 48
#: Hex digits of a field shown by :func:`render_text` unless ``full``.
HEX_DIGITS = 64

_ATYP_NAMES = {1: "IPv4", 3: "domain name", 4: "IPv6"}


@dataclass(frozen=True)
class Field:
    """One field of the wire: ``data`` is its bytes as sent (ciphertext where encrypted);
    ``decoded`` holds what was decoded from it (JSON-ready values); ``expected`` says, for
    a field that failed, what a receiver expected there."""

    offset: int
    length: int
    kind: Kind
    name: str
    data: bytes
    ok: bool
    meaning: str
    decoded: dict[str, object] = field(default_factory=dict)
    expected: str | None = None

    @property
    def end(self) -> int:
        """The offset after this field."""
        return self.offset + self.length

    def as_dict(self) -> dict[str, object]:
        """The field as one JSON record: ``offset``, ``length``, ``kind``, ``name``, ``hex``,
        ``ok``, ``meaning``, ``decoded`` (when anything was), ``expected`` (when it failed)."""
        record: dict[str, object] = {
            "offset": self.offset, "length": self.length, "kind": self.kind, "name": self.name,
            "hex": self.data.hex(), "ok": self.ok, "meaning": self.meaning,
        }
        if self.decoded:
            record["decoded"] = dict(self.decoded)
        if self.expected is not None:
            record["expected"] = self.expected
        return record


@dataclass
class Explanation:
    """The fields of one stream or packet, in wire order, and what the walk was."""

    method: Method
    transport: Literal["tcp", "udp"]
    direction: Literal["request", "response"]
    size: int
    fields: list[Field] = field(default_factory=list)
    #: Lines about the keys, printed above the fields (not on the wire).
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every field checked out."""
        return all(f.ok for f in self.fields)

    @property
    def failure(self) -> Field | None:
        """The first field that failed, if any."""
        return next((f for f in self.fields if not f.ok), None)

    @property
    def plaintext(self) -> bytes:
        """The payload bytes decoded (and, for AEAD, verified) before any failure."""
        return b"".join(bytes.fromhex(str(f.decoded["plaintext"])) for f in self.fields
                        if f.kind in ("payload", "ciphertext") and "plaintext" in f.decoded)

    def add(self, f: Field) -> Field:
        self.fields.append(f)
        return f


class _Stop(Exception):
    """Raised inside a walk once a field failed (the field is already recorded)."""


def _preview(data: bytes) -> str:
    text = repr(data[:PREVIEW_BYTES])
    return text + (f" ... ({len(data)} bytes)" if len(data) > PREVIEW_BYTES else "")


def _utc(timestamp: int) -> str:
    try:
        moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "out of range"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class _Walker:
    """The cursor of one walk: takes fields off the wire, stops on the first failure."""

    __slots__ = ("out", "pos", "wire")

    def __init__(self, wire: bytes, out: Explanation) -> None:
        self.wire = wire
        self.out = out
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.wire) - self.pos

    def need(self, size: int, kind: Kind, name: str, what: str) -> bytes:
        """The next ``size`` bytes, or a failed field (and a stop) if the input ends first."""
        if self.left < size:
            piece = self.wire[self.pos :]
            self.out.add(Field(self.pos, len(piece), kind, name, piece, False,
                               f"{name}: the input ends {len(piece)} bytes into it",
                               expected=f"{size} bytes ({what}); got {len(piece)}"))
            raise _Stop
        return self.wire[self.pos : self.pos + size]

    def take(self, size: int, kind: Kind, name: str, meaning: str, *, ok: bool = True,
             expected: str | None = None, values: dict[str, object] | None = None,
             **decoded: object) -> Field:
        data = self.wire[self.pos : self.pos + size]
        f = self.out.add(Field(self.pos, size, kind, name, data, ok, meaning,
                               {**(values or {}), **decoded}, None if ok else expected))
        self.pos += size
        if not ok:
            raise _Stop
        return f

    def fail(self, size: int, kind: Kind, name: str, meaning: str, expected: str,
             **decoded: object) -> None:
        self.take(size, kind, name, meaning, ok=False, expected=expected, values=decoded)


def _open_sealed(
    walker: _Walker, aead: AEAD, nonce: bytes, size: int, name: str, what: str,
    counter: int | None = None,
) -> bytes:
    """Open the ``size``-byte plaintext sealed at the cursor (``size`` + tag bytes), without
    moving the cursor; on a bad tag record the ciphertext (withheld) and the failed tag."""
    tag = walker.out.method.tag_size or 16
    sealed = walker.need(size + tag, "length" if what == "length" else "payload", name,
                         f"{size} sealed bytes and a {tag}-byte tag")
    try:
        return aead.open(nonce, sealed)
    except InvalidTag:
        label = f"nonce {counter}" if counter is not None else "its nonce"
        if size:
            walker.take(size, "ciphertext", name,
                        f"{name}: sealed with {label}; plaintext withheld: its tag fails",
                        nonce=nonce.hex())
        walker.fail(tag, "tag", f"tag of {name}",
                    f"tag of {name}: does not verify (wrong key, or the bytes were altered)",
                    f"a tag that authenticates the {size} bytes before it under {label} "
                    f"({nonce.hex()}) with this key",
                    nonce=nonce.hex(), verified=False)
        raise AssertionError("unreachable") from None


def _tag(walker: _Walker, name: str, nonce: bytes) -> None:
    walker.take(walker.out.method.tag_size or 16, "tag", f"tag of {name}",
                f"tag of {name}: verified", nonce=nonce.hex(), verified=True)


def _parse_classic_address(data: bytes) -> tuple[str, int, int] | str | None:
    """``(host, port, size)``; ``None`` if ``data`` ends inside it; an error text if it is
    not an address."""
    from .tools import AddressError, parse_address

    try:
        return parse_address(data)
    except AddressError as exc:
        return str(exc)


_ADDRESS_EXPECTED = (
    "a target address: ATYP 1 (IPv4), 3 (domain name) or 4 (IPv6), the address, a "
    "big-endian port (RFC 1928 section 5)"
)


def _address_field(
    walker: _Walker, plain: bytes, base: int, name: str, *, required: bool
) -> int:
    """Record the address at the start of ``plain`` (whose first byte is at wire offset
    ``base``); return its size (0 when absent and not required)."""
    parsed = _parse_classic_address(plain)
    if isinstance(parsed, tuple):
        host, port, size = parsed
        atyp = _ATYP_NAMES.get(plain[0], "?")
        walker.pos = base
        walker.take(size, "header", name, f"{name}: {host}:{port} (ATYP {plain[0]}, {atyp})",
                    host=host, port=port, atyp=plain[0], plaintext=plain[:size].hex())
        return size
    if not required:
        return 0
    walker.pos = base
    problem = parsed if isinstance(parsed, str) else "the plaintext ends inside it"
    walker.fail(len(plain), "header", name,
                f"{name}: not an address ({problem}); a wrong password decrypts to bytes "
                "like these", _ADDRESS_EXPECTED, plaintext=plain.hex())
    return 0


# --- classic methods ----------------------------------------------------------------------


def _key_notes(out: Explanation, row: Method, key: bytes) -> None:
    if row.key_size:
        out.notes.append(f"master key = EVP_BytesToKey(MD5, password), {row.key_size} bytes: "
                         f"{key.hex()}")
    else:
        out.notes.append("table: the password itself seeds the substitution (no key derivation)")


def _stream_tcp(walker: _Walker, row: Method, password: Password, request: bool) -> None:
    key = master_key(password, row)
    _key_notes(walker.out, row, key)
    iv = b""
    if row.iv_size:
        iv = walker.need(row.iv_size, "iv", "IV", f"the {row.iv_size}-byte IV")
        extra: dict[str, object] = {"master_key": key.hex()}
        meaning = f"IV: {row.name} runs under the master key and this IV"
        if row.name == "rc4-md5":
            extra["rc4_key"] = MD5.new(key + iv).hexdigest()
            meaning += f"; RC4 key = MD5(master key || IV) = {extra['rc4_key']}"
        walker.take(row.iv_size, "iv", "IV", meaning, values=extra)
    start = walker.pos
    body = walker.wire[start:]
    if not body:
        return
    plain = row.new_stream(key, iv, True).update(body)
    size = _address_field(walker, plain, start, "target address", required=request)
    if size < len(plain):
        walker.take(len(plain) - size, "ciphertext", "data",
                    f"data (not authenticated: altered bytes decrypt silently): "
                    f"{_preview(plain[size:])}", plaintext=plain[size:].hex(),
                    preview=_preview(plain[size:]))


def _aead_tcp(walker: _Walker, row: Method, password: Password, request: bool) -> None:
    key = master_key(password, row)
    _key_notes(walker.out, row, key)
    salt = walker.need(row.salt_size, "salt", "salt", f"the {row.salt_size}-byte salt")
    subkey = session_subkey(key, salt)
    walker.take(row.salt_size, "salt", "salt",
                f"salt; subkey = HKDF-SHA1(master key, salt, {SUBKEY_INFO.decode()!r}) = "
                f"{subkey.hex()}", master_key=key.hex(), subkey=subkey.hex())
    aead = row.new_aead(subkey)
    counter, chunk = 0, 0
    while walker.left:
        name = f"chunk {chunk} length"
        nonce = counter.to_bytes(row.nonce_size, "little")
        plain = _open_sealed(walker, aead, nonce, 2, name, "length", counter)
        value = int.from_bytes(plain, "big")
        valid = value != 0 and not value & RESERVED_LENGTH_BITS
        walker.take(2, "length", name,
                    f"{name}: nonce {counter}: 0x{value:04x} = {value} bytes of payload follow",
                    ok=valid, expected=f"a length of 1..0x{MAX_CHUNK_PAYLOAD:04X} (the two high "
                    f"bits are reserved), got 0x{value:04x}",
                    nonce=nonce.hex(), counter=counter, value=value)
        _tag(walker, name, nonce)
        counter += 1
        name = f"chunk {chunk} payload"
        nonce = counter.to_bytes(row.nonce_size, "little")
        plain = _open_sealed(walker, aead, nonce, value, name, "payload", counter)
        start = walker.pos
        size = 0
        if request and chunk == 0:
            size = _address_field(walker, plain, start, "target address", required=True)
        if size < len(plain):
            rest = plain[size:]
            walker.pos = start + size
            walker.take(len(rest), "payload", name,
                        f"{name}: nonce {counter}: {_preview(rest)}", nonce=nonce.hex(),
                        counter=counter, plaintext=rest.hex(), preview=_preview(rest))
        _tag(walker, name, nonce)
        counter += 1
        chunk += 1


def _classic_udp(walker: _Walker, row: Method, password: Password) -> None:
    key = master_key(password, row)
    _key_notes(walker.out, row, key)
    if not row.is_aead:
        iv = walker.need(row.iv_size, "iv", "IV", f"the {row.iv_size}-byte IV")
        if row.iv_size:
            walker.take(row.iv_size, "iv", "IV", "IV of this packet (each packet has its own)",
                        master_key=key.hex())
        start = walker.pos
        plain = row.new_stream(key, iv, True).update(walker.wire[start:])
        size = _address_field(walker, plain, start, "address", required=True)
        if size < len(plain):
            walker.take(len(plain) - size, "ciphertext", "data",
                        f"data (not authenticated): {_preview(plain[size:])}",
                        plaintext=plain[size:].hex(), preview=_preview(plain[size:]))
        return
    salt = walker.need(row.salt_size, "salt", "salt", f"the {row.salt_size}-byte salt")
    subkey = session_subkey(key, salt)
    walker.take(row.salt_size, "salt", "salt",
                f"salt of this packet; subkey = HKDF-SHA1(master key, salt, "
                f"{SUBKEY_INFO.decode()!r}) = {subkey.hex()}",
                master_key=key.hex(), subkey=subkey.hex())
    size = walker.left - row.tag_size
    nonce = bytes(row.nonce_size)
    if size < 0:
        walker.need(row.tag_size, "tag", "tag", f"a {row.tag_size}-byte tag")
    plain = _open_sealed(walker, row.new_aead(subkey), nonce, size, "packet body", "payload")
    start = walker.pos
    used = _address_field(walker, plain, start, "address", required=True)
    if used < len(plain):
        walker.take(len(plain) - used, "payload", "payload",
                    f"payload (nonce all zero): {_preview(plain[used:])}", nonce=nonce.hex(),
                    plaintext=plain[used:].hex(), preview=_preview(plain[used:]))
    _tag(walker, "packet body", nonce)


# --- Shadowsocks 2022 ---------------------------------------------------------------------


def _psk_chain(key: Key, row: Method) -> tuple[bytes, ...]:
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
        try:  # from a key file: base64 text, not raw key bytes
            return keys2022.decode_psk_chain(raw.decode("ascii"), row)
        except UnicodeDecodeError:
            return (keys2022.decode_psk(raw, row),)
    return keys2022.decode_psk_chain(key, row)


def _header_fields_2022(
    walker: _Walker, plain: bytes, fields: Sequence[tuple[int, str, Kind, str, dict[str, object],
                                                          str | None]],
) -> None:
    """Record consecutive plaintext fields of one opened 2022 header at their wire offsets;
    each is ``(size, name, kind, meaning, decoded, expected or None)``."""
    pos = 0
    for size, name, kind, meaning, decoded, expected in fields:
        walker.take(size, kind, name, meaning, ok=expected is None, expected=expected,
                    values=decoded, plaintext=plain[pos : pos + size].hex())
        pos += size


def _timestamp_check(
    value: int, now: int | None
) -> tuple[str, dict[str, object], str | None]:
    decoded: dict[str, object] = {"value": value, "utc": _utc(value)}
    if now is None:
        return f"{value} ({_utc(value)}; not checked against a clock)", decoded, None
    offset = value - now
    decoded["seconds_from_now"] = offset
    text = f"{value} ({_utc(value)}; {offset:+d} s from now)"
    if abs(offset) > MAX_TIME_DIFFERENCE:
        return text, decoded, (f"a timestamp within {MAX_TIME_DIFFERENCE} s of {now}; "
                               f"{offset:+d} s is refused as a replay (SIP022 3.1.3)")
    return text, decoded, None


def _identity_tcp(walker: _Walker, row: Method, chain: tuple[bytes, ...], salt: bytes) -> None:
    for index in range(len(chain) - 1):
        header = walker.need(IDENTITY_HEADER_SIZE, "header", f"identity header {index}",
                             "one AES block")
        digest = AES(keys2022.identity_subkey(chain[index], salt)).decrypt_block(header)
        wanted = keys2022.psk_hash(chain[index + 1])
        walker.take(IDENTITY_HEADER_SIZE, "header", f"identity header {index}",
                    f"identity header {index}: AES(identity subkey of iPSK {index}) of "
                    f"BLAKE3(next PSK)[0..16] = {digest.hex()}", ok=digest == wanted,
                    expected=f"BLAKE3 hash {wanted.hex()} of the next PSK of the chain "
                    "(SIP023); a wrong iPSK or salt gives another block",
                    psk_hash=digest.hex())


def _ss2022_tcp(walker: _Walker, row: Method, key: Key, request: bool,
                request_salt: bytes | None, now: int | None) -> None:
    chain = _psk_chain(key, row)
    if not request and len(chain) > 1:
        chain = chain[-1:]  # responses are sealed with the user's PSK, no identity header
    size = row.salt_size
    salt = walker.need(size, "salt", "salt", f"the {size}-byte salt")
    subkey = keys2022.session_subkey(chain[-1], salt)
    walker.out.notes.append(f"PSK ({len(chain[-1])} bytes, base64-decoded, no key derivation): "
                            f"{chain[-1].hex()}")
    walker.take(size, "salt", "salt",
                f"salt; subkey = BLAKE3-derive_key({keys2022.SESSION_SUBKEY_CONTEXT!r}, PSK || "
                f"salt) = {subkey.hex()}", subkey=subkey.hex())
    if request:
        _identity_tcp(walker, row, chain, salt)
    aead = row.new_aead(subkey)

    def nonce_of(n: int) -> bytes:
        return n.to_bytes(12, "little")

    fixed_size = 1 + 8 + (0 if request else size) + 2
    name = "fixed-length header"
    plain = _open_sealed(walker, aead, nonce_of(0), fixed_size, name, "payload", 0)
    kind_wanted = TYPE_CLIENT if request else TYPE_SERVER
    stamp = int.from_bytes(plain[1:9], "big")
    stamp_text, stamp_decoded, stamp_expected = _timestamp_check(stamp, now)
    length = int.from_bytes(plain[-2:], "big")
    fields: list[tuple[int, str, Kind, str, dict[str, object], str | None]] = [
        (1, "type", "header", f"type: {plain[0]} ({'client' if plain[0] == 0 else 'server'} "
         "stream), nonce 0", {"value": plain[0]},
         None if plain[0] == kind_wanted else f"type {kind_wanted} in a "
         f"{'request' if request else 'response'} (SIP022 3.1.3)"),
        (8, "timestamp", "header", f"timestamp: {stamp_text}", stamp_decoded, stamp_expected),
    ]
    if not request:
        named = plain[9 : 9 + size]
        fields.append((size, "request salt", "header", f"request salt: {named.hex()}",
                       {"value": named.hex()},
                       None if request_salt is None or named == request_salt else
                       f"the salt of the request, {request_salt.hex()}"))
    following = "variable-length header" if request else "first payload chunk"
    fields.append((2, "length", "length", f"length of the {following}: {length} bytes",
                   {"value": length}, None))
    _header_fields_2022(walker, plain, fields)
    _tag(walker, name, nonce_of(0))
    counter = 1
    if request:
        name = "variable-length header"
        plain = _open_sealed(walker, aead, nonce_of(1), length, name, "payload", 1)
        _variable_header(walker, plain, length)
        _tag(walker, name, nonce_of(1))
        counter = 2
    else:
        name = "first payload chunk"
        plain = _open_sealed(walker, aead, nonce_of(1), length, name, "payload", 1)
        if plain:
            walker.take(length, "payload", name, f"{name}: nonce 1: {_preview(plain)}",
                        nonce=nonce_of(1).hex(), counter=1, plaintext=plain.hex(),
                        preview=_preview(plain))
        _tag(walker, name, nonce_of(1))
        counter = 2
    chunk = 0
    while walker.left:
        name = f"chunk {chunk} length"
        plain = _open_sealed(walker, aead, nonce_of(counter), 2, name, "length", counter)
        value = int.from_bytes(plain, "big")
        walker.take(2, "length", name, f"{name}: nonce {counter}: {value} bytes of payload follow",
                    nonce=nonce_of(counter).hex(), counter=counter, value=value)
        _tag(walker, name, nonce_of(counter))
        counter += 1
        name = f"chunk {chunk} payload"
        plain = _open_sealed(walker, aead, nonce_of(counter), value, name, "payload", counter)
        if plain:
            walker.take(value, "payload", name, f"{name}: nonce {counter}: {_preview(plain)}",
                        nonce=nonce_of(counter).hex(), counter=counter, plaintext=plain.hex(),
                        preview=_preview(plain))
        _tag(walker, name, nonce_of(counter))
        counter += 1
        chunk += 1


def _address_2022(plain: bytes, pos: int) -> tuple[Address, int] | str:
    from .errors import HeaderOverrun, InvalidAddress
    from .wire.ss2022.header import parse_address

    try:
        return parse_address(plain, pos, len(plain), "header")
    except (HeaderOverrun, InvalidAddress) as exc:
        return str(exc)


def _variable_header(walker: _Walker, plain: bytes, length: int) -> None:
    """ATYP | address | port | padding length | padding | initial payload (SIP022 3.1.3)."""
    start = walker.pos
    parsed = _address_2022(plain, 0)
    if isinstance(parsed, str):
        walker.fail(length, "header", "target address", f"target address: {parsed}",
                    _ADDRESS_EXPECTED, plaintext=plain.hex())
        return
    (host, port), pos = parsed
    walker.take(pos, "header", "target address", f"target address: {host}:{port}",
                host=host, port=port, atyp=plain[0], plaintext=plain[:pos].hex())
    if pos + 2 > length:
        walker.fail(length - pos, "header", "padding length", "the chunk ends inside it",
                    "a 2-byte padding length after the address")
    padding = int.from_bytes(plain[pos : pos + 2], "big")
    over = padding > MAX_PADDING or pos + 2 + padding > length
    empty = padding == 0 and pos + 2 == length
    walker.take(2, "header", "padding length", f"padding length: {padding} bytes",
                ok=not over and not empty,
                expected=(f"at most {MAX_PADDING} bytes of padding, within the chunk" if over
                          else "padding or initial payload: a request has one or both "
                          "(SIP022 3.1.3)"),
                value=padding, plaintext=plain[pos : pos + 2].hex())
    pos += 2
    if padding:
        walker.take(padding, "header", "padding", f"padding: {padding} bytes (contents ignored)",
                    plaintext=plain[pos : pos + padding].hex())
        pos += padding
    if pos < length:
        rest = plain[pos:]
        walker.take(len(rest), "payload", "initial payload",
                    f"initial payload, nonce 1: {_preview(rest)}",
                    nonce=(1).to_bytes(12, "little").hex(), counter=1, plaintext=rest.hex(),
                    preview=_preview(rest))
    walker.pos = start + length


def _ss2022_udp(walker: _Walker, row: Method, key: Key, request: bool, now: int | None) -> None:
    chain = _psk_chain(key, row)
    psk = chain[-1]
    walker.out.notes.append(f"PSK ({len(psk)} bytes, base64-decoded): {psk.hex()}")
    tag = row.tag_size
    if row.name.startswith("2022-blake3-aes-"):
        header_key = chain[0] if request else psk
        block = walker.need(SEPARATE_HEADER_SIZE, "header", "separate header", "one AES block")
        separate = AES(header_key).decrypt_block(block)
        session, packet = separate[:8], separate[8:]
        walker.take(SEPARATE_HEADER_SIZE, "header", "separate header",
                    f"separate header = AES-ECB(PSK) of session ID {session.hex()} | packet ID "
                    f"{int.from_bytes(packet, 'big')}; the body's nonce is its last 12 bytes",
                    session_id=session.hex(), packet_id=int.from_bytes(packet, "big"),
                    plaintext=separate.hex())
        if request:
            for index in range(len(chain) - 1):
                header = walker.need(IDENTITY_HEADER_SIZE, "header", f"identity header {index}",
                                     "one AES block")
                digest = bytes(a ^ b for a, b in zip(AES(chain[index]).decrypt_block(header),
                                                     separate, strict=True))
                wanted = keys2022.psk_hash(chain[index + 1])
                walker.take(IDENTITY_HEADER_SIZE, "header", f"identity header {index}",
                            f"identity header {index}: names PSK hash {digest.hex()}",
                            ok=digest == wanted, expected=f"the BLAKE3 hash {wanted.hex()} of "
                            "the next PSK (SIP023)", psk_hash=digest.hex())
        subkey = keys2022.session_subkey(psk, session)
        walker.out.notes.append(f"session subkey = BLAKE3-derive_key(PSK || session ID) = "
                                f"{subkey.hex()}")
        aead: AEAD = row.new_aead(subkey)
        nonce = separate[4:]
        size = walker.left - tag
        if size < 0:
            walker.need(tag, "tag", "tag", f"a {tag}-byte tag")
        body = _open_sealed(walker, aead, nonce, size, "packet body", "payload")
    else:
        nonce = walker.need(XCHACHA_NONCE_SIZE, "iv", "nonce", "the 24-byte XChaCha20 nonce")
        walker.take(XCHACHA_NONCE_SIZE, "iv", "nonce",
                    "nonce: random, XChaCha20-Poly1305 under the PSK itself (SIP022 4.1)")
        size = walker.left - tag
        if size < SEPARATE_HEADER_SIZE:
            walker.need(SEPARATE_HEADER_SIZE + tag, "payload", "packet body",
                        "session ID, packet ID and a tag at least")
        plain = _open_sealed(walker, XChaCha20Poly1305(psk), nonce, size, "packet body",
                             "payload")
        session, packet = plain[:8], plain[8:16]
        walker.take(8, "header", "session ID", f"session ID: {session.hex()}",
                    value=session.hex(), plaintext=session.hex())
        walker.take(8, "header", "packet ID", f"packet ID: {int.from_bytes(packet, 'big')}",
                    value=int.from_bytes(packet, "big"), plaintext=packet.hex())
        body = plain[16:]
    _udp_body_2022(walker, body, request, now)
    _tag(walker, "packet body", nonce)


def _udp_body_2022(walker: _Walker, body: bytes, request: bool, now: int | None) -> None:
    """type | timestamp | [client session ID] | padding length | padding | address | payload."""
    fixed = 1 + 8 + (0 if request else 8) + 2
    if len(body) < fixed:
        walker.fail(len(body), "header", "header", "body shorter than its header",
                    f"{fixed} bytes of header")
    wanted = TYPE_CLIENT if request else TYPE_SERVER
    stamp = int.from_bytes(body[1:9], "big")
    stamp_text, stamp_decoded, stamp_expected = _timestamp_check(stamp, now)
    padding = int.from_bytes(body[fixed - 2 : fixed], "big")
    fields: list[tuple[int, str, Kind, str, dict[str, object], str | None]] = [
        (1, "type", "header", f"type: {body[0]}", {"value": body[0]},
         None if body[0] == wanted else f"type {wanted} (SIP022 3.2.3)"),
        (8, "timestamp", "header", f"timestamp: {stamp_text}", stamp_decoded, stamp_expected),
    ]
    if not request:
        fields.append((8, "client session ID", "header",
                       f"client session ID: {body[9:17].hex()}", {"value": body[9:17].hex()},
                       None))
    fields.append((2, "padding length", "header", f"padding length: {padding} bytes",
                   {"value": padding},
                   None if fixed + padding <= len(body) else "padding within the packet"))
    _header_fields_2022(walker, body, fields)
    if padding:
        walker.take(padding, "header", "padding", f"padding: {padding} bytes",
                    plaintext=body[fixed : fixed + padding].hex())
    pos = fixed + padding
    parsed = _address_2022(body, pos)
    if isinstance(parsed, str):
        walker.fail(len(body) - pos, "header", "address", f"address: {parsed}",
                    _ADDRESS_EXPECTED)
        return
    (host, port), end = parsed
    walker.take(end - pos, "header", "address", f"address: {host}:{port}", host=host, port=port,
                plaintext=body[pos:end].hex())
    rest = body[end:]
    if rest:
        walker.take(len(rest), "payload", "payload", f"payload: {_preview(rest)}",
                    plaintext=rest.hex(), preview=_preview(rest))


# --- entry points -------------------------------------------------------------------------


def explain(
    method: Method | str,
    key: Key,
    wire: bytes,
    *,
    udp: bool = False,
    response: bool = False,
    request_salt: bytes | None = None,
    now: int | None = None,
) -> Explanation:
    """Dissect ``wire``: a TCP stream (from its first byte) or, with ``udp``, one packet.

    ``key`` is the password, or for a 2022 method the base64 PSK (a ``:``-separated SIP023
    chain for a client's request). ``response`` reads the server-to-client direction (a
    classic TCP response has no target address; a 2022 response has its own header, whose
    request salt is checked against ``request_salt`` if given). ``now`` (Unix seconds)
    checks 2022 timestamps as a receiver would; without it they are shown, not checked.

    >>> wire = make_wire("aes-128-gcm", "pw", b"hi", iv=bytes(16), target=("127.0.0.1", 80))
    >>> for f in explain("aes-128-gcm", "pw", wire).fields:
    ...     print(f.offset, f.length, f.kind, f.name)
    0 16 salt salt
    16 2 length chunk 0 length
    18 16 tag tag of chunk 0 length
    34 7 header target address
    41 2 payload chunk 0 payload
    43 16 tag tag of chunk 0 payload
    """
    row = lookup_method(method)
    out = Explanation(row, "udp" if udp else "tcp", "response" if response else "request",
                      len(wire))
    walker = _Walker(bytes(wire), out)
    try:
        if row.is_2022:
            if udp:
                _ss2022_udp(walker, row, key, not response, now)
            else:
                _ss2022_tcp(walker, row, key, not response, request_salt, now)
        else:
            password = _classic_password(key)
            if udp:
                _classic_udp(walker, row, password)
            elif row.is_aead:
                _aead_tcp(walker, row, password, not response)
            else:
                _stream_tcp(walker, row, password, not response)
    except _Stop:
        pass
    return out


def _classic_password(key: Key) -> Password:
    if isinstance(key, (str, bytes, bytearray, memoryview)):
        return key
    raise TypeError("a classic method takes one password, not a PSK chain")


def make_wire(
    method: Method | str,
    key: Key,
    plaintext: bytes,
    *,
    iv: bytes,
    udp: bool = False,
    response: bool = False,
    target: Address | None = None,
    writes: int | None = None,
    now: int | None = None,
    padding: int = 0,
    request_salt: bytes | None = None,
) -> bytes:
    """Encrypt ``plaintext`` into wire bytes with the fixed ``iv`` (IV or salt; for a 2022
    UDP packet, the AES methods' 8-byte session ID or the ChaCha method's 24-byte nonce,
    whose first 8 bytes are then the session ID).

    ``target`` puts a target address in front (classic methods: inside the plaintext, as
    clients do; 2022 requests: in the variable-length header, where it is required).
    ``writes`` cuts the plaintext into writes of that many bytes (one chunk or more each).
    ``now`` is the clock of 2022 headers, ``padding`` their padding length, and
    ``request_salt`` the salt a 2022 response names.
    """
    row = lookup_method(method)
    data = bytes(plaintext)
    pieces = [data[i : i + writes] for i in range(0, len(data), writes)] if writes else [data]
    pieces = [p for p in pieces if p] or [b""]
    clock = _fixed_clock(now) if now is not None else None
    if not row.is_2022:
        password = _classic_password(key)
        prefix = encode_address(target) if target is not None else b""
        if udp:
            return encrypt_packet(row, master_key(password, row), prefix + data, iv)
        classic = new_encoder(row, master_key(password, row), iv)
        pieces[0] = prefix + pieces[0]
        return b"".join(classic.update(p) for p in pieces)
    chain = _psk_chain(key, row)
    if udp:
        if response:
            raise ValueError("a 2022 UDP response needs the server's session (random): "
                             "make it with UdpServer2022; explain can dissect it")
        if target is None:
            raise ValueError("a 2022 UDP packet needs a target address")
        is_aes = row.name.startswith("2022-blake3-aes-")
        session = int.from_bytes(iv[:8], "big")
        if (len(iv) != 8) if is_aes else (len(iv) != XCHACHA_NONCE_SIZE):
            raise ValueError(f"{row.name}: a UDP packet takes "
                             f"{'an 8-byte session ID' if is_aes else 'a 24-byte nonce'} as iv")
        client = UdpClient2022(chain if len(chain) > 1 else chain[0], row, session_id=session,
                               clock=clock)
        return client.encrypt(data, target, padding=padding,
                              nonce=None if is_aes else iv)
    if response:
        if request_salt is None:
            raise ValueError("a 2022 response names the request's salt: give request_salt")
        encoder: RequestEncoder | ResponseEncoder = ResponseEncoder(
            row, chain[-1], request_salt, salt=iv, clock=clock)
    else:
        if target is None:
            raise ValueError("a 2022 request needs a target address")
        encoder = RequestEncoder(row, chain if len(chain) > 1 else chain[0], target, salt=iv,
                                 clock=clock, padding=padding)
        if not data:
            return encoder.start()
    return b"".join(encoder.update(p) for p in pieces)


def _fixed_clock(now: int) -> Clock:
    def clock() -> int:
        return now

    return clock


def field_at(explanation: Explanation, offset: int) -> Field | None:
    """The field holding byte ``offset`` of the wire, if the walk got that far."""
    return next((f for f in explanation.fields if f.offset <= offset < f.end), None)


@dataclass(frozen=True)
class Difference:
    """Where two wires first differ: the byte offset, and the field of the reference's
    dissection holding it (``None`` when the reference ended there: the other is longer)."""

    offset: int
    field: Field | None
    reference: Explanation

    def __str__(self) -> str:
        if self.field is None:
            return f"byte {self.offset}: past the end of the reference ({self.reference.size} B)"
        f = self.field
        return (f"byte {self.offset}: {f.name} ({f.kind}, bytes {f.offset}..{f.end - 1}): "
                f"{f.meaning}")


def first_difference(
    method: Method | str,
    key: Key,
    reference: bytes,
    other: bytes,
    *,
    udp: bool = False,
    response: bool = False,
    now: int | None = None,
) -> Difference | None:
    """The first byte where ``other`` differs from ``reference``, and the reference's field
    there (``None`` if the two are equal). For ``refcrypto check``: say which field a failing
    backend got wrong (its IV, a length, a tag, a payload) rather than only a byte offset."""
    if reference == other:
        return None
    offset = next((i for i, (a, b) in enumerate(zip(reference, other, strict=False)) if a != b),
                  min(len(reference), len(other)))
    dissected = explain(method, key, reference, udp=udp, response=response, now=now)
    return Difference(offset, field_at(dissected, offset), dissected)


# --- output -------------------------------------------------------------------------------


def as_json(explanation: Explanation) -> str:
    """The fields as a JSON list of records (:meth:`Field.as_dict`)."""
    return json.dumps([f.as_dict() for f in explanation.fields], indent=1)


_GREEN, _RED, _DIM, _BOLD, _RESET = "\033[32m", "\033[31m", "\033[2m", "\033[1m", "\033[0m"


def render_text(explanation: Explanation, *, colour: bool = False, full: bool = False) -> str:
    """A readable table: one line per field (offset, length, kind, name, hex) and its
    meaning below it; the key notes above and a verdict below. ``colour`` adds ANSI
    colours; ``full`` prints every hex digit instead of the first :data:`HEX_DIGITS`."""

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if colour else text

    e = explanation
    direction = {"request": "client to server", "response": "server to client"}[e.direction]
    what = "UDP packet" if e.transport == "udp" else "TCP stream"
    lines = [paint(f"{e.method.name}: {what}, {direction}, {e.size} bytes", _BOLD)]
    lines += [paint(note, _DIM) for note in e.notes]
    lines.append("")
    lines.append(f"{'offset':>6} {'len':>5}  {'kind':10} {'field':30} hex")
    for f in e.fields:
        digits = f.data.hex()
        if not full and len(digits) > HEX_DIGITS:
            digits = digits[:HEX_DIGITS] + "..."
        mark = "" if f.ok else paint("  FAILED", _RED)
        lines.append(f"{f.offset:>6} {f.length:>5}  {f.kind:10} {f.name:30} {digits}{mark}")
        lines.append(" " * 14 + paint(f.meaning, _DIM if f.ok else _RED))
    lines.append("")
    failure = e.failure
    covered = e.fields[-1].end if e.fields else 0
    if failure is not None:
        lines.append(paint(f"stopped at offset {failure.offset} ({failure.name}): expected "
                           f"{failure.expected}", _RED))
    elif covered < e.size:
        lines.append(paint(f"{e.size - covered} bytes after offset {covered} not dissected",
                           _RED))
    else:
        tags = sum(1 for f in e.fields if f.kind == "tag")
        checked = (f"; {tags} tag{'s' if tags > 1 else ''} verified" if tags
                   else "; nothing here is authenticated")
        lines.append(paint(f"all {len(e.fields)} fields read{checked}", _GREEN))
    return "\n".join(lines)


# --- the command --------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``explain`` to the ``refcrypto`` command's subparsers."""
    from .keyinput import add_key_arguments

    p = sub.add_parser(
        "explain", help="dissect wire bytes field by field (or make them with --encrypt)",
        description="Dissect a Shadowsocks TCP stream (from its first byte) or, with --udp, one "
        "packet: every field with its offset, length, hex and meaning, each tag verified. "
        "Stops at the first field that fails and says what was expected there. The wire "
        "comes as a hex argument, from -i FILE (raw bytes; --hex-in for hex text) or from "
        "standard input.",
        epilog="exit status: 0 every field checked out; 1 a field failed (the dissection up "
        "to it is printed); 2 bad usage or input.")
    p.add_argument("hex", nargs="?", metavar="HEX", help="the wire bytes as hex")
    p.add_argument("-m", "--method", required=True)
    add_key_arguments(p)
    p.add_argument("-i", "--input", metavar="FILE", help="read the input from FILE ('-': stdin)")
    p.add_argument("--hex-in", action="store_true", help="the input file or stdin is hex text")
    p.add_argument("--udp", action="store_true", help="one UDP packet instead of a TCP stream")
    p.add_argument("--response", action="store_true",
                   help="the server-to-client direction (default: client to server)")
    p.add_argument("--request-salt", metavar="HEX",
                   help="2022 response: the salt of the request it must name")
    p.add_argument("--now", type=int, metavar="SECONDS",
                   help="Unix time to check 2022 timestamps against (default: not checked; "
                   "with --encrypt: the timestamp written)")
    p.add_argument("--json", action="store_true", help="one JSON record per field")
    p.add_argument("--full", action="store_true", help="print every hex digit of long fields")
    group = p.add_argument_group("--encrypt: make the wire from plaintext, then dissect it")
    group.add_argument("--encrypt", action="store_true",
                       help="the input is plaintext: encrypt it, then dissect the result")
    group.add_argument("--iv", metavar="HEX", help="fixed IV or salt (2022 UDP: the 8-byte "
                       "session ID, or ChaCha's 24-byte nonce); default random")
    group.add_argument("--text", metavar="TEXT", help="the plaintext as UTF-8 text")
    group.add_argument("--target", metavar="HOST:PORT",
                       help="put this target address in front (a 2022 request needs one)")
    group.add_argument("--padding", type=int, default=0, metavar="N",
                       help="2022 padding length (default 0)")
    group.add_argument("--write-size", type=int, metavar="N",
                       help="cut the plaintext into writes of N bytes (one chunk or more each)")
    p.set_defaults(func=command)


def _hex_arg(text: str, what: str) -> bytes:
    from .cli import InputError

    digits = "".join(text.split())
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise InputError(f"{what}: not an even number of hex digits: {digits[:40]!r}") from None


def _input(args: argparse.Namespace) -> bytes:
    from .cli import InputError

    if args.text is not None:
        return str(args.text).encode("utf-8")
    if args.hex is not None:
        return _hex_arg(args.hex, "HEX")
    if args.input in (None, "-"):
        data: bytes = sys.stdin.buffer.read()
    else:
        try:
            with open(args.input, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise InputError(f"cannot read {args.input}: {exc.strerror or exc}") from None
    return _hex_arg(data.decode("ascii", "replace"), "input") if args.hex_in else data


def command(args: argparse.Namespace) -> int:
    """``refcrypto explain``: returns 0, or 1 when a field failed."""
    import os

    from .cli import InputError
    from .keyinput import key_from_args, key_reads_stdin
    from .tools import parse_host_port

    row = lookup_method(args.method)
    if key_reads_stdin(args) and args.hex is None and args.text is None and args.input in (
            None, "-"):
        raise InputError("--key-file - and the input both read standard input; give the input "
                         "as HEX or with -i FILE")
    key = key_from_args(args)
    data = _input(args)
    request_salt = _hex_arg(args.request_salt, "--request-salt") if args.request_salt else None
    notes: list[str] = []
    if args.encrypt:
        target = None
        if args.target is not None:
            try:
                target = parse_host_port(args.target)
            except ValueError as exc:
                raise InputError(f"--target: {exc}") from None
        if args.iv is not None:
            iv = _hex_arg(args.iv, "--iv")
        elif row.is_2022 and args.udp:
            iv = os.urandom(8 if row.name.startswith("2022-blake3-aes-") else 24)
        else:
            iv = os.urandom(row.iv_size)
        if args.write_size is not None and args.write_size < 1:
            raise InputError("--write-size must be at least 1")
        try:
            wire = make_wire(row, key, data, iv=iv, udp=args.udp, response=args.response,
                             target=target, writes=args.write_size, now=args.now,
                             padding=args.padding, request_salt=request_salt)
        except (TypeError, ValueError) as exc:
            raise InputError(str(exc)) from None
        notes.append(f"wire (made with --encrypt): {wire.hex()}")
    else:
        wire = data
    result = explain(row, key, wire, udp=args.udp, response=args.response,
                     request_salt=request_salt, now=args.now)
    result.notes[:0] = notes
    if args.json:
        sys.stdout.write(as_json(result) + "\n")
    else:
        sys.stdout.write(render_text(result, colour=sys.stdout.isatty(), full=args.full) + "\n")
    return 0 if result.ok else 1
