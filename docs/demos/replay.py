"""Replays: a recorded connection sent again, against servers with and without a salt filter.

    python docs/demos/replay.py

Authentication says who made the bytes, not when: a recorded 2017 AEAD connection is still
a valid connection the second time, so a server without memory runs it again (a money
transfer twice, or, for an active prober, proof that this is a Shadowsocks server). This
script uses the sans-I/O codecs and a tiny in-process server loop, so everything is
deterministic (fixed salts, an injected clock):

1. 2017 AEAD, no filter: the replay is served like the original;
2. 2017 AEAD with an exact filter of every salt seen: the replay is refused, but the filter
   must remember salts for ever; any bounded filter (or a restart) forgets, and a recording
   older than its memory passes again;
3. the 2022 edition (SIP022 3.1.4): a timestamp in the first header, checked within 30 s,
   and a salt store that keeps every salt for 60 s, both mandatory: a replay inside 60 s
   meets the store (``ReplayedSalt``), a later one meets the clock (``InvalidTimestamp``);
   UDP packets have IDs checked against a sliding window (``ReplayedPacket``).
"""

from __future__ import annotations

import base64
import sys
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import refcrypto  # noqa: E402
from refcrypto.tools import pack_address, parse_address  # noqa: E402

PASSWORD = "correct horse"
METHOD = "chacha20-ietf-poly1305"
REQUEST = b"POST /transfer?to=mallory&amount=100 HTTP/1.1\r\nHost: bank.example\r\n\r\n"
TARGET = ("bank.example", 443)


class TinyServer:
    """Decrypts one whole connection, connects to nothing: it records what the target
    would have received. ``memory`` bounds the salt filter (``None``: no filter; 0: no
    limit)."""

    def __init__(self, memory: int | None) -> None:
        self.key = refcrypto.master_key(PASSWORD, METHOD)
        self.memory = memory
        self.salts: OrderedDict[bytes, None] = OrderedDict()
        self.delivered: list[bytes] = []

    def connection(self, stream: bytes) -> str:
        decoder = refcrypto.new_decoder(METHOD, self.key)
        try:
            plain = decoder.update(stream)
            decoder.finish()
        except refcrypto.RefcryptoError as exc:
            return f"refused: {exc}"
        salt = decoder.salt
        assert salt is not None
        if self.memory is not None:  # after authentication, as SIP022 3.1.4 orders it
            if salt in self.salts:
                return f"refused: salt {salt[:4].hex()}... seen before"
            self.salts[salt] = None
            if self.memory and len(self.salts) > self.memory:
                self.salts.popitem(last=False)  # a bounded filter forgets the oldest
        parsed = parse_address(plain)
        assert parsed is not None
        host, port, size = parsed
        self.delivered.append(plain[size:])
        return f"served: {plain[size:].split(b' HTTP')[0].decode()} to {host}:{port}"


def classic() -> None:
    victim = refcrypto.Cryptor(PASSWORD, METHOD, iv=bytes(range(32)))
    recording = victim.encrypt(pack_address(*TARGET) + REQUEST)
    print(f"recorded: one {METHOD} connection, {len(recording)} bytes")

    print("\n1. A server without a salt filter")
    server = TinyServer(memory=None)
    for attempt in ("original", "replay", "replay"):
        print(f"  {attempt:8}  {server.connection(recording)}")
    print(f"  the bank received the transfer {len(server.delivered)} times")

    print("\n2. A server with a salt filter (every salt it has seen)")
    server = TinyServer(memory=0)
    for attempt in ("original", "replay"):
        print(f"  {attempt:8}  {server.connection(recording)}")

    print("\n   ...but a filter that keeps 1000 salts, after 1000 other connections")
    server = TinyServer(memory=1000)
    print(f"  original  {server.connection(recording)}")
    for n in range(1000):
        other = refcrypto.Cryptor(PASSWORD, METHOD, iv=n.to_bytes(32, "big"))
        server.connection(other.encrypt(pack_address(*TARGET) + b"GET / HTTP/1.1\r\n\r\n"))
    print(f"  replay    {server.connection(recording)}")


def edition_2022() -> None:
    name = "2022-blake3-aes-256-gcm"
    psk = base64.b64encode(bytes(range(32))).decode()
    start = 1_767_225_600
    client = refcrypto.Cryptor2022(psk, name, role="client", target=TARGET, salt=bytes(32),
                                   clock=lambda: start, padding=0)
    recording = client.encrypt(REQUEST)
    store = refcrypto.SaltStore()  # one per server, shared by all its connections
    print(f"\n3. The 2022 edition ({name}): timestamps and a 60-second salt store")
    for label, delay in (("original", 0), ("replay", 10), ("replay", 29), ("replay", 31),
                         ("replay", 61), ("replay", 3600)):
        server = refcrypto.Cryptor2022(psk, name, role="server", salts=store,
                                       clock=lambda delay=delay: start + delay)
        try:
            server.decrypt(recording)
            result = f"served: to {server.target[0]}:{server.target[1]}"  # type: ignore[index]
        except refcrypto.ReplayError as exc:
            result = f"refused: {type(exc).__name__}"
        print(f"  {label:8} at +{delay:<4} s  {result}")

    udp_client = refcrypto.UdpClient2022(psk, name, session_id=7, clock=lambda: start)
    udp_server = refcrypto.UdpServer2022(psk, name, clock=lambda: start)
    packet = udp_client.encrypt(b"query", ("192.0.2.53", 53), padding=0)
    udp_server.decrypt(packet)
    try:
        udp_server.decrypt(packet)
        outcome = "served again"
    except refcrypto.ReplayedPacket as exc:
        outcome = f"refused: ReplayedPacket ({exc})"
    print(f"  UDP packet sent twice: {outcome}")


def main() -> int:
    classic()
    edition_2022()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
