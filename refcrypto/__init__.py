"""refcrypto: the reference implementation of every Shadowsocks cipher method.

Public API:

* :class:`Cryptor` -- both directions of a TCP connection, as Python shadowsocks' ``Cryptor``;
* :func:`encrypt_all` / :func:`decrypt_all` -- one UDP packet;
* :func:`methods` / :func:`method` -- the method table;
* :func:`new_encoder` / :func:`new_decoder` / :func:`master_key` -- the sans-I/O codecs;
* the errors of :mod:`refcrypto.errors`.
"""

from __future__ import annotations

from .errors import (
    DecoderFailed,
    InvalidChunkLength,
    InvalidIVSize,
    InvalidKeySize,
    InvalidNonceSize,
    InvalidTag,
    MethodNotImplemented,
    RefcryptoError,
    TruncatedData,
    UnknownMethod,
)
from .methods import Category, Method, method, methods
from .wire import Cryptor, decrypt_all, encrypt_all, master_key, new_decoder, new_encoder

__version__ = "0.1.0"

__all__ = [
    "Category",
    "Cryptor",
    "DecoderFailed",
    "InvalidChunkLength",
    "InvalidIVSize",
    "InvalidKeySize",
    "InvalidNonceSize",
    "InvalidTag",
    "Method",
    "MethodNotImplemented",
    "RefcryptoError",
    "TruncatedData",
    "UnknownMethod",
    "__version__",
    "decrypt_all",
    "encrypt_all",
    "master_key",
    "method",
    "methods",
    "new_decoder",
    "new_encoder",
]
