"""Stream factories for methods built from a block cipher and a generic mode.

These are the methods pycryptodome cannot carry on its own: Camellia, SEED and IDEA
(pure-Python block ciphers) and CFB-1 (no such mode in pycryptodome), all over the modes
of :mod:`refcrypto.primitives.modes`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import MethodNotImplemented
from .base import Stream

__all__ = [
    "aes_cfb1",
    "camellia_cfb1",
    "camellia_cfb8",
    "camellia_cfb128",
    "camellia_ctr",
    "camellia_ofb",
    "idea_cfb64",
    "is_available",
    "seed_cfb128",
]

# module, class for each block cipher used here
_CIPHERS = {
    "aes": ("refcrypto.primitives.blocks", "AES"),
    "camellia": ("refcrypto.primitives.camellia", "Camellia"),
    "seed": ("refcrypto.primitives.seed", "SEED"),
    "idea": ("refcrypto.primitives.idea", "IDEA"),
}


def _load(cipher: str) -> type:
    module_name, class_name = _CIPHERS[cipher]
    try:
        module = importlib.import_module(module_name)
        modes = importlib.import_module("refcrypto.primitives.modes")
    except ImportError as exc:
        raise MethodNotImplemented(f"{cipher}: primitive not implemented yet ({exc})") from None
    del modes
    cls: type = getattr(module, class_name)
    return cls


def _cfb(cipher: str, segment_bits: int | None) -> Callable[[bytes, bytes, bool], Stream]:
    def factory(key: bytes, iv: bytes, decrypt: bool) -> Stream:
        from .modes import CFB

        block = _load(cipher)(key)
        bits = segment_bits if segment_bits is not None else 8 * block.block_size
        stream: Stream = CFB(block, iv, segment_bits=bits, decrypt=decrypt)
        return stream

    factory.__name__ = f"{cipher}_cfb{segment_bits or 'block'}"
    factory.__doc__ = f"{cipher} in CFB mode, {segment_bits or 'full-block'}-bit segments."
    _REQUIRES[factory] = cipher
    return factory


def _keystream_mode(cipher: str, mode: str) -> Callable[[bytes, bytes, bool], Stream]:
    def factory(key: bytes, iv: bytes, decrypt: bool) -> Stream:
        from . import modes

        stream: Stream = getattr(modes, mode)(_load(cipher)(key), iv)
        return stream

    factory.__name__ = f"{cipher}_{mode.lower()}"
    factory.__doc__ = f"{cipher} in {mode} mode."
    _REQUIRES[factory] = cipher
    return factory


_REQUIRES: dict[Callable[..., object], str] = {}

aes_cfb1 = _cfb("aes", 1)
camellia_cfb128 = _cfb("camellia", None)
camellia_cfb8 = _cfb("camellia", 8)
camellia_cfb1 = _cfb("camellia", 1)
camellia_ofb = _keystream_mode("camellia", "OFB")
camellia_ctr = _keystream_mode("camellia", "CTR")
seed_cfb128 = _cfb("seed", None)
idea_cfb64 = _cfb("idea", None)


def is_available(factory: Callable[..., object] | None) -> bool:
    """Whether the primitive behind a factory can be loaded in this build."""
    cipher = _REQUIRES.get(factory) if factory is not None else None
    if cipher is None:
        return True
    try:
        _load(cipher)
    except MethodNotImplemented:
        return False
    return True
