"""What the probe needs to speak a method as a client: one codec per TCP connection, UDP
packets, and where the fields of a request sit (for the bit flips).

Everything is refcrypto's own strict codecs: a server's bytes that a decoder refuses (a
wrong nonce sequence, an oversized chunk, a bad header, a reused 2022 salt) end the probe
that received them with the decoder's message, which names what was wrong.

Three families, as the method table has them:

* ``stream``: ``IV || E(address || data)``; nothing authenticates;
* ``aead`` (SIP004, SIP007): ``salt || [len][tag] [payload][tag] ...``, chunks of at most
  0x3FFF bytes;
* ``2022`` (SIP022): ``salt || [fixed header][tag] [variable header][tag] ...``, chunks of
  at most 0xFFFF bytes, timestamps, typed headers, the request salt echoed in the response.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable

from ..methods import Method
from ..tools import AddressError, pack_address, parse_address, psk_text
from ..wire import master_key, new_decoder, new_encoder
from ..wire.aead import LENGTH_SIZE
from ..wire.aead import MAX_CHUNK_PAYLOAD as AEAD_MAX_CHUNK
from ..wire.source import OWN
from ..wire.ss2022 import Cryptor2022, SaltStore, UdpClient2022
from ..wire.ss2022.header import TYPE_CLIENT, encode_address
from ..wire.ss2022.keys import decode_psk
from ..wire.ss2022.tcp import (
    MAX_CHUNK_PAYLOAD as SS2022_MAX_CHUNK,
)
from ..wire.ss2022.tcp import (
    NONCE_SIZE,
    REQUEST_FIXED_HEADER_SIZE,
    new_session_aead,
)
from ..wire.udp import decrypt_packet, encrypt_packet

__all__ = [
    "FAMILIES",
    "MAX_UDP_DATAGRAM",
    "ClientStream",
    "Dialect",
    "UdpCodec",
    "family_of",
]

Address = tuple[str, int]

#: The three method families, as reports name them.
FAMILIES = ("stream", "aead", "2022")
#: Largest UDP payload over IPv4 (65535 - 20-byte IP header - 8-byte UDP header).
MAX_UDP_DATAGRAM = 65507
#: Address types a decrypted stream may start with (SOCKS5: IPv4, name, IPv6).
VALID_ATYPS = (1, 3, 4)
#: Python shadowsocks and shadowsocks-libev read the address type through this mask (its
#: high bits once flagged one-time auth), so for them 3 random bytes in 16 name an address.
ATYP_MASK = 0x0F


def names_address_type(first: int) -> bool:
    """Whether a decrypted first byte names an address type for some server (masked)."""
    return (first & ATYP_MASK) in VALID_ATYPS


def family_of(method: Method) -> str:
    """``"stream"``, ``"aead"`` or ``"2022"``."""
    if method.is_2022:
        return "2022"
    return "aead" if method.is_aead else "stream"


class ClientStream:
    """One TCP connection, client side: :meth:`first` (the request header and the first
    data, one write), then :meth:`encrypt`; :meth:`decrypt` and :meth:`finish` for the
    server's stream. Classic methods use the codecs of :func:`refcrypto.new_encoder` and
    :func:`refcrypto.new_decoder`; 2022 a client :class:`refcrypto.Cryptor2022`."""

    __slots__ = ("__weakref__", "_cryptor", "_decoder", "_encoder", "_target", "request_salt")

    def __init__(self, dialect: Dialect, target: Address, *, salt: bytes | None = None,
                 clock: Callable[[], int] | None = None, padding: int | None = None,
                 key: bytes | str | None = None) -> None:
        method = dialect.method
        self._target = target
        self._cryptor: Cryptor2022 | None = None
        if method.is_2022:
            psk = dialect.psk if key is None else key
            self._cryptor = Cryptor2022(psk, method, role="client", target=target, salt=salt,
                                        clock=clock, padding=padding, salts=dialect.salts)
            self.request_salt = self._cryptor.salt
            self._encoder = self._decoder = None
        else:
            master = dialect.master if key is None else master_key(key, method)
            iv = salt if salt is not None else os.urandom(method.iv_size)
            self._encoder = new_encoder(method, master, iv)
            self._decoder = new_decoder(method, master)
            #: The IV or salt this client sends.
            self.request_salt = bytes(iv)

    def first(self, data: bytes) -> bytes:
        """The request's first write: salt or IV, the target address (2022: in the header),
        and ``data`` (must not be empty for 2022 with ``padding=0``)."""
        if self._cryptor is not None:
            return self._cryptor.encrypt(data) if data else self._cryptor.start()
        assert self._encoder is not None
        return self._encoder.update(pack_address(*self._target) + data)

    def encrypt(self, data: bytes) -> bytes:
        if self._cryptor is not None:
            return self._cryptor.encrypt(data)
        assert self._encoder is not None
        return self._encoder.update(data)

    def decrypt(self, data: bytes) -> bytes:
        if self._cryptor is not None:
            return self._cryptor.decrypt(data)
        assert self._decoder is not None
        return self._decoder.update(data)

    def finish(self) -> None:
        if self._cryptor is not None:
            self._cryptor.finish()
        else:
            assert self._decoder is not None
            self._decoder.finish()


class UdpCodec:
    """UDP packets of one client: :meth:`seal` a payload to a target, :meth:`open` a reply
    (strictly: a reply that does not decrypt, or names no address, raises)."""

    __slots__ = ("__weakref__", "_client", "_master", "_method")

    def __init__(self, dialect: Dialect, *, clock: Callable[[], int] | None = None,
                 key: bytes | str | None = None) -> None:
        self._method = dialect.method
        self._client: UdpClient2022 | None = None
        self._master = b""
        if self._method.is_2022:
            psk = dialect.psk if key is None else key
            self._client = UdpClient2022(psk, self._method, clock=clock)
        else:
            self._master = dialect.master if key is None else master_key(key, self._method)

    @property
    def session_id(self) -> int | None:
        """The 2022 client session ID (``None`` for classic methods)."""
        return self._client.session_id if self._client is not None else None

    def seal(self, payload: bytes, target: Address) -> bytes:
        if self._client is not None:
            return self._client.encrypt(payload, target, padding=0)
        iv = os.urandom(self._method.iv_size)
        return encrypt_packet(self._method, self._master, pack_address(*target) + payload, iv)

    def open(self, packet: bytes) -> tuple[Address, bytes, int | None]:
        """``(source, payload, server session ID or None)``; raises ``RefcryptoError`` or
        :class:`~refcrypto.tools.AddressError`."""
        if self._client is not None:
            datagram = self._client.decrypt(packet)
            return datagram.address, datagram.payload, datagram.session_id
        plain = decrypt_packet(self._method, self._master, packet)
        parsed = parse_address(plain)
        if parsed is None:
            raise AddressError("UDP reply ends inside its address")
        host, port, size = parsed
        return (host, port), plain[size:], None


class Dialect:
    """A method and its key, as the probe speaks them.

    ``key`` is the password of a classic method, or the base64 PSK of a 2022 method (text,
    or the bytes of a key file). Raises ``RefcryptoError`` (``InvalidPSK``...) or
    ``ValueError`` for a key the method cannot take.
    """

    __slots__ = ("__weakref__", "family", "master", "method", "psk", "salts")

    def __init__(self, method: Method, key: str | bytes) -> None:
        self.method = method
        #: ``"stream"``, ``"aead"`` or ``"2022"``.
        self.family = family_of(method)
        self.master = b""
        self.psk = ""
        #: 2022: every response salt the probe received (SIP022 3.1.4 asks clients to store
        #: them too), so a server that reuses one fails in the decoder with ``ReplayedSalt``.
        self.salts: SaltStore | None = None
        if method.is_2022:
            self.psk = psk_text(key)
            decode_psk(self.psk, method)  # InvalidPSK now, not in the middle of a probe
            self.salts = SaltStore()
        else:
            self.master = master_key(key, method)

    # --- sizes ---------------------------------------------------------------------------

    @property
    def max_chunk(self) -> int | None:
        """Largest payload of one chunk (``None``: stream methods have no chunks)."""
        if self.family == "2022":
            return SS2022_MAX_CHUNK
        return AEAD_MAX_CHUNK if self.family == "aead" else None

    @property
    def first_chunk(self) -> int:
        """Bytes a server needs before it can decrypt anything: the IV and the address type
        (stream), the salt and the sealed length (AEAD), the salt and the sealed
        fixed-length header (2022)."""
        m = self.method
        if self.family == "stream":
            return m.iv_size + 1
        if self.family == "aead":
            return m.salt_size + LENGTH_SIZE + m.tag_size
        return m.salt_size + REQUEST_FIXED_HEADER_SIZE + m.tag_size

    def thresholds(self) -> list[int]:
        """Lengths at which a server's reaction typically changes: the IV or salt, the first
        chunk, the address (a server that reacts differently on either side of one of them
        shows how many bytes it read)."""
        m = self.method
        marks = {m.iv_size, self.first_chunk}
        if self.family == "stream":
            marks |= {m.iv_size + 7, m.iv_size + 19}  # an IPv4 / IPv6 address complete
        elif self.family == "aead":
            marks.add(self.first_chunk + 1 + m.tag_size)  # a 1-byte first payload chunk
        return sorted(x for x in marks if x > 0)

    def max_udp_payload(self) -> int:
        """Largest UDP payload to an IPv4 target whose request and reply both fit in one
        IPv4 datagram (no padding)."""
        m = self.method
        address = 7  # ATYP, IPv4, port
        if self.family != "2022":
            return MAX_UDP_DATAGRAM - m.iv_size - m.tag_size - address
        # Reply main header: type, timestamp, client session ID, padding length (SIP022 3.2.3).
        header = 1 + 8 + 8 + 2 + address
        if m.name.startswith("2022-blake3-aes-"):
            return MAX_UDP_DATAGRAM - 16 - m.tag_size - header
        return MAX_UDP_DATAGRAM - 24 - m.tag_size - 16 - header  # nonce, IDs in the body

    # --- inputs ----------------------------------------------------------------------------

    def wrong_key(self) -> str:
        """A key of the right shape that is not this one (2022: a random PSK of the right
        size; classic: a random password)."""
        if self.family == "2022":
            return base64.b64encode(os.urandom(self.method.key_size)).decode("ascii")
        return "not-the-key-" + os.urandom(8).hex()

    def names_address(self, wire: bytes) -> bool:
        """Stream methods: whether ``wire``, decrypted under the right key, starts with a
        valid address type (a server would then try to connect somewhere). The probe never
        sends such random or altered bytes, so no server connects anywhere but the probe's
        own targets (nor looks a name up); the type is read through :data:`ATYP_MASK`, as
        Python shadowsocks and shadowsocks-libev read it. For AEAD and 2022 nothing random
        authenticates, and this is False."""
        if self.family != "stream":
            return False
        decoder = new_decoder(self.method, self.master)
        plain = decoder.update(wire)
        return bool(plain) and names_address_type(plain[0])

    def fields(self) -> dict[str, int]:
        """Offset of one byte of each field of a request, for the bit-flip probes: ``salt``,
        ``length``, ``tag``, ``payload`` (stream methods: ``salt`` is the IV, if any, and
        ``payload`` the address type, the first byte after it)."""
        m = self.method
        out: dict[str, int] = {}
        if m.iv_size:
            out["salt"] = 0
        if self.family == "stream":
            out["payload"] = m.iv_size
        elif self.family == "aead":
            out["length"] = m.salt_size
            out["tag"] = m.salt_size + LENGTH_SIZE
            out["payload"] = m.salt_size + LENGTH_SIZE + m.tag_size
        else:  # the fixed-length header holds the length; the variable one the address
            out["length"] = m.salt_size + REQUEST_FIXED_HEADER_SIZE - 2
            out["tag"] = m.salt_size + REQUEST_FIXED_HEADER_SIZE
            out["payload"] = m.salt_size + REQUEST_FIXED_HEADER_SIZE + m.tag_size
        return out

    def crafted_request(self, target: Address, *, padding_length: int, padding: bytes,
                        payload: bytes) -> bytes:
        """2022 only: a request whose variable-length header is written by hand, to send what
        a correct client never does (SIP022 3.1.3: neither payload nor padding; a padding
        length that runs past the header chunk). Fresh salt, current time, right key."""
        if self.family != "2022":
            raise TypeError(f"{self.method.name}: crafted requests are for 2022 methods")
        if not 0 <= padding_length <= 0xFFFF:
            raise ValueError(f"padding length must fit in a u16, got {padding_length}")
        m = self.method
        salt = os.urandom(m.salt_size)
        aead = new_session_aead(m, decode_psk(self.psk, m), salt, OWN)
        variable = (encode_address(target) + padding_length.to_bytes(2, "big") + padding
                    + payload)
        fixed = (bytes((TYPE_CLIENT,)) + int(time.time()).to_bytes(8, "big")
                 + len(variable).to_bytes(2, "big"))
        return (salt + aead.seal((0).to_bytes(NONCE_SIZE, "little"), fixed)
                + aead.seal((1).to_bytes(NONCE_SIZE, "little"), variable))

