"""Negative method-level vectors (``vectors/negative/``): streams and packets a decoder must
reject, or, for stream methods, must accept although they are wrong.

In the style of Project Wycheproof: JSON files of test groups (one TCP group and one UDP group
per method), each test with a ``tcId``, a ``comment``, ``flags`` naming what it tests, the
``password``, the bytes received (``ct``), ``msg`` and a ``result`` (``valid`` or
``invalid``). ``vectors/negative/README.md`` specifies the format; this module makes the
files, verifies every case against independent implementations before writing it, and runs
the cases as the ``negative`` check of ``refcrypto check``.

The rules of a case (:func:`check_case`):

* TCP, ``valid``: decoding ``ct`` (in one read, and again as the IV or salt in one read and
  then small reads), followed by the end of the stream, gives exactly ``msg`` and no error;
* TCP, ``invalid``: the decoder reports an error, while reading or at the end of the stream,
  and never releases more than ``msg`` (the plaintext of the chunks that authenticate
  before the defect); a decoder that cannot be told where the stream ends (a Python
  ``Transform`` without ``finish()``) is held only to the second rule for the truncation
  flags;
* UDP: ``valid`` packets decrypt to ``msg``; ``invalid`` ones raise.

Regenerate, re-verifying every case, with
``python -m refcrypto.conformance.negative --write vectors/negative``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from ..kdf import session_subkey
from ..methods import Method, methods
from ..methods import method as lookup_method
from ..vectorfiles import vector_path
from ..wire.cryptor import master_key, new_decoder
from .backend import WireBackend
from .drive import HarnessFault, decode_reads, is_batch
from .wirevectors import plaintext

__all__ = [
    "FILES",
    "NOTES",
    "SCHEMA",
    "Case",
    "Group",
    "NegativeVectorError",
    "check_case",
    "check_method",
    "generate",
    "groups_for",
    "load",
    "render",
]

#: Value of the files' ``schema`` field; changes when the format does.
SCHEMA = "refcrypto-negative-v1"
#: The files, by kind of method.
FILES = {"aead": "negative/aead.json", "stream": "negative/stream.json"}
TCP = "ShadowsocksTcpDecode"
UDP = "ShadowsocksUdpDecrypt"
VALID, INVALID = "valid", "invalid"
#: Implementations asked to verify each case (wire backends of the engine).
VERIFIERS = ("shadowsocks", "pproxy", "pproxy-py", "openssl", "sodium", "mbedtls", "cryptography")

#: Every flag, with what it tests (the files carry this as ``notes``).
NOTES: dict[str, str] = {
    "ValidStream": "A correct stream; it must decode to msg.",
    "MaxChunkLength": "One chunk of the largest payload, 0x3FFF bytes: valid.",
    "TamperedLengthTag": "One bit of a length chunk's tag is flipped.",
    "TamperedLengthCiphertext": "One bit of a length chunk's sealed 2-byte length is flipped.",
    "TamperedPayloadTag": "One bit of a payload chunk's tag is flipped.",
    "TamperedPayloadCiphertext": "One bit of a payload chunk's ciphertext is flipped.",
    "TamperedSalt": "One bit of the salt is flipped, so the session subkey differs.",
    "ReservedLengthBits": "A length chunk, correctly sealed, has one or both of the two "
                          "reserved high bits set (a decoder that masks them, instead of "
                          "rejecting, releases the following payload).",
    "ZeroLength": "A length chunk, correctly sealed, holds 0; a correct chunk follows.",
    "LengthOverLimit": "A length chunk, correctly sealed, holds 0x4000, one over the 0x3FFF "
                       "limit, and a correctly sealed 0x4000-byte payload follows.",
    "TruncatedSalt": "The stream ends inside the salt.",
    "TruncatedLengthChunk": "The stream ends inside a length chunk.",
    "TruncatedPayloadChunk": "The stream ends inside a payload chunk.",
    "WrongPassword": "A correct stream or packet, decoded with another password.",
    "BigEndianNonce": "Chunks sealed with a big-endian nonce counter instead of the "
                      "little-endian one.",
    "RepeatedChunk": "A correct chunk is sent twice (the copy is under the wrong nonce).",
    "ReorderedChunks": "Two correct chunks in the wrong order.",
    "ValidPacket": "A correct UDP packet; it must decrypt to msg.",
    "EmptyPayload": "A correct UDP packet with an empty payload (salt and tag only): valid.",
    "TamperedTag": "One bit of a UDP packet's tag is flipped.",
    "TamperedCiphertext": "One bit of a UDP packet's ciphertext is flipped.",
    "ShortPacket": "A UDP packet shorter than its salt plus tag.",
    "NonZeroNonce": "A UDP packet sealed with nonce 1 instead of the all-zero nonce.",
    "IvOnly": "Exactly the IV and nothing else: valid, and decodes to nothing.",
    "TruncatedIV": "The stream ends inside the IV.",
    "WrongPasswordGarbage": "Stream methods have no integrity: another password decodes "
                            "WITHOUT an error, to the garbage bytes in msg.",
    "BitFlipMalleable": "Stream methods have no integrity: a flipped ciphertext bit decodes "
                        "WITHOUT an error, to the altered bytes in msg.",
    "NoIntegrity": "A stream method accepts wrong input: result valid means the decoder "
                   "must NOT report an error, and msg is what it must give.",
}
#: Flags of the cases that only the end of the stream shows to be wrong.
END_OF_STREAM_FLAGS = frozenset({"TruncatedSalt", "TruncatedLengthChunk",
                                 "TruncatedPayloadChunk", "TruncatedIV"})
#: The small reads of the second way every TCP case is fed: one byte at a time for this many
#: bytes after the IV or salt, then pieces of :data:`_LATER_READ` bytes.
_BYTE_READS = 256
_LATER_READ = 1000
_WRONG_PASSWORD = b"not the password"


class NegativeVectorError(ValueError):
    """A negative vector file is missing a field, or holds a value of the wrong kind."""


@dataclass(frozen=True)
class Case:
    tc_id: int
    comment: str
    flags: tuple[str, ...]
    password: bytes
    ct: bytes
    msg: bytes
    result: str
    verified_by: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"tcId": self.tc_id, "comment": self.comment, "flags": list(self.flags),
                "password": self.password.hex(), "ct": self.ct.hex(), "msg": self.msg.hex(),
                "result": self.result, "verifiedBy": list(self.verified_by)}


@dataclass(frozen=True)
class Group:
    type: str  # TCP or UDP
    method: str
    tests: tuple[Case, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        m = lookup_method(self.method)
        return {"type": self.type, "method": self.method, "keyBytes": m.key_size,
                "ivBytes": m.iv_size, "tagBytes": m.tag_size,
                "tests": [c.as_dict() for c in self.tests]}


# --- reading --------------------------------------------------------------------------------


def _field(record: dict[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in record:
        raise NegativeVectorError(f"{where}: missing field {name!r}")
    value = record[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise NegativeVectorError(f"{where}: field {name!r} must be {kind.__name__}, "
                                  f"got {type(value).__name__}")
    return value


def _hex(record: dict[str, Any], name: str, where: str) -> bytes:
    text = _field(record, name, str, where)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise NegativeVectorError(f"{where}: field {name!r} is not hex") from None


def _case(record: dict[str, Any], where: str) -> Case:
    tc_id = _field(record, "tcId", int, where)
    where = f"{where} tcId {tc_id}"
    result = _field(record, "result", str, where)
    if result not in (VALID, INVALID):
        raise NegativeVectorError(f"{where}: result must be valid or invalid, not {result!r}")
    flags = _field(record, "flags", list, where)
    unknown = [f for f in flags if f not in NOTES]
    if unknown:
        raise NegativeVectorError(f"{where}: unknown flags {unknown}")
    return Case(tc_id, _field(record, "comment", str, where), tuple(flags),
                _hex(record, "password", where), _hex(record, "ct", where),
                _hex(record, "msg", where), result,
                tuple(record.get("verifiedBy", ())))


def parse(document: dict[str, Any], where: str) -> list[Group]:
    """The groups of one decoded file; :class:`NegativeVectorError` on a malformed one."""
    schema = document.get("schema")
    if schema != SCHEMA:
        raise NegativeVectorError(f"{where}: schema is {schema!r}, this refcrypto reads "
                                  f"{SCHEMA!r}")
    groups = []
    for index, group in enumerate(_field(document, "testGroups", list, where)):
        here = f"{where} group {index}"
        kind = _field(group, "type", str, here)
        if kind not in (TCP, UDP):
            raise NegativeVectorError(f"{here}: type must be {TCP} or {UDP}, not {kind!r}")
        name = _field(group, "method", str, here)
        tests = tuple(_case(t, f"{here} ({name})") for t in _field(group, "tests", list, here))
        groups.append(Group(kind, name, tests))
    return groups


def load(folder: Path | None = None) -> list[Group]:
    """Every group of the files under ``folder`` (default: ``vectors/negative/``);
    ``FileNotFoundError`` when a file is missing."""
    groups = []
    for relative in FILES.values():
        path = folder / Path(relative).name if folder else vector_path(relative)
        with path.open(encoding="utf-8") as handle:
            groups += parse(json.load(handle), path.name)
    return groups


@lru_cache(maxsize=1)
def _loaded() -> tuple[Group, ...]:
    return tuple(load())


def groups_for(method_name: str) -> list[Group]:
    """The committed groups of one method (``FileNotFoundError`` if the files are missing)."""
    return [g for g in _loaded() if g.method == method_name]


# --- checking -------------------------------------------------------------------------------


def _reads(m: Method, ct: bytes) -> list[bytes]:
    """The second way a TCP case is fed: the IV or salt whole, then one byte per read, then
    larger pieces."""
    first = min(len(ct), m.iv_size)
    reads = [ct[:first]] if first else []
    offset = first
    while offset < len(ct):
        size = 1 if offset - first < _BYTE_READS else _LATER_READ
        reads.append(ct[offset : offset + size])
        offset += size
    return reads


def _ends_checked(backend: WireBackend, m: Method) -> bool:
    """Whether the backend can be told the stream ended (batch decoding, or ``finish()``)."""
    if is_batch(backend):
        return True
    return callable(getattr(backend.tcp_decoder(m, b"probe"), "finish", None))


def check_case(backend: WireBackend, m: Method, kind: str, case: Case) -> str:
    """``""`` when the backend does what the case demands, else what it did instead."""
    if kind == UDP:
        try:
            got = backend.udp_decrypt(m, case.password, case.ct)
        except HarnessFault:
            raise
        except Exception as exc:
            if case.result == INVALID:
                return ""
            return f"valid packet rejected: {type(exc).__name__}: {exc}"
        if case.result == INVALID:
            return f"accepted: decrypted to {len(got)} bytes instead of raising"
        return "" if got == case.msg else f"decrypted to other bytes ({len(got)} B)"
    ends = None
    for how, reads in (("one read", [case.ct]), ("small reads", _reads(m, case.ct))):
        decoded = decode_reads(backend, m, case.password, reads, final=True)
        out = decoded.plaintext
        if case.result == VALID:
            if decoded.error is not None:
                return f"{how}: valid stream rejected at read {decoded.at}: {decoded.error}"
            if out != case.msg:
                return f"{how}: decoded to other bytes ({len(out)} B, expected {len(case.msg)})"
            continue
        if out != case.msg[: len(out)]:
            allowed = len(case.msg)
            return (f"{how}: released {len(out)} bytes where at most the {allowed} bytes of "
                    "the chunks that authenticate may come out" if len(out) > allowed else
                    f"{how}: released {len(out)} bytes that are not the plaintext")
        if decoded.error is None:
            if ends is None:
                ends = _ends_checked(backend, m)
            if not ends and END_OF_STREAM_FLAGS.intersection(case.flags):
                continue  # the backend cannot be told the stream ended
            return f"{how}: accepted without an error ({len(out)} bytes released)"
    return ""


def check_method(backend: WireBackend, m: Method) -> tuple[str, str, int]:
    """The ``negative`` check of one pair: ``(status, detail, cases)``; ``skipped`` when
    ``vectors/negative/`` is missing, ``n/a`` when it has no case for the method."""
    try:
        groups = groups_for(m.name)
    except FileNotFoundError:
        return "skipped", "vectors/negative/ missing", 0
    if not groups:
        return "n/a", "no negative vectors for this method", 0
    total = sum(len(g.tests) for g in groups)
    for group in groups:
        for case in group.tests:
            try:
                problem = check_case(backend, m, group.type, case)
            except Exception as exc:  # a harness fault, or a backend failing to set up
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                proto = "TCP" if group.type == TCP else "UDP"
                return ("fail", f"{proto} tcId {case.tc_id} [{', '.join(case.flags)}] "
                        f"({case.result}): {problem}", total)
    counts = {k: sum(len(g.tests) for g in groups if g.type == k) for k in (TCP, UDP)}
    return "pass", f"{counts[TCP]} TCP + {counts[UDP]} UDP cases", total


# --- generation -----------------------------------------------------------------------------


def _bytes(size: int, seed: int) -> bytes:
    return bytes((seed * 29 + i * 37 + 11) & 0xFF for i in range(size))


def _flip(data: bytes, index: int, bit: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= bit
    return bytes(out)


def _password(m: Method) -> bytes:
    return f"refcrypto negative {m.name}".encode()


class _Draft:
    """Cases of one group as they are made, numbered in one sequence per file."""

    __slots__ = ("cases", "counter")

    def __init__(self, counter: list[int]) -> None:
        self.counter = counter
        self.cases: list[Case] = []

    def add(self, comment: str, flags: Sequence[str], password: bytes, ct: bytes, msg: bytes,
            result: str) -> None:
        self.counter[0] += 1
        self.cases.append(Case(self.counter[0], comment, tuple(flags), password, ct, msg, result))


def _aead_groups(m: Method, counter: list[int]) -> list[Group]:
    pw = _password(m)
    key = master_key(pw, m)
    nonce_size = m.nonce_size

    def sealed(salt: bytes, fields: Sequence[bytes],
               order: Literal["little", "big"] = "little") -> list[bytes]:
        aead = m.new_aead(session_subkey(key, salt))
        return [aead.seal(n.to_bytes(nonce_size, order), f) for n, f in enumerate(fields)]

    def length(value: int) -> bytes:
        return value.to_bytes(2, "big")

    text = plaintext(0, 43)
    p1, p2 = text[:10], text[10:]
    salt = _bytes(m.salt_size, 1)
    s, l1, c1, l2, c2 = [salt, *sealed(salt, [length(10), p1, length(33), p2])]
    tcp = _Draft(counter)
    tcp.add("two chunks (10 and 33 bytes)", ["ValidStream"], pw, s + l1 + c1 + l2 + c2, text,
            VALID)
    big = plaintext(0, 0x3FFF)
    salt2 = _bytes(m.salt_size, 2)
    tcp.add("one chunk of 0x3FFF bytes", ["MaxChunkLength"], pw,
            salt2 + b"".join(sealed(salt2, [length(0x3FFF), big])), big, VALID)
    tcp.add("last tag byte of the first length chunk flipped", ["TamperedLengthTag"], pw,
            s + _flip(l1, -1) + c1 + l2 + c2, b"", INVALID)
    tcp.add("last tag byte of the second length chunk flipped", ["TamperedLengthTag"], pw,
            s + l1 + c1 + _flip(l2, -1) + c2, p1, INVALID)
    tcp.add("first byte of the first sealed length flipped", ["TamperedLengthCiphertext"], pw,
            s + _flip(l1, 0, 0x80) + c1 + l2 + c2, b"", INVALID)
    tcp.add("last tag byte of the first payload chunk flipped", ["TamperedPayloadTag"], pw,
            s + l1 + _flip(c1, -1) + l2 + c2, b"", INVALID)
    tcp.add("last tag byte of the second payload chunk flipped", ["TamperedPayloadTag"], pw,
            s + l1 + c1 + l2 + _flip(c2, -1), p1, INVALID)
    tcp.add("first ciphertext byte of the second payload chunk flipped",
            ["TamperedPayloadCiphertext"], pw, s + l1 + c1 + l2 + _flip(c2, 0), p1, INVALID)
    tcp.add("first salt byte flipped", ["TamperedSalt"], pw, _flip(s, 0) + l1 + c1 + l2 + c2,
            b"", INVALID)
    for value in (0x400A, 0x800A, 0xC00A):
        chunks = sealed(salt, [length(value), p1, length(33), p2])
        tcp.add(f"length field 0x{value:04X}, then a 10-byte payload (the low bits)",
                ["ReservedLengthBits"], pw, s + b"".join(chunks), b"", INVALID)
    tcp.add("length field 0, an empty payload chunk, then a correct 10-byte chunk",
            ["ZeroLength"], pw, s + b"".join(sealed(salt, [length(0), b"", length(10), p1])),
            b"", INVALID)
    over = plaintext(0, 0x4000)
    tcp.add("length field 0x4000 and a 0x4000-byte payload", ["LengthOverLimit"], pw,
            salt2 + b"".join(sealed(salt2, [length(0x4000), over])), b"", INVALID)
    tcp.add(f"{m.salt_size - 1} of {m.salt_size} salt bytes", ["TruncatedSalt"], pw, s[:-1],
            b"", INVALID)
    tcp.add("salt and the first byte of the length chunk", ["TruncatedLengthChunk"], pw,
            s + l1[:1], b"", INVALID)
    tcp.add("salt and the length chunk without its last tag byte", ["TruncatedLengthChunk"],
            pw, s + l1[:-1], b"", INVALID)
    tcp.add("the first payload chunk without its last tag byte", ["TruncatedPayloadChunk"],
            pw, s + l1 + c1[:-1], b"", INVALID)
    tcp.add("one chunk, then the second length chunk and 5 bytes of its payload chunk",
            ["TruncatedPayloadChunk"], pw, s + l1 + c1 + l2 + c2[:5], p1, INVALID)
    tcp.add("the ValidStream bytes under another password", ["WrongPassword"], _WRONG_PASSWORD,
            s + l1 + c1 + l2 + c2, b"", INVALID)
    tcp.add("two chunks sealed with a big-endian nonce counter", ["BigEndianNonce"], pw,
            s + b"".join(sealed(salt, [length(10), p1, length(33), p2], "big")), b"", INVALID)
    tcp.add("the first chunk, then the same chunk again", ["RepeatedChunk"], pw,
            s + l1 + c1 + l1 + c1, p1, INVALID)
    tcp.add("the second chunk before the first", ["ReorderedChunks"], pw,
            s + l2 + c2 + l1 + c1, b"", INVALID)

    udp = _Draft(counter)
    data = plaintext(0, 25)
    us = _bytes(m.salt_size, 3)
    subkey_aead = m.new_aead(session_subkey(key, us))
    packet = us + subkey_aead.seal(bytes(nonce_size), data)
    empty = us + subkey_aead.seal(bytes(nonce_size), b"")
    udp.add("a 25-byte payload", ["ValidPacket"], pw, packet, data, VALID)
    udp.add("salt and tag only", ["EmptyPayload"], pw, empty, b"", VALID)
    udp.add("last tag byte flipped", ["TamperedTag"], pw, _flip(packet, -1), b"", INVALID)
    udp.add("first ciphertext byte flipped", ["TamperedCiphertext"], pw,
            _flip(packet, m.salt_size), b"", INVALID)
    udp.add("first salt byte flipped", ["TamperedSalt"], pw, _flip(packet, 0), b"", INVALID)
    udp.add("the ValidPacket bytes under another password", ["WrongPassword"],
            _WRONG_PASSWORD, packet, b"", INVALID)
    for size, what in ((len(empty) - 1, "salt and tag minus one byte"),
                       (m.salt_size, "the salt only"), (m.salt_size - 1, "part of the salt"),
                       (0, "no bytes at all")):
        udp.add(f"{size} bytes: {what}", ["ShortPacket"], pw, empty[:size], b"", INVALID)
    udp.add("sealed with nonce 1", ["NonZeroNonce"], pw,
            us + subkey_aead.seal((1).to_bytes(nonce_size, "little"), data), b"", INVALID)
    return [Group(TCP, m.name, tuple(tcp.cases)), Group(UDP, m.name, tuple(udp.cases))]


def _stream_groups(m: Method, counter: list[int]) -> list[Group]:
    from ..wire.cryptor import new_encoder
    from ..wire.udp import decrypt_packet, encrypt_packet

    pw = _password(m)
    key = master_key(pw, m)

    def decoded(password: bytes, ct: bytes) -> bytes:
        decoder = new_decoder(m, master_key(password, m))
        out = decoder.update(ct)
        decoder.finish()
        return out

    text = plaintext(0, 40)
    iv = _bytes(m.iv_size, 1)
    ct = new_encoder(m, key, iv).update(text)
    tcp = _Draft(counter)
    tcp.add("40 bytes", ["ValidStream"], pw, ct, text, VALID)
    if m.iv_size:
        tcp.add("the IV and nothing more", ["IvOnly"], pw, iv, b"", VALID)
        tcp.add(f"{m.iv_size - 1} of {m.iv_size} IV bytes", ["TruncatedIV"], pw, iv[:-1], b"",
                INVALID)
    tcp.add("the ValidStream bytes under another password: garbage, no error",
            ["WrongPasswordGarbage", "NoIntegrity"], _WRONG_PASSWORD, ct,
            decoded(_WRONG_PASSWORD, ct), VALID)
    flipped = _flip(ct, m.iv_size + 3)
    tcp.add("bit 0 of ciphertext byte 3 flipped: altered plaintext, no error",
            ["BitFlipMalleable", "NoIntegrity"], pw, flipped, decoded(pw, flipped), VALID)

    udp = _Draft(counter)
    uiv = _bytes(m.iv_size, 3)
    data = plaintext(0, 25)
    packet = encrypt_packet(m, key, data, uiv)
    udp.add("a 25-byte payload", ["ValidPacket"], pw, packet, data, VALID)
    if m.iv_size:  # (a packet shorter than the IV is not a case: it releases nothing)
        udp.add("the IV and nothing more", ["IvOnly"], pw, uiv, b"", VALID)
    udp.add("the ValidPacket bytes under another password: garbage, no error",
            ["WrongPasswordGarbage", "NoIntegrity"], _WRONG_PASSWORD, packet,
            decrypt_packet(m, master_key(_WRONG_PASSWORD, m), packet), VALID)
    return [Group(TCP, m.name, tuple(tcp.cases)), Group(UDP, m.name, tuple(udp.cases))]


def _selected() -> list[Method]:
    return [m for m in methods(extensions=True) if m.implemented and not m.is_2022]


def generate() -> dict[str, list[Group]]:
    """Every group, unverified, by file kind (``aead``, ``stream``); deterministic."""
    out: dict[str, list[Group]] = {"aead": [], "stream": []}
    counters = {"aead": [0], "stream": [0]}
    for m in _selected():
        kind = "aead" if m.is_aead else "stream"
        make = _aead_groups if m.is_aead else _stream_groups
        out[kind] += make(m, counters[kind])
    return out


def verify(groups: Iterable[Group], verifiers: Sequence[WireBackend],
           report: Callable[[str], None]) -> list[Group]:
    """Each case with ``verified_by`` naming the verifiers that pass it; refcrypto itself must
    pass every case, and a case no verifier passes is left out (and reported)."""
    from .engine import wire_backend

    own = wire_backend("refcrypto")
    out = []
    for group in groups:
        m = lookup_method(group.method)
        kept = []
        for case in group.tests:
            problem = check_case(own, m, group.type, case)
            if problem:
                raise AssertionError(f"refcrypto fails its own negative case {group.method} "
                                     f"tcId {case.tc_id}: {problem}")
            names = []
            for backend in verifiers:
                if backend.unsupported(m) is not None:
                    continue
                try:
                    problem = check_case(backend, m, group.type, case)
                except Exception as exc:  # third-party code may raise anything
                    problem = f"{type(exc).__name__}: {exc}"
                if problem:
                    report(f"{backend.name} disagrees on {group.method} tcId {case.tc_id} "
                           f"{list(case.flags)}: {problem}")
                else:
                    names.append(backend.name)
            if names:
                kept.append(replace(case, verified_by=tuple(names)))
            else:
                report(f"left out: {group.method} tcId {case.tc_id}: no independent "
                       "implementation verified it")
        out.append(replace(group, tests=tuple(kept)))
    return out


_HEADER = [
    "Negative method-level Shadowsocks vectors, made by refcrypto.conformance.negative.",
    "Every case was run, before it was written, on the independent implementations named in",
    "its verifiedBy, under the rules of vectors/negative/README.md (which specifies the format).",
    "Regenerate with `python -m refcrypto.conformance.negative --write vectors/negative`.",
]
_ALGORITHM = {"aead": "Shadowsocks AEAD methods (SIP004 TCP chunks, SIP007 subkeys, UDP)",
              "stream": "Shadowsocks stream methods (IV prefix, TCP and UDP)"}


def render(kind: str, groups: Sequence[Group]) -> str:
    """The text of one file (deterministic: the generator reproduces the committed files)."""
    used = sorted({f for g in groups for c in g.tests for f in c.flags})
    document = {
        "algorithm": _ALGORITHM[kind],
        "schema": SCHEMA,
        "generatorVersion": "1",
        "numberOfTests": sum(len(g.tests) for g in groups),
        "header": _HEADER,
        "notes": {flag: NOTES[flag] for flag in used},
        "testGroups": [g.as_dict() for g in groups],
    }
    return json.dumps(document, indent=1) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from .engine import wire_backend

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="DIR", required=True,
                        help="folder to write aead.json and stream.json into")
    parser.add_argument("--verify-with", default=",".join(VERIFIERS), metavar="NAMES",
                        help="comma-separated wire backends that verify each case "
                        f"(default {','.join(VERIFIERS)})")
    args = parser.parse_args(argv)
    verifiers = []
    for name in filter(None, args.verify_with.split(",")):
        backend = wire_backend(name)
        reason = backend.available()
        if reason:
            print(f"{name}: not used ({reason})", file=sys.stderr)
        else:
            verifiers.append(backend)
    folder = Path(args.write)
    folder.mkdir(parents=True, exist_ok=True)
    left_out = 0
    for kind, groups in generate().items():
        def report(line: str) -> None:
            print(line, file=sys.stderr)

        checked = verify(groups, verifiers, report)
        left_out += sum(len(a.tests) - len(b.tests) for a, b in zip(groups, checked,
                                                                       strict=True))
        (folder / Path(FILES[kind]).name).write_text(render(kind, checked), encoding="utf-8")
        count = sum(len(g.tests) for g in checked)
        print(f"{FILES[kind]}: {count} cases in {len(checked)} groups")
    print(f"{left_out} cases left out (no independent implementation verified them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
