"""Conformance probes: does the server speak the wire format exactly, at its edges?

Each sends valid requests to the probe's echo target and decodes the server's bytes with
refcrypto's strict decoders: an echo that comes back whole and decodes is a pass; a decoder
error (which names the field and nonce), a close or reset before the end, or silence is a
fail. Half-close handling is not a wire-format rule, so a server that mishandles it gets a
finding, not a fail.

TCP: a round trip; 1-byte writes; the IV or salt split over two writes (classic methods;
SIP022 3.1.3 requires a 2022 client to send salt and header in one write, so it is not
probed there); payloads at every chunk boundary (0x3FFF for SIP004, 0xFFFF for 2022); bulk
data (10 MB, 1 MiB with --quick); a half-close by the client and one by the target; many
connections at once; and across all of them, no IV or salt sent twice by the server.
UDP: round trips from 1 byte to the largest payload whose request and reply fit in one
IPv4 datagram; no reply IV or salt twice; 2022: a server session ID other than the
client's (SIP022 3.2.2).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from ..errors import RefcryptoError
from ..tools import AddressError
from .context import Run
from .dialect import ClientStream, UdpCodec
from .net import HALF_CLOSE_GREETING, TOKEN_SIZE, UdpSocket, close, connect
from .results import ProbeResult

__all__ = ["TCP_PROBES", "UDP_PROBES", "Exchange", "exchange"]

#: Bytes per write of the bulk transfer.
BULK_WRITE = 65536
#: Seconds between the writes of the 1-byte and split-IV probes (so each is its own read).
WRITE_PAUSE = 0.001
SPLIT_PAUSE = 0.1
#: Payload of the plain round trip and of each concurrent connection.
ROUND_TRIP_SIZE = 1000
CONCURRENT_SIZE = 4096


class Exchange:
    """What one connection of a conformance probe got."""

    __slots__ = ("__weakref__", "error", "kind", "plaintext", "seconds", "server_salt")

    def __init__(self) -> None:
        self.plaintext = b""
        #: Why it went wrong (``None``: it did not).
        self.error: str | None = None
        #: ``echo``, or what ended it: ``FIN``, ``RST``, ``silence``, ``decoder``.
        self.kind = "echo"
        self.seconds = 0.0
        self.server_salt = b""


async def exchange(
    run: Run,
    probe: str,
    client: ClientStream,
    writes: Sequence[bytes],
    expect: int,
    *,
    pause: float = 0.0,
    half_close: bool = False,
    server: tuple[str, int] | None = None,
) -> Exchange:
    """Send ``writes`` (one write each, ``pause`` seconds apart) while reading the server's
    stream through ``client``'s decoder, until ``expect`` bytes of plaintext (with
    ``half_close``: the client shuts down writing after the last write, and the server's
    clean end of stream is required too)."""
    result = Exchange()
    idle = run.idle_timeout
    loop = asyncio.get_running_loop()
    start = loop.time()
    salt_size = run.dialect.method.iv_size
    try:
        reader, writer = await connect(server or run.options.server, run.options.io_timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        result.kind, result.error = "refused", f"cannot connect: {exc!r}"
        return result

    async def send() -> None:
        for index, piece in enumerate(writes):
            writer.write(piece)
            await writer.drain()
            if pause and index < len(writes) - 1:
                await asyncio.sleep(pause)
        if half_close and writer.can_write_eof():
            writer.write_eof()

    plain = bytearray()
    raw_head = bytearray()

    async def receive() -> None:
        while len(plain) < expect or half_close:
            data = await asyncio.wait_for(reader.read(262144), idle)
            if not data:
                if len(plain) < expect:
                    result.kind = "FIN"
                    result.error = f"server closed (FIN) after {len(plain)} of {expect} bytes"
                else:
                    client.finish()  # a clean end must not cut a chunk
                return
            if len(raw_head) < salt_size:
                raw_head.extend(data[: salt_size - len(raw_head)])
            plain.extend(client.decrypt(data))

    sender = asyncio.ensure_future(send())
    try:
        await asyncio.wait_for(receive(), run.options.io_timeout)
        if not sender.done():
            await asyncio.wait_for(sender, run.options.io_timeout)
        sender.result()
    except asyncio.TimeoutError:
        result.kind = "silence"
        result.error = (f"silence after {len(plain)} of {expect} bytes (nothing for {idle:g} s, "
                        f"or not done in {run.options.io_timeout:g} s)")
    except (ConnectionResetError, BrokenPipeError) as exc:
        result.kind = "RST"
        result.error = f"connection reset after {len(plain)} of {expect} bytes ({exc!r})"
    except (RefcryptoError, AddressError) as exc:
        result.kind = "decoder"
        result.error = f"the server's stream fails refcrypto's decoder: {exc}"
    except OSError as exc:
        result.kind = "RST"
        result.error = f"connection failed after {len(plain)} of {expect} bytes ({exc!r})"
    finally:
        if not sender.done():
            sender.cancel()
        with contextlib.suppress(BaseException):
            await sender
        await close(writer)
    result.plaintext = bytes(plain)
    result.seconds = loop.time() - start
    if len(raw_head) == salt_size:
        result.server_salt = bytes(raw_head)
        run.server_salt(probe, result.server_salt)
    return result


def _checked(probe: str, got: Exchange, sent: bytes, *, on_error: str = "fail",
             what: str = "") -> ProbeResult:
    """A result from one exchange: pass if ``sent`` came back whole."""
    if got.error is not None:  # a decoder error is a wire-format error: always a failure
        verdict = "fail" if got.kind == "decoder" else on_error
        return ProbeResult(probe, "conformance", got.kind, got.seconds, verdict,
                           f"{what}{got.error}")
    if got.plaintext != sent:
        at = next((i for i, (a, b) in enumerate(zip(got.plaintext, sent, strict=False)) if a != b),
                  min(len(got.plaintext), len(sent)))
        return ProbeResult(probe, "conformance", "data", got.seconds, "fail",
                           f"{what}echo differs from what was sent at byte {at} "
                           f"({len(got.plaintext)} bytes back, {len(sent)} sent)")
    return ProbeResult(probe, "conformance", "echo", got.seconds, "pass", what.rstrip(": "))


# --- TCP --------------------------------------------------------------------------------------


async def round_trip(run: Run) -> ProbeResult:
    client = run.client()
    plain = run.token() + run.data(ROUND_TRIP_SIZE)
    got = await exchange(run, "tcp-round-trip", client, [client.first(plain)], len(plain))
    return _checked("tcp-round-trip", got, plain, what=f"{len(plain)} bytes echoed: ")


async def one_byte_writes(run: Run) -> ProbeResult:
    client = run.client()
    token, body = run.token(), run.data(64 if run.options.quick else 200)
    if run.dialect.family == "2022":  # SIP022 3.1.3: salt and headers in one write
        head = client.first(token)
        writes = [head, *(bytes((b,)) for b in client.encrypt(body))]
        what = "header in one write (SIP022 3.1.3), then "
    else:
        writes = [bytes((b,)) for b in client.first(token + body)]
        what = ""
    got = await exchange(run, "tcp-1-byte-writes", client, writes, len(token + body),
                         pause=WRITE_PAUSE)
    result = _checked("tcp-1-byte-writes", got, token + body, on_error="finding",
                      what=f"{what}{len(writes)} writes of 1 byte: ")
    if result.verdict == "finding":
        result.detail += (" (the server does not take a request that arrives a byte at a "
                          "time: a defence against probes, or a buffering bug)")
    return result


async def split_salt(run: Run) -> ProbeResult:
    client = run.client()
    plain = run.token() + run.data(100)
    wire = client.first(plain)
    cut = max(1, run.dialect.method.iv_size // 2)
    got = await exchange(run, "tcp-iv-split", client, [wire[:cut], wire[cut:]], len(plain),
                         pause=SPLIT_PAUSE)
    what = "salt" if run.dialect.method.is_aead else "IV"
    return _checked("tcp-iv-split", got, plain,
                    what=f"{what} sent as {cut} + {len(wire) - cut} bytes, "
                    f"{SPLIT_PAUSE:g} s apart: ")


def _boundary_sizes(run: Run) -> list[int]:
    sip004, ss2022 = 0x3FFF, 0xFFFF
    family, quick = run.dialect.family, run.options.quick
    if family == "2022":
        sizes = [ss2022, ss2022 + 1] if quick else [
            sip004, sip004 + 1, ss2022 - 1, ss2022, ss2022 + 1, 2 * ss2022, 2 * ss2022 + 1]
    elif family == "aead":
        sizes = [sip004, sip004 + 1] if quick else [
            1, sip004 - 1, sip004, sip004 + 1, 2 * sip004, 2 * sip004 + 1, 3 * sip004 + 2]
    else:
        sizes = [sip004 + 1] if quick else [1, sip004, sip004 + 1, ss2022 + 1]
    return sizes


async def chunk_boundaries(run: Run) -> ProbeResult:
    sizes = _boundary_sizes(run)
    seconds = 0.0
    for size in sizes:
        client = run.client()
        token, body = run.token(), run.data(size)
        writes = [client.first(token), client.encrypt(body)]
        got = await exchange(run, "tcp-chunk-boundaries", client, writes, len(token) + size)
        seconds += got.seconds
        result = _checked("tcp-chunk-boundaries", got, token + body,
                          what=f"a {size}-byte (0x{size:x}) write: ")
        if result.verdict != "pass":
            result.seconds = seconds
            return result
    limit = run.dialect.max_chunk
    note = f"; chunks up to 0x{limit:X}" if limit else ""
    return ProbeResult("tcp-chunk-boundaries", "conformance", "echo", seconds, "pass",
                       f"writes of {', '.join(f'0x{s:x}' for s in sizes)} bytes echoed{note}")


async def bulk(run: Run) -> ProbeResult:
    client = run.client()
    token, body = run.token(), run.data(run.options.bulk)
    writes = [client.first(token)]
    writes += [client.encrypt(body[i : i + BULK_WRITE]) for i in range(0, len(body), BULK_WRITE)]
    got = await exchange(run, "tcp-bulk", client, writes, len(token) + len(body))
    result = _checked("tcp-bulk", got, token + body)
    if result.verdict == "pass":
        rate = len(body) / max(got.seconds, 1e-9) / 1e6
        result.detail = (f"{len(body):,} bytes echoed in {got.seconds:.2f} s "
                         f"({rate:.1f} MB/s each way)")
    return result


async def half_close_by_client(run: Run) -> ProbeResult:
    client = run.client()
    plain = run.token() + run.data(5000)
    got = await exchange(run, "tcp-half-close-client", client, [client.first(plain)],
                         len(plain), half_close=True)
    result = _checked("tcp-half-close-client", got, plain, on_error="finding",
                      what="client sent its data and shut down writing: ")
    if result.verdict == "pass":
        result.detail = ("client shut down writing after its data: the echo came back whole, "
                         "then a clean end of stream")
    return result


async def half_close_by_target(run: Run) -> ProbeResult:
    name = "tcp-half-close-target"
    half = run.targets.half_close
    assert half is not None
    loop = asyncio.get_running_loop()
    start = loop.time()
    client = run.client(half)
    token = run.token()
    expected = token + HALF_CLOSE_GREETING
    got = await _half_close_exchange(run, name, client, token, len(expected))
    seconds = loop.time() - start
    if isinstance(got, str):
        return ProbeResult(name, "conformance", "closed", seconds, "finding", got)
    if got != expected:
        return ProbeResult(name, "conformance", "data", seconds, "fail",
                           "the target's greeting came back altered")
    received = run.targets.state.half_close_received.get(token)
    if received != _AFTER_FIN:
        return ProbeResult(name, "conformance", "FIN", seconds, "finding",
                           f"after the target's FIN the client sent {_AFTER_FIN} bytes; the "
                           f"target received {received if received is not None else 'none'}")
    return ProbeResult(name, "conformance", "echo", seconds, "pass",
                       "target shut down writing: the client got its data and a clean end "
                       f"of stream, and the {_AFTER_FIN} bytes it sent afterwards reached the "
                       "target")


#: Bytes the client sends after the half-close target's FIN.
_AFTER_FIN = 3000


async def _half_close_exchange(run: Run, probe: str, client: ClientStream, token: bytes,
                               expect: int) -> bytes | str:
    """The greeting and a clean end from the server, then more data the other way; the
    plaintext received, or what went wrong."""
    timeout = run.options.io_timeout
    try:
        reader, writer = await connect(run.options.server, timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return f"cannot connect: {exc!r}"
    plain = bytearray()
    head = bytearray()
    salt_size = run.dialect.method.iv_size
    try:
        writer.write(client.first(token))
        await writer.drain()
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                break
            if len(head) < salt_size:
                head += data[: salt_size - len(head)]
            plain += client.decrypt(data)
        client.finish()
        if len(plain) < expect:
            return f"server closed after {len(plain)} of {expect} bytes of the greeting"
        writer.write(client.encrypt(bytes(_AFTER_FIN)))
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        loop = asyncio.get_running_loop()
        end = loop.time() + min(timeout, 5.0)
        while token not in run.targets.state.half_close_received and loop.time() < end:
            await asyncio.sleep(0.02)
    except asyncio.TimeoutError:
        return (f"no clean end of stream within {timeout:g} s after the target's FIN "
                f"({len(plain)} bytes received)")
    except (RefcryptoError, AddressError) as exc:
        return f"the server's stream fails refcrypto's decoder: {exc}"
    except OSError as exc:
        if len(plain) >= expect:
            return ("the target's data and a clean end of stream came back, but the client "
                    f"could not send afterwards ({exc!r}): the server closed both directions")
        return f"connection failed after {len(plain)} of {expect} bytes: {exc!r}"
    finally:
        await close(writer)
        if len(head) == salt_size:
            run.server_salt(probe, bytes(head))
    return bytes(plain)


async def concurrent(run: Run) -> ProbeResult:
    name = "tcp-concurrent"
    count = run.options.connections
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one() -> tuple[Exchange, bytes]:
        client = run.client()
        plain = run.token() + run.data(CONCURRENT_SIZE)
        return await exchange(run, name, client, [client.first(plain)], len(plain)), plain

    outcomes = await asyncio.gather(*(one() for _ in range(count)))
    seconds = loop.time() - start
    bad = [_checked(name, got, plain) for got, plain in outcomes]
    failures = [r for r in bad if r.verdict != "pass"]
    if failures:
        return ProbeResult(name, "conformance", failures[0].reaction, seconds, "fail",
                           f"{len(failures)} of {count} connections failed; first: "
                           f"{failures[0].detail}")
    return ProbeResult(name, "conformance", "echo", seconds, "pass",
                       f"{count} connections at once, {CONCURRENT_SIZE + TOKEN_SIZE} bytes "
                       "each, all echoed")


def unique_salts(run: Run) -> ProbeResult:
    """Across every connection of the run (conformance and behaviour)."""
    name = "tcp-unique-salts"
    m = run.dialect.method
    what = "salt" if m.is_aead or m.is_2022 else "IV"
    if not m.iv_size:
        return ProbeResult(name, "conformance", "-", 0.0, "pass",
                           f"{m.name} has no IV: every connection starts the same keystream "
                           "(a property of the method)")
    if run.salt_reuse:
        probe, salt, how = run.salt_reuse[0]
        return ProbeResult(name, "conformance", "reused", 0.0, "fail",
                           f"{len(run.salt_reuse)} reused; first: the {what} {salt[:8].hex()}... "
                           f"received in {probe} {how}")
    return ProbeResult(name, "conformance", "distinct", 0.0, "pass",
                       f"{len(run.server_salts)} connections, every server {what} distinct "
                       "(and none of the probe's own)")


# --- UDP ----------------------------------------------------------------------------------------


def _udp_sizes(run: Run) -> list[int]:
    largest = run.dialect.max_udp_payload()
    if run.options.quick:
        sizes = [1, 1400, 16384, largest]
    else:
        sizes = [1, 2, 100, 1000, 1400, 1472, 4096, 8192, 16000, 16384, 32768, 65000, largest]
    return sorted({s for s in sizes if 1 <= s <= largest})


#: Attempts per UDP size (each a fresh packet: resending one would be a replay).
UDP_ATTEMPTS = 3


async def udp_round_trip(run: Run, sock: UdpSocket, codec: UdpCodec, payload: bytes,
                         probe: str, attempts: int = UDP_ATTEMPTS) -> tuple[str, str, float]:
    """One UDP payload to the echo and back: ``(kind, error, seconds)`` with kind ``echo``
    (and no error) on success, else ``no reply``, ``altered`` or ``decoder``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    kind, last = "no reply", "no reply"
    for _ in range(attempts):
        sock.send(codec.seal(payload, run.targets.udp))
        end = loop.time() + run.options.udp_wait
        while (left := end - loop.time()) > 0:
            packet = await sock.receive(left)
            if packet is None:
                break
            took = loop.time() - start
            try:
                source, got, session = codec.open(packet)
            except (RefcryptoError, AddressError) as exc:
                return "decoder", f"a reply fails refcrypto's decoder: {exc}", took
            if not run.dialect.method.is_2022:
                run.udp_salt(probe, packet[: run.dialect.method.iv_size])
            elif session == codec.session_id:
                return "decoder", (f"the server's session ID {session:016x} is the client's own "
                                   "(SIP022 3.2.2: servers MUST NOT use client session IDs as "
                                   "their own)"), took
            if got != payload:
                kind = "altered"
                last = (f"a reply carries other bytes: {len(got)} bytes for {len(payload)} "
                        "sent" + (" (cut short)" if payload.startswith(got) else ""))
                continue
            if source != run.targets.udp:
                return "decoder", (f"a reply names source {source[0]}:{source[1]}, not the "
                                   f"target {run.targets.udp[0]}:{run.targets.udp[1]}"), took
            return "echo", "", took
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return kind, f"{last} ({tries} of {run.options.udp_wait:g} s)", loop.time() - start


