"""refcrypto: the reference implementation of every Shadowsocks cipher method.

Public API:

* :class:`Cryptor` -- both directions of a TCP connection, as Python shadowsocks' ``Cryptor``;
* :func:`encrypt_all` / :func:`decrypt_all` -- one UDP packet;
* :func:`methods` / :func:`method` -- the method table;
* :func:`new_encoder` / :func:`new_decoder` / :func:`master_key` -- the sans-I/O codecs;
* Shadowsocks 2022 (SIP022, SIP023): :class:`Cryptor2022` (TCP, client or server role),
  :class:`UdpClient2022` / :class:`UdpServer2022`, :class:`SaltStore`, :class:`UserTable`,
  :class:`IdentityRelay`, :func:`new_encoder_2022` / :func:`new_decoder_2022`;
* the errors of :mod:`refcrypto.errors`.
"""

from __future__ import annotations

from .errors import (
    ConcurrentUse,
    DecoderFailed,
    HandshakeIncomplete,
    HeaderError,
    HeaderOverrun,
    InvalidAddress,
    InvalidChunkLength,
    InvalidHeaderType,
    InvalidIVSize,
    InvalidKeySize,
    InvalidNonceSize,
    InvalidPSK,
    InvalidTag,
    InvalidTimestamp,
    MethodNotImplemented,
    MissingPayloadOrPadding,
    PaddingTooLong,
    RefcryptoError,
    ReplayedPacket,
    ReplayedSalt,
    ReplayError,
    RequestSaltMismatch,
    SaltStoreFull,
    SessionMismatch,
    SessionTableFull,
    TooManyServerSessions,
    TruncatedData,
    UnknownMethod,
    UnknownUser,
)
from .methods import Category, Method, method, methods
from .wire import (
    Cryptor,
    Cryptor2022,
    IdentityRelay,
    SaltStore,
    UdpClient2022,
    UdpServer2022,
    UserTable,
    decrypt_all,
    encrypt_all,
    master_key,
    new_decoder,
    new_decoder_2022,
    new_encoder,
    new_encoder_2022,
)

__version__ = "0.1.0"

__all__ = [
    "Category",
    "ConcurrentUse",
    "Cryptor",
    "Cryptor2022",
    "DecoderFailed",
    "HandshakeIncomplete",
    "HeaderError",
    "HeaderOverrun",
    "IdentityRelay",
    "InvalidAddress",
    "InvalidChunkLength",
    "InvalidHeaderType",
    "InvalidIVSize",
    "InvalidKeySize",
    "InvalidNonceSize",
    "InvalidPSK",
    "InvalidTag",
    "InvalidTimestamp",
    "Method",
    "MethodNotImplemented",
    "MissingPayloadOrPadding",
    "PaddingTooLong",
    "RefcryptoError",
    "ReplayError",
    "ReplayedPacket",
    "ReplayedSalt",
    "RequestSaltMismatch",
    "SaltStore",
    "SaltStoreFull",
    "SessionMismatch",
    "SessionTableFull",
    "TooManyServerSessions",
    "TruncatedData",
    "UdpClient2022",
    "UdpServer2022",
    "UnknownMethod",
    "UnknownUser",
    "UserTable",
    "__version__",
    "decrypt_all",
    "encrypt_all",
    "master_key",
    "method",
    "methods",
    "new_decoder",
    "new_decoder_2022",
    "new_encoder",
    "new_encoder_2022",
]
