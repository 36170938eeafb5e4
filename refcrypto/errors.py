"""One exception hierarchy for everything refcrypto raises on bad input.

Every class derives from :class:`RefcryptoError`, which derives from :class:`ValueError`,
so code written against Python shadowsocks (which raised ``ValueError``/``Exception``)
keeps working, and code written for refcrypto can catch exactly what it means.
Messages name the method (or primitive) and what was expected, for example
``aes-256-cfb: iv must be 16 bytes, got 12``.
"""

from __future__ import annotations

__all__ = [
    "DecoderFailed",
    "InvalidChunkLength",
    "InvalidIVSize",
    "InvalidKeySize",
    "InvalidNonceSize",
    "InvalidTag",
    "MethodNotImplemented",
    "RefcryptoError",
    "TruncatedData",
    "UnknownMethod",
]


class RefcryptoError(ValueError):
    """Base class of every error refcrypto raises for bad input or failed authentication."""

    #: Set by a stream decoder that fails part-way through one call: the plaintext of the
    #: chunks that call had already verified (never any of the failing chunk).
    plaintext: bytes = b""


class UnknownMethod(RefcryptoError, LookupError):
    """The method name is not in the table; the message lists the closest names."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown method {name!r}{hint}")


class MethodNotImplemented(RefcryptoError, NotImplementedError):
    """The method is in the table but its primitive is not available in this build."""


class InvalidKeySize(RefcryptoError):
    """A key of the wrong length was given to a primitive or method."""


class InvalidIVSize(RefcryptoError):
    """An IV or salt of the wrong length was given."""


class InvalidNonceSize(RefcryptoError):
    """An AEAD nonce of the wrong length was given."""


class InvalidTag(RefcryptoError):
    """Authentication failed: the data, tag, salt or key is not what was sealed.

    No plaintext of the failing message or chunk is ever returned alongside it.
    """


class InvalidChunkLength(RefcryptoError):
    """A SIP004 length chunk opened to zero or had its two reserved high bits set."""


class TruncatedData(RefcryptoError):
    """Input ended before a complete IV, salt, packet or chunk was received."""


class DecoderFailed(RefcryptoError):
    """A decoder that already raised refuses all further input.

    ``cause`` describes the error that stopped it (class name and message).
    """

    def __init__(self, message: str, cause: str) -> None:
        self.cause = cause
        super().__init__(message)
