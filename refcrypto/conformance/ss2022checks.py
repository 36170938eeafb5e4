"""The ``refcrypto check`` rows of the Shadowsocks 2022 methods (SIP022, SIP023).

A primitive backend (refcrypto, or a native library) runs the 2022 methods through
refcrypto's 2022 codecs with its own AEADs (``backend=``, :mod:`refcrypto.wire.source`):
AES-GCM or ChaCha20-Poly1305 for the TCP chunks and the AES UDP bodies, XChaCha20-Poly1305 for
the ChaCha method's UDP packets. BLAKE3 (the subkeys) and the AES-ECB of the UDP separate and
identity headers are refcrypto's in every backend. A backend without the method's AEAD makes
the pair unsupported (with its reason); one without XChaCha20-Poly1305 runs the ChaCha
method's TCP and marks its UDP parts ``n/a``. Wire-only backends have no 2022 operations:
unsupported, with the reason.

Checks, each a row of the report (``pass``, ``fail``, ``skipped``, ``n/a``):

``vectors``       known answers of the AEADs behind the method through the backend (and, for
                  refcrypto, the official BLAKE3 vectors through its pure-Python BLAKE3);
``wire-vectors``  ``vectors/wire/ss2022.txt`` (:mod:`.ss2022vectors`): the backend's codecs make
                  every record's bytes from its fields and decode them back;
``timestamp``     a header 29 or 30 s away from the receiver's clock is accepted, 31 s refused
                  (:class:`~refcrypto.errors.InvalidTimestamp`), both signs: TCP request and
                  response, UDP both ways (SIP022 3.1.3, 3.2.3);
``replay``        two servers sharing one :class:`~refcrypto.wire.ss2022.SaltStore`: the second
                  refuses a salt the first accepted (:class:`~refcrypto.errors.ReplayedSalt`),
                  and a new salt still passes (SIP022 3.1.4);
``header-type``   a request header of type 1 and a response header of type 0 are refused
                  (:class:`~refcrypto.errors.InvalidHeaderType`), and so are a response stream
                  fed to a request decoder, a request stream fed to a response decoder, and UDP
                  packets sent back the way they came (SIP022 3.1.3, 3.2.3);
``padding``       900 bytes of request padding accepted, 901 refused
                  (:class:`~refcrypto.errors.PaddingTooLong`), neither padding nor payload
                  refused (SIP022 3.1.3);
``request-salt``  a response naming another request salt is refused
                  (:class:`~refcrypto.errors.RequestSaltMismatch`; SIP022 3.1.3);
``udp-replay``    a UDP packet ID is accepted once, in any order inside the sliding window,
                  and refused when too old, by the server and by the client (SIP022 3.2.4);
``round-trips``   seeded random writes at random splits, TCP both ways and UDP both ways; for a
                  backend other than refcrypto, its bytes must equal refcrypto's for the same
                  salt, clock and padding, and each side must decode the other's.

Everything the checks build comes from a :class:`Codecs2022`, so a test can subclass it (or
monkeypatch the codecs) to break one rule and see its check fail.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Iterable
from functools import partial
from typing import NamedTuple

from ..errors import (
    InvalidHeaderType,
    InvalidTimestamp,
    MissingPayloadOrPadding,
    PaddingTooLong,
    RefcryptoError,
    ReplayedPacket,
    ReplayedSalt,
    RequestSaltMismatch,
)
from ..methods import Method
from ..primitives.base import AEAD
from ..wire.source import OWN, Primitives
from ..wire.ss2022 import (
    RequestDecoder,
    RequestEncoder,
    ResponseDecoder,
    ResponseEncoder,
    SaltStore,
    UdpClient2022,
    UdpServer2022,
)
from ..wire.ss2022.keys import aead_method, session_subkey, udp_aead_method
from .backend import PrimitiveBackend, WireBackend

__all__ = [
    "CHECKS",
    "Codecs2022",
    "Outcome",
    "checks_2022",
    "udp_unsupported",
    "unsupported_2022",
]

#: The rows every 2022 pair reports, in order.
CHECKS = ("vectors", "wire-vectors", "timestamp", "replay", "header-type", "padding",
          "request-salt", "udp-replay", "round-trips")

NOW = 1_700_000_000
TARGET = ("example.com", 443)
DNS = ("192.0.2.53", 53)


class Outcome(NamedTuple):
    """One check's result (the fields of the engine's ``CheckOutcome``)."""

    name: str
    status: str  # pass, fail, skipped, n/a
    detail: str
    cases: int = 0


class _Clock:
    """A clock the checks set: integer Unix seconds."""

    __slots__ = ("__weakref__", "now")

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _fixed(now: int) -> _Clock:
    return _Clock(now)


class Codecs2022:
    """Makes every 2022 object the checks use, with ``backend``'s AEADs."""

    __slots__ = ("__weakref__", "backend")

    def __init__(self, backend: Primitives = OWN) -> None:
        self.backend = backend

    def salt_store(self) -> SaltStore:
        return SaltStore()

    def request_encoder(self, m: Method, psk: bytes, target: tuple[str, int], *,
                        clock: Callable[[], int], salt: bytes | None = None,
                        padding: int | None = None) -> RequestEncoder:
        return RequestEncoder(m, psk, target, salt=salt, clock=clock, padding=padding,
                              backend=self.backend)

    def request_decoder(self, m: Method, psk: bytes, *, salts: SaltStore,
                        clock: Callable[[], int]) -> RequestDecoder:
        return RequestDecoder(m, psk, salts=salts, clock=clock, backend=self.backend)

    def response_encoder(self, m: Method, psk: bytes, request_salt: bytes, *,
                         clock: Callable[[], int], salt: bytes | None = None) -> ResponseEncoder:
        return ResponseEncoder(m, psk, request_salt, salt=salt, clock=clock,
                               backend=self.backend)

    def response_decoder(self, m: Method, psk: bytes, request_salt: bytes, *,
                         clock: Callable[[], int]) -> ResponseDecoder:
        return ResponseDecoder(m, psk, request_salt, clock=clock, backend=self.backend)

    def udp_client(self, m: Method, psk: bytes, *, clock: Callable[[], int],
                   session_id: int | None = None) -> UdpClient2022:
        return UdpClient2022(psk, m, session_id=session_id, clock=clock, backend=self.backend)

    def udp_server(self, m: Method, psk: bytes, *, clock: Callable[[], int]) -> UdpServer2022:
        return UdpServer2022(psk, m, clock=clock, backend=self.backend)

    def session_aead(self, m: Method, psk: bytes, salt: bytes) -> AEAD:
        """The AEAD of a TCP stream with ``salt`` (to build streams no encoder would)."""
        return self.backend.new_aead(aead_method(m), session_subkey(psk, salt))

    def craft_stream(self, m: Method, psk: bytes, salt: bytes, chunks: Iterable[bytes]) -> bytes:
        """``salt`` and each of ``chunks`` sealed in turn under counter nonces (SIP022 3.1.1):
        a stream whose header says whatever the check needs."""
        aead = self.session_aead(m, psk, salt)
        return salt + b"".join(aead.seal(n.to_bytes(12, "little"), chunk)
                               for n, chunk in enumerate(chunks))


