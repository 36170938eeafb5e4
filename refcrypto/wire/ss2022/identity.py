"""SIP023 extensible identity headers: several users (and relays) behind one port.

A client holds a chain ``iPSK0 : iPSK1 : ... : uPSK`` and sends one 16-byte identity header
per iPSK, each naming the next key of the chain by ``blake3::hash(next PSK)[0..16]``; a
layer (relay or multi-user server) opens its own header with its iPSK, looks the hash up in
its table and hands the rest on. AES methods only.

TCP: the identity headers sit between the salt and the first AEAD chunk::

    +--------+------------------+------------------+-----+---------------------------+
    |  salt  | identity header0 | identity header1 | ... | fixed-length header chunk |
    | 16/32B |       16B        |       16B        |     |  (sealed under the uPSK)  |
    +--------+------------------+------------------+-----+---------------------------+

    identity_subkey_i = blake3::derive_key("shadowsocks 2022 identity subkey", iPSK_i || salt)
    identity_header_i = AES-ECB(identity_subkey_i, blake3::hash(PSK_i+1)[0..16])

UDP: they sit between the separate header and the AEAD body, under the iPSK itself, XORed
with the plaintext separate header so that every packet's differ; the separate header is
encrypted with iPSK0, and each layer re-encrypts it under the next key::

    +-------------------------------+------------------+-----+---------------------------+
    | AES(iPSK0, session ID | pkt ID)| identity header0 | ... | AEAD body (uPSK subkey)   |
    +-------------------------------+------------------+-----+---------------------------+

    identity_header_i = AES-ECB(iPSK_i, blake3::hash(PSK_i+1)[0..16] XOR separate_header)

Responses (TCP and UDP) carry no identity header and are sealed with the user's PSK, the
UDP separate header included (sing-box; SIP023 leaves it unsaid), so that relays forward
them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

from ...errors import InvalidPSK, MethodNotImplemented, TruncatedData, UnknownUser
from ...methods import Method
from ...primitives.base import Buffer
from ...primitives.blocks import AES
from .header import bytes_arg
from .keys import PSK, PSK_HASH_SIZE, decode_psk, identity_subkey, method_2022, psk_hash

__all__ = [
    "IDENTITY_HEADER_SIZE",
    "IdentityRelay",
    "UserTable",
    "open_tcp_identity",
    "open_udp_identity",
    "tcp_identity_headers",
    "udp_identity_headers",
]

#: One identity header: one AES block.
IDENTITY_HEADER_SIZE = 16


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _require_aes(method: Method) -> None:
    if not method.name.startswith("2022-blake3-aes-"):
        raise MethodNotImplemented(
            f"{method.name}: identity headers (SIP023) are defined for the AES methods only"
        )


class UserTable:
    """Names by PSK hash: a multi-user server's users (name -> uPSK), or a relay's next hops
    (name -> the next layer's iPSK, or a plain server's PSK).

    Built once and shared by every connection: it hashes each PSK (BLAKE3) up front.
    """

    __slots__ = ("__weakref__", "_by_hash", "method")

    def __init__(self, method: Method | str, psks: Mapping[str, PSK]) -> None:
        row = method_2022(method)
        _require_aes(row)
        if not isinstance(psks, Mapping):
            raise TypeError(f"psks must be a mapping of name -> PSK, not {type(psks).__name__}")
        self.method = row
        self._by_hash: dict[bytes, tuple[str, bytes]] = {}
        for name, psk in psks.items():
            if not isinstance(name, str):
                raise TypeError(f"user names must be str, not {type(name).__name__}")
            key = decode_psk(psk, row)
            digest = psk_hash(key)
            if digest in self._by_hash:
                raise InvalidPSK(
                    f"{row.name}: users {self._by_hash[digest][0]!r} and {name!r} have the same "
                    "PSK; identity headers could not tell them apart"
                )
            self._by_hash[digest] = (name, key)

    def __len__(self) -> int:
        return len(self._by_hash)

    def names(self) -> list[str]:
        """The names, in the order given."""
        return [name for name, _ in self._by_hash.values()]

    def lookup(self, digest: bytes) -> tuple[str, bytes]:
        """``(name, PSK)`` of the PSK whose hash is ``digest``; :class:`UnknownUser` if none."""
        try:
            return self._by_hash[digest]
        except KeyError:
            raise UnknownUser(
                f"{self.method.name}: identity header names no PSK of this table "
                f"({len(self._by_hash)} entries): unknown user, or a wrong iPSK"
            ) from None


def tcp_identity_headers(chain: tuple[bytes, ...], salt: bytes) -> bytes:
    """The TCP identity headers of a PSK chain: one per iPSK (none for a single PSK)."""
    headers = []
    for ipsk, following in pairwise(chain):
        cipher = AES(identity_subkey(ipsk, salt))
        headers.append(cipher.encrypt_block(psk_hash(following)))
    return b"".join(headers)


def open_tcp_identity(ipsk: bytes, salt: bytes, header: bytes) -> bytes:
    """The PSK hash in a TCP identity header (SIP023)."""
    return AES(identity_subkey(ipsk, salt)).decrypt_block(header)


def udp_identity_headers(
    chain: tuple[bytes, ...], hashes: tuple[bytes, ...], separate_header: bytes
) -> bytes:
    """The UDP identity headers of a PSK chain for one packet; ``hashes[i]`` is the hash of
    ``chain[i + 1]`` (computed once per client)."""
    return b"".join(
        AES(ipsk).encrypt_block(_xor(digest, separate_header))
        for ipsk, digest in zip(chain, hashes, strict=True)
    )


def open_udp_identity(cipher: AES, header: bytes, separate_header: bytes) -> bytes:
    """The PSK hash in a UDP identity header, ``cipher`` being AES under the iPSK."""
    return _xor(cipher.decrypt_block(header), separate_header)


class IdentityRelay:
    """A SIP023 relay layer (sans-I/O): opens the first identity header with its iPSK, finds
    the next hop in its table and gives back what to forward to it.

    It authenticates nothing (it holds no key of the user's): a wrong header raises
    :class:`UnknownUser`; anything else is left to the server behind it.
    """

    __slots__ = ("__weakref__", "_aes", "_ipsk", "method", "routes")

    def __init__(self, ipsk: PSK, method: Method | str, routes: UserTable) -> None:
        row = method_2022(method)
        _require_aes(row)
        if not isinstance(routes, UserTable):
            raise TypeError(f"routes must be a UserTable, not {type(routes).__name__}")
        if routes.method is not row:
            raise TypeError(f"routes are for {routes.method.name}, the relay for {row.name}")
        self.method = row
        self.routes = routes
        self._ipsk = decode_psk(ipsk, row)
        self._aes = AES(self._ipsk)

    @property
    def tcp_head_size(self) -> int:
        """Bytes :meth:`route_tcp` needs: the salt and one identity header."""
        return self.method.salt_size + IDENTITY_HEADER_SIZE

    def route_tcp(self, head: Buffer) -> tuple[str, bytes]:
        """``(next hop, bytes to send it)`` for the start of a request stream: the salt and
        everything after this layer's identity header. Later bytes go on unchanged, and so
        does the response stream."""
        head = bytes_arg(head, f"{self.method.name}: head")
        size = self.method.salt_size
        if len(head) < size + IDENTITY_HEADER_SIZE:
            raise TruncatedData(
                f"{self.method.name}: relay needs the salt and an identity header "
                f"({size + IDENTITY_HEADER_SIZE} bytes), got {len(head)}"
            )
        salt = head[:size]
        digest = open_tcp_identity(self._ipsk, salt, head[size : size + IDENTITY_HEADER_SIZE])
        name, _ = self.routes.lookup(digest)
        return name, salt + head[size + IDENTITY_HEADER_SIZE :]

    def route_udp(self, packet: Buffer) -> tuple[str, bytes]:
        """``(next hop, packet to send it)``: the separate header re-encrypted under the next
        hop's PSK in place of this layer's identity header, then the rest unchanged."""
        packet = bytes_arg(packet, f"{self.method.name}: packet")
        if len(packet) < 2 * PSK_HASH_SIZE:
            raise TruncatedData(
                f"{self.method.name}: relay needs the separate header and an identity header "
                f"(32 bytes), got {len(packet)}"
            )
        separate = self._aes.decrypt_block(packet[:16])
        name, next_psk = self.routes.lookup(open_udp_identity(self._aes, packet[16:32], separate))
        return name, AES(next_psk).encrypt_block(separate) + packet[32:]
