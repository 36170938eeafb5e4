"""The Shadowsocks wire: TCP stream codecs (IV prefix, SIP004 chunks), UDP packets, and the
``Cryptor`` drop-in. Sans-I/O: bytes in, bytes out. Never imports native backends."""

from __future__ import annotations

from .aead import AeadDecoder, AeadEncoder
from .cryptor import Cryptor, decrypt_all, encrypt_all, master_key, new_decoder, new_encoder
from .stream import StreamDecoder, StreamEncoder
from .udp import decrypt_packet, encrypt_packet

__all__ = [
    "AeadDecoder",
    "AeadEncoder",
    "Cryptor",
    "StreamDecoder",
    "StreamEncoder",
    "decrypt_all",
    "decrypt_packet",
    "encrypt_all",
    "encrypt_packet",
    "master_key",
    "new_decoder",
    "new_encoder",
]