#: Datagrams up to this size must work (a typical MTU's worth); beyond, a dropped datagram
#: is a finding (the largest sizes are legal but rare), a damaged one still a failure.
UDP_MUST_WORK = 1400


async def udp_sizes(run: Run) -> ProbeResult:
    name = "udp-sizes"
    sizes = _udp_sizes(run)
    sock = await UdpSocket.open(run.options.server)
    codec = UdpCodec(run.dialect)  # one client session (2022) for every size
    seconds = 0.0
    echoed: list[int] = []
    problems: list[tuple[int, str, str]] = []
    try:
        for size in sizes:
            payload = (run.token() + run.data(max(0, size - TOKEN_SIZE)))[:size]
            attempts = 1 if run.options.quick and size > UDP_MUST_WORK else UDP_ATTEMPTS
            kind, error, took = await udp_round_trip(run, sock, codec, payload, name, attempts)
            seconds += took
            if kind == "echo":
                echoed.append(size)
            else:
                problems.append((size, kind, error))
    finally:
        sock.close()
    if not problems:
        return ProbeResult(name, "conformance", "echo", seconds, "pass",
                           f"datagrams of {', '.join(map(str, sizes))} bytes echoed (the "
                           "largest: request and reply each fill one IPv4 datagram)")
    size, kind, error = problems[0]
    worked = f"; echoed: {', '.join(map(str, echoed))} bytes" if echoed else ""
    others = f" ({len(problems)} sizes failed)" if len(problems) > 1 else ""
    text = f"a {size}-byte datagram: {error}{others}{worked}"
    serious = [p for p in problems if p[0] <= UDP_MUST_WORK or p[1] != "no reply"]
    if serious:
        size, kind, error = serious[0]
        return ProbeResult(name, "conformance", kind, seconds, "fail",
                           f"a {size}-byte datagram: {error}{others}{worked}")
    return ProbeResult(name, "conformance", kind, seconds, "finding",
                       f"{text} (largest datagram the method allows: "
                       f"{run.dialect.max_udp_payload()} bytes)")


