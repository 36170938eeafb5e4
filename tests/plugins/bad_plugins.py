"""Plug-ins that must be refused, each for one reason (tests/test_plugins.py). No
module-level API_VERSION here: each class declares its own, or none."""

from __future__ import annotations

from typing import Any


class _Wire:
    name = "bad"

    def available(self) -> str | None:
        return None

    def describe(self) -> str:
        return "a plug-in for the error tests"

    def unsupported(self, method: Any) -> str | None:
        return None

    def tcp_encoder(self, method: Any, password: Any, iv: bytes) -> Any:
        raise NotImplementedError

    def tcp_decoder(self, method: Any, password: Any) -> Any:
        raise NotImplementedError

    def udp_encrypt(self, method: Any, password: Any, iv: bytes, data: bytes) -> bytes:
        raise NotImplementedError

    def udp_decrypt(self, method: Any, password: Any, packet: bytes) -> bytes:
        raise NotImplementedError


class NoVersion(_Wire):
    pass


class FutureVersion(_Wire):
    API_VERSION = 2


class OldVersion(_Wire):
    API_VERSION = 0


class TextVersion(_Wire):
    API_VERSION = "1"


class BuiltinName(_Wire):
    API_VERSION = 1
    name = "openssl"


class SpacedName(_Wire):
    API_VERSION = 1
    name = "my backend"


class NotABackend:
    API_VERSION = 1
    name = "half"

    def available(self) -> str | None:
        return None


class Raises(_Wire):
    API_VERSION = 1

    def __init__(self) -> None:
        raise RuntimeError("no licence file")


class Good(_Wire):
    API_VERSION = 1
    name = "good"


class SameNameAsGood(_Wire):
    API_VERSION = 1
    name = "good"


def make_good() -> Good:
    """A factory function is accepted too."""
    return Good()