# --------------------------------------------------------------------------------------------
# Support
# --------------------------------------------------------------------------------------------


def unsupported_2022(wire: WireBackend, primitives: PrimitiveBackend | None,
                     m: Method) -> str | None:
    """Why the pair cannot run, or ``None``."""
    if primitives is None:
        return wire.unsupported(m) or (
            f"{m.name}: {wire.name} has no Shadowsocks 2022 support (a wire backend has no "
            "2022 operations)"
        )
    row = aead_method(m)
    reason = primitives.unsupported(row)
    if reason is not None:
        return f"{m.name} needs {row.name} from {primitives.name}: {reason}"
    return None


def udp_unsupported(primitives: Primitives, m: Method) -> str | None:
    """Why the method's UDP cannot run on ``primitives`` (the ChaCha method's XChaCha20), or
    ``None``."""
    row = udp_aead_method(m)
    unsupported = getattr(primitives, "unsupported", None)
    reason = unsupported(row) if unsupported is not None else None
    if reason is not None:
        return f"UDP n/a: it needs {row.name} ({reason})"
    return None


def _psk(m: Method, seed: int = 1) -> bytes:
    return bytes((seed * 41 + 3 * i + 1) & 0xFF for i in range(m.key_size))


def _salt(m: Method, seed: int) -> bytes:
    return bytes((seed * 59 + 7 * i + 2) & 0xFF for i in range(m.salt_size))


