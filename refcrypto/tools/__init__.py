"""Runnable Shadowsocks programs on refcrypto, and what they share.

* :mod:`refcrypto.tools.server`: a Shadowsocks server, TCP and UDP (asyncio);
* :mod:`refcrypto.tools.client`: a SOCKS5-to-Shadowsocks client, TCP (CONNECT) and UDP (UDP
  ASSOCIATE), written to be read next to the protocol description.

Both speak every method of the table: the classic ones (stream and 2017 AEAD, keyed by a
password) and the Shadowsocks 2022 edition (SIP022, keyed by a base64 PSK; SIP023 identity
headers for several users behind one port). The edition is hidden behind one interface per
role, so neither tool's I/O code branches on it:

* :class:`ClientCipher` -- ``stream(target)`` for one TCP connection (``start``,
  ``encrypt``, ``decrypt``, ``finish``) and ``packets()`` for one UDP association
  (``seal``/``open``): :class:`~refcrypto.wire.ss2022.Cryptor2022` and
  :class:`~refcrypto.wire.ss2022.UdpClient2022` for 2022, the classic codecs otherwise;
* :class:`ServerCipher` -- ``stream()`` for one TCP connection (``decrypt`` until
  ``target`` is known, then ``encrypt``) and ``open_packet``/``seal_packet`` for UDP. For
  2022 it owns the server's one :class:`~refcrypto.wire.ss2022.SaltStore`, its
  :class:`~refcrypto.wire.ss2022.UdpServer2022` sessions and its SIP023 user table.

Both tools put the target address in front of the payload, in SOCKS5's address format
(RFC 1928, section 5) without SOCKS5's first three bytes (shadowsocks-org whitepaper,
"Addressing")::

    +------+----------+----------+
    | ATYP | DST.ADDR | DST.PORT |
    +------+----------+----------+
    |  1   | Variable |    2     |
    +------+----------+----------+

ATYP 1: a 4-byte IPv4 address; 3: one length byte, then a host name; 4: a 16-byte IPv6
address. The port is big-endian. (In 2022 the address sits inside the encrypted header; the
codecs of :mod:`refcrypto.wire.ss2022` read and write it.)

Also shared: :func:`method_warning` (what both tools log at start-up for ``rc4`` and the
legacy methods), :func:`reset` (how both end a connection whose encrypted stream failed),
:func:`psk_text` and :func:`parse_users` (the 2022 key and the server's ``--users`` file).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Mapping
from typing import Protocol

from ..methods import Method
from ..methods import method as lookup_method
from ..wire import master_key, new_decoder, new_encoder
from ..wire.ss2022 import Cryptor2022, SaltStore, UdpClient2022, UdpServer2022, UserTable
from ..wire.ss2022.keys import decode_psk, decode_psk_chain
from ..wire.udp import decrypt_packet, encrypt_packet

__all__ = [
    "ADDRESS_SIZES",
    "ATYP_DOMAIN",
    "ATYP_IPV4",
    "ATYP_IPV6",
    "AddressError",
    "ClientCipher",
    "ClientPackets",
    "ClientStream",
    "ServerCipher",
    "ServerStream",
    "method_warning",
    "pack_address",
    "parse_address",
    "parse_host_port",
    "parse_users",
    "psk_text",
    "read_users",
    "reset",
    "warn_about_method",
]

Address = tuple[str, int]

ATYP_IPV4 = 1
ATYP_DOMAIN = 3
ATYP_IPV6 = 4

#: Bytes of the address after ATYP, for the two fixed-size types.
ADDRESS_SIZES = {ATYP_IPV4: 4, ATYP_IPV6: 16}
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


#: Why ``rc4`` is worse than its legacy neighbours: it is the one stream method without an IV.
RC4_WARNING = (
    "rc4 has no IV: every session, both directions and every UDP packet share one keystream "
    "(XOR two ciphertexts and it cancels)"
)


def method_warning(method: Method) -> str | None:
    """The one-line start-up warning for ``method``, or ``None`` for a current method.

    ``rc4`` gets :data:`RC4_WARNING`; every row with ``legacy=True`` (``rc4`` included) says
    so with its ``legacy_reason``.

    >>> from refcrypto import method
    >>> method_warning(method("aes-256-gcm")) is None
    True
    """
    parts = [RC4_WARNING] if method.name == "rc4" else []
    if method.legacy:
        reason = f": {method.legacy_reason}" if method.legacy_reason else ""
        parts.append(f"{method.name} is a legacy method{reason}")
    if not parts:
        return None
    return "; ".join([*parts, "use an AEAD method (e.g. chacha20-ietf-poly1305)"])


def warn_about_method(method: str | Method, logger: logging.Logger) -> Method:
    """Look ``method`` up (raising ``UnknownMethod``), log its :func:`method_warning` (if
    any) at WARNING on ``logger``, and return its row."""
    row = lookup_method(method)
    warning = method_warning(row)
    if warning is not None:
        logger.warning("%s", warning)
    return row


def reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset (RST), discarding unsent data.

    For a connection whose encrypted peer stream failed (bad tag, cut inside a chunk): the
    other side must see an error, not the clean end of stream that ``close()`` sends (FIN).
    """
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # SO_LINGER {on, 0 s}: close() sends RST
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# --- Shadowsocks 2022 keys and users ---------------------------------------------------------


