"""Shadowsocks 2022 wire vectors (SIP022, SIP023): fixed clock, salts, session IDs and padding
-> the exact bytes on the wire, each rebuilt by an independent implementation before it is
written.

No published vectors exist for the 2022 edition, and a live peer cannot make fixed-clock ones
(sing-box and shadowsocks-rust check every header's timestamp against their real clock). So
refcrypto generates them, and :class:`IndependentBuilder` rebuilds every byte from the
specifications with other code: BLAKE3 from the ``blake3`` package on PyPI (the BLAKE3 team's
Rust implementation, through its Python bindings) and AES-GCM, ChaCha20-Poly1305 and AES-ECB
from pyca ``cryptography`` (OpenSSL); XChaCha20-Poly1305 is built from ``cryptography``'s
ChaCha20 and ChaCha20-Poly1305 as draft-irtf-cfrg-xchacha-03 section 2 defines it. Nothing of
refcrypto's primitives or codecs takes part in the rebuild. A record is written only if the
rebuild gives the same bytes and refcrypto decodes them back to the recorded fields.

Format of ``vectors/wire/ss2022.txt`` (records separated by blank lines; ``#`` comments)::

    KIND = tcp-request | tcp-response | udp-client | udp-server
    NAME = short description
    METHOD = 2022-blake3-aes-128-gcm
    PSK = hex[:hex...]          the raw PSK; a SIP023 chain iPSK0:...:uPSK (last = the user's)
    TIMESTAMP = 1700000000      what the sender's clock said (u64 Unix seconds in the header)

    tcp-request:  SALT, TARGET (host:port, [IPv6]:port), PADDING (length; the padding bytes
                  are zeros), WRITES (sizes; a leading ``start`` means the header went out
                  alone first, with padding and no initial payload), REPEAT (the WRITES after
                  ``start`` are repeated so many times)
    tcp-response: SALT, REQUEST_SALT, WRITES, REPEAT
    udp-client:   SESSION_ID (16 hex digits), PACKET_ID (decimal), TARGET, PADDING, PAYLOAD
                  (hex), NONCE (ChaCha method: the 24-byte XChaCha20 nonce)
    udp-server:   SESSION_ID (the server's), PACKET_ID, CLIENT_SESSION_ID, SOURCE, PADDING,
                  PAYLOAD, NONCE

    WIRE = hex                   TCP streams up to 4096 bytes, every UDP packet; else
    WIRE_LENGTH / WIRE_SHA256    the length and SHA-256 of the stream
    VERIFIED_BY = ...            the independent implementation that rebuilt the bytes

TCP plaintext follows the rule of :mod:`.wirevectors`: byte ``k`` of a stream (counting
across writes from 0, the initial payload included) is ``(k * 131 + 7) mod 256``.

Choices the specifications leave open, fixed as refcrypto (and sing-box) make them: the
initial payload fills the variable-length header chunk up to 0xFFFF bytes and the rest of
that write follows in chunks of at most 0xFFFF bytes; every later write is cut into chunks of
at most 0xFFFF bytes on its own; the response's first chunk holds up to 0xFFFF bytes of the
first write; padding bytes are zeros; UDP identity headers are built from the plaintext
separate header (SIP023).

Regenerate and re-verify with ``python -m refcrypto.conformance.ss2022vectors --write
vectors/wire``; ``--check vectors/wire/ss2022.txt`` re-verifies a file independently.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from Crypto.Hash import SHA256

from ..methods import Method
from ..methods import method as lookup_method
from ..vectorfiles import Record, load_records
from ..wire.source import OWN, Primitives
from .wirevectors import plaintext

__all__ = [
    "FILE",
    "IndependentBuilder",
    "Vector2022",
    "check_vector",
    "decode_problem",
    "format_vector",
    "generate",
    "independent_problem",
    "load_2022",
    "main",
    "refcrypto_wire",
]

#: The vector file, relative to the vectors folder.
FILE = "wire/ss2022.txt"
#: TCP streams up to this many bytes are stored whole; longer ones as length and SHA-256.
INLINE_LIMIT = 4096
#: Decoders get the header in one read (SIP022 3.1.3), then pieces of these sizes, cycling.
DECODE_PIECES = (1, 7, 33, 500, 4099, 65536, 70001)
#: A stream of more writes than this is a long vector (``refcrypto check --quick`` skips it).
LONG_WRITES = 1000

SESSION_CONTEXT = "shadowsocks 2022 session subkey"
IDENTITY_CONTEXT = "shadowsocks 2022 identity subkey"
MAX_CHUNK = 0xFFFF
Address = tuple[str, int]


@dataclass(frozen=True)
class Vector2022:
    """One record of the vector file (see the module docstring for the fields)."""

    kind: str
    name: str
    method: str
    psk: tuple[bytes, ...]
    timestamp: int
    salt: bytes = b""
    request_salt: bytes = b""
    address: Address | None = None
    padding: int = 0
    start: bool = False
    writes: tuple[int, ...] = ()
    repeat: int = 1
    session_id: int = 0
    packet_id: int = 0
    client_session_id: int = 0
    nonce: bytes = b""
    payload: bytes = b""
    wire: bytes | None = None
    wire_length: int = 0
    wire_sha256: str = ""
    verified_by: str = ""
    line: str = ""

    @property
    def is_tcp(self) -> bool:
        return self.kind.startswith("tcp")

    @property
    def long(self) -> bool:
        return len(self.writes) * self.repeat > LONG_WRITES

    @property
    def label(self) -> str:
        return f"{self.kind} {self.method} ({self.name})"

    def all_writes(self) -> Iterator[int]:
        for _ in range(self.repeat):
            yield from self.writes

    def plaintext_length(self) -> int:
        return sum(self.writes) * self.repeat


# --------------------------------------------------------------------------------------------
# Reading and writing the file
# --------------------------------------------------------------------------------------------


def _address_text(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_address(text: str) -> Address:
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return host, int(port)


def _from_record(r: Record) -> Vector2022:
    kind = r["kind"]
    writes_text = [w.strip() for w in r.get("writes", "").split(",") if w.strip()]
    start = bool(writes_text) and writes_text[0] == "start"
    writes = tuple(int(w) for w in writes_text[1 if start else 0 :])
    address_text = r.get("target") or r.get("source")
    wire = bytes.fromhex(r["wire"]) if "wire" in r else None
    return Vector2022(
        kind=kind,
        name=r.get("name", ""),
        method=r["method"],
        psk=tuple(bytes.fromhex(k) for k in r["psk"].split(":")),
        timestamp=int(r["timestamp"]),
        salt=bytes.fromhex(r.get("salt", "")),
        request_salt=bytes.fromhex(r.get("request_salt", "")),
        address=_parse_address(address_text) if address_text else None,
        padding=int(r.get("padding", "0")),
        start=start,
        writes=writes,
        repeat=int(r.get("repeat", "1")),
        session_id=int(r.get("session_id", "0"), 16),
        packet_id=int(r.get("packet_id", "0")),
        client_session_id=int(r.get("client_session_id", "0"), 16),
        nonce=bytes.fromhex(r.get("nonce", "")),
        payload=bytes.fromhex(r.get("payload", "")),
        wire=wire,
        wire_length=len(wire) if wire is not None else int(r["wire_length"]),
        wire_sha256=(SHA256.new(wire).hexdigest() if wire is not None
                     else r["wire_sha256"]),
        verified_by=r.get("verified_by", ""),
        line=r.get("line", ""),
    )


def load_2022(path: str = FILE) -> list[Vector2022]:
    """Every record of a 2022 vector file: ``path`` relative to the vectors folder, or
    absolute."""
    return [_from_record(r) for r in load_records(path)]


def format_vector(v: Vector2022) -> str:
    lines = [f"KIND = {v.kind}", f"NAME = {v.name}", f"METHOD = {v.method}",
             f"PSK = {':'.join(k.hex() for k in v.psk)}", f"TIMESTAMP = {v.timestamp}"]
    if v.is_tcp:
        lines.append(f"SALT = {v.salt.hex()}")
        if v.kind == "tcp-response":
            lines.append(f"REQUEST_SALT = {v.request_salt.hex()}")
        else:
            assert v.address is not None
            lines += [f"TARGET = {_address_text(v.address)}", f"PADDING = {v.padding}"]
        lines.append("WRITES = " + ",".join([*(["start"] if v.start else []),
                                             *(str(w) for w in v.writes)]))
        if v.repeat != 1:
            lines.append(f"REPEAT = {v.repeat}")
    else:
        assert v.address is not None
        lines += [f"SESSION_ID = {v.session_id:016x}", f"PACKET_ID = {v.packet_id}"]
        if v.kind == "udp-server":
            lines += [f"CLIENT_SESSION_ID = {v.client_session_id:016x}",
                      f"SOURCE = {_address_text(v.address)}"]
        else:
            lines.append(f"TARGET = {_address_text(v.address)}")
        lines += [f"PADDING = {v.padding}", f"PAYLOAD = {v.payload.hex()}"]
        if v.nonce:
            lines.append(f"NONCE = {v.nonce.hex()}")
    if v.wire is not None:
        lines.append(f"WIRE = {v.wire.hex()}")
    else:
        lines += [f"WIRE_LENGTH = {v.wire_length}", f"WIRE_SHA256 = {v.wire_sha256}"]
    lines.append(f"VERIFIED_BY = {v.verified_by}")
    return "\n".join(lines)


def _with_wire(v: Vector2022, wire: bytes) -> Vector2022:
    keep = not v.is_tcp or len(wire) <= INLINE_LIMIT
    return replace(v, wire=wire if keep else None, wire_length=len(wire),
                   wire_sha256=SHA256.new(wire).hexdigest())


def _matches(v: Vector2022, wire: bytes) -> bool:
    if v.wire is not None:
        return wire == v.wire
    return len(wire) == v.wire_length and SHA256.new(wire).hexdigest() == v.wire_sha256


def _writes_plaintext(v: Vector2022) -> Iterator[bytes]:
    position = 0
    for size in v.all_writes():
        yield plaintext(position, size)
        position += size


# --------------------------------------------------------------------------------------------
# Through refcrypto's codecs (any primitive source)
# --------------------------------------------------------------------------------------------


def _clock(t: int) -> Callable[[], int]:
    def clock() -> int:
        return t

    return clock


def refcrypto_wire(v: Vector2022, backend: Primitives = OWN) -> bytes:
    """The vector's wire bytes as refcrypto's 2022 codecs make them from its fields, with
    ``backend``'s AEADs."""
    from ..wire.ss2022 import RequestEncoder, ResponseEncoder, UdpClient2022, UdpServer2022

    m = lookup_method(v.method)
    clock = _clock(v.timestamp)
    if v.kind == "tcp-request":
        assert v.address is not None
        encoder = RequestEncoder(m, list(v.psk), v.address, salt=v.salt, clock=clock,
                                 padding=v.padding, backend=backend)
        out = [encoder.start()] if v.start else []
        out += [encoder.update(p) for p in _writes_plaintext(v)]
        return b"".join(out)
    if v.kind == "tcp-response":
        response = ResponseEncoder(m, v.psk[-1], v.request_salt, salt=v.salt, clock=clock,
                                   backend=backend)
        return b"".join(response.update(p) for p in _writes_plaintext(v))
    assert v.address is not None
    nonce = v.nonce or None
    if v.kind == "udp-client":
        client = UdpClient2022(list(v.psk), m, session_id=v.session_id, clock=clock,
                               backend=backend)
        client.next_packet_id = v.packet_id
        return client.encrypt(v.payload, v.address, padding=v.padding, nonce=nonce)
    session_id = v.session_id
    server = UdpServer2022(v.psk[-1], m, clock=clock, session_ids=lambda: session_id,
                           backend=backend)
    peer = UdpClient2022(v.psk[-1], m, session_id=v.client_session_id, clock=clock)
    server.decrypt(peer.encrypt(b"", v.address, padding=0))
    for _ in range(v.packet_id):  # the server numbers its replies from 0
        server.encrypt(v.client_session_id, b"", v.address)
    return server.encrypt(v.client_session_id, v.payload, v.address, padding=v.padding,
                          nonce=nonce)


