"""The fast paths give the same bytes as the plain paths, for every method and every split.

``refcrypto.primitives._fast`` calls pycryptodome's C code directly; with it disabled
(``_fast.ENABLED = False``, as when pycryptodome runs on ctypes, or ``REFCRYPTO_FAST=0``)
every primitive goes through pycryptodome's public API. Checked here:

* each fast primitive against pycryptodome's public object: AES-GCM (every key size, lengths
  around block and buffer boundaries, up to the fast-path limit and beyond), (X)ChaCha20-
  Poly1305, the stream ciphers at every split, HKDF-SHA1 and MD5; tampering is refused;
* every method of the table, as a whole (``Cryptor``, ``encrypt_all``): fast and plain give
  the same wire for the same IV, whatever the write split, and each decodes the other's wire
  at every split of it (single split points exhaustively, several with Hypothesis);
* the decoder's buffering (input kept as ``bytes`` slices, pending bytes joined once) gives
  the same result fed byte by byte, in one piece, or from bytearray/memoryview input;
* the switch itself: ``REFCRYPTO_FAST=0`` and a failing self-test turn the fast paths off.

No test here measures time (CONTRIBUTING.md): speed is for ``bench/`` and ``refcrypto bench``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from Crypto.Cipher import AES, ARC4, ChaCha20, ChaCha20_Poly1305, Salsa20
from Crypto.Hash import MD5, SHA1
from Crypto.Protocol.KDF import HKDF
from hypothesis import given
from hypothesis import strategies as st

import refcrypto
from refcrypto import Cryptor, decrypt_all, encrypt_all
from refcrypto.errors import InvalidNonceSize, InvalidTag, TruncatedData
from refcrypto.kdf import session_subkey
from refcrypto.methods import Method
from refcrypto.primitives import _fast
from refcrypto.primitives.aead import AESGCM, ChaCha20Poly1305IETF, XChaCha20Poly1305
from refcrypto.wire.aead import MAX_CHUNK_PAYLOAD

pytestmark = pytest.mark.skipif(not _fast.ENABLED, reason="fast paths disabled in this build")

ALL = refcrypto.methods(extensions=True)
KEY = bytes(range(1, 33))
#: Message lengths around the GCM block, the joined-counter limit and the chunk limit.
LENGTHS = [*range(0, 70), 255, 256, 257, 271, 272, 273, 1000, 16383, 16384]


def ids(m: Method) -> str:
    return m.name


@contextlib.contextmanager
def fast_paths(enabled: bool) -> Iterator[None]:
    """Objects made in this block, including those codecs make lazily when the IV or salt
    arrives, use the fast paths or only pycryptodome's public API."""
    saved = _fast.ENABLED
    _fast.ENABLED = enabled
    try:
        yield
    finally:
        _fast.ENABLED = saved


