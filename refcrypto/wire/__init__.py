"""The Shadowsocks wire: TCP stream codecs (IV prefix, SIP004 chunks), UDP packets, and the
``Cryptor`` drop-in. Sans-I/O: bytes in, bytes out. Never imports native backends."""

from __future__ import annotations

from .aead import AeadDecoder, AeadEncoder
from .cryptor import Cryptor, decrypt_all, encrypt_all, master_key, new_decoder, new_encoder
from .ss2022 import (
    Cryptor2022,
    IdentityRelay,
    SaltStore,
    UdpClient2022,
    UdpServer2022,
    UserTable,
    new_decoder_2022,
    new_encoder_2022,
)
from .stream import StreamDecoder, StreamEncoder
from .udp import decrypt_packet, encrypt_packet

__all__ = [
    "AeadDecoder",
    "AeadEncoder",
    "Cryptor",
    "Cryptor2022",
    "IdentityRelay",
    "SaltStore",
    "StreamDecoder",
    "StreamEncoder",
    "UdpClient2022",
    "UdpServer2022",
    "UserTable",
    "decrypt_all",
    "decrypt_packet",
    "encrypt_all",
    "encrypt_packet",
    "master_key",
    "new_decoder",
    "new_decoder_2022",
    "new_encoder",
    "new_encoder_2022",
]