def _pieces(wire: bytes, first: int) -> Iterator[bytes]:
    yield wire[:first]
    offset, index = first, 0
    while offset < len(wire):
        size = DECODE_PIECES[index % len(DECODE_PIECES)]
        yield wire[offset : offset + size]
        offset += size
        index += 1


def _stream_digest(v: Vector2022) -> str:
    digest = SHA256.new()
    for piece in _writes_plaintext(v):
        digest.update(piece)
    return digest.hexdigest()


def decode_problem(v: Vector2022, wire: bytes, backend: Primitives = OWN) -> str | None:
    """``None`` if refcrypto's 2022 decoders (with ``backend``'s AEADs) read ``wire`` back to
    the vector's fields, else what differs. SIP023 chains are opened as a deployment would:
    one relay per identity layer but the last, then a multi-user server."""
    from ..wire.ss2022 import (
        IdentityRelay,
        RequestDecoder,
        ResponseDecoder,
        SaltStore,
        UdpClient2022,
        UdpServer2022,
        UserTable,
    )

    m = lookup_method(v.method)
    clock = _clock(v.timestamp)
    chain = v.psk
    expected: dict[str, object]
    got: dict[str, object]
    if v.kind == "tcp-response":
        reader = ResponseDecoder(m, chain[-1], v.request_salt, clock=clock, backend=backend)
        decoded = SHA256.new()
        for piece in _pieces(wire, reader.header_size):
            decoded.update(reader.update(piece))
        reader.finish()
        got = {"plaintext": decoded.hexdigest(), "salt": reader.salt,
               "timestamp": reader.timestamp}
        expected = {"plaintext": _stream_digest(v), "salt": v.salt, "timestamp": v.timestamp}
    elif v.kind == "tcp-request":
        for ipsk, next_psk in pairwise(chain[:-1]):  # one relay per outer identity layer
            relay = IdentityRelay(ipsk, m, UserTable(m, {"next": next_psk}))
            _, head = relay.route_tcp(wire[: m.salt_size + 16])
            wire = head + wire[m.salt_size + 16 :]
        users = UserTable(m, {"user": chain[-1]}) if len(chain) > 1 else None
        server_psk = chain[-2] if len(chain) > 1 else chain[0]
        decoder = RequestDecoder(m, server_psk, salts=SaltStore(), users=users, clock=clock,
                                 backend=backend)
        decoded = SHA256.new()
        for piece in _pieces(wire, decoder.header_size):
            decoded.update(decoder.update(piece))
        decoder.finish()
        got = {"plaintext": decoded.hexdigest(), "salt": decoder.salt,
               "timestamp": decoder.timestamp, "target": decoder.target,
               "padding": decoder.padding_length, "user": decoder.user}
        expected = {"plaintext": _stream_digest(v), "salt": v.salt, "timestamp": v.timestamp,
                    "target": v.address, "padding": v.padding,
                    "user": "user" if len(chain) > 1 else None}
    elif v.kind == "udp-client":
        for ipsk, next_psk in pairwise(chain[:-1]):
            relay = IdentityRelay(ipsk, m, UserTable(m, {"next": next_psk}))
            _, wire = relay.route_udp(wire)
        users = UserTable(m, {"user": chain[-1]}) if len(chain) > 1 else None
        server = UdpServer2022(chain[-2] if len(chain) > 1 else chain[0], m, users=users,
                               clock=clock, backend=backend)
        datagram = server.decrypt(wire)
        got = {"session": datagram.session_id, "packet": datagram.packet_id,
               "timestamp": datagram.timestamp, "padding": datagram.padding_length,
               "address": datagram.address, "payload": datagram.payload, "user": datagram.user}
        expected = {"session": v.session_id, "packet": v.packet_id, "timestamp": v.timestamp,
                    "padding": v.padding, "address": v.address, "payload": v.payload,
                    "user": "user" if len(chain) > 1 else None}
    else:
        client = UdpClient2022(chain[-1], m, session_id=v.client_session_id, clock=clock,
                               backend=backend)
        datagram = client.decrypt(wire)
        got = {"session": datagram.session_id, "packet": datagram.packet_id,
               "timestamp": datagram.timestamp, "padding": datagram.padding_length,
               "address": datagram.address, "payload": datagram.payload}
        expected = {"session": v.session_id, "packet": v.packet_id, "timestamp": v.timestamp,
                    "padding": v.padding, "address": v.address, "payload": v.payload}
    wrong = [key for key in expected if got[key] != expected[key]]
    if wrong:
        return "decoded " + ", ".join(f"{k} {got[k]!r} (expected {expected[k]!r})"[:160]
                                      for k in wrong)
    return None