def pieces(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted(p % (len(data) + 1) for p in points)
    out, last = [], 0
    for edge in edges:
        out.append(data[last:edge])
        last = edge
    return [*out, data[last:]]


# --------------------------------------------------------------------------------------------
# The fast primitives against pycryptodome's public objects
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_size", [16, 24, 32])
def test_gcm_equals_pycryptodome(key_size: int) -> None:
    key = KEY[:key_size]
    engine = _fast.GcmKey(key)
    for size in [*LENGTHS, _fast.GCM_MAX_MESSAGE]:
        nonce = size.to_bytes(12, "little")
        message = bytes((i * 7 + size) & 0xFF for i in range(size))
        ciphertext, tag = AES.new(key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(message)
        sealed = ciphertext + tag
        assert engine.seal(nonce, message) == sealed, size
        assert engine.seal(nonce, bytearray(message)) == sealed
        assert engine.seal(nonce, memoryview(message)) == sealed
        assert engine.open(nonce, sealed) == message
        assert engine.open(nonce, memoryview(bytearray(sealed))) == message
        for flip in {0, len(sealed) // 2, len(sealed) - 1}:
            damaged = bytearray(sealed)
            damaged[flip] ^= 0x01
            assert engine.open(nonce, bytes(damaged)) is None


@pytest.mark.parametrize("nonce_size", [12, 24])
def test_chacha20_poly1305_equals_pycryptodome(nonce_size: int) -> None:
    engine = _fast.ChaChaPolyKey(KEY)
    for size in [*LENGTHS, 70000]:
        nonce = size.to_bytes(nonce_size, "little")
        message = bytes((i * 13 + size) & 0xFF for i in range(size))
        ciphertext, tag = ChaCha20_Poly1305.new(key=KEY, nonce=nonce).encrypt_and_digest(message)
        sealed = ciphertext + tag
        assert engine.seal(nonce, message) == sealed, size
        assert engine.seal(nonce, memoryview(bytearray(message))) == sealed
        assert engine.open(nonce, sealed) == message
        assert engine.open(nonce, memoryview(sealed)) == message
        for flip in {0, len(sealed) // 2, len(sealed) - 1}:
            damaged = bytearray(sealed)
            damaged[flip] ^= 0x80
            assert engine.open(nonce, bytes(damaged)) is None


def _public_streams(key: bytes, iv: bytes, decrypt: bool) -> list[tuple[object, object]]:
    """(fast stream, public pycryptodome method) pairs for every fast stream factory."""
    cfb = AES.new(key, AES.MODE_CFB, iv=iv, segment_size=128)
    cfb8 = AES.new(key, AES.MODE_CFB, iv=iv, segment_size=8)
    return [
        (_fast.aes_cfb(key, iv, 16, decrypt), cfb.decrypt if decrypt else cfb.encrypt),
        (_fast.aes_cfb(key, iv, 1, decrypt), cfb8.decrypt if decrypt else cfb8.encrypt),
        (_fast.aes_ofb(key, iv), AES.new(key, AES.MODE_OFB, iv=iv).encrypt),
        (_fast.aes_ctr(key, iv), AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt),
        (_fast.arc4(key), ARC4.new(key).encrypt),
        (_fast.salsa20(KEY, iv[:8]), Salsa20.new(KEY, iv[:8]).encrypt),
        (_fast.chacha20(KEY, iv[:8]), ChaCha20.new(key=KEY, nonce=iv[:8]).encrypt),
        (_fast.chacha20(KEY, iv[:12]), ChaCha20.new(key=KEY, nonce=iv[:12]).encrypt),
        (_fast.chacha20(KEY, iv + iv[:8]), ChaCha20.new(key=KEY, nonce=iv + iv[:8]).encrypt),
    ]


@pytest.mark.parametrize("decrypt", [False, True], ids=["encrypt", "decrypt"])
@pytest.mark.parametrize("key_size", [16, 24, 32])
@given(data=st.binary(max_size=1500), points=st.lists(st.integers(0, 1 << 12), max_size=10))
def test_streams_equal_pycryptodome_at_any_split(
    key_size: int, decrypt: bool, data: bytes, points: list[int]
) -> None:
    iv = bytes(range(200, 216))
    for fast, public in _public_streams(KEY[:key_size], iv, decrypt):
        expected = public(data)  # type: ignore[operator]
        got = b"".join(fast.update(piece) for piece in pieces(data, points))  # type: ignore[attr-defined]
        assert got == expected


def test_stream_counters_carry_and_inputs_of_every_buffer_type() -> None:
    data = bytes(range(256)) * 5
    for iv in (b"\xff" * 16, bytes(15) + b"\xfe", bytes(8) + b"\xff" * 8):
        expected = AES.new(KEY, AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(data)
        for kind in (bytes, bytearray, memoryview):
            assert _fast.aes_ctr(KEY, iv).update(kind(data)) == expected  # type: ignore[arg-type]


def test_hkdf_and_md5_equal_pycryptodome() -> None:
    for length in (1, 16, 20, 21, 24, 32, 40, 64, 100, 255):
        for salt in (b"", bytes(16), KEY, KEY * 3):
            for ikm in (KEY[:16], KEY, KEY * 3):
                expected = HKDF(ikm, length, salt, SHA1, context=b"ss-subkey")
                assert _fast.hkdf_sha1(ikm, salt, b"ss-subkey", length) == expected
    with pytest.raises(ValueError):
        _fast.hkdf_sha1(KEY, KEY, b"", 255 * 20 + 1)
    for size in (0, 1, 55, 56, 63, 64, 65, 1000):
        data = bytes(range(size % 256)) * (size // 256 + 1)
        assert _fast.md5(data[:size]) == MD5.new(data[:size]).digest()


def test_objects_are_safe_to_share_between_threads() -> None:
    """No object here keeps per-call state, and cffi releases the GIL around C calls."""
    gcm, chacha = _fast.GcmKey(KEY), _fast.ChaChaPolyKey(KEY)
    errors: list[str] = []

    def worker(index: int) -> None:
        for n in range(300):
            nonce = (index * 1000 + n).to_bytes(12, "little")
            message = nonce * (n % 40)
            for engine in (gcm, chacha):
                if engine.open(nonce, engine.seal(nonce, message)) != message:
                    errors.append(f"{type(engine).__name__} {index} {n}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --------------------------------------------------------------------------------------------
# The AEAD classes: fast and plain agree, also on every error
# --------------------------------------------------------------------------------------------


AEAD_CLASSES = [(AESGCM, 16), (AESGCM, 32), (ChaCha20Poly1305IETF, 32), (XChaCha20Poly1305, 32)]


@pytest.mark.parametrize(("cls", "key_size"), AEAD_CLASSES, ids=lambda x: getattr(x, "name", x))
def test_aead_classes_fast_and_plain_agree(cls: type, key_size: int) -> None:
    with fast_paths(True):
        fast = cls(KEY[:key_size])
    with fast_paths(False):
        plain = cls(KEY[:key_size])
    assert fast._engine is not None and plain._engine is None
    nonce = bytes(range(cls.nonce_size))
    for size in (0, 1, 17, 100, 16383, 70000):  # 70000: past GCM's fast-path limit
        message = bytes(size)
        sealed = plain.seal(nonce, message)
        assert fast.seal(nonce, message) == sealed
        assert fast.open(nonce, sealed) == plain.open(nonce, sealed) == message
        assert fast.seal(nonce, message, b"ad") == plain.seal(nonce, message, b"ad")
    for aead in (fast, plain):
        with pytest.raises(InvalidNonceSize, match="nonce must be"):
            aead.seal(bytes(cls.nonce_size + 1), b"x")
        with pytest.raises(InvalidNonceSize):
            aead.open(bytes(5), bytes(20))
        with pytest.raises(TruncatedData):
            aead.open(nonce, bytes(15))
        with pytest.raises(InvalidTag, match="tag does not match"):
            aead.open(nonce, bytes(16))


# --------------------------------------------------------------------------------------------
# Every method, whole: Cryptor and UDP packets
# --------------------------------------------------------------------------------------------


MESSAGE = bytes(range(256)) + b"refcrypto" * 30  # 526 bytes


def session(enabled: bool, m: Method, iv: bytes, writes: list[bytes], reads: list[int]
            ) -> tuple[bytes, bytes]:
    """The wire of ``writes`` from a sender with ``iv``, and what a receiver decodes from it
    cut at ``reads``; everything with the fast paths on or off."""
    with fast_paths(enabled):
        sender, receiver = Cryptor("pw", m, iv=iv), Cryptor("pw", m)
        wire = b"".join(sender.encrypt(piece) for piece in writes)
        return wire, b"".join(receiver.decrypt(piece) for piece in pieces(wire, reads))


@pytest.mark.parametrize("m", ALL, ids=ids)
def test_same_wire_and_every_single_split(m: Method) -> None:
    iv = bytes(range(m.iv_size))
    writes = [MESSAGE, MESSAGE[:5]]
    wire, _ = session(False, m, iv, writes, [])
    assert session(True, m, iv, writes, [])[0] == wire
    step = 1 if len(wire) <= 700 else 3
    for split in range(0, len(wire) + 1, step):
        for enabled in (True, False):
            with fast_paths(enabled):
                receiver = Cryptor("pw", m)
                got = receiver.decrypt(wire[:split]) + receiver.decrypt(wire[split:])
            assert got == MESSAGE + MESSAGE[:5], (enabled, split)


@pytest.mark.parametrize("m", ALL, ids=ids)
@given(data=st.binary(max_size=3000), enc=st.lists(st.integers(0, 1 << 14), max_size=6),
       dec=st.lists(st.integers(0, 1 << 14), max_size=6))
def test_fast_and_plain_agree_at_any_splits(
    m: Method, data: bytes, enc: list[int], dec: list[int]
) -> None:
    iv = bytes(reversed(range(m.iv_size)))
    fast_wire, fast_data = session(True, m, iv, pieces(data, enc), dec)
    plain_wire, plain_data = session(False, m, iv, pieces(data, enc), dec)
    assert fast_wire == plain_wire
    assert fast_data == plain_data == data


@pytest.mark.parametrize("m", [m for m in ALL if m.is_aead], ids=ids)
def test_decoder_inputs_of_every_kind_and_byte_by_byte(m: Method) -> None:
    data = bytes(range(256)) * 80  # 20480 bytes: two chunks per write
    sender = Cryptor("pw", m)
    wire = sender.encrypt(data) + sender.encrypt(data[:MAX_CHUNK_PAYLOAD])
    expected = data + data[:MAX_CHUNK_PAYLOAD]
    for kind in (bytes, bytearray, memoryview):
        assert Cryptor("pw", m).decrypt(kind(wire)) == expected  # type: ignore[arg-type]
    receiver = Cryptor("pw", m)
    head = wire[:3000]
    assert b"".join(receiver.decrypt(head[i : i + 1]) for i in range(len(head))) + (
        receiver.decrypt(wire[3000:])
    ) == expected
    assert receiver._decoder.pending == 0


@pytest.mark.parametrize("m", ALL, ids=ids)
def test_udp_fast_and_plain_agree(m: Method) -> None:
    iv = bytes(range(3, 3 + m.iv_size))
    for size in (0, 1, 512, 1500):
        data = (bytes(range(256)) * 6)[:size]
        with fast_paths(False):
            packet = encrypt_all("pw", m, data, iv=iv)
            assert decrypt_all("pw", m, packet) == data
        with fast_paths(True):
            assert encrypt_all("pw", m, data, iv=iv) == packet
            assert decrypt_all("pw", m, packet) == data


@pytest.mark.parametrize("m", [m for m in ALL if m.is_aead], ids=ids)
def test_subkey_fast_and_plain_agree(m: Method) -> None:
    master = refcrypto.master_key("pw", m)
    salt = bytes(range(m.salt_size))
    with fast_paths(True):
        fast = session_subkey(master, salt)
    with fast_paths(False):
        assert session_subkey(master, salt) == fast


# --------------------------------------------------------------------------------------------
# The switch
# --------------------------------------------------------------------------------------------


def test_environment_turns_the_fast_paths_off() -> None:
    code = "from refcrypto.primitives import _fast; print(_fast.ENABLED)"
    env = {**os.environ, "REFCRYPTO_FAST": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_failing_self_test_turns_the_fast_paths_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def disagree() -> None:
        raise ImportError("a fast path disagrees with pycryptodome's public API")

    monkeypatch.setattr(_fast, "_self_test", disagree)
    assert _fast._enable() is False
    monkeypatch.undo()
    assert _fast._enable() is True


def test_plain_objects_have_no_fast_parts() -> None:
    with fast_paths(False):
        assert AESGCM(KEY)._engine is None
        cryptor = Cryptor("pw", "aes-256-cfb")
    assert type(cryptor._encoder._stream).__module__ == "refcrypto.primitives.streams"
    with fast_paths(True):
        cryptor = Cryptor("pw", "aes-256-cfb")
    assert type(cryptor._encoder._stream) is _fast.RawStream