def udp_unique_salts(run: Run) -> ProbeResult:
    name = "udp-unique-salts"
    m = run.dialect.method
    if m.is_2022:
        return ProbeResult(name, "conformance", "-", 0.0, "pass",
                           "2022 replies are numbered per session (packet IDs, checked by the "
                           "decoder's sliding window) and named by their session ID (checked "
                           "against the client's own)")
    if not m.iv_size:
        return ProbeResult(name, "conformance", "-", 0.0, "pass",
                           f"{m.name} has no IV: every packet uses the same keystream")
    if run.udp_salt_reuse:
        probe, salt = run.udp_salt_reuse[0]
        return ProbeResult(name, "conformance", "reused", 0.0, "fail",
                           f"reply IV/salt {salt[:8].hex()}... sent twice (first in {probe})")
    return ProbeResult(name, "conformance", "distinct", 0.0, "pass",
                       f"{len(run.udp_salts)} replies, every IV/salt distinct")


Probe = Callable[[Run], Awaitable[ProbeResult]]


def _not_2022(run: Run) -> str | None:
    if run.dialect.family == "2022":
        return "SIP022 3.1.3: a 2022 client sends the salt and headers in one write"
    if run.dialect.method.iv_size < 2:
        return f"{run.dialect.method.name} has no IV to split"
    return None


def _own_targets(run: Run) -> str | None:
    return None if run.targets.own else "needs the probe's own half-close target (no --target)"


def _always(run: Run) -> str | None:
    return None


#: (name, probe, why it cannot run here or None), in order.
TCP_PROBES: list[tuple[str, Probe, Callable[[Run], str | None]]] = [
    ("tcp-round-trip", round_trip, _always),
    ("tcp-1-byte-writes", one_byte_writes, _always),
    ("tcp-iv-split", split_salt, _not_2022),
    ("tcp-chunk-boundaries", chunk_boundaries, _always),
    ("tcp-bulk", bulk, _always),
    ("tcp-half-close-client", half_close_by_client, _always),
    ("tcp-half-close-target", half_close_by_target, _own_targets),
    ("tcp-concurrent", concurrent, _always),
]
UDP_PROBES: list[tuple[str, Probe, Callable[[Run], str | None]]] = [
    ("udp-sizes", udp_sizes, _always),
]