def check_vector(v: Vector2022, backend: Primitives = OWN) -> str | None:
    """``None`` if refcrypto's 2022 codecs with ``backend``'s AEADs make the vector's bytes
    from its fields and decode them back, else what went wrong."""
    from ..errors import RefcryptoError

    try:
        wire = refcrypto_wire(v, backend)
    except RefcryptoError as exc:
        return f"encoder refuses the fields: {type(exc).__name__}: {exc}"
    if not _matches(v, wire):
        at = ""
        if v.wire is not None:
            at = next((f" at byte {i}" for i, (a, b) in enumerate(zip(wire, v.wire,
                                                                       strict=False))
                       if a != b), f" in length ({len(wire)} vs {len(v.wire)})")
        return f"encoder output differs{at}"
    try:
        return decode_problem(v, wire, backend)
    except RefcryptoError as exc:
        return f"decoder refuses the wire: {type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------
# The independent rebuild
# --------------------------------------------------------------------------------------------


class IndependentBuilder:
    """Every byte of a vector rebuilt from SIP022/SIP023 with ``blake3`` (PyPI, Rust) and pyca
    ``cryptography``, nothing of refcrypto. Raises ``ImportError`` naming the missing package.

    The construction follows the specifications' text: SIP022 2.2 (session subkey), 3.1.1-3.1.3
    (TCP chunks, counter nonces, headers), 3.2.1-3.2.3 (AES UDP: separate header under
    AES-ECB, body under AES-GCM with the separate header's last 12 bytes as nonce), 4.1
    (ChaCha UDP: XChaCha20-Poly1305 under the PSK, IDs inside the sealed body); SIP023
    (identity headers, TCP and UDP). SOCKS addresses as RFC 1928 section 5.
    """

    def __init__(self) -> None:
        try:
            import blake3
            from cryptography.hazmat.backends.openssl import backend as openssl
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
        except ImportError as exc:
            raise ImportError(
                f"the independent verifier needs the blake3 and cryptography packages from "
                f"PyPI (pip install blake3 cryptography): {exc}"
            ) from exc
        import cryptography

        self._blake3 = blake3.blake3
        self._cipher, self._algorithms, self._modes = Cipher, algorithms, modes
        self._aesgcm, self._chacha = AESGCM, ChaCha20Poly1305
        #: What rebuilt the vectors, for VERIFIED_BY.
        self.description = (
            f"ss2022vectors.IndependentBuilder: blake3 {blake3.__version__} (PyPI, Rust), "
            f"cryptography {cryptography.__version__} ({openssl.openssl_version_text()})"
        )

    # -- primitives ------------------------------------------------------------------------

    def derive_key(self, context: str, material: bytes, size: int) -> bytes:
        digest: bytes = self._blake3(material, derive_key_context=context).digest(size)
        return digest

    def psk_hash(self, psk: bytes) -> bytes:
        """SIP023: the first 16 bytes of BLAKE3(PSK)."""
        digest: bytes = self._blake3(psk).digest(16)
        return digest

    def ecb(self, key: bytes, block: bytes) -> bytes:
        encryptor = self._cipher(self._algorithms.AES(key), self._modes.ECB()).encryptor()
        out: bytes = encryptor.update(block) + encryptor.finalize()
        return out

    def aead(self, method: str, key: bytes) -> Any:
        """The TCP AEAD of a 2022 method (and the UDP one of the AES methods)."""
        return self._chacha(key) if "chacha" in method else self._aesgcm(key)

    def hchacha20(self, key: bytes, nonce16: bytes) -> bytes:
        """HChaCha20 (draft-irtf-cfrg-xchacha-03, 2.2) from ``cryptography``'s ChaCha20: one
        keystream block is the 20-round state plus the input state (RFC 8439 2.3), so
        subtracting the input words 0-3 and 12-15 leaves the HChaCha20 output words."""
        cipher = self._cipher(self._algorithms.ChaCha20(key, nonce16), mode=None).encryptor()
        block = cipher.update(bytes(64))
        words = [int.from_bytes(block[4 * i : 4 * i + 4], "little") for i in range(16)]
        constants = [int.from_bytes(b"expand 32-byte k"[4 * i : 4 * i + 4], "little")
                     for i in range(4)]
        inputs = [int.from_bytes(nonce16[4 * i : 4 * i + 4], "little") for i in range(4)]
        out = [(words[i] - constants[i]) % 2**32 for i in range(4)]
        out += [(words[12 + i] - inputs[i]) % 2**32 for i in range(4)]
        return b"".join(w.to_bytes(4, "little") for w in out)

    def xchacha_seal(self, key: bytes, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
        """AEAD_XChaCha20_Poly1305 (draft-irtf-cfrg-xchacha-03, 2.3): ChaCha20-Poly1305 under
        HChaCha20(key, nonce[0:16]) with the nonce ``0^4 || nonce[16:24]``."""
        subkey = self.hchacha20(key, nonce[:16])
        sealed: bytes = self._chacha(subkey).encrypt(bytes(4) + nonce[16:], data, aad or None)
        return sealed

    @staticmethod
    def socks_address(address: Address) -> bytes:
        """RFC 1928, 5: ATYP 1 (IPv4), 4 (IPv6) or 3 (length-prefixed name), then the port."""
        import ipaddress

        host, port = address
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            name = host.encode()
            return b"\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big")
        return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed + port.to_bytes(2, "big")

    # -- TCP -------------------------------------------------------------------------------

    def tcp(self, v: Vector2022) -> Iterator[bytes]:
        """The stream, piece by piece (the pieces' boundaries mean nothing)."""
        key = v.psk[-1]
        aead = self.aead(v.method, self.derive_key(SESSION_CONTEXT, key + v.salt, len(key)))
        counter = [0]

        def seal(data: bytes) -> bytes:
            nonce = counter[0].to_bytes(12, "little")  # SIP022 3.1.1: little-endian counter
            counter[0] += 1
            sealed: bytes = aead.encrypt(nonce, data, None)
            return sealed

        def chunks(data: bytes) -> Iterator[bytes]:
            for start in range(0, len(data), MAX_CHUNK):
                piece = data[start : start + MAX_CHUNK]
                yield seal(len(piece).to_bytes(2, "big"))
                yield seal(piece)

        writes = _writes_plaintext(v)
        if v.kind == "tcp-request":
            assert v.address is not None
            yield v.salt
            for ipsk, following in pairwise(v.psk):  # SIP023 identity headers
                subkey = self.derive_key(IDENTITY_CONTEXT, ipsk + v.salt, len(ipsk))
                yield self.ecb(subkey, self.psk_hash(following))
            initial = b"" if v.start else next(writes, b"")
            head = self.socks_address(v.address) + v.padding.to_bytes(2, "big") + bytes(v.padding)
            room = MAX_CHUNK - len(head)
            variable = head + initial[:room]
            yield seal(b"\x00" + v.timestamp.to_bytes(8, "big")
                       + len(variable).to_bytes(2, "big"))
            yield seal(variable)
            yield from chunks(initial[room:])
        else:
            first = next(writes, b"")
            yield v.salt
            yield seal(b"\x01" + v.timestamp.to_bytes(8, "big") + v.request_salt
                       + len(first[:MAX_CHUNK]).to_bytes(2, "big"))
            yield seal(first[:MAX_CHUNK])
            yield from chunks(first[MAX_CHUNK:])
        for data in writes:
            yield from chunks(data)

    # -- UDP -------------------------------------------------------------------------------

    def udp(self, v: Vector2022) -> bytes:
        assert v.address is not None
        client = v.kind == "udp-client"
        separate = v.session_id.to_bytes(8, "big") + v.packet_id.to_bytes(8, "big")
        body = ((b"\x00" if client else b"\x01") + v.timestamp.to_bytes(8, "big")
                + (b"" if client else v.client_session_id.to_bytes(8, "big"))
                + v.padding.to_bytes(2, "big") + bytes(v.padding)
                + self.socks_address(v.address) + v.payload)
        if "chacha" in v.method:  # SIP022 4.1
            return v.nonce + self.xchacha_seal(v.psk[0], v.nonce, separate + body)
        headers = [self.ecb(v.psk[0], separate)]
        if client:  # SIP023: one identity header per iPSK, under the iPSK itself
            for ipsk, following in pairwise(v.psk):
                mixed = bytes(a ^ b for a, b in zip(self.psk_hash(following), separate,
                                                    strict=True))
                headers.append(self.ecb(ipsk, mixed))
        key = v.psk[-1]
        subkey = self.derive_key(SESSION_CONTEXT, key + separate[:8], len(key))
        sealed: bytes = self._aesgcm(subkey).encrypt(separate[4:], body, None)
        return b"".join(headers) + sealed

    def wire(self, v: Vector2022) -> bytes:
        return b"".join(self.tcp(v)) if v.is_tcp else self.udp(v)