def psk_text(key: str | bytes) -> str:
    """A Shadowsocks 2022 key as the tools receive it (``-k``, ``REFCRYPTO_KEY``, or the bytes
    of ``--key-file``), as base64 text: a PSK, or a client's SIP023 chain ``iPSK:uPSK``.

    The 2022 codecs take ``bytes`` as the raw key, so the text of a key file must not reach
    them as bytes. Surrounding white space is dropped; raises ``ValueError`` for bytes that
    are not ASCII.

    >>> psk_text(b"AAECAwQFBgcICQoLDA0ODw==\\n")
    'AAECAwQFBgcICQoLDA0ODw=='
    """
    if isinstance(key, bytes):
        try:
            key = key.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("a Shadowsocks 2022 key is base64 text (e.g. `openssl rand "
                             "-base64 32`); the key given is not ASCII") from None
    return key.strip()


def parse_users(text: str, where: str = "users") -> dict[str, str]:
    """The users of a multi-user (SIP023) server: one ``name:base64-uPSK`` per line.

    Blank lines and lines starting with ``#`` are skipped and white space around a line is
    ignored. The name is everything before the last ``:`` (base64 has none), so it may hold
    ``:`` itself; it must not be empty, and no name may come twice. The keys are checked
    later, against the method (:class:`ServerCipher`). Raises ``ValueError`` naming the line.

    >>> parse_users("# name:uPSK\\nalice:AAECAwQFBgcICQoLDA0ODw==\\n")
    {'alice': 'AAECAwQFBgcICQoLDA0ODw=='}
    """
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, psk = line.rpartition(":")
        name, psk = name.strip(), psk.strip()
        if not sep or not name or not psk:
            raise ValueError(f"{where}, line {number}: expected NAME:BASE64-PSK, got {line!r}")
        if name in users:
            raise ValueError(f"{where}, line {number}: user {name!r} is listed twice")
        users[name] = psk
    if not users:
        raise ValueError(f"{where}: no users (one NAME:BASE64-PSK per line)")
    return users


def read_users(path: str | os.PathLike[str]) -> dict[str, str]:
    """:func:`parse_users` of the file at ``path`` (UTF-8); ``ValueError`` if it cannot be
    read."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read --users {os.fspath(path)}: {exc}") from None
    return parse_users(text, f"--users {os.fspath(path)}")


# --- the codecs behind both tools: one interface per role, both editions ----------------------


class ClientStream(Protocol):
    """One TCP connection, client side: what :meth:`ClientCipher.stream` returns."""

    def start(self) -> bytes:
        """The first bytes to send: salt or IV and the target address (2022: with padding)."""

    def encrypt(self, data: bytes) -> bytes: ...

    def decrypt(self, data: bytes) -> bytes: ...

    def finish(self) -> None:
        """End of the server's stream: raises if it stopped inside a salt, IV or chunk."""


class ServerStream(Protocol):
    """One TCP connection, server side: :meth:`decrypt` until :attr:`target` is set (what it
    returned after the address is payload), then both ways."""

    @property
    def target(self) -> Address | None: ...

    @property
    def user(self) -> str | None:
        """The SIP023 user's name once the headers are in (multi-user servers), else None."""

    def decrypt(self, data: bytes) -> bytes: ...

    def encrypt(self, data: bytes) -> bytes: ...

    def finish(self) -> None: ...


class ClientPackets(Protocol):
    """One UDP association, client side: what :meth:`ClientCipher.packets` returns."""

    def seal(self, payload: bytes, target: Address) -> bytes: ...

    def open(self, packet: bytes) -> tuple[Address, bytes]:
        """``(source, payload)`` of a reply; raises ``RefcryptoError`` or
        :class:`AddressError` for a packet to drop."""


