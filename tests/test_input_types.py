"""Every public entry point, on every method, takes a buffer as its bytes or refuses it.

* Buffers of wider items (``memoryview.cast('Q')``, ``array.array('I')``) count as their
  ``nbytes`` bytes on both paths (the fast C calls and pycryptodome's public API): the same
  wire bytes as ``bytes`` input, never truncated, never a crash. Each method runs in its own
  subprocess, so a segmentation fault fails its test instead of the whole run.
* Values that are not bytes-like (str, int, None, float, list) raise ``TypeError`` naming the
  method, the argument and the type received (``bytes(5)`` would be five zero bytes).
* A ``bytearray`` changed by another thread while an AEAD opens it never yields plaintext of a
  ciphertext that did not authenticate.
* The thread rules: AEAD key objects may be shared; codecs refuse a second thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import refcrypto
from refcrypto import ConcurrentUse, InvalidTag
from refcrypto.methods import Method
from refcrypto.primitives import _fast
from refcrypto.primitives import aead as aead_module
from refcrypto.wire.aead import AeadDecoder, AeadEncoder
from refcrypto.wire.stream import StreamDecoder, StreamEncoder

ALL_METHODS = refcrypto.methods(extensions=True)
NAMES = [m.name for m in ALL_METHODS]

# --------------------------------------------------------------------------------------------
# Buffers of every item size, in a subprocess per method
# --------------------------------------------------------------------------------------------

# Run inside the child: for the fast path (if it is on) and the public path, every entry
# point with every buffer shape must give exactly what bytes input gives.
_CHILD = r"""
import array, json, sys
import refcrypto
from refcrypto.primitives import _fast

name = sys.argv[1]
row = refcrypto.method(name)
iv = bytes(range(row.iv_size))
key = refcrypto.master_key("pw", row)

# AEAD methods: over one SIP004 chunk (0x3FFF bytes), so a write is split into chunks;
# stream methods: a few blocks (the pure-Python CFB-1 runs at about 150 KB/s).
SIZE = 20000 if row.is_aead else 200

def plaintext(size):
    return bytes((7 * i + 3) & 0xFF for i in range(size))

def aligned(make):
    # The plaintext nearest SIZE bytes whose output from make() is a multiple of 8 bytes
    # long, so that every item size divides the buffer.
    for size in range(SIZE, SIZE + 8):
        if len(make(plaintext(size))) % 8 == 0:
            return plaintext(size)
    raise AssertionError("no aligned size")

data = plaintext(SIZE)