def _refused(call: Callable[[], object], expected: type[Exception], what: str) -> str:
    """``""`` if ``call`` raises ``expected``, else what happened instead."""
    try:
        got = call()
    except expected:
        return ""
    except RefcryptoError as exc:
        return f"{what}: raised {type(exc).__name__} ({exc}), not {expected.__name__}"
    return f"{what}: accepted (returned {_short(got)}), expected {expected.__name__}"


def _accepted(call: Callable[[], object], want: object, what: str) -> str:
    try:
        got = call()
    except RefcryptoError as exc:
        return f"{what}: refused with {type(exc).__name__}: {exc}"
    if want is not None and got != want:
        return f"{what}: gave {_short(got)}, expected {_short(want)}"
    return ""


def _short(value: object) -> str:
    if isinstance(value, bytes):
        return f"{len(value)} bytes" if len(value) > 16 else f"{value!r}"
    return repr(value)[:80]


def _outcome(name: str, problems: list[str], cases: int, passed: str, note: str) -> Outcome:
    problems = [p for p in problems if p]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Outcome(name, "fail", problems[0] + more, cases)
    return Outcome(name, "pass", passed + (f"; {note}" if note else ""), cases)


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


def check_timestamp(codecs: Codecs2022, m: Method, udp: bool, note: str = "") -> Outcome:
    psk = _psk(m)
    problems: list[str] = []
    cases = 0
    for skew in (-31, -30, -29, 29, 30, 31):
        ok = abs(skew) <= 30
        side = f"{skew:+d} s"

        def request(skew: int = skew) -> bytes:
            enc = codecs.request_encoder(m, psk, TARGET, clock=_fixed(NOW))
            dec = codecs.request_decoder(m, psk, salts=codecs.salt_store(),
                                         clock=_fixed(NOW + skew))
            return dec.update(enc.update(b"ping"))

        def response(skew: int = skew) -> bytes:
            salt = _salt(m, 1)
            enc = codecs.response_encoder(m, psk, salt, clock=_fixed(NOW))
            dec = codecs.response_decoder(m, psk, salt, clock=_fixed(NOW + skew))
            return dec.update(enc.update(b"pong"))

        calls: list[tuple[str, Callable[[], object], object]] = [
            (f"TCP request {side}", request, b"ping"),
            (f"TCP response {side}", response, b"pong"),
        ]
        if udp:
            def client_packet(skew: int = skew) -> bytes:
                client = codecs.udp_client(m, psk, clock=_fixed(NOW))
                server = codecs.udp_server(m, psk, clock=_fixed(NOW + skew))
                return server.decrypt(client.encrypt(b"q", DNS, padding=0)).payload

            def server_packet(skew: int = skew) -> bytes:
                clock = _Clock()
                client = codecs.udp_client(m, psk, clock=clock)
                server = codecs.udp_server(m, psk, clock=_fixed(NOW))
                got = server.decrypt(client.encrypt(b"q", DNS, padding=0))
                reply = server.encrypt(got.session_id, b"a", DNS)
                clock.now = NOW + skew
                return client.decrypt(reply).payload

            calls += [(f"UDP client packet {side}", client_packet, b"q"),
                      (f"UDP server packet {side}", server_packet, b"a")]
        for what, call, want in calls:
            cases += 1
            if ok:
                problems.append(_accepted(call, want, f"{what} (within 30 s)"))
            else:
                problems.append(_refused(call, InvalidTimestamp, f"{what} (over 30 s)"))
    return _outcome("timestamp", problems, cases,
                    f"±29/±30 s accepted, ±31 s refused, {cases} cases", note)


