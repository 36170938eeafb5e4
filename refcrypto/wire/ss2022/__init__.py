"""Shadowsocks 2022 (SIP022) with extensible identity headers (SIP023), sans-I/O.

* :class:`Cryptor2022` -- both directions of one TCP connection, client or server;
* :class:`UdpClient2022` / :class:`UdpServer2022` -- UDP sessions, packet by packet;
* :class:`SaltStore` -- the server's exact 60-second salt store (SIP022 3.1.4);
* :class:`UserTable` / :class:`IdentityRelay` -- SIP023 multi-user servers and relays;
* :func:`new_encoder_2022` / :func:`new_decoder_2022` and the codecs of :mod:`.tcp`;
* :func:`decode_psk` -- the base64 PSK of SIP022 2.1.

The methods are the rows of ``refcrypto.methods(edition2022=True)``.
"""

from __future__ import annotations

from .cryptor import Cryptor2022, Role, new_decoder_2022, new_encoder_2022
from .header import Address, Clock, system_clock
from .identity import IdentityRelay, UserTable
from .keys import decode_psk, decode_psk_chain
from .salts import SaltStore
from .tcp import RequestDecoder, RequestEncoder, ResponseDecoder, ResponseEncoder
from .udp import Datagram, PacketWindow, UdpClient2022, UdpServer2022

__all__ = [
    "Address",
    "Clock",
    "Cryptor2022",
    "Datagram",
    "IdentityRelay",
    "PacketWindow",
    "RequestDecoder",
    "RequestEncoder",
    "ResponseDecoder",
    "ResponseEncoder",
    "Role",
    "SaltStore",
    "UdpClient2022",
    "UdpServer2022",
    "UserTable",
    "decode_psk",
    "decode_psk_chain",
    "new_decoder_2022",
    "new_encoder_2022",
    "system_clock",
]
