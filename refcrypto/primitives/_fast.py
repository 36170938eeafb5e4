"""Fast paths: direct calls into the C code pycryptodome ships, past its Python wrappers.

Why (numbers from ``bench/``, pycryptodome 4.4 on CPython 3.11): every public pycryptodome
call (``new``, ``encrypt``, ``digest``) spends 1.5-3 us in Python before its C function runs,
and a new AES-GCM object costs three AES key schedules and a GHASH table, ~25 us.
Shadowsocks makes many small calls: two AEAD seals per TCP chunk, a subkey and an AEAD per UDP
packet, an HKDF per session. Through the public API refcrypto ran AEAD methods 5-20 times
slower than the native-backed Python shadowsocks; through this module it runs them faster.

How: the C functions are the ones pycryptodome's own modules call, loaded by pycryptodome's
loader with pycryptodome's declarations, and called through its cffi instance (``ffi``); the
cffi primitives ``newp``/``memmove``/``from_buffer``/``gcp`` are taken from cffi's C backend to skip
cffi's own Python wrappers. What is here, with the public call it replaces:

* :class:`GcmKey` -- AES-GCM (SP 800-38D) under one key: the AES key schedule and the GHASH
  table are made once per key, not once per message (``AES.new(key, MODE_GCM)``);
* :class:`ChaChaPolyKey` -- AEAD_CHACHA20_POLY1305 (RFC 8439, 2.8) and XChaCha20-Poly1305
  (draft-irtf-cfrg-xchacha-03, 2.3) (``ChaCha20_Poly1305.new``);
* :class:`RawStream` and its factories -- AES-CFB/OFB/CTR, RC4, Salsa20, (X)ChaCha20 (the
  ``encrypt``/``decrypt`` methods of pycryptodome's cipher objects);
* :func:`hkdf_sha1` and :func:`md5` (``Crypto.Protocol.KDF.HKDF``, ``Crypto.Hash.MD5``).

When not: :data:`ENABLED` is false, and every caller uses the public API, when pycryptodome
runs on ctypes rather than cffi, when a function or declaration is missing, when the start-up
self-test (one call of each path against the public API) disagrees, or when the environment
sets ``REFCRYPTO_FAST=0``. ``tests/test_fast_paths.py`` checks that both give the same bytes.

Memory: ``buf + n`` is a pointer that does not keep ``buf`` alive, so every function keeps
the owning array in a local until it has copied its result out. A C state that outlives a
call is owned by exactly one cffi pointer made with ``gcp``, whose destructor frees it when
the pointer dies; a state used within one call is freed in a ``finally``. No ``__del__``, no
reference cycles.

Input: every function takes its data through :func:`~.base.readonly_bytes`, so a buffer
counts as its bytes (``nbytes``, whatever its item size; the C code is given that count, never
``len()`` of items), and a mutable buffer is copied once before any C code reads it: an open
authenticates and decrypts the same bytes even if another thread changes the caller's
``bytearray`` meanwhile.

Threads: :class:`GcmKey` and :class:`ChaChaPolyKey` hold no mutable state after construction,
so one object may seal and open from several threads at once. A :class:`RawStream` is a
cipher *state* (a counter, a CFB register): it is not thread-safe. cffi releases the GIL
around the C call, so two threads in one ``update`` can read the same counter and emit the
same keystream twice; use one object per thread, as with any stream (the wire codecs, which
own these objects, raise :class:`~refcrypto.errors.ConcurrentUse` when they are entered from
two threads at once).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from hmac import compare_digest
from typing import Any, Protocol

from ..errors import RefcryptoError
from .base import Buffer, readonly_bytes

__all__ = [
    "ENABLED",
    "GCM_MAX_MESSAGE",
    "ChaChaPolyKey",
    "FastPathError",
    "GcmKey",
    "RawStream",
    "aes_cfb",
    "aes_ctr",
    "aes_ofb",
    "arc4",
    "chacha20",
    "hkdf_sha1",
    "md5",
    "salsa20",
]

#: Longest message :class:`GcmKey` takes (a UDP datagram); callers use the public API beyond.
GCM_MAX_MESSAGE = 65536
_BLOCK = 16
_TAG = 16
_ZERO4 = bytes(4)
_ZERO16 = bytes(16)
_ZERO64 = bytes(64)
_LE64_ZERO = bytes(8)
#: SP 800-38D 7.1 steps 2-3 with a 96-bit IV: the counter blocks of a message are
#: IV || [1]_32 (= J0), IV || [2]_32, ...; these are their low halves, IV bits zero.
_COUNTERS = b"".join(bytes(12) + i.to_bytes(4, "big") for i in range(1, GCM_MAX_MESSAGE // 16 + 2))
#: Up to this many blocks, the counter blocks are made as IV.join([b"", [1]_32, [2]_32, ...]).
_JOINED_COUNTERS = 16
_COUNTER_PARTS = [b""] + [i.to_bytes(4, "big") for i in range(1, _JOINED_COUNTERS + 1)]
_HASH_BLOCK = 64  # MD5 and SHA-1
_IPAD = bytes(x ^ 0x36 for x in range(256))  # RFC 2104: K xor ipad, as a translation table
_OPAD = bytes(x ^ 0x5C for x in range(256))


class _CBuffer(Protocol):
    """What ``ffi.buffer(pointer[, size])`` returns: slicing copies the bytes out."""

    def __getitem__(self, index: slice) -> bytes: ...


class FastPathError(RefcryptoError):
    """A pycryptodome C function returned an error code (not expected to happen)."""


def _check(code: int, what: str) -> None:
    if code:
        raise FastPathError(f"pycryptodome C code: error {code} in {what}")


# Bound by _load(): cffi, and the C functions (one pycryptodome library object each).
ffi: Any = None
_newp: Any = None
_memmove: Any = None
_from_buffer: Any = None
_gcp: Any = None
_buffer: Callable[..., _CBuffer]
_U8: Any = None  # the cffi type uint8_t[]
_PTR: Any = None  # the cffi type void *[1], where a C constructor writes its new state
_aes_start: Any = None
_aes_stop: Any = None
_ecb: Any = None
_strxor: Any = None
_ghash: Any = None
_cfb: Any = None
_ofb: Any = None
_ctr: Any = None
_arc4: Any = None
_salsa: Any = None
_chacha: Any = None
_poly: Any = None


def _in(data: bytes | memoryview) -> Any:
    """Input for C code: ``bytes`` as they are, a byte view of ``bytes`` without a copy (only
    what :func:`~.base.readonly_bytes` returns may come here)."""
    return data if type(data) is bytes else _from_buffer(_U8, data, False)


def _owned(destroy: Callable[[Any], int], code: int, out: Any, what: str) -> Any:
    """The state a C constructor wrote into ``out`` (a ``void *[1]``), freed by ``destroy``
    when the returned pointer dies; ``code`` is what the constructor returned."""
    if code:
        _check(code, what)
    return _gcp(out[0], destroy, 0)


# --------------------------------------------------------------------------------------------
# AES-GCM
# --------------------------------------------------------------------------------------------


def _aes_mode(start: Callable[..., int], stop: Callable[[Any], int], key: bytes,
              *args: Any) -> Any:
    """A mode state (ECB, CFB, OFB, CTR) over a new AES key schedule; as in pycryptodome, the
    mode owns the schedule and frees it with itself."""
    out = _newp(_PTR, None)
    _check(_aes_start(key, len(key), out), "AES key schedule")
    aes = out[0]
    code = start(aes, *args, out)
    if code:
        _aes_stop(aes)
    return _owned(stop, code, out, "AES mode")


class GcmKey:
    """AES-GCM (SP 800-38D) with 96-bit IVs, 128-bit tags and no associated data, keyed once.

    Per key (7.1 step 1): the AES key schedule, H = E_K(0^128) and the GHASH table for H.
    Per message, in one buffer: one AES call on the counter blocks J0, inc32(J0), ... (steps
    2-3; E_K(J0) masks the tag, the rest is the keystream), C = P xor keystream in place,
    S = GHASH_H(C || 0^v || [0]_64 || [len(C)]_64) (step 5), T = E_K(J0) xor S (step 6).
    """

    __slots__ = ("__weakref__", "_aes", "_table")

    def __init__(self, key: bytes) -> None:
        self._aes = _aes_mode(_ecb.ECB_start_operation, _ecb.ECB_stop_operation, key)
        h = _newp(_U8, _BLOCK)
        _check(_ecb.ECB_encrypt(self._aes, _ZERO16, h, _BLOCK), "AES")
        out = _newp(_PTR, None)
        self._table = _owned(_ghash.ghash_destroy, _ghash.ghash_expand(h, out), out, "GHASH")

    def _keystream(self, iv: bytes, blocks: int) -> Any:
        """A buffer ``E_K(J0) || E_K(inc32(J0)) || ...`` (``blocks`` blocks), then 32 spare
        bytes and 16 for GHASH's Y."""
        length = _BLOCK * blocks
        buf = _newp(_U8, length + 48)
        if blocks <= _JOINED_COUNTERS:
            # IV || [1]_32 || IV || [2]_32 ..., made by bytes.join without a C call
            counters = iv.join(_COUNTER_PARTS[: blocks + 1])
        else:
            # IV || 0^32 xor 0^96 || [i]_32 = IV || [i]_32, all blocks in one call
            _strxor((iv + _ZERO4) * blocks, _COUNTERS, buf, length)
            counters = buf
        _check(_ecb.ECB_encrypt(self._aes, counters, buf, length), "AES")
        return buf

    def seal(self, iv: bytes, plaintext: Buffer) -> bytes:
        """``C || T`` for ``plaintext`` (at most :data:`GCM_MAX_MESSAGE` bytes)."""
        plaintext = readonly_bytes(plaintext, "AES-GCM: plaintext")
        size = len(plaintext)
        padded = (size + 15) & ~15
        buf = self._keystream(iv, padded // _BLOCK + 1)
        ct = buf + _BLOCK
        if size:
            _strxor(_in(plaintext), ct, ct, size)
        # GHASH's input C || 0^v || [0]_64 || [len(C)]_64, laid out in place after C
        trailer = bytes(padded - size) + (8 * size).to_bytes(_BLOCK, "big")
        _memmove(ct + size, trailer, len(trailer))
        y = buf + (padded + 3 * _BLOCK)
        _check(_ghash.ghash(y, ct, padded + _BLOCK, _ZERO16, self._table), "GHASH")
        _strxor(y, buf, ct + size, _TAG)  # T = E_K(J0) xor S, over the padding
        return _buffer(ct, size + _TAG)[:]

    def open(self, iv: bytes, data: Buffer) -> bytes | None:
        """The plaintext of ``C || T`` (``len(data) >= 16``), or ``None`` if T is wrong.
        The tag is computed over, and the plaintext decrypted from, one immutable copy."""
        data = readonly_bytes(data, "AES-GCM: data")
        size = len(data) - _TAG
        whole = size & ~15
        blocks = (size + 15) // _BLOCK + 1
        buf = self._keystream(iv, blocks)
        src = _in(data)
        y = buf + (_BLOCK * blocks + 32)
        y_in = _ZERO16
        if whole:
            _check(_ghash.ghash(y, src, whole, y_in, self._table), "GHASH")
            y_in = y
        last = bytes(data[whole:size]) + bytes(-size % _BLOCK) + (8 * size).to_bytes(_BLOCK, "big")
        _check(_ghash.ghash(y, last, len(last), y_in, self._table), "GHASH")
        _strxor(y, buf, y, _TAG)
        if not compare_digest(_buffer(y, _TAG)[:], data[size:]):
            return None
        ct = buf + _BLOCK
        if size:
            _strxor(src, ct, ct, size)
        return _buffer(ct, size)[:]


# --------------------------------------------------------------------------------------------
# ChaCha20-Poly1305
# --------------------------------------------------------------------------------------------


def _hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha-03, 2.2): the XChaCha20 subkey."""
    subkey = _newp(_U8, 32)
    _check(_chacha.hchacha20(key, nonce16, subkey), "HChaCha20")
    return _buffer(subkey)[:]


def _chacha_init(key: bytes, nonce: bytes, out: Any) -> int:
    """Write a ChaCha20 state at block 0 into ``out``; a 24-byte nonce means XChaCha20
    (2.3: the subkey HChaCha20(key, nonce[:16]), then ChaCha20 with 0^32 || nonce[16:])."""
    if len(nonce) == 24:
        key, nonce = _hchacha20(key, nonce[:16]), _ZERO4 + nonce[16:]
    code: int = _chacha.chacha20_init(out, key, 32, nonce, len(nonce))
    return code


def _chacha20_xor(key: bytes, nonce: bytes, data: bytes, out: Any) -> None:
    """ChaCha20 keystream from block 0 xor ``data``, written to ``out``."""
    ptr = _newp(_PTR, None)
    _check(_chacha_init(key, nonce, ptr), "ChaCha20")
    state = ptr[0]
    try:
        code = _chacha.chacha20_encrypt(state, data, out, len(data))
    finally:
        _chacha.chacha20_destroy(state)
    _check(code, "ChaCha20")


def _poly1305(one_time_key: Any, message: Any, size: int, tag: Any) -> None:
    """Poly1305 (RFC 8439, 2.5) of ``size`` bytes at ``message``, written to ``tag``."""
    ptr = _newp(_PTR, None)
    _check(_poly.poly1305_init(ptr, one_time_key, 16, one_time_key + 16, 16), "Poly1305")
    mac = ptr[0]
    try:
        code = _poly.poly1305_update(mac, message, size) or _poly.poly1305_digest(mac, tag, _TAG)
    finally:
        _poly.poly1305_destroy(mac)
    _check(code, "Poly1305")


class ChaChaPolyKey:
    """AEAD_CHACHA20_POLY1305 (RFC 8439, 2.8; 12-byte nonce) and AEAD_XChaCha20_Poly1305
    (24-byte nonce), with no associated data, keyed once.

    Per message, in one buffer: keystream block 0 is the one-time Poly1305 key (2.6), the
    data is encrypted from block 1 on (one ChaCha20 call for both), and the tag is Poly1305
    over ``C || pad16(C) || le64(0) || le64(len C)``.
    """

    __slots__ = ("__weakref__", "_key")

    def __init__(self, key: bytes) -> None:
        self._key = key

    def seal(self, nonce: bytes, plaintext: Buffer) -> bytes:
        """``C || tag``; the nonce is 12 (IETF) or 24 (XChaCha) bytes."""
        plaintext = readonly_bytes(plaintext, "ChaCha20-Poly1305: plaintext")
        size = len(plaintext)
        padded = (size + 15) & ~15
        buf = _newp(_U8, 64 + padded + 16)  # one-time key block | C | MAC trailer
        _chacha20_xor(self._key, nonce, _ZERO64 + plaintext, buf)
        trailer = bytes(padded - size) + _LE64_ZERO + size.to_bytes(8, "little")
        _memmove(buf + (64 + size), trailer, len(trailer))
        _poly1305(buf, buf + 64, padded + 16, buf + (64 + size))  # the tag over the trailer
        return _buffer(buf + 64, size + _TAG)[:]

    def open(self, nonce: bytes, data: Buffer) -> bytes | None:
        """The plaintext of ``C || tag`` (``len(data) >= 16``), or ``None`` if the tag is
        wrong (nothing is released before it has been checked; both use one immutable copy)."""
        data = readonly_bytes(data, "ChaCha20-Poly1305: data")
        size = len(data) - _TAG
        padded = (size + 15) & ~15
        buf = _newp(_U8, 64 + size + padded + 32)  # one-time key | P | C || trailer | tag
        _chacha20_xor(self._key, nonce, _ZERO64 + data[:size], buf)
        mac_input = 64 + size
        lengths = _LE64_ZERO + size.to_bytes(8, "little")
        trailer = bytes(data[:size]) + bytes(padded - size) + lengths
        _memmove(buf + mac_input, trailer, len(trailer))
        tag = buf + (mac_input + padded + 16)
        _poly1305(buf, buf + mac_input, padded + 16, tag)
        if not compare_digest(_buffer(tag, _TAG)[:], data[size:]):
            return None
        return _buffer(buf + 64, size)[:]


# --------------------------------------------------------------------------------------------
# Stream ciphers
# --------------------------------------------------------------------------------------------


class RawStream:
    """One direction of a stream cipher (:class:`~.base.Stream`): a C state and the C
    function ``transform(state, in, out, length)`` that advances it."""

    __slots__ = ("__weakref__", "_state", "_transform")

    def __init__(self, state: Any, transform: Callable[..., int]) -> None:
        self._state = state
        self._transform = transform

    def update(self, data: Buffer) -> bytes:
        if type(data) is not bytes:
            data = readonly_bytes(data, "stream cipher: data")
        size = len(data)
        out = _newp(_U8, size)
        code = self._transform(
            self._state, data if type(data) is bytes else _from_buffer(_U8, data, False), out, size
        )
        if code:
            _check(code, "stream cipher")
        return _buffer(out)[:]


def aes_cfb(key: bytes, iv: bytes, segment_size: int, decrypt: bool) -> RawStream:
    """AES-CFB with ``segment_size``-byte segments (SP 800-38A, 6.3)."""
    state = _aes_mode(_cfb.CFB_start_operation, _cfb.CFB_stop_operation, key, iv, len(iv),
                      segment_size)
    return RawStream(state, _cfb.CFB_decrypt if decrypt else _cfb.CFB_encrypt)


def aes_ofb(key: bytes, iv: bytes) -> RawStream:
    """AES-OFB (SP 800-38A, 6.4)."""
    state = _aes_mode(_ofb.OFB_start_operation, _ofb.OFB_stop_operation, key, iv, len(iv))
    return RawStream(state, _ofb.OFB_encrypt)


def aes_ctr(key: bytes, iv: bytes) -> RawStream:
    """AES-CTR (SP 800-38A, 6.5): the IV is the whole initial counter block, one 128-bit
    big-endian counter (no fixed prefix)."""
    state = _aes_mode(_ctr.CTR_start_operation, _ctr.CTR_stop_operation, key, iv, len(iv), 0,
                      len(iv), 0)
    return RawStream(state, _ctr.CTR_encrypt)


def arc4(key: bytes) -> RawStream:
    """RC4 keyed with ``key``."""
    out = _newp(_PTR, None)
    state = _owned(_arc4.ARC4_stream_destroy, _arc4.ARC4_stream_init(key, len(key), out), out,
                   "RC4")
    return RawStream(state, _arc4.ARC4_stream_encrypt)


def salsa20(key: bytes, nonce: bytes) -> RawStream:
    """Salsa20/20 with an 8-byte nonce, 64-bit block counter from 0."""
    out = _newp(_PTR, None)
    code = _salsa.Salsa20_stream_init(key, len(key), nonce, len(nonce), out)
    return RawStream(_owned(_salsa.Salsa20_stream_destroy, code, out, "Salsa20"),
                     _salsa.Salsa20_stream_encrypt)


def chacha20(key: bytes, nonce: bytes) -> RawStream:
    """ChaCha20 with an 8- or 12-byte nonce, or XChaCha20 with a 24-byte one."""
    out = _newp(_PTR, None)
    state = _owned(_chacha.chacha20_destroy, _chacha_init(key, nonce, out), out, "ChaCha20")
    return RawStream(state, _chacha.chacha20_encrypt)


# --------------------------------------------------------------------------------------------
# Hashes
# --------------------------------------------------------------------------------------------


class _Hash:
    """One pycryptodome hash through its C functions ``<NAME>_init``, ``_update``,
    ``_digest``, ``_copy`` and ``_destroy``."""

    __slots__ = ("copy", "destroy", "digest", "digest_size", "init", "initial", "name", "update")

    def __init__(self, lib: Any, name: str, digest_size: int) -> None:
        self.name = name
        self.digest_size = digest_size
        self.init = getattr(lib, name + "_init")
        self.update = getattr(lib, name + "_update")
        self.digest = getattr(lib, name + "_digest")
        self.copy = getattr(lib, name + "_copy")
        self.destroy = getattr(lib, name + "_destroy")
        #: A pristine initial state, copied over a working state to start each digest.
        self.initial = self.state()

    def state(self) -> Any:
        """A working state (one per call of the functions below: states are not shared)."""
        out = _newp(_PTR, None)
        return _owned(self.destroy, self.init(out), out, self.name)

    def of(self, state: Any, out: Any, data: bytes) -> bytes:
        """The digest of ``data``, computed in ``state`` and written to ``out`` first."""
        if (self.copy(self.initial, state) or self.update(state, data, len(data))
                or self.digest(state, out)):
            raise FastPathError(f"pycryptodome C code: {self.name} failed")
        return _buffer(out)[:]

    def hmac(self, state: Any, out: Any, key: bytes, message: bytes) -> bytes:
        """HMAC (RFC 2104): H(K xor opad || H(K xor ipad || m)), computed in ``state``, for
        a hash with 64-byte blocks."""
        if len(key) > _HASH_BLOCK:
            key = self.of(state, out, key)
        key = key.ljust(_HASH_BLOCK, b"\0")
        copy, update, digest, initial = self.copy, self.update, self.digest, self.initial
        inner = key.translate(_IPAD) + message
        if copy(initial, state) or update(state, inner, len(inner)) or digest(state, out):
            raise FastPathError(f"pycryptodome C code: {self.name} failed")
        outer = key.translate(_OPAD) + _buffer(out)[:]
        if copy(initial, state) or update(state, outer, len(outer)) or digest(state, out):
            raise FastPathError(f"pycryptodome C code: {self.name} failed")
        return _buffer(out)[:]


_sha1: _Hash
_md5: _Hash


def md5(data: bytes) -> bytes:
    """MD5 (RFC 1321) of ``data``."""
    ptr, digest = _newp(_PTR, None), _newp(_U8, 16)
    _check(_md5.init(ptr), "MD5")
    state = ptr[0]
    try:
        code = _md5.update(state, data, len(data)) or _md5.digest(state, digest)
    finally:
        _md5.destroy(state)
    _check(code, "MD5")
    return _buffer(digest)[:]


def hkdf_sha1(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA1 (RFC 5869): PRK = HMAC(salt, IKM) (2.2), then T(i) = HMAC(PRK, T(i-1) ||
    info || i) (2.3), for ``length`` <= 255 * 20 bytes; an empty salt is 20 zero bytes."""
    if length > 255 * 20:
        raise ValueError("HKDF-SHA1 can derive at most 5100 bytes")
    state, out = _sha1.state(), _newp(_U8, 20)
    hmac = _sha1.hmac
    prk = hmac(state, out, salt or bytes(20), ikm)
    okm = b""
    block = b""
    counter = 1
    while len(okm) < length:
        block = hmac(state, out, prk, block + info + bytes((counter,)))
        okm += block
        counter += 1
    return okm[:length]