def check_replay(codecs: Codecs2022, m: Method, udp: bool, note: str = "") -> Outcome:
    psk = _psk(m)
    store = codecs.salt_store()
    wire = codecs.request_encoder(m, psk, TARGET, clock=_fixed(NOW), salt=_salt(m, 2)
                                  ).update(b"first")
    other = codecs.request_encoder(m, psk, TARGET, clock=_fixed(NOW), salt=_salt(m, 3)
                                   ).update(b"other")

    def server() -> RequestDecoder:
        return codecs.request_decoder(m, psk, salts=store, clock=_fixed(NOW + 5))

    problems = [
        _accepted(lambda: server().update(wire), b"first", "first use of a salt"),
        _refused(lambda: server().update(wire), ReplayedSalt,
                 "the same salt at a second server sharing the SaltStore"),
        _accepted(lambda: server().update(other), b"other", "another salt after a replay"),
        _refused(lambda: server().update(other), ReplayedSalt, "that salt again"),
    ]
    return _outcome("replay", problems, 4,
                    "a salt seen twice is refused by a server sharing the SaltStore; a new "
                    "salt passes", note)


def check_header_types(codecs: Codecs2022, m: Method, udp: bool, note: str = "") -> Outcome:
    psk = _psk(m)
    request_salt, response_salt = _salt(m, 4), _salt(m, 5)
    variable = b"\x01\xc0\x00\x02\x01\x00\x50" + b"\x00\x00" + b"payload"
    fixed_as_server = b"\x01" + NOW.to_bytes(8, "big") + len(variable).to_bytes(2, "big")
    request_of_type_1 = codecs.craft_stream(m, psk, request_salt, [fixed_as_server, variable])
    fixed_as_client = (b"\x00" + NOW.to_bytes(8, "big") + request_salt
                       + (7).to_bytes(2, "big"))
    response_of_type_0 = codecs.craft_stream(m, psk, response_salt,
                                             [fixed_as_client, b"payload"])
    real_request = codecs.request_encoder(m, psk, TARGET, clock=_fixed(NOW), salt=request_salt
                                          ).update(b"request")
    real_response = codecs.response_encoder(m, psk, request_salt, clock=_fixed(NOW),
                                            salt=response_salt).update(b"response")

    def request_decoder() -> RequestDecoder:
        return codecs.request_decoder(m, psk, salts=codecs.salt_store(), clock=_fixed(NOW))

    def response_decoder() -> ResponseDecoder:
        return codecs.response_decoder(m, psk, request_salt, clock=_fixed(NOW))

    problems = [
        _refused(lambda: request_decoder().update(request_of_type_1), InvalidHeaderType,
                 "TCP request header of type 1"),
        _refused(lambda: response_decoder().update(response_of_type_0), InvalidHeaderType,
                 "TCP response header of type 0"),
        _refused(lambda: request_decoder().update(real_response), RefcryptoError,
                 "a response stream sent as a request"),
        _refused(lambda: response_decoder().update(real_request), RefcryptoError,
                 "a request stream sent as a response"),
    ]
    cases = 4
    if udp:
        client = codecs.udp_client(m, psk, clock=_fixed(NOW))
        server = codecs.udp_server(m, psk, clock=_fixed(NOW))
        sent = client.encrypt(b"q", DNS, padding=0)
        got = server.decrypt(sent)
        reply = server.encrypt(got.session_id, b"a", DNS)
        other = codecs.udp_server(m, psk, clock=_fixed(NOW))
        problems += [
            _refused(lambda: client.decrypt(sent), InvalidHeaderType,
                     "UDP client packet (type 0) sent back to a client"),
            _refused(lambda: other.decrypt(reply), InvalidHeaderType,
                     "UDP server packet (type 1) sent to a server"),
        ]
        cases += 2
    return _outcome("header-type", problems, cases,
                    "request of type 1, response of type 0 and streams or packets sent the "
                    "wrong way are refused", note)