class _ClassicClientStream:
    """Stream and 2017 AEAD methods: ``start()`` is ``encrypt(address)`` (the IV or salt
    goes with it); the server's IV or salt arrives with its first bytes."""

    __slots__ = ("__weakref__", "_address", "_decoder", "_encoder")

    def __init__(self, method: Method, key: bytes, target: Address) -> None:
        self._address = pack_address(*target)
        self._encoder = new_encoder(method, key)
        self._decoder = new_decoder(method, key)

    def start(self) -> bytes:
        address, self._address = self._address, b""
        return self._encoder.update(address)

    def encrypt(self, data: bytes) -> bytes:
        return self._encoder.update(data)

    def decrypt(self, data: bytes) -> bytes:
        return self._decoder.update(data)

    def finish(self) -> None:
        self._decoder.finish()


class _ClassicServerStream:
    """Stream and 2017 AEAD methods: the address is the start of the decrypted stream."""

    __slots__ = ("__weakref__", "_decoder", "_encoder", "_head", "target")

    #: Classic methods have no users.
    user = None

    def __init__(self, method: Method, key: bytes) -> None:
        self._decoder = new_decoder(method, key)
        self._encoder = new_encoder(method, key)
        self._head: bytes | None = b""
        self.target: Address | None = None

    def decrypt(self, data: bytes) -> bytes:
        plain = self._decoder.update(data)
        if self._head is None:
            return plain
        head = self._head + plain
        parsed = parse_address(head)  # AddressError for a bad address type or name
        if parsed is None:
            self._head = head
            return b""
        host, port, size = parsed
        self.target, self._head = (host, port), None
        return head[size:]

    def encrypt(self, data: bytes) -> bytes:
        return self._encoder.update(data)

    def finish(self) -> None:
        self._decoder.finish()


class _ClassicClientPackets:
    """One packet, one ``[salt or IV][address][payload]``: no state between packets."""

    __slots__ = ("__weakref__", "_key", "_method")

    def __init__(self, method: Method, key: bytes) -> None:
        self._method, self._key = method, key

    def seal(self, payload: bytes, target: Address) -> bytes:
        iv = os.urandom(self._method.iv_size)
        return encrypt_packet(self._method, self._key, pack_address(*target) + payload, iv)

    def open(self, packet: bytes) -> tuple[Address, bytes]:
        return _split_address(decrypt_packet(self._method, self._key, packet))


class _ClientPackets2022:
    """One :class:`UdpClient2022` session per association (SIP022 3.2)."""

    __slots__ = ("__weakref__", "_session")

    def __init__(self, session: UdpClient2022) -> None:
        self._session = session

    def seal(self, payload: bytes, target: Address) -> bytes:
        return self._session.encrypt(payload, target)

    def open(self, packet: bytes) -> tuple[Address, bytes]:
        datagram = self._session.decrypt(packet)
        return datagram.address, datagram.payload


def _split_address(plain: bytes) -> tuple[Address, bytes]:
    parsed = parse_address(plain)
    if parsed is None:
        raise AddressError("packet ends inside the address")
    host, port, size = parsed
    return (host, port), plain[size:]


def _check_2022_psk(method: Method, key: str | bytes, *, chain: bool) -> str:
    psk = psk_text(key)
    if chain:
        decode_psk_chain(psk, method)
    elif ":" in psk:
        raise ValueError(f"{method.name}: a server takes one PSK (its identity PSK when it has "
                         "users); give the users' PSKs with --users")
    else:
        decode_psk(psk, method)
    return psk


class ClientCipher:
    """A client's method and key: a :class:`ClientStream` per TCP connection and a
    :class:`ClientPackets` per UDP association, for either edition.

    * classic methods: ``key`` is the password (its master key is derived once here);
    * 2022 methods: ``key`` is the base64 PSK, or ``iPSK:uPSK`` (SIP023; AES methods) for a
      multi-user server. Response salts go into one :class:`SaltStore` (SIP022 3.1.4 asks
      clients to store incoming salts too).

    Raises ``RefcryptoError`` (``InvalidPSK``, ``UnknownMethod``...) or ``ValueError`` for a
    key the method cannot take.

    >>> cipher = ClientCipher("2022-blake3-aes-128-gcm", "AAECAwQFBgcICQoLDA0ODw==")
    >>> first = cipher.stream(("example.com", 80)).start()
    >>> len(first) > 16 + 11 + 16   # salt, fixed-length header, variable-length header
    True
    """

    __slots__ = ("__weakref__", "_key", "_psk", "_salts", "method")

    def __init__(self, method: str | Method, key: str | bytes) -> None:
        self.method = lookup_method(method)
        self._psk: str | None = None
        self._salts: SaltStore | None = None
        self._key = b""
        if self.method.is_2022:
            self._psk = _check_2022_psk(self.method, key, chain=True)
            self._salts = SaltStore()
        else:
            self._key = master_key(key, self.method)

    def stream(self, target: Address) -> ClientStream:
        """The codec of one TCP connection to ``target``."""
        if self._psk is not None:
            return Cryptor2022(self._psk, self.method, role="client", target=target,
                               salts=self._salts)
        return _ClassicClientStream(self.method, self._key, target)

    def packets(self) -> ClientPackets:
        """The codec of one UDP association (2022: one client session)."""
        if self._psk is not None:
            return _ClientPackets2022(UdpClient2022(self._psk, self.method))
        return _ClassicClientPackets(self.method, self._key)