def independent_problem(v: Vector2022, builder: IndependentBuilder) -> str | None:
    """``None`` if the independent rebuild gives the vector's bytes, else what differs."""
    wire = builder.wire(v)
    if _matches(v, wire):
        return None
    if v.wire is not None:
        at = next((i for i, (a, b) in enumerate(zip(wire, v.wire, strict=False)) if a != b),
                  min(len(wire), len(v.wire)))
        return f"independent rebuild differs at byte {at} ({len(wire)} vs {len(v.wire)} bytes)"
    return f"independent rebuild differs ({len(wire)} bytes vs {v.wire_length}, SHA-256)"


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------

NOW = 1_700_000_000


def _bytes(seed: int, size: int) -> bytes:
    return bytes((seed * 73 + i * 29 + 11) & 0xFF for i in range(size))


def _plan(m: Method) -> list[Vector2022]:
    """The records of one method, without their wire bytes."""
    n, k = m.name, m.key_size
    aes = "aes" in n
    psk = (_bytes(1, k),)
    ipsk0, ipsk1, upsk = _bytes(2, k), _bytes(3, k), _bytes(4, k)
    salt = [_bytes(10 + i, m.salt_size) for i in range(12)]

    def nonce(seed: int) -> bytes:  # the ChaCha method's XChaCha20 nonce (SIP022 4.1)
        return b"" if aes else _bytes(seed, 24)

    req = Vector2022("tcp-request", "", n, psk, NOW)
    out = [
        replace(req, name="initial payload, then three writes", salt=salt[0],
                address=("example.com", 443), padding=17, writes=(100, 1, 15, 300)),
        replace(req, name="no initial payload: header alone with 900 bytes of padding",
                timestamp=NOW + 1, salt=salt[1], address=("192.0.2.1", 80), padding=900,
                start=True, writes=(1, 2)),
        replace(req, name="writes over 0xFFFF bytes: chunk boundaries crossed",
                timestamp=NOW + 2, salt=salt[2], address=("2001:db8::1", 8443), padding=0,
                writes=(70000, 65535, 65536, 1)),
        replace(req, name="280 writes: the nonce counter carries past 255", timestamp=NOW + 3,
                salt=salt[3], address=("example.org", 80), padding=5,
                writes=tuple(range(1, 41)), repeat=7),
        replace(req, name="long: 35,000 writes, 70,000 seals, the counter carries past 0xFFFF",
                timestamp=NOW + 4, salt=salt[4], address=("example.net", 443), padding=0,
                writes=tuple(range(1, 41)), repeat=875),
    ]
    resp = Vector2022("tcp-response", "", n, psk, NOW)
    out += [
        replace(resp, name="answer to the first request", timestamp=NOW + 1, salt=salt[5],
                request_salt=salt[0], writes=(1, 300)),
        replace(resp, name="first write over 0xFFFF bytes", timestamp=NOW + 2, salt=salt[6],
                request_salt=salt[2], writes=(70000, 65536)),
        replace(resp, name="280 writes", timestamp=NOW + 3, salt=salt[7],
                request_salt=salt[3], writes=tuple(range(1, 41)), repeat=7),
    ]
    client = Vector2022("udp-client", "", n, psk, NOW, session_id=0x0102030405060708)
    out += [
        replace(client, name="DNS query, padded", packet_id=0, address=("192.0.2.53", 53),
                padding=12, payload=_bytes(30, 29), nonce=nonce(20)),
        replace(client, name="empty payload, packet ID over 2**32", timestamp=NOW + 1,
                packet_id=0x1_0000_00FF, address=("example.com", 443), padding=0,
                payload=b"", nonce=nonce(21)),
        replace(client, name="1200 bytes to IPv6", timestamp=NOW + 2, packet_id=7,
                address=("2001:db8::53", 5353), padding=0, payload=_bytes(31, 1200),
                nonce=nonce(22)),
    ]
    server = Vector2022("udp-server", "", n, psk, NOW, session_id=0x1112131415161718,
                        client_session_id=0x0102030405060708)
    out += [
        replace(server, name="DNS answer, first reply", timestamp=NOW + 1, packet_id=0,
                address=("192.0.2.53", 53), padding=0, payload=_bytes(32, 40),
                nonce=nonce(23)),
        replace(server, name="fourth reply, padded, empty, from a name", timestamp=NOW + 2,
                packet_id=3, address=("example.com", 443), padding=7, payload=b"",
                nonce=nonce(24)),
    ]
    if aes:  # SIP023 identity headers: the AES methods only
        out += [
            replace(req, psk=(ipsk0, upsk), name="SIP023, one identity layer",
                    timestamp=NOW + 5, salt=salt[8], address=("example.com", 443), padding=3,
                    writes=(50, 7)),
            replace(req, psk=(ipsk0, ipsk1, upsk),
                    name="SIP023, two identity layers (relay), no initial payload",
                    timestamp=NOW + 6, salt=salt[9], address=("192.0.2.7", 22), padding=100,
                    start=True, writes=(10,)),
            replace(client, psk=(ipsk0, upsk), name="SIP023, one identity layer",
                    timestamp=NOW + 5, session_id=0x2122232425262728, packet_id=1,
                    address=("192.0.2.53", 53), padding=4, payload=_bytes(33, 25)),
            replace(client, psk=(ipsk0, ipsk1, upsk), name="SIP023, two identity layers (relay)",
                    timestamp=NOW + 6, session_id=0x3132333435363738, packet_id=0x0102,
                    address=("example.org", 443), padding=0, payload=_bytes(34, 64)),
        ]
    return out