def check_padding(codecs: Codecs2022, m: Method, udp: bool, note: str = "") -> Outcome:
    psk = _psk(m)

    def fixed(variable: bytes) -> bytes:
        return b"\x00" + NOW.to_bytes(8, "big") + len(variable).to_bytes(2, "big")

    address = b"\x03\x0bexample.com\x01\xbb"

    def crafted(padding: int, payload: bytes, seed: int) -> bytes:
        variable = address + padding.to_bytes(2, "big") + bytes(padding) + payload
        return codecs.craft_stream(m, psk, _salt(m, seed), [fixed(variable), variable])

    def decode(wire: bytes) -> tuple[bytes, int | None]:
        dec = codecs.request_decoder(m, psk, salts=codecs.salt_store(), clock=_fixed(NOW))
        return dec.update(wire), dec.padding_length

    def padded_900() -> tuple[bytes, int | None]:
        enc = codecs.request_encoder(m, psk, TARGET, clock=_fixed(NOW), salt=_salt(m, 6),
                                     padding=900)
        return decode(enc.start())

    problems = [
        _accepted(padded_900, (b"", 900), "900 bytes of padding, no payload (encoder)"),
        _accepted(lambda: decode(crafted(900, b"x", 7)), (b"x", 900),
                  "900 bytes of padding and a payload"),
        _refused(lambda: decode(crafted(901, b"", 8)), PaddingTooLong,
                 "901 bytes of padding, no payload"),
        _refused(lambda: decode(crafted(901, b"x", 9)), PaddingTooLong,
                 "901 bytes of padding and a payload"),
        _refused(lambda: decode(crafted(0, b"", 10)), MissingPayloadOrPadding,
                 "neither padding nor payload"),
    ]
    return _outcome("padding", problems, 5,
                    "900 bytes of padding accepted, 901 refused, none with no payload refused",
                    note)


def check_request_salt(codecs: Codecs2022, m: Method, udp: bool, note: str = "") -> Outcome:
    psk = _psk(m)
    sent = _salt(m, 11)
    other = bytes([sent[0] ^ 1]) + sent[1:]

    def answer(named: bytes) -> bytes:
        enc = codecs.response_encoder(m, psk, named, clock=_fixed(NOW), salt=_salt(m, 12))
        dec = codecs.response_decoder(m, psk, sent, clock=_fixed(NOW))
        return dec.update(enc.update(b"answer"))

    problems = [
        _accepted(lambda: answer(sent), b"answer", "response naming the request salt"),
        _refused(lambda: answer(other), RequestSaltMismatch,
                 "response naming another request salt (one bit off)"),
    ]
    return _outcome("request-salt", problems, 2,
                    "a response naming another request salt is refused", note)


