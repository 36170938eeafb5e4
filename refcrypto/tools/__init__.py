"""Runnable Shadowsocks programs on refcrypto, and the address format they share.

* :mod:`refcrypto.tools.server`: a Shadowsocks server, TCP and UDP (asyncio);
* :mod:`refcrypto.tools.client`: a SOCKS5-to-Shadowsocks client, TCP (asyncio), written to
  be read next to the protocol description.

Both put the target address in front of the payload, in SOCKS5's address format (RFC 1928,
section 5) without SOCKS5's first three bytes (shadowsocks-org whitepaper, "Addressing")::

    +------+----------+----------+
    | ATYP | DST.ADDR | DST.PORT |
    +------+----------+----------+
    |  1   | Variable |    2     |
    +------+----------+----------+

ATYP 1: a 4-byte IPv4 address; 3: one length byte, then a host name; 4: a 16-byte IPv6
address. The port is big-endian.
"""

from __future__ import annotations

import ipaddress

__all__ = [
    "ATYP_DOMAIN",
    "ATYP_IPV4",
    "ATYP_IPV6",
    "AddressError",
    "pack_address",
    "parse_address",
    "parse_host_port",
]

ATYP_IPV4 = 1
ATYP_DOMAIN = 3
ATYP_IPV6 = 4

#: Longest possible encoded address: ATYP, length byte, 255-byte name, port.
MAX_ADDRESS_SIZE = 1 + 1 + 255 + 2


class AddressError(ValueError):
    """An address that cannot be encoded, or bytes that are not an address."""


def pack_address(host: str, port: int) -> bytes:
    """Encode ``host`` (an IP literal or a name) and ``port``.

    >>> pack_address("127.0.0.1", 8080).hex()
    '017f0000011f90'
    """
    if not 0 <= port <= 0xFFFF:
        raise AddressError(f"port {port} out of range")
    tail = port.to_bytes(2, "big")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:
            name = host.encode("idna")
        except UnicodeError as exc:
            raise AddressError(f"not a valid host name: {exc}") from None
        if not 0 < len(name) <= 255:
            raise AddressError(f"host name of {len(name)} bytes (1..255 allowed)") from None
        return bytes((ATYP_DOMAIN, len(name))) + name + tail
    atyp = ATYP_IPV4 if ip.version == 4 else ATYP_IPV6
    return bytes((atyp,)) + ip.packed + tail


def parse_address(data: bytes) -> tuple[str, int, int] | None:
    """Decode an address at the start of ``data``.

    Returns ``(host, port, size)`` with ``size`` the number of bytes it took, or ``None`` if
    ``data`` ends before the address does. Raises :class:`AddressError` for an unknown ATYP
    or a host name that is empty or not a valid (IDNA) name.

    >>> parse_address(bytes.fromhex("017f0000011f90") + b"GET /")
    ('127.0.0.1', 8080, 7)
    """
    if not data:
        return None
    atyp = data[0]
    if atyp == ATYP_IPV4:
        start, end = 1, 5
    elif atyp == ATYP_IPV6:
        start, end = 1, 17
    elif atyp == ATYP_DOMAIN:
        if len(data) < 2:
            return None
        if data[1] == 0:
            raise AddressError("empty host name")
        start, end = 2, 2 + data[1]
    else:
        raise AddressError(f"unknown address type {atyp}")
    if len(data) < end + 2:
        return None
    raw = data[start:end]
    try:
        host = raw.decode("idna") if atyp == ATYP_DOMAIN else str(ipaddress.ip_address(raw))
    except UnicodeError as exc:
        raise AddressError(f"not a valid host name: {exc}") from None
    return host, int.from_bytes(data[end : end + 2], "big"), end + 2


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8388"`` or ``"[::1]:8388"`` -> ``(host, port)`` (for command lines)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 0xFFFF:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)