class ServerCipher:
    """A server's method and key: a :class:`ServerStream` per TCP connection, and its UDP
    packets, for either edition.

    * classic methods: ``key`` is the password; a UDP packet carries no session
      (:meth:`open_packet` returns ``None`` for it, and the server keys its relays by the
      client's address);
    * 2022 methods: ``key`` is the base64 PSK, or with ``users`` (name -> base64 uPSK;
      SIP023, AES methods) the server's identity PSK. The cipher owns the server's one
      :class:`SaltStore` (:attr:`salts`, shared by every TCP connection: replayed salts and
      timestamps over 30 s away are refused by the decoder) and one
      :class:`UdpServer2022` (sessions, sliding windows; idle sessions forgotten after
      ``session_timeout`` seconds, at least 60).

    >>> server = ServerCipher("2022-blake3-aes-128-gcm", "AAECAwQFBgcICQoLDA0ODw==")
    >>> client = ClientCipher("2022-blake3-aes-128-gcm", "AAECAwQFBgcICQoLDA0ODw==")
    >>> stream = server.stream()
    >>> stream.decrypt(client.stream(("example.com", 80)).start()), stream.target
    (b'', ('example.com', 80))
    """

    __slots__ = ("__weakref__", "_key", "_psk", "_udp", "_users", "method", "salts")

    def __init__(self, method: str | Method, key: str | bytes, *,
                 users: Mapping[str, str] | None = None, session_timeout: int = 300) -> None:
        self.method = lookup_method(method)
        self._psk: str | None = None
        self._users: UserTable | None = None
        self._udp: UdpServer2022 | None = None
        self._key = b""
        #: The server's salt store (2022 methods), else ``None``.
        self.salts: SaltStore | None = None
        if not self.method.is_2022:
            if users:
                raise ValueError(f"{self.method.name}: users (SIP023) are for the 2022 AES "
                                 "methods only")
            self._key = master_key(key, self.method)
            return
        self._psk = _check_2022_psk(self.method, key, chain=False)
        if users:
            self._users = UserTable(self.method, dict(users))  # checks every uPSK
        self.salts = SaltStore()
        self._udp = UdpServer2022(self._psk, self.method, users=self._users,
                                  session_timeout=max(60, int(session_timeout)))

    @property
    def users(self) -> list[str]:
        """The SIP023 users' names (empty for a single-user server)."""
        return self._users.names() if self._users is not None else []

    def stream(self) -> ServerStream:
        """The codec of one TCP connection."""
        if self._psk is not None:
            return Cryptor2022(self._psk, self.method, role="server", salts=self.salts,
                               users=self._users)
        return _ClassicServerStream(self.method, self._key)

    def open_packet(self, packet: bytes) -> tuple[int | None, Address, bytes]:
        """``(client session, target, payload)`` of a client's packet (session ``None`` for
        the classic methods); raises ``RefcryptoError`` or :class:`AddressError` for a
        packet to drop."""
        if self._udp is None:
            target, payload = _split_address(decrypt_packet(self.method, self._key, packet))
            return None, target, payload
        datagram = self._udp.decrypt(packet)
        return datagram.session_id, datagram.address, datagram.payload

    def seal_packet(self, session: int | None, source: Address, payload: bytes) -> bytes:
        """A reply carrying ``payload`` from ``source`` to client ``session``
        (2022: ``HandshakeIncomplete`` if the session was forgotten)."""
        if self._udp is None:
            iv = os.urandom(self.method.iv_size)
            return encrypt_packet(self.method, self._key, pack_address(*source) + payload, iv)
        assert session is not None
        return self._udp.encrypt(session, payload, source)