def check_udp_replay(codecs: Codecs2022, m: Method, udp: bool, note: str = "") -> Outcome:
    if not udp:
        return Outcome("udp-replay", "n/a", note or "UDP does not run on this backend")
    psk = _psk(m)
    client = codecs.udp_client(m, psk, clock=_fixed(NOW))
    server = codecs.udp_server(m, psk, clock=_fixed(NOW))
    sent = [client.encrypt(bytes([i]), DNS, padding=0) for i in range(4)]
    client.next_packet_id = 20_000  # far ahead: packet 3 is then outside the window
    far = client.encrypt(b"far", DNS, padding=0)

    def payload_of(packet: bytes) -> Callable[[], bytes]:
        return lambda: server.decrypt(packet).payload

    problems = [
        _accepted(payload_of(sent[2]), b"\x02", "server: packet 2 first"),
        _accepted(payload_of(sent[0]), b"\x00", "server: packet 0 after 2 (reordered)"),
        _accepted(payload_of(sent[1]), b"\x01", "server: packet 1 after 0 and 2"),
        _refused(payload_of(sent[1]), ReplayedPacket, "server: packet 1 again"),
        _refused(payload_of(sent[2]), ReplayedPacket, "server: packet 2 again"),
        _accepted(payload_of(far), b"far", "server: packet 20000"),
        _refused(payload_of(sent[3]), ReplayedPacket,
                 "server: packet 3 after 20000 (outside the window)"),
    ]
    session = client.session_id
    replies = [server.encrypt(session, bytes([i]), DNS) for i in range(2)]
    problems += [
        _accepted(lambda: client.decrypt(replies[1]).payload, b"\x01", "client: reply 1"),
        _accepted(lambda: client.decrypt(replies[0]).payload, b"\x00",
                  "client: reply 0 after 1"),
        _refused(lambda: client.decrypt(replies[0]), ReplayedPacket, "client: reply 0 again"),
    ]
    return _outcome("udp-replay", problems, 10,
                    "packet IDs accepted once in any order within the window, refused again "
                    "or when too old, by server and client", note)


def check_round_trips(codecs: Codecs2022, m: Method, udp: bool, *, seed: int, budget: int,
                      compare: bool, note: str = "") -> Outcome:
    """Random writes and splits; with ``compare``, the bytes must equal refcrypto's own."""
    own = Codecs2022(OWN)
    rng = random.Random((seed << 32) ^ zlib.crc32(m.name.encode()))
    psk = _psk(m, 7)
    for case in range(budget):
        writes = [rng.randbytes(rng.choice((1, 2, 100, 1500, 70000))) for _ in
                  range(rng.randint(1, 4))]
        salt, answer_salt = rng.randbytes(m.salt_size), rng.randbytes(m.salt_size)
        padding = rng.randint(0, 900)
        try:
            problem = _round_trip(codecs, own, m, psk, writes, salt, answer_salt, padding,
                                  rng, compare)
            if not problem and udp:
                problem = _udp_round_trip(codecs, own, m, psk, rng, compare)
        except RefcryptoError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            return Outcome("round-trips", "fail",
                           f"case {case} (seed {seed}, writes {[len(w) for w in writes]}): "
                           f"{problem}", case + 1)
    what = "equal to refcrypto's bytes and decoded both ways" if compare else "round trips"
    return Outcome("round-trips", "pass",
                   f"{budget} seeded cases, TCP both ways{' and UDP' if udp else ''}: {what}"
                   + (f"; {note}" if note else ""), budget)


def _split(data: bytes, rng: random.Random, first: int) -> list[bytes]:
    cuts = sorted(rng.randint(first, max(first, len(data))) for _ in range(rng.randint(0, 4)))
    pieces, last = [], 0
    for cut in [first, *cuts]:
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    return pieces


