"""One exception hierarchy for everything refcrypto raises on bad input.

Every class derives from :class:`RefcryptoError`, which derives from :class:`ValueError`,
so code written against Python shadowsocks (which raised ``ValueError``/``Exception``)
keeps working, and code written for refcrypto can catch exactly what it means.
Messages name the method (or primitive) and what was expected, for example
``aes-256-cfb: iv must be 16 bytes, got 12``.
"""

from __future__ import annotations

__all__ = [
    "ConcurrentUse",
    "DecoderFailed",
    "HandshakeIncomplete",
    "HeaderError",
    "HeaderOverrun",
    "InvalidAddress",
    "InvalidChunkLength",
    "InvalidHeaderType",
    "InvalidIVSize",
    "InvalidKeySize",
    "InvalidNonceSize",
    "InvalidPSK",
    "InvalidTag",
    "InvalidTimestamp",
    "MethodNotImplemented",
    "MissingPayloadOrPadding",
    "PaddingTooLong",
    "RefcryptoError",
    "ReplayError",
    "ReplayedPacket",
    "ReplayedSalt",
    "RequestSaltMismatch",
    "SaltStoreFull",
    "SessionMismatch",
    "SessionTableFull",
    "TooManyServerSessions",
    "TruncatedData",
    "UnknownMethod",
    "UnknownUser",
]


class RefcryptoError(ValueError):
    """Base class of every error refcrypto raises for bad input or failed authentication."""

    #: Set by a stream decoder that fails part-way through one call: the plaintext of the
    #: chunks that call had already verified (never any of the failing chunk).
    plaintext: bytes = b""


class ConcurrentUse(RuntimeError):
    """A stateful object (an encoder, a decoder, a ``Cryptor``) was entered from a second
    thread while a call from another thread was still running in it.

    Such objects keep a nonce counter or a keystream position: two calls at once could seal
    two chunks under one nonce or emit one keystream twice, so the second call raises
    instead. Not a :class:`RefcryptoError`: the input is fine, the program is not. Use one
    object per thread, or a lock around each call and the write that follows it.
    """


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


# --- Shadowsocks 2022 (SIP022) and its identity headers (SIP023) ------------------------------


class InvalidPSK(RefcryptoError):
    """A Shadowsocks 2022 pre-shared key is not valid base64, or does not decode to exactly the
    method's key size (SIP022 2.1: the PSK is given, never derived from a password)."""


class HeaderError(RefcryptoError):
    """A Shadowsocks 2022 header authenticated but breaks a rule of SIP022 3.1.3 or 3.2.3."""


class InvalidHeaderType(HeaderError):
    """The header's type byte is not the one this direction expects (0 client, 1 server)."""


class RequestSaltMismatch(HeaderError):
    """A response header names another request salt than the one this client sent."""


class MissingPayloadOrPadding(HeaderError):
    """A request's variable-length header chunk carries neither initial payload nor padding."""


class PaddingTooLong(HeaderError):
    """A request header's padding length is over the 900-byte maximum of SIP022 3.1.3."""


class HeaderOverrun(HeaderError):
    """A header (address, padding length or padding) runs past the end of its chunk or packet."""


class InvalidAddress(HeaderError):
    """A SOCKS address in a header has an unknown type or an empty or undecodable name."""


class SessionMismatch(HeaderError):
    """A server-to-client UDP packet names another client session ID than this client's."""


class ReplayError(RefcryptoError):
    """Base of the replay checks of SIP022 3.1.4 and 3.2.4."""


class InvalidTimestamp(ReplayError):
    """A header's timestamp is more than 30 seconds away from the receiver's clock."""


class ReplayedSalt(ReplayError):
    """A TCP salt that the salt store already holds (seen in the last 60 seconds)."""


class ReplayedPacket(ReplayError):
    """A UDP packet ID already received in its session, or older than the sliding window."""


class SaltStoreFull(RefcryptoError):
    """The salt store holds its maximum number of live salts: the new session is refused
    (forgetting a salt early would let it be replayed)."""


class SessionTableFull(RefcryptoError):
    """The UDP session table holds its maximum number of live sessions: the new session is
    refused (forgetting a session early would let its packets be replayed)."""


class TooManyServerSessions(RefcryptoError):
    """A UDP client saw a third server session while the previous one was still live."""


class UnknownUser(RefcryptoError):
    """A SIP023 identity header names no PSK of the server's (or relay's) table."""


class HandshakeIncomplete(RefcryptoError):
    """The operation needs the peer's header first (a server response before the request)."""