# --------------------------------------------------------------------------------------------
# Loading and the start-up self-test
# --------------------------------------------------------------------------------------------


def _load() -> None:
    """Bind cffi and the C functions pycryptodome's modules loaded; AES uses AES-NI when
    the CPU has it, as ``AES.new`` does."""
    global ffi, _newp, _memmove, _from_buffer, _gcp, _buffer, _U8, _PTR
    global _aes_start, _aes_stop, _ecb, _strxor, _ghash, _cfb, _ofb, _ctr
    global _arc4, _salsa, _chacha, _poly, _sha1, _md5
    from Crypto.Cipher import (
        AES,
        ARC4,
        ChaCha20,
        Salsa20,
        _mode_cfb,
        _mode_ctr,
        _mode_ecb,
        _mode_gcm,
        _mode_ofb,
    )
    from Crypto.Hash import MD5, SHA1, Poly1305
    from Crypto.Util import _cpu_features, _raw_api
    from Crypto.Util import strxor as strxor_module

    if _raw_api.backend != "cffi":
        raise ImportError("pycryptodome runs on ctypes")
    ffi = _raw_api.ffi
    backend = ffi._backend  # cffi's C module: ffi.new() is backend.newp() plus Python
    _newp, _memmove, _from_buffer = backend.newp, backend.memmove, backend.from_buffer
    _gcp, _buffer = backend.gcp, ffi.buffer
    _U8, _PTR = ffi.typeof("uint8_t[]"), ffi.typeof("void *[1]")
    aes_lib, prefix = AES._raw_aes_lib, "AES"
    if AES._raw_aes_hw is not None and _cpu_features.have_aes_ni():
        prefix = "AESNI"
        aes_lib = _raw_api.load_pycryptodome_raw_lib(
            "Crypto.Cipher._raw_aesni", AES._cproto.replace("AES", prefix)
        )
    _aes_start = getattr(aes_lib, prefix + "_start_operation")
    _aes_stop = getattr(aes_lib, prefix + "_stop_operation")
    _ecb = _mode_ecb.raw_ecb_lib
    _strxor = strxor_module._raw_strxor.strxor
    _ghash = _mode_gcm._ghash_clmul or _mode_gcm._ghash_portable
    _cfb, _ofb, _ctr = _mode_cfb.raw_cfb_lib, _mode_ofb.raw_ofb_lib, _mode_ctr.raw_ctr_lib
    _arc4, _salsa = ARC4._raw_arc4_lib, Salsa20._raw_salsa20_lib
    _chacha, _poly = ChaCha20._raw_chacha20_lib, Poly1305._raw_poly1305
    _sha1 = _Hash(SHA1._raw_sha1_lib, "SHA1", 20)
    _md5 = _Hash(MD5._raw_md5_lib, "MD5", 16)