def generate(selected: Sequence[Method] | None = None) -> list[Vector2022]:
    """Every record, with the wire bytes refcrypto makes (not yet verified)."""
    from ..methods import methods

    rows = selected if selected is not None else methods(edition2022=True)
    return [_with_wire(v, refcrypto_wire(v)) for m in rows for v in _plan(m)]


def _header(description: str) -> str:
    return f"""# Shadowsocks 2022 wire vectors (SIP022, SIP023): fixed clock, salts, session IDs and
# padding. Generated by refcrypto and written only after an independent rebuild of every byte
# matched and refcrypto decoded them back; VERIFIED_BY names the rebuild:
#   {description}
# Format, plaintext rule and the choices the specifications leave open:
# refcrypto.conformance.ss2022vectors. Regenerate with
# `python -m refcrypto.conformance.ss2022vectors --write vectors/wire`.
"""


def main(argv: Sequence[str] | None = None) -> int:
    from pathlib import Path

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DIR", help="generate, verify and write DIR/ss2022.txt")
    group.add_argument("--check", metavar="FILE", help="re-verify a vector file independently")
    args = parser.parse_args(argv)
    builder = IndependentBuilder()
    if args.check:
        vectors = load_2022(str(Path(args.check).resolve()))  # an absolute path is kept
    else:
        vectors = generate()
    bad = 0
    out = []
    for v in vectors:
        problem = independent_problem(v, builder) or check_vector(v)
        if problem:
            print(f"{v.label}: {problem}", file=sys.stderr)
            bad += 1
        out.append(replace(v, verified_by=builder.description))
    if bad:
        print(f"{bad} of {len(vectors)} vectors not verified; nothing written", file=sys.stderr)
        return 1
    if args.write:
        folder = Path(args.write)
        folder.mkdir(parents=True, exist_ok=True)
        text = _header(builder.description) + "".join("\n" + format_vector(v) + "\n"
                                                      for v in out)
        (folder / "ss2022.txt").write_text(text, encoding="utf-8")
        print(f"wrote {len(out)} vectors to {folder / 'ss2022.txt'}, each rebuilt by "
              f"{builder.description}")
    else:
        print(f"{len(out)} vectors verified by {builder.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