def _round_trip(codecs: Codecs2022, own: Codecs2022, m: Method, psk: bytes,
                writes: list[bytes], salt: bytes, answer_salt: bytes, padding: int,
                rng: random.Random, compare: bool) -> str:
    clock = _fixed(NOW)
    encoders = [codecs, own] if compare else [codecs]
    streams = []
    for encoding in encoders:
        enc = encoding.request_encoder(m, psk, TARGET, clock=clock, salt=salt, padding=padding)
        back = encoding.response_encoder(m, psk, salt, clock=clock, salt=answer_salt)
        streams.append((b"".join(enc.update(w) for w in writes),
                        b"".join(back.update(w) for w in reversed(writes))))
    if compare and streams[0] != streams[1]:
        which = "request" if streams[0][0] != streams[1][0] else "response"
        return f"{which} stream differs from refcrypto's for the same salt, clock and padding"
    # Each side decodes the other's stream (with compare), else its own.
    for (wire, answer), decoding in zip(streams, reversed(encoders), strict=True):
        dec = decoding.request_decoder(m, psk, salts=decoding.salt_store(), clock=clock)
        got = b"".join(dec.update(p) for p in _split(wire, rng, dec.header_size))
        if got != b"".join(writes) or dec.target != TARGET or dec.padding_length != padding:
            return "request stream did not decode to what was sent"
        reader = decoding.response_decoder(m, psk, salt, clock=clock)
        got = b"".join(reader.update(p) for p in _split(answer, rng, reader.header_size))
        if got != b"".join(reversed(writes)):
            return "response stream did not decode to what was sent"
    return ""


def _udp_round_trip(codecs: Codecs2022, own: Codecs2022, m: Method, psk: bytes,
                    rng: random.Random, compare: bool) -> str:
    payload = rng.randbytes(rng.choice((0, 1, 500, 1400)))
    session = rng.getrandbits(64)
    nonce = rng.randbytes(24)
    padding = rng.randint(0, 64)
    encoders = [codecs, own] if compare else [codecs]
    packets = [
        encoding.udp_client(m, psk, clock=_fixed(NOW), session_id=session).encrypt(
            payload, TARGET, padding=padding, nonce=nonce)
        for encoding in encoders
    ]
    if compare and packets[0] != packets[1]:
        return "UDP client packet differs from refcrypto's for the same IDs, clock and nonce"
    for packet, decoding, encoding in zip(packets, reversed(encoders), encoders, strict=True):
        server = decoding.udp_server(m, psk, clock=_fixed(NOW))
        got = server.decrypt(packet)
        if (got.payload, got.address, got.session_id) != (payload, TARGET, session):
            return "UDP client packet did not decode to what was sent"
        reply = server.encrypt(session, payload[::-1], TARGET)
        back = encoding.udp_client(m, psk, clock=_fixed(NOW), session_id=session)
        if back.decrypt(reply).payload != payload[::-1]:
            return "UDP server packet did not decode to what was sent"
    return ""


def check_known_answers(name: str, primitives: PrimitiveBackend, m: Method,
                        udp: bool) -> Outcome:
    from ..knownanswers import known_answers, verify

    rows = [aead_method(m)]
    if udp and udp_aead_method(m) is not rows[0]:
        rows.append(udp_aead_method(m))
    count = 0
    for row in rows:
        for answer in known_answers(row):
            if name != "refcrypto" and (len(answer.key) != row.key_size
                                        or len(answer.iv) != row.nonce_size):
                continue
            count += 1
            try:
                ok = verify(answer) if name == "refcrypto" else verify(answer, primitives)
            except Exception as exc:  # a backend may raise anything
                return Outcome("vectors", "fail",
                               f"{answer.source}: {type(exc).__name__}: {exc}", count)
            if not ok:
                return Outcome("vectors", "fail", f"{row.name} {answer.source}: output differs",
                               count)
    what = f"{count} known answers of {' and '.join(r.name for r in rows)}"
    if name == "refcrypto":
        problem, blake3_cases = _blake3_answers()
        if problem:
            return Outcome("vectors", "fail", problem, count + blake3_cases)
        what += f", {blake3_cases} official BLAKE3 answers (refcrypto's BLAKE3)"
        count += blake3_cases
    else:
        what += " (BLAKE3 and AES-ECB are refcrypto's in every backend)"
    if count == 0:
        return Outcome("vectors", "skipped", "no known answers for the method's AEAD")
    return Outcome("vectors", "pass", what, count)