def _self_test() -> None:
    """One call of each fast path against the public API: a pycryptodome whose C functions
    changed meaning turns the fast paths off instead of giving wrong bytes."""
    from Crypto.Cipher import AES, ARC4, ChaCha20, ChaCha20_Poly1305, Salsa20
    from Crypto.Hash import MD5, SHA1
    from Crypto.Protocol.KDF import HKDF

    key, nonce, data = bytes(range(32)), bytes(range(12)), bytes(range(100, 137))
    iv = nonce + _ZERO4
    ct, tag = AES.new(key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(data)
    checks = [GcmKey(key).seal(nonce, data) == ct + tag, GcmKey(key).open(nonce, ct + tag) == data]
    for n in (nonce, bytes(range(24))):
        ct, tag = ChaCha20_Poly1305.new(key=key, nonce=n).encrypt_and_digest(data)
        checks.append(ChaChaPolyKey(key).seal(n, data) == ct + tag)
        checks.append(ChaChaPolyKey(key).open(n, ct + tag) == data)
    public_streams: list[tuple[RawStream, Any]] = [
        (aes_cfb(key, iv, 16, False), AES.new(key, AES.MODE_CFB, iv=iv, segment_size=128)),
        (aes_ofb(key, iv), AES.new(key, AES.MODE_OFB, iv=iv)),
        (aes_ctr(key, iv), AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv)),
        (arc4(key), ARC4.new(key)),
        (salsa20(key, nonce[:8]), Salsa20.new(key, nonce[:8])),
        (chacha20(key, nonce), ChaCha20.new(key=key, nonce=nonce)),
    ]
    checks += [fast.update(data) == public.encrypt(data) for fast, public in public_streams]
    checks.append(hkdf_sha1(key, nonce, b"ss-subkey", 32)
                  == HKDF(key, 32, nonce, SHA1, context=b"ss-subkey"))
    checks.append(md5(data) == MD5.new(data).digest())
    if not all(checks):
        raise ImportError("a fast path disagrees with pycryptodome's public API")


def _enable() -> bool:
    if os.environ.get("REFCRYPTO_FAST", "1") == "0":
        return False
    try:
        _load()
        _self_test()
    except (ImportError, AttributeError, OSError, ValueError, TypeError):
        return False
    return True


#: Whether the fast paths are in use (see the module docstring for when they are not).
ENABLED: bool = _enable()
