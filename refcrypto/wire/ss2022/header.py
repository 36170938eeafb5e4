"""Pieces shared by the Shadowsocks 2022 headers: types, timestamps, padding, SOCKS addresses.

SIP022 3.1.3 and 3.2.3:

* the type byte: 0 from the client, 1 from the server;
* the timestamp: u64 big-endian Unix seconds; a header more than 30 s away from the
  receiver's clock MUST be treated as a replay;
* the target (or, server to client on UDP, the source) in SOCKS5 form (RFC 1928, 5)::

      +------+----------------------------------+-------+
      | ATYP | address                          | port  |
      +------+----------------------------------+-------+
      | 0x01 | 4 bytes IPv4                     | u16be |
      | 0x03 | 1 byte length n, n bytes of name | u16be |
      | 0x04 | 16 bytes IPv6                    | u16be |
      +------+----------------------------------+-------+

The clock is injectable everywhere: any callable returning integer Unix seconds, so wire
vectors are reproducible and the 30-second rule can be tested at its edges.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable

from ...errors import HeaderOverrun, InvalidAddress, InvalidTimestamp
from ...primitives.base import bytes_of

__all__ = [
    "MAX_PADDING",
    "MAX_TIME_DIFFERENCE",
    "TYPE_CLIENT",
    "TYPE_SERVER",
    "Address",
    "Clock",
    "bytes_arg",
    "check_timestamp",
    "encode_address",
    "parse_address",
    "random_padding_length",
    "system_clock",
]

#: Header type of client-to-server streams and packets (SIP022 3.1.3, 3.2.3).
TYPE_CLIENT = 0
#: Header type of server-to-client streams and packets.
TYPE_SERVER = 1
#: Largest request padding (SIP022 3.1.3 ``MaxPaddingLength``).
MAX_PADDING = 900
#: Largest accepted ``abs(timestamp - now)``, in seconds (SIP022 3.1.3: "over 30 seconds").
MAX_TIME_DIFFERENCE = 30

#: A SOCKS address: (host, port); host is an IP literal or a domain name.
Address = tuple[str, int]
#: Returns the current time in whole Unix seconds.
Clock = Callable[[], int]

_ATYP_IPV4 = 1
_ATYP_DOMAIN = 3
_ATYP_IPV6 = 4


def system_clock() -> int:
    """The system's Unix time in whole seconds (the default clock)."""
    return int(time.time())


def bytes_arg(value: object, what: str) -> bytes:
    """``value`` as an immutable ``bytes`` holding all its bytes, for any object with the
    buffer protocol (a ``memoryview`` of wider items, an ``array.array``: its ``nbytes``
    bytes); anything else raises ``TypeError`` naming ``what`` (``"<method>: data"``) and the
    type received. :func:`refcrypto.primitives.base.bytes_of`, as the classic codecs use it."""
    if type(value) is bytes:
        return value
    return bytes_of(value, what)


def check_timestamp(what: str, timestamp: int, now: int) -> None:
    """Raise :class:`InvalidTimestamp` if ``timestamp`` is more than 30 s from ``now``
    (exactly 30 s is accepted, as sing-box and shadowsocks-rust do)."""
    if abs(now - timestamp) > MAX_TIME_DIFFERENCE:
        raise InvalidTimestamp(
            f"{what}: timestamp {timestamp} is {timestamp - now:+d} s from this clock "
            f"({now}); more than {MAX_TIME_DIFFERENCE} s is a replay (SIP022 3.1.3)"
        )


def random_padding_length(payload_size: int) -> int:
    """The padding a client adds, as sing-box does: 1..900 random bytes when the payload is
    shorter than 900 bytes (always, then, when there is none: SIP022 3.1.3), else none."""
    if payload_size < MAX_PADDING:
        return 1 + secrets.randbelow(MAX_PADDING)
    return 0


def encode_address(address: object) -> bytes:
    """``(host, port)`` in SOCKS5 form: IPv4 and IPv6 literals as such, anything else as a
    domain name (UTF-8, 1..255 bytes)."""
    host: object = None
    port: object = None
    if isinstance(address, tuple) and len(address) == 2:
        host, port = address
    if not isinstance(host, str) or type(port) is not int:
        raise TypeError(f"address must be a (host: str, port: int) tuple, not {address!r}")
    if not 0 <= port <= 0xFFFF:
        raise InvalidAddress(f"port must be 0..65535, got {port}")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("utf-8")
        if not 1 <= len(name) <= 255:
            raise InvalidAddress(
                f"domain name must be 1..255 bytes, got {len(name)}: {host[:60]!r}"
            ) from None
        return bytes((_ATYP_DOMAIN, len(name))) + name + port.to_bytes(2, "big")
    atyp = _ATYP_IPV4 if ip.version == 4 else _ATYP_IPV6
    return bytes((atyp,)) + ip.packed + port.to_bytes(2, "big")


def parse_address(data: bytes, pos: int, end: int, what: str) -> tuple[Address, int]:
    """Read a SOCKS address from ``data[pos:end]``; return it and the position after it.

    :class:`HeaderOverrun` if it runs past ``end``, :class:`InvalidAddress` for an unknown
    ATYP, an empty name or a name that is not UTF-8.
    """
    if pos >= end:
        raise HeaderOverrun(f"{what}: header ends before the address type")
    atyp = data[pos]
    if atyp == _ATYP_IPV4:
        size, start = 4, pos + 1
    elif atyp == _ATYP_IPV6:
        size, start = 16, pos + 1
    elif atyp == _ATYP_DOMAIN:
        if pos + 1 >= end:
            raise HeaderOverrun(f"{what}: header ends inside the address")
        size, start = data[pos + 1], pos + 2
        if size == 0:
            raise InvalidAddress(f"{what}: empty domain name in the address")
    else:
        raise InvalidAddress(f"{what}: unknown address type 0x{atyp:02x} (not 1, 3 or 4)")
    stop = start + size + 2
    if stop > end:
        raise HeaderOverrun(
            f"{what}: address needs {stop - pos} bytes, the header has {end - pos} left"
        )
    raw = data[start : start + size]
    if atyp == _ATYP_DOMAIN:
        try:
            host = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidAddress(f"{what}: domain name is not UTF-8: {raw[:60]!r}") from None
    else:
        host = str(ipaddress.ip_address(raw))
    return (host, int.from_bytes(data[stop - 2 : stop], "big")), stop