def shapes(raw):
    yield "bytes", raw
    yield "bytearray", bytearray(raw)
    for fmt in "bBhHiIlLqQfdc":
        yield "memoryview.cast(%r)" % fmt, memoryview(raw).cast(fmt)
    for code in "bBhHiIlLqQfd":
        yield "array(%r)" % code, array.array(code, raw)
    yield "2-D memoryview", memoryview(raw).cast("B", (len(raw) // 8, 8))
    yield "readonly view of bytearray", memoryview(bytearray(raw)).toreadonly()

def entry_points(raw_wire, raw_packet):
    # (entry point, its argument, function of one buffer)
    yield "Cryptor.encrypt", "data", lambda b: refcrypto.Cryptor("pw", row, iv=iv).encrypt(b)
    yield "Cryptor.decrypt", "data", lambda b: refcrypto.Cryptor("pw", row).decrypt(b)
    yield "encrypt_all", "data", lambda b: refcrypto.encrypt_all("pw", row, b, iv=iv)
    yield "decrypt_all", "data", lambda b: refcrypto.decrypt_all("pw", row, b)
    yield "new_encoder.update", "data", lambda b: refcrypto.new_encoder(row, key, iv).update(b)
    yield "new_decoder.update", "data", lambda b: refcrypto.new_decoder(row, key).update(b)
    yield "Cryptor(password)", "password", lambda b: refcrypto.Cryptor(b, row, iv=iv).encrypt(data)
    yield "master_key", "password", lambda b: refcrypto.master_key(b, row)

results = {}
for fast in ([True, False] if _fast.ENABLED else [False]):
    _fast.ENABLED = fast
    tcp = lambda p: refcrypto.Cryptor("pw", row, iv=iv).encrypt(p)
    udp = lambda p: refcrypto.encrypt_all("pw", row, p, iv=iv)
    wire = tcp(aligned(tcp))
    packet = udp(aligned(udp))
    inputs = {"data": None, "password": b"pw-" + data[:61]}
    for entry, arg, call in entry_points(wire, packet):
        if entry in ("Cryptor.decrypt", "new_decoder.update"):
            raw = wire
        elif entry == "decrypt_all":
            raw = packet
        elif arg == "password":
            raw = inputs["password"]
        else:
            raw = data
        expected = call(raw)
        for shape, buf in shapes(raw):
            try:
                got = call(buf)
            except Exception as exc:  # a refusal must be TypeError, and only for 2-D views
                got = "%s: %s" % (type(exc).__name__, exc)
            key_ = "%s %s %s" % ("fast" if fast else "public", entry, shape)
            results[key_] = "same" if got == expected else (
                got if isinstance(got, str) else "DIFFERENT (%d bytes, expected %d)"
                % (len(got), len(expected)))
print(json.dumps(results))
"""


@pytest.mark.parametrize("name", NAMES)
def test_buffers_of_every_item_size_count_as_their_bytes(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, name], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    assert proc.returncode == 0, f"child died ({proc.returncode}):\n{proc.stderr[-3000:]}"
    results: dict[str, str] = json.loads(proc.stdout)
    # 8 entry points x 29 shapes, on one or two paths
    paths = 2 if _fast.ENABLED else 1
    assert len(results) == paths * 8 * 29
    wrong = {k: v for k, v in results.items() if v != "same"}
    assert not wrong, f"{len(wrong)} of {len(results)} calls differ from bytes input: {wrong}"


# --------------------------------------------------------------------------------------------
# Values that are not bytes-like
# --------------------------------------------------------------------------------------------

NOT_BYTES: list[Any] = ["text", 5, None, 1.5, [1, 2, 3], {"a": 1}]


def _entry(entry: str, row: Method, bad: Any) -> Callable[[], object]:
    key = refcrypto.master_key("pw", row)
    iv = bytes(row.iv_size)
    wire = refcrypto.Cryptor("pw", row, iv=iv).encrypt(b"x")
    calls: dict[str, Callable[[], object]] = {
        "Cryptor.encrypt": lambda: refcrypto.Cryptor("pw", row).encrypt(bad),
        "Cryptor.decrypt": lambda: refcrypto.Cryptor("pw", row).decrypt(bad),
        "Cryptor(iv=)": lambda: refcrypto.Cryptor("pw", row, iv=bad),
        "Cryptor(password)": lambda: refcrypto.Cryptor(bad, row),
        "encrypt_all(data)": lambda: refcrypto.encrypt_all("pw", row, bad),
        "encrypt_all(iv=)": lambda: refcrypto.encrypt_all("pw", row, b"x", iv=bad),
        "decrypt_all(data)": lambda: refcrypto.decrypt_all("pw", row, bad),
        "new_encoder(key)": lambda: refcrypto.new_encoder(row, bad),
        "new_encoder(iv)": lambda: refcrypto.new_encoder(row, key, bad),
        "new_encoder.update": lambda: refcrypto.new_encoder(row, key, iv).update(bad),
        "new_decoder(key)": lambda: refcrypto.new_decoder(row, bad),
        "new_decoder.update": lambda: refcrypto.new_decoder(row, key).update(bad),
        "decoder after a partial read": lambda: _after(refcrypto.new_decoder(row, key), wire, bad),
        "master_key": lambda: refcrypto.master_key(bad, row),
    }
    return calls[entry]


def _after(decoder: Any, wire: bytes, bad: Any) -> object:
    decoder.update(wire[:1])
    return decoder.update(bad)


ENTRIES = [
    "Cryptor.encrypt", "Cryptor.decrypt", "Cryptor(iv=)", "Cryptor(password)",
    "encrypt_all(data)", "encrypt_all(iv=)", "decrypt_all(data)", "new_encoder(key)",
    "new_encoder(iv)", "new_encoder.update", "new_decoder(key)", "new_decoder.update",
    "decoder after a partial read", "master_key",
]
_ARGUMENT = {
    "Cryptor(iv=)": ("iv", "salt"), "encrypt_all(iv=)": ("iv", "salt"),
    "new_encoder(iv)": ("iv", "salt"), "Cryptor(password)": ("password",),
    "master_key": ("password",), "new_encoder(key)": ("key",), "new_decoder(key)": ("key",),
    "decrypt_all(data)": ("packet",),
}


@given(
    row=st.sampled_from(ALL_METHODS),
    entry=st.sampled_from(ENTRIES),
    bad=st.sampled_from(NOT_BYTES),
)
def test_values_that_are_not_bytes_like_raise_type_error(row: Method, entry: str, bad: Any) -> None:
    if bad is None and entry in ("Cryptor(iv=)", "encrypt_all(iv=)", "new_encoder(iv)"):
        return  # iv=None means "random": the documented default
    if isinstance(bad, str) and entry in ("Cryptor(password)", "master_key"):
        return  # a str password is UTF-8, as documented
    with pytest.raises(TypeError) as info:
        _entry(entry, row, bad)()
    message = str(info.value)
    assert row.name in message, message
    assert any(arg in message for arg in _ARGUMENT.get(entry, ("data",))), message
    assert type(bad).__name__ in message, message


def test_every_entry_and_type_is_reached() -> None:
    # The property above samples; this walks the whole grid once on a few methods.
    count = 0
    for name in ("aes-128-cfb", "camellia-128-cfb", "aes-256-gcm", "table", "rc4"):
        row = refcrypto.method(name)
        for entry in ENTRIES:
            for bad in NOT_BYTES:
                if (bad is None and "iv" in entry) or (
                    isinstance(bad, str) and entry in ("Cryptor(password)", "master_key")
                ):
                    continue
                with pytest.raises(TypeError, match=type(bad).__name__):
                    _entry(entry, row, bad)()
                count += 1
    assert count >= 5 * 14 * 5


def test_the_two_examples_from_the_report() -> None:
    with pytest.raises(TypeError, match=r"camellia-128-cfb: data .* not int"):
        refcrypto.Cryptor("pw", "camellia-128-cfb").encrypt(5)
    with pytest.raises(TypeError, match=r"aes-128-cfb: data .* not str"):
        refcrypto.Cryptor("pw", "aes-128-cfb").encrypt("text")


# --------------------------------------------------------------------------------------------
# A buffer changed by another thread while it is opened
# --------------------------------------------------------------------------------------------


def _race(open_: Callable[[bytearray], bytes], sealed: bytes, plaintext: bytes,
          rounds: int = 60) -> tuple[int, int]:
    """Open a bytearray of ``sealed`` while a thread keeps flipping one of its bytes; every
    open must return ``plaintext`` (it read the unflipped bytes) or raise InvalidTag."""
    buf = bytearray(sealed)
    stop = threading.Event()
    where = len(buf) // 2

    def flipper() -> None:
        while not stop.is_set():
            buf[where] ^= 1

    thread = threading.Thread(target=flipper)
    good = bad = 0
    thread.start()
    try:
        for _ in range(rounds):
            try:
                got = open_(buf)
            except InvalidTag:
                bad += 1
                continue
            assert got == plaintext, "plaintext of a ciphertext that did not authenticate"
            good += 1
    finally:
        stop.set()
        thread.join()
    return good, bad


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "public"])
@pytest.mark.parametrize("name", ["aes-256-gcm", "chacha20-ietf-poly1305",
                                  "xchacha20-ietf-poly1305", "aes-128-ocb",
                                  "chacha20-poly1305"])
def test_a_buffer_changed_during_open_never_gives_unauthenticated_plaintext(
    name: str, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fast and not _fast.ENABLED:
        pytest.skip("the fast paths are off in this environment")
    monkeypatch.setattr(_fast, "ENABLED", fast)
    row = refcrypto.method(name)
    plaintext = bytes(i & 0xFF for i in range(65536 - 16 - row.iv_size))
    aead = row.new_aead(bytes(row.key_size))
    nonce = bytes(row.nonce_size)
    sealed = aead.seal(nonce, plaintext)
    good, bad = _race(lambda b: aead.open(nonce, b), sealed, plaintext)
    assert good + bad == 60
    packet = refcrypto.encrypt_all("pw", row, plaintext)
    good, bad = _race(lambda b: refcrypto.decrypt_all("pw", row, b), packet, plaintext, 30)
    assert good + bad == 30


# --------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [aead_module.AESGCM, aead_module.ChaCha20Poly1305IETF,
                                 aead_module.XChaCha20Poly1305])
def test_one_aead_object_may_seal_and_open_from_many_threads(cls: Any) -> None:
    aead = cls(bytes(range(32)))
    messages = [bytes([i]) * (i * 97 % 3000) for i in range(200)]
    nonces = [i.to_bytes(aead.nonce_size, "little") for i in range(200)]
    expected = [aead.seal(n, m) for n, m in zip(nonces, messages, strict=True)]
    errors: list[str] = []

    def worker(offset: int) -> None:
        for _ in range(3):
            for i in range(offset, 200, 4):
                if aead.seal(nonces[i], messages[i]) != expected[i]:
                    errors.append(f"seal {i}")
                if aead.open(nonces[i], expected[i]) != messages[i]:
                    errors.append(f"open {i}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


class _Blocking:
    """A primitive source whose stream/AEAD blocks inside its first call until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def _wait(self) -> None:
        self.entered.set()
        assert self.release.wait(10)

    def new_stream(self, method: Method, key: bytes, iv: bytes, decrypt: bool) -> Any:
        inner = method.new_stream(key, iv, decrypt)
        outer = self

        class S:
            def update(self, data: bytes) -> bytes:
                outer._wait()
                return inner.update(data)

        return S()

    def new_aead(self, method: Method, key: bytes) -> Any:
        inner = method.new_aead(key)
        outer = self

        class A:
            def seal(self, nonce: bytes, data: bytes) -> bytes:
                outer._wait()
                return inner.seal(nonce, data)

            def open(self, nonce: bytes, data: bytes) -> bytes:
                outer._wait()
                return inner.open(nonce, data)

        return A()


@pytest.mark.parametrize("kind", ["stream-encoder", "stream-decoder", "aead-encoder",
                                  "aead-decoder"])
def test_a_codec_entered_from_a_second_thread_raises(kind: str) -> None:
    source = _Blocking()
    name = "aes-128-cfb" if kind.startswith("stream") else "aes-128-gcm"
    row = refcrypto.method(name)
    key = refcrypto.master_key("pw", row)
    iv = bytes(row.iv_size)
    wire = refcrypto.new_encoder(row, key, iv).update(b"hello")
    codec: Any
    if kind == "stream-encoder":
        codec, data = StreamEncoder(row, key, iv, backend=source), b"hello"
    elif kind == "stream-decoder":
        codec, data = StreamDecoder(row, key, backend=source), wire
    elif kind == "aead-encoder":
        codec, data = AeadEncoder(row, key, iv, backend=source), b"hello"
    else:
        codec, data = AeadDecoder(row, key, backend=source), wire
    results: list[bytes] = []
    first = threading.Thread(target=lambda: results.append(codec.update(data)))
    first.start()
    try:
        assert source.entered.wait(10)
        with pytest.raises(ConcurrentUse, match=f"{name}: .* two threads"):
            codec.update(data)
    finally:
        source.release.set()
        first.join()
    assert len(results) == 1 and results[0]  # the first call completed normally
    # and the object is usable again once the first call has returned
    assert isinstance(codec.update(b""), bytes)


def test_cryptor_finish_reports_a_stream_cut_inside_a_chunk() -> None:
    wire = refcrypto.Cryptor("pw", "aes-128-gcm").encrypt(b"hello world")
    receiver = refcrypto.Cryptor("pw", "aes-128-gcm")
    assert receiver.decrypt(wire[:-3]) == b""
    with pytest.raises(refcrypto.TruncatedData, match="aes-128-gcm"):
        receiver.finish()
    whole = refcrypto.Cryptor("pw", "aes-128-gcm")
    assert whole.decrypt(wire) == b"hello world"
    whole.finish()  # a complete stream: nothing to report
