"""``Cryptor2022``: both directions of one Shadowsocks 2022 TCP connection, in one role.

The shape of :class:`refcrypto.Cryptor` (``encrypt``/``decrypt``, bytes in and out), with
what SIP022 adds: an explicit role (the request and response streams differ), a base64 PSK
instead of a password, the target address (client), a salt store (server), an injectable
clock, and SIP023 user tables. UDP is stateful in the 2022 edition (sessions, packet IDs,
sliding windows), so its counterparts of ``encrypt_all``/``decrypt_all`` are the session
objects :class:`~.udp.UdpClient2022` and :class:`~.udp.UdpServer2022`.
"""

from __future__ import annotations

from threading import Lock
from typing import Literal

from ...methods import Method
from ...primitives.base import Buffer
from .._guard import busy_error
from ..source import OWN, Primitives
from .header import Address, Clock, bytes_arg
from .identity import UserTable
from .keys import PSKInput, decode_psk_chain, method_2022
from .salts import SaltStore
from .tcp import (
    RequestDecoder,
    RequestEncoder,
    ResponseDecoder,
    ResponseEncoder,
    checked_salt,
    require_header,
)

__all__ = ["Cryptor2022", "Role", "new_decoder_2022", "new_encoder_2022"]

#: Which end of the connection this object is.
Role = Literal["client", "server"]


def _check_role(role: object) -> Role:
    if role == "client":
        return "client"
    if role == "server":
        return "server"
    raise ValueError(f"role must be 'client' or 'server', got {role!r}")


def new_encoder_2022(
    method: Method | str,
    psk: PSKInput,
    *,
    role: Role,
    target: Address | None = None,
    request_salt: Buffer | None = None,
    salt: Buffer | None = None,
    clock: Clock | None = None,
    padding: int | None = None,
    backend: Primitives = OWN,
) -> RequestEncoder | ResponseEncoder:
    """The encoder of ``role``'s outgoing stream: a client's :class:`~.tcp.RequestEncoder`
    (needs ``target``; ``psk`` may be a SIP023 chain) or a server's
    :class:`~.tcp.ResponseEncoder` (needs the ``request_salt`` it answers; ``psk`` is the
    key the request was sealed with). ``backend`` is where the AEADs come from
    (:mod:`refcrypto.wire.source`)."""
    name = method_2022(method).name
    if _check_role(role) == "client":
        if target is None:
            raise TypeError(f"{name}: a client encoder needs target=(host, port)")
        return RequestEncoder(method, psk, target, salt=salt, clock=clock, padding=padding,
                              backend=backend)
    if request_salt is None:
        raise TypeError(f"{name}: a server encoder needs request_salt, the salt of the request "
                        "it answers (a bytes-like object), not NoneType")
    chain = decode_psk_chain(psk, method)
    return ResponseEncoder(method, chain[-1], request_salt, salt=salt, clock=clock,
                           backend=backend)


def new_decoder_2022(
    method: Method | str,
    psk: PSKInput,
    *,
    role: Role,
    request_salt: Buffer | None = None,
    salts: SaltStore | None = None,
    users: UserTable | None = None,
    clock: Clock | None = None,
    backend: Primitives = OWN,
) -> RequestDecoder | ResponseDecoder:
    """The decoder of ``role``'s incoming stream: a server's :class:`~.tcp.RequestDecoder`
    (needs ``salts``; ``users`` for SIP023) or a client's :class:`~.tcp.ResponseDecoder`
    (needs the ``request_salt`` it sent)."""
    if _check_role(role) == "server":
        if salts is None:
            raise TypeError("a server decoder needs salts=SaltStore(), shared by its connections")
        chain = decode_psk_chain(psk, method)
        if len(chain) != 1:
            raise TypeError("a server takes one PSK (its identity PSK when it has users)")
        return RequestDecoder(method, chain[0], salts=salts, users=users, clock=clock,
                              backend=backend)
    if request_salt is None:
        raise TypeError(f"{method_2022(method).name}: a client decoder needs request_salt, the "
                        "salt it sent (a bytes-like object), not NoneType")
    if users is not None:
        raise TypeError("users are a server's table; a client holds a PSK chain")
    chain = decode_psk_chain(psk, method)
    return ResponseDecoder(method, chain[-1], request_salt, salts=salts, clock=clock,
                           backend=backend)