def _blake3_answers() -> tuple[str, int]:
    """The official BLAKE3 test vectors (vectors/blake3/) in the three modes, 131 bytes."""
    from ..primitives import blake3
    from ..vectorfiles import vector_path

    try:
        data = json.loads(vector_path("blake3/test_vectors.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "", 0
    key = data["key"].encode()
    context = data["context_string"]
    cases = 0
    for case in data["cases"]:
        message = bytes(i % 251 for i in range(case["input_len"]))
        size = len(case["hash"]) // 2
        got = (blake3.blake3(message, size).hex(), blake3.keyed_hash(key, message, size).hex(),
               blake3.derive_key(context, message, size).hex())
        cases += 3
        if got != (case["hash"], case["keyed_hash"], case["derive_key"]):
            return (f"BLAKE3 official vector, input length {case['input_len']}: output "
                    "differs"), cases
    return "", cases


def check_wire_vectors_2022(primitives: Primitives, m: Method, *, long: bool,
                            udp: bool) -> Outcome:
    from .ss2022vectors import check_vector, load_2022

    try:
        mine = [v for v in load_2022() if v.method == m.name]
    except FileNotFoundError:
        mine = []
    if not mine:
        return Outcome("wire-vectors", "skipped", "no 2022 wire vectors for this method "
                       "(vectors/wire/ss2022.txt missing or incomplete)")
    skipped = [v for v in mine if (v.long and not long) or (not v.is_tcp and not udp)]
    run = [v for v in mine if v not in skipped]
    for v in run:
        try:
            problem = check_vector(v, primitives)
        except Exception as exc:  # a backend may raise anything
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            return Outcome("wire-vectors", "fail", f"{v.label}: {problem}", len(run))
    tcp = sum(v.is_tcp for v in run)
    detail = f"{tcp} TCP + {len(run) - tcp} UDP"
    if skipped:
        why = [w for w, hit in (("long (--quick)", any(v.long for v in skipped)),
                                ("UDP (no XChaCha20-Poly1305)", any(not v.is_tcp
                                                                    for v in skipped))) if hit]
        detail += f" ({len(skipped)} not run: {', '.join(why)})"
    return Outcome("wire-vectors", "pass", detail, len(run))


# --------------------------------------------------------------------------------------------
# One pair
# --------------------------------------------------------------------------------------------


def checks_2022(name: str, primitives: PrimitiveBackend, m: Method, *, budget: int = 20,
                seed: int = 0, long: bool = True,
                codecs: Codecs2022 | None = None) -> list[Outcome]:
    """Every 2022 row of one backend x method pair (the pair must be supported:
    :func:`unsupported_2022`). ``codecs`` overrides how the objects are made (tests)."""
    codecs = codecs if codecs is not None else Codecs2022(primitives)
    udp_reason = udp_unsupported(primitives, m)
    udp = udp_reason is None
    note = udp_reason or ""
    out = [
        _guarded("vectors", lambda: check_known_answers(name, primitives, m, udp)),
        _guarded("wire-vectors",
                 lambda: check_wire_vectors_2022(codecs.backend, m, long=long, udp=udp)),
    ]
    checks: tuple[tuple[str, Callable[[Codecs2022, Method, bool, str], Outcome], bool], ...] = (
        ("timestamp", check_timestamp, True), ("replay", check_replay, False),
        ("header-type", check_header_types, True), ("padding", check_padding, False),
        ("request-salt", check_request_salt, False), ("udp-replay", check_udp_replay, True),
    )
    for check_name, check, uses_udp in checks:
        out.append(_guarded(check_name, partial(check, codecs, m, udp, note if uses_udp else "")))
    out.append(_guarded("round-trips", lambda: check_round_trips(
        codecs, m, udp, seed=seed, budget=budget, compare=name != "refcrypto", note=note)))
    return out


def _guarded(name: str, run: Callable[[], Outcome]) -> Outcome:
    """A check that raised (a backend may raise anything) is a failed check, not a crash."""
    try:
        return run()
    except Exception as exc:
        return Outcome(name, "fail", f"{type(exc).__name__}: {exc}")