class Cryptor2022:
    """Both directions of one Shadowsocks 2022 TCP connection (SIP022 3.1; SIP023).

    >>> import base64
    >>> psk = base64.b64encode(bytes(range(16))).decode()
    >>> store = SaltStore()
    >>> client = Cryptor2022(psk, "2022-blake3-aes-128-gcm", role="client",
    ...                      target=("example.com", 80))
    >>> server = Cryptor2022(psk, "2022-blake3-aes-128-gcm", role="server", salts=store)
    >>> server.decrypt(client.encrypt(b"GET / HTTP/1.1\\r\\n\\r\\n")), server.target
    (b'GET / HTTP/1.1\\r\\n\\r\\n', ('example.com', 80))
    >>> client.decrypt(server.encrypt(b"HTTP/1.1 200 OK\\r\\n"))
    b'HTTP/1.1 200 OK\\r\\n'

    * ``role="client"``: ``psk`` is the base64 PSK, or a SIP023 chain
      ``"iPSK0:...:uPSK"``; ``target`` is required. The salt and headers leave with the
      first non-empty :meth:`encrypt` (its data as the initial payload), or with
      :meth:`start` when there is nothing to send first. ``salts`` optionally records the
      response salts.
    * ``role="server"``: ``psk`` is the server's PSK, or its identity PSK when ``users``
      (a :class:`~.identity.UserTable`) is given; ``salts`` (a :class:`~.salts.SaltStore`
      shared by all the server's connections) is required. After the request's headers,
      :attr:`target` and :attr:`user` say what was asked and by whom; :meth:`encrypt`
      before that raises :class:`~refcrypto.errors.HandshakeIncomplete`.

    ``clock`` (integer Unix seconds) and ``salt`` make the output reproducible; ``padding``
    fixes the client's padding length; ``backend`` is where the AEADs come from
    (:mod:`refcrypto.wire.source`). Failures are those of the codecs in :mod:`.tcp`.

    One thread at a time in each direction: :meth:`encrypt` (or :meth:`start`) entered while
    another thread's call of it is running raises :class:`~refcrypto.errors.ConcurrentUse`,
    and so does :meth:`decrypt`; one thread may encrypt while another decrypts.
    """

    __slots__ = (
        "__weakref__", "_backend", "_busy", "_clock", "_decoder", "_encoder", "_salt", "method",
        "role",
    )

    def __init__(
        self,
        psk: PSKInput,
        method: Method | str,
        *,
        role: Role,
        target: Address | None = None,
        users: UserTable | None = None,
        salts: SaltStore | None = None,
        clock: Clock | None = None,
        salt: Buffer | None = None,
        padding: int | None = None,
        backend: Primitives = OWN,
    ) -> None:
        row = method_2022(method)
        self.method = row
        self.role: Role = _check_role(role)
        self._clock = clock
        self._backend = backend
        self._busy = Lock()  # the encrypting direction; the decoder guards itself
        self._encoder: RequestEncoder | ResponseEncoder | None
        self._decoder: RequestDecoder | ResponseDecoder
        if self.role == "client":
            if target is None:
                raise TypeError("a client Cryptor2022 needs target=(host, port)")
            if users is not None:
                raise TypeError("users are a server's table; a client holds a PSK chain")
            chain = decode_psk_chain(psk, row)
            encoder = RequestEncoder(row, chain, target, salt=salt, clock=clock, padding=padding,
                                     backend=backend)
            self._encoder = encoder
            self._decoder = ResponseDecoder(row, chain[-1], encoder.salt, salts=salts,
                                            clock=clock, backend=backend)
            self._salt = encoder.salt
        else:
            if target is not None or padding is not None:
                raise TypeError("target and padding are a client's; the server reads them")
            self._decoder = new_decoder_2022(row, psk, role="server", salts=salts, users=users,
                                              clock=clock, backend=backend)
            self._encoder = None  # made at the first response: it names the request salt
            self._salt = checked_salt(row, salt)

    @property
    def salt(self) -> bytes:
        """The salt this side sends."""
        return self._salt

    @property
    def cipher_iv(self) -> bytes:
        """The salt this side sends, under the name Python shadowsocks uses."""
        return self._salt

    @property
    def request_salt(self) -> bytes | None:
        """The request's salt: the client's own, or the one the server received."""
        if isinstance(self._encoder, RequestEncoder):
            return self._encoder.salt
        return self._decoder.salt

    @property
    def target(self) -> Address | None:
        """Where the client asks to connect (the server knows it once the headers are in)."""
        if isinstance(self._encoder, RequestEncoder):
            return self._encoder.target
        assert isinstance(self._decoder, RequestDecoder)
        return self._decoder.target

    @property
    def user(self) -> str | None:
        """The SIP023 user's name on a multi-user server, else ``None``."""
        decoder = self._decoder
        return decoder.user if isinstance(decoder, RequestDecoder) else None

    def start(self) -> bytes:
        """Client only: the salt and headers now, with padding and no payload (``b""`` once
        sent)."""
        if not isinstance(self._encoder, RequestEncoder):
            raise TypeError("start() is a client's: a server's header goes with its payload")
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "Cryptor2022.start")
        try:
            return self._encoder.start()
        finally:
            busy.release()

    def encrypt(self, data: Buffer) -> bytes:
        """Encrypt the next piece of the outgoing stream."""
        data = bytes_arg(data, f"{self.method.name}: data")
        busy = self._busy
        if not busy.acquire(False):
            raise busy_error(self.method, "Cryptor2022.encrypt")
        try:
            encoder = self._encoder
            if encoder is None:
                if not data:
                    return b""
                assert isinstance(self._decoder, RequestDecoder)
                request_salt, key = require_header(self._decoder)
                encoder = self._encoder = ResponseEncoder(
                    self.method, key, request_salt, salt=self._salt, clock=self._clock,
                    backend=self._backend,
                )
            return encoder.update(data)
        finally:
            busy.release()

    def decrypt(self, data: Buffer) -> bytes:
        """Decrypt the next piece of the incoming stream."""
        return self._decoder.update(data)

    def finish(self) -> None:
        """Declare the end of the incoming stream (:class:`TruncatedData` if cut short)."""
        self._decoder.finish()
