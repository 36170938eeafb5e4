"""Tests for the pure-Python BLAKE3 (refcrypto.primitives.blake3).

Known answers: every case of the official BLAKE3 test vectors (vectors/blake3/README.md) in
the three modes, at the full 131 bytes and at the default 32, one-shot and through the
incremental hasher fed in random splits and read with ``seek``. Then the compression function
against a textbook transcription of the paper (section 2.2 and the round-function appendix),
the lane-sliced many-chunks path against the one-chunk path, Hypothesis differential tests
against the ``blake3`` package on PyPI (the BLAKE3 team's Rust implementation; a test
dependency only) and against Debian's ``b3sum`` when it is installed, the error cases, and a
check that the module never loads the ``blake3`` package itself.

Speed is not asserted here; it was measured with ``python -m timeit`` (see the module
docstring of refcrypto.primitives.blake3).
"""

from __future__ import annotations

import array
import gc
import importlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refcrypto.errors import InvalidKeySize, RefcryptoError
from refcrypto.primitives import blake3 as pure
from refcrypto.primitives.blake3 import Blake3Hasher
from refcrypto.vectorfiles import vector_path

REQUIRE_NATIVE_ENV = "REFCRYPTO_REQUIRE_NATIVE"


def _skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail when ``REFCRYPTO_REQUIRE_NATIVE=1`` asks for every checker to run."""
    if os.environ.get(REQUIRE_NATIVE_ENV) == "1":
        pytest.fail(f"{REQUIRE_NATIVE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


try:
    _NATIVE: ModuleType | None = importlib.import_module("blake3")
    _NATIVE_MISSING = ""
except ImportError as exc:  # a test dependency (pyproject.toml, extra "test")
    _NATIVE = None
    _NATIVE_MISSING = f"the blake3 package from PyPI is not installed ({exc})"


def native() -> ModuleType:
    """The PyPI ``blake3`` module, or skip (fail under REFCRYPTO_REQUIRE_NATIVE=1)."""
    if _NATIVE is None:
        _skip_or_fail(_NATIVE_MISSING)
    return _NATIVE


# --- the official vectors -------------------------------------------------------------------

VECTOR_FILE = "blake3/test_vectors.json"
FULL_LEN = 131  # every output in the file is 131 bytes (2.6: extended output)


def _load_vectors() -> dict[str, Any]:
    with open(vector_path(VECTOR_FILE), encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


VECTORS = _load_vectors()
CASES: list[dict[str, Any]] = VECTORS["cases"]
KEY = VECTORS["key"].encode("ascii")
CONTEXT: str = VECTORS["context_string"]
MODES = ("hash", "keyed_hash", "derive_key")


def vector_input(length: int) -> bytes:
    """The input of a case: ``length`` bytes of 0, 1, ..., 250, 0, 1, ... (the file's rule)."""
    pattern = bytes(range(251))
    return (pattern * (length // 251 + 1))[:length]


def _case_id(case: dict[str, Any]) -> str:
    return f"len{case['input_len']}"


def _oneshot(mode: str, data: bytes, length: int) -> bytes:
    if mode == "hash":
        return pure.blake3(data, length)
    if mode == "keyed_hash":
        return pure.keyed_hash(KEY, data, length)
    return pure.derive_key(CONTEXT, data, length)


def _hasher(mode: str) -> Blake3Hasher:
    if mode == "hash":
        return Blake3Hasher()
    if mode == "keyed_hash":
        return Blake3Hasher(KEY)
    return Blake3Hasher(context=CONTEXT)


def test_vector_file_shape() -> None:
    # A parser slip must not silently shrink the parametrized sets below.
    assert len(CASES) == 35
    assert len(KEY) == 32
    assert CONTEXT == "BLAKE3 2019-12-27 16:29:52 test vectors context"
    lengths = [case["input_len"] for case in CASES]
    assert lengths == sorted(set(lengths))
    assert lengths[0] == 0 and lengths[-1] == 102400
    # Both sides of the block and chunk boundaries are there.
    assert {63, 64, 65, 1023, 1024, 1025, 2048, 2049, 16384, 31744} <= set(lengths)
    for case in CASES:
        for mode in MODES:
            assert len(bytes.fromhex(case[mode])) == FULL_LEN, (case["input_len"], mode)


def test_vector_input_rule() -> None:
    data = vector_input(600)
    assert data[:3] == b"\x00\x01\x02" and data[250] == 250 and data[251] == 0 and data[502] == 0
    assert len(data) == 600


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_official_vector_oneshot(case: dict[str, Any], mode: str) -> None:
    data = vector_input(case["input_len"])
    expected = bytes.fromhex(case[mode])
    assert _oneshot(mode, data, FULL_LEN) == expected
    assert _oneshot(mode, data, 32) == expected[:32]
    if mode == "hash":
        assert pure.blake3(data) == expected[:32]
    elif mode == "keyed_hash":
        assert pure.keyed_hash(KEY, data) == expected[:32]
    else:
        assert pure.derive_key(CONTEXT, data) == expected[:32]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_official_vector_incremental(case: dict[str, Any], mode: str) -> None:
    length = case["input_len"]
    data = vector_input(length)
    expected = bytes.fromhex(case[mode])
    rng = random.Random(f"{mode}/{length}")
    hasher = _hasher(mode)
    pos = 0
    while pos < length:
        # Mostly short pieces, sometimes a block or chunk, sometimes a long run.
        step = rng.choice((0, 1, 2, 31, 63, 64, 65, 1000, 1024, 1025, 5000, 40000))
        hasher.update(memoryview(data)[pos : pos + step])
        pos += step
        if rng.random() < 0.2:
            hasher.digest(7, seek=rng.randrange(200))  # reading must not disturb the state
    assert hasher.digest(FULL_LEN) == expected
    assert hasher.digest() == expected[:32]
    for seek in (0, 1, 31, 32, 63, 64, 65, 100, FULL_LEN - 1, FULL_LEN):
        assert hasher.digest(FULL_LEN - seek, seek=seek) == expected[seek:], seek
    seek = rng.randrange(FULL_LEN)
    size = rng.randrange(FULL_LEN - seek + 1)
    assert hasher.digest(size, seek=seek) == expected[seek : seek + size]


# --- the compression function against the paper, written out plainly -------------------------

IV = (
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)  # fmt: skip
PERMUTATION = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


def _g(v: list[int], a: int, b: int, c: int, d: int, mx: int, my: int) -> None:
    v[a] = (v[a] + v[b] + mx) & 0xFFFFFFFF
    v[d] = _rotr(v[d] ^ v[a], 16)
    v[c] = (v[c] + v[d]) & 0xFFFFFFFF
    v[b] = _rotr(v[b] ^ v[c], 12)
    v[a] = (v[a] + v[b] + my) & 0xFFFFFFFF
    v[d] = _rotr(v[d] ^ v[a], 8)
    v[c] = (v[c] + v[d]) & 0xFFFFFFFF
    v[b] = _rotr(v[b] ^ v[c], 7)


def textbook_compress(h: Sequence[int], m: Sequence[int], t: int, b: int, d: int) -> list[int]:
    """Section 2.2 as printed: state, 7 rounds of G on columns then diagonals, permuting
    the message between rounds, then the output words h'_0..h'_15."""
    v = [*h, *IV[:4], t & 0xFFFFFFFF, t >> 32, b, d]
    msg = list(m)
    for _ in range(7):
        _g(v, 0, 4, 8, 12, msg[0], msg[1])
        _g(v, 1, 5, 9, 13, msg[2], msg[3])
        _g(v, 2, 6, 10, 14, msg[4], msg[5])
        _g(v, 3, 7, 11, 15, msg[6], msg[7])
        _g(v, 0, 5, 10, 15, msg[8], msg[9])
        _g(v, 1, 6, 11, 12, msg[10], msg[11])
        _g(v, 2, 7, 8, 13, msg[12], msg[13])
        _g(v, 3, 4, 9, 14, msg[14], msg[15])
        msg = [msg[PERMUTATION[i]] for i in range(16)]
    return [v[i] ^ v[i + 8] for i in range(8)] + [v[i + 8] ^ h[i] for i in range(8)]


def textbook_chunk_cv(key: Sequence[int], flags: int, chunk: bytes, counter: int) -> list[int]:
    """Chaining value of one whole 1024-byte chunk that is not the root (2.4)."""
    cv = list(key)
    for i in range(16):
        m = [
            int.from_bytes(chunk[64 * i + 4 * j : 64 * i + 4 * j + 4], "little") for j in range(16)
        ]
        d = flags | (pure.CHUNK_START if i == 0 else 0) | (pure.CHUNK_END if i == 15 else 0)
        cv = textbook_compress(cv, m, counter, 64, d)[:8]
    return cv


def test_constants_are_the_papers() -> None:
    assert pure.IV == IV
    assert pure.MSG_PERMUTATION == PERMUTATION
    assert sorted(pure.MSG_PERMUTATION) == list(range(16))
    flags = (
        pure.CHUNK_START, pure.CHUNK_END, pure.PARENT, pure.ROOT,
        pure.KEYED_HASH, pure.DERIVE_KEY_CONTEXT, pure.DERIVE_KEY_MATERIAL,
    )  # fmt: skip
    assert flags == (1, 2, 4, 8, 16, 32, 64)
    assert (pure.BLOCK_LEN, pure.CHUNK_LEN, pure.KEY_LEN, pure.OUT_LEN) == (64, 1024, 32, 32)


WORD = st.integers(0, 0xFFFFFFFF)


@given(
    st.lists(WORD, min_size=8, max_size=8),
    st.lists(WORD, min_size=16, max_size=16),
    st.integers(0, 2**64 - 1),
    st.integers(0, 64),
    st.integers(0, 127),
)
def test_compress_matches_textbook(h: list[int], m: list[int], t: int, b: int, d: int) -> None:
    assert list(pure.compress(h, m, t, b, d)) == textbook_compress(h, m, t, b, d)


def test_compress_extreme_words() -> None:
    for word in (0, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF):
        h, m = [word] * 8, [word] * 16
        assert list(pure.compress(h, m, 2**64 - 1, 64, 127)) == textbook_compress(
            h, m, 2**64 - 1, 64, 127
        )


def test_compress_rejects_wrong_word_counts() -> None:
    with pytest.raises(RefcryptoError, match="8 chaining-value words and 16 message words"):
        pure.compress([0] * 7, [0] * 16, 0, 64, 0)
    with pytest.raises(RefcryptoError, match="8 chaining-value words and 16 message words"):
        pure.compress([0] * 8, [0] * 15, 0, 64, 0)


def test_empty_input_is_one_root_block() -> None:
    # 2.4: the empty input is one empty block with CHUNK_START | CHUNK_END | ROOT, t = 0.
    words = textbook_compress(IV, [0] * 16, 0, 0, pure.CHUNK_START | pure.CHUNK_END | pure.ROOT)
    expected = b"".join(w.to_bytes(4, "little") for w in words)
    assert pure.blake3(b"", 64) == expected
    assert expected[:32].hex() == CASES[0]["hash"][:64]


# --- the many-chunks (lane-sliced) path -------------------------------------------------------


@pytest.mark.parametrize("counter", [0, 5, 2**32 - 2, 2**40 + 3])
@pytest.mark.parametrize("lanes", [2, 3, 8])
def test_lanes_match_textbook_chunks(counter: int, lanes: int) -> None:
    # Counters past 2^32 exercise the t_1 lane word, which no practical input reaches.
    rng = random.Random(counter * 100 + lanes)
    data = rng.randbytes(17 + lanes * 1024 + 5)
    key = [rng.getrandbits(32) for _ in range(8)]
    flags = pure.KEYED_HASH
    got = pure._chunk_cvs_lanes(tuple(key), flags, data, 17, counter, lanes)
    for k in range(lanes):
        chunk = data[17 + k * 1024 : 17 + (k + 1) * 1024]
        assert list(got[k]) == textbook_chunk_cv(key, flags, chunk, counter + k), k


@pytest.mark.parametrize("max_lanes", [1, 2, 3, 7, 32])
def test_lane_width_does_not_change_the_hash(
    monkeypatch: pytest.MonkeyPatch, max_lanes: int
) -> None:
    # max_lanes=1 sends every chunk through the one-at-a-time (row-packed) path.
    data = random.Random(7).randbytes(70 * 1024 + 300)
    expected = pure.blake3(data)  # the default width, itself checked by the vectors
    monkeypatch.setattr(pure, "_MAX_LANES", max_lanes)
    assert pure.blake3(data) == expected
    hasher = Blake3Hasher()
    for piece in (data[:1500], data[1500:1500], data[1500:9000], data[9000:]):
        hasher.update(piece)
    assert hasher.digest() == expected


# --- differential tests against the blake3 package (PyPI) -----------------------------------

_BOUNDARIES = st.one_of(
    st.builds(
        lambda k, delta: min(5000, max(0, 64 * k + delta)), st.integers(0, 78), st.integers(-2, 2)
    ),
    st.builds(
        lambda k, delta: min(5000, max(0, 1024 * k + delta)), st.integers(0, 4), st.integers(-2, 2)
    ),
)
DATA_LENGTHS = st.one_of(st.integers(0, 5000), _BOUNDARIES)
DATA = st.builds(
    lambda n, seed: random.Random(seed).randbytes(n), DATA_LENGTHS, st.integers(0, 2**32)
)
OUT_LENGTHS = st.integers(0, 300)
KEYS = st.binary(min_size=32, max_size=32)
CONTEXTS = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=80),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=300, max_size=1200),
)


@given(DATA, OUT_LENGTHS)
def test_hash_matches_native(data: bytes, length: int) -> None:
    assert pure.blake3(data, length) == native().blake3(data).digest(length)


@given(KEYS, DATA, OUT_LENGTHS)
def test_keyed_hash_matches_native(key: bytes, data: bytes, length: int) -> None:
    assert pure.keyed_hash(key, data, length) == native().blake3(data, key=key).digest(length)


@given(CONTEXTS, DATA, OUT_LENGTHS)
def test_derive_key_matches_native(context: str, data: bytes, length: int) -> None:
    expected = native().blake3(data, derive_key_context=context).digest(length)
    assert pure.derive_key(context, data, length) == expected


@given(
    st.sampled_from(MODES),
    KEYS,
    CONTEXTS,
    DATA,
    st.lists(st.integers(0, 5000), max_size=8),
    OUT_LENGTHS,
    st.one_of(st.integers(0, 200), st.integers(0, 2**64 - 301)),
)
def test_incremental_matches_native(
    mode: str, key: bytes, context: str, data: bytes, cuts: list[int], length: int, seek: int
) -> None:
    lib = native()
    if mode == "hash":
        ours, theirs = Blake3Hasher(), lib.blake3()
    elif mode == "keyed_hash":
        ours, theirs = Blake3Hasher(key), lib.blake3(key=key)
    else:
        ours, theirs = Blake3Hasher(context=context), lib.blake3(derive_key_context=context)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        ours.update(data[start:end])
        theirs.update(data[start:end])
        assert ours.digest(length, seek=seek) == theirs.digest(length, seek=seek)
    snapshot = ours.copy()
    ours.update(b"more")
    theirs_copy = theirs.copy()
    theirs.update(b"more")
    assert ours.digest(length, seek=seek) == theirs.digest(length, seek=seek)
    assert snapshot.digest(length, seek=seek) == theirs_copy.digest(length, seek=seek)


def test_long_output_and_far_seek_match_native() -> None:
    lib = native()
    data = vector_input(3000)
    assert pure.blake3(data, 5000) == lib.blake3(data).digest(5000)
    hasher = Blake3Hasher()
    hasher.update(data)
    for seek in (12345, 2**32 * 64 + 7, 2**64 - 100):
        assert hasher.digest(100, seek=seek) == lib.blake3(data).digest(100, seek=seek), seek


def test_shadowsocks_2022_subkeys_match_native() -> None:
    # SIP022 session subkey: derive_key over PSK || salt; SIP023: blake3 of a PSK, and the
    # identity subkey. Key sizes 16 and 32 (aes-128-gcm and the 32-byte methods).
    lib = native()
    rng = random.Random(2022)
    for size in (16, 32):
        psk, salt = rng.randbytes(size), rng.randbytes(size)
        for context in ("shadowsocks 2022 session subkey", "shadowsocks 2022 identity subkey"):
            expected = lib.blake3(psk + salt, derive_key_context=context).digest(size)
            assert pure.derive_key(context, psk + salt, size) == expected
        assert pure.blake3(psk)[:16] == lib.blake3(psk).digest()[:16]


# --- Debian's b3sum ----------------------------------------------------------------------


def _run(argv: list[str], stdin: bytes) -> bytes:
    """Run a program in its own process group; kill the group if it outlives the call."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")
    return out


@pytest.mark.parametrize("mode", MODES)
def test_matches_b3sum(mode: str) -> None:
    program = shutil.which("b3sum")
    if program is None:
        _skip_or_fail("the b3sum program (Debian package b3sum) is not on PATH")
    data = random.Random(3).randbytes(5 * 1024 + 17)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "input.bin")
        with open(path, "wb") as handle:
            handle.write(data)
        argv = [program, "--raw", "--num-threads", "1", "--length", "100"]
        stdin = b""
        if mode == "keyed_hash":
            argv.append("--keyed")
            stdin = KEY
        elif mode == "derive_key":
            argv += ["--derive-key", CONTEXT]
        out = _run([*argv, path], stdin)
    assert len(out) == 100
    assert _oneshot(mode, data, 100) == out


# --- bytes-like inputs, errors, lifetime -------------------------------------------------------


def test_memoryviews_count_as_their_bytes() -> None:
    words = array.array("I", range(300))
    raw = words.tobytes()
    view = memoryview(words)
    assert len(view) == 300 and view.nbytes == 1200
    assert pure.blake3(view) == pure.blake3(raw)
    assert pure.blake3(memoryview(raw).cast("Q")) == pure.blake3(raw)
    assert pure.blake3(memoryview(raw)[::3]) == pure.blake3(raw[::3])  # non-contiguous
    assert pure.blake3(bytearray(raw)) == pure.blake3(raw)
    # A 32-byte key with eight 4-byte items is a 32-byte key, not an 8-byte one.
    key = array.array("I", range(8))
    assert pure.keyed_hash(memoryview(key), raw) == pure.keyed_hash(key.tobytes(), raw)
    assert pure.derive_key("c", view) == pure.derive_key("c", raw)
    hasher = Blake3Hasher(memoryview(key))
    hasher.update(view)
    assert hasher.digest() == pure.keyed_hash(key.tobytes(), raw)


@pytest.mark.parametrize("bad", ["text", None, 5, 1.5, [1, 2], True])
def test_non_bytes_inputs_raise_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="data must be a bytes-like object"):
        pure.blake3(bad)
    with pytest.raises(TypeError, match="data must be a bytes-like object"):
        pure.keyed_hash(bytes(32), bad)
    with pytest.raises(TypeError, match="key_material must be a bytes-like object"):
        pure.derive_key("context", bad)
    with pytest.raises(TypeError, match="key must be a bytes-like object"):
        pure.keyed_hash(bad, b"data")
    with pytest.raises(TypeError, match="data must be a bytes-like object"):
        Blake3Hasher().update(bad)
    if bad is not None:
        with pytest.raises(TypeError, match="key must be a bytes-like object"):
            Blake3Hasher(bad)


@pytest.mark.parametrize("bad", [b"context", 5, None])
def test_context_must_be_str(bad: Any) -> None:
    with pytest.raises(TypeError, match="context must be a str"):
        pure.derive_key(bad, b"km")
    if bad is not None:
        with pytest.raises(TypeError, match="context must be a str"):
            Blake3Hasher(context=bad)


def test_context_must_encode_as_utf8() -> None:
    with pytest.raises(RefcryptoError, match="context must be encodable as UTF-8"):
        pure.derive_key("\ud800", b"km")


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(InvalidKeySize, match=f"key must be 32 bytes, got {size}"):
        pure.keyed_hash(bytes(size), b"data")
    with pytest.raises(InvalidKeySize, match=f"key must be 32 bytes, got {size}"):
        Blake3Hasher(bytes(size))


def test_key_and_context_together_is_an_error() -> None:
    with pytest.raises(TypeError, match="not both"):
        Blake3Hasher(bytes(32), context="c")


def _as_any(value: object) -> Any:
    """A wrongly typed argument, passed on purpose."""
    return value


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: pure.blake3(b"x", -1), RefcryptoError, "length must be >= 0, got -1"),
        (lambda: pure.blake3(b"x", _as_any("32")), TypeError, "length must be an int, got str"),
        (lambda: pure.blake3(b"x", True), TypeError, "length must be an int, got bool"),
        (
            lambda: pure.keyed_hash(bytes(32), b"x", _as_any(2.0)),
            TypeError,
            "length must be an int",
        ),
        (lambda: pure.derive_key("c", b"x", _as_any(None)), TypeError, "length must be an int"),
        (lambda: Blake3Hasher().digest(seek=-1), RefcryptoError, "seek must be >= 0, got -1"),
        (
            lambda: Blake3Hasher().digest(seek=_as_any(1.0)),
            TypeError,
            "seek must be an int, got float",
        ),
        (lambda: Blake3Hasher().digest(-5), RefcryptoError, "length must be >= 0, got -5"),
        (lambda: Blake3Hasher().digest(2, seek=2**64 - 1), RefcryptoError, "ends at 2\\*\\*64"),
        (lambda: pure.blake3(b"x", 2**64 + 1), RefcryptoError, "ends at 2\\*\\*64"),
    ],
)
def test_bad_lengths(call: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


def test_output_lengths_are_prefixes_and_zero_is_empty() -> None:
    full = pure.blake3(b"abc", 300)
    assert pure.blake3(b"abc", 0) == b""
    assert Blake3Hasher().digest(0, seek=5) == b""
    for size in (1, 31, 32, 33, 64, 65, 299):
        assert pure.blake3(b"abc", size) == full[:size]


def test_digest_does_not_end_the_hasher_and_copy_is_independent() -> None:
    data = vector_input(5000)
    hasher = Blake3Hasher()
    hasher.update(data[:2500])
    first = hasher.digest()
    twin = hasher.copy()
    hasher.update(data[2500:])
    assert first == pure.blake3(data[:2500])
    assert twin.digest() == first
    assert hasher.digest() == pure.blake3(data)
    assert hasher.digest() == hasher.digest()
    twin.update(b"other")
    assert twin.digest() == pure.blake3(data[:2500] + b"other")
    assert hasher.digest() == pure.blake3(data)


def test_hasher_has_slots_and_no_cycles() -> None:
    assert not hasattr(Blake3Hasher(), "__dict__")
    enabled = gc.isenabled()
    gc.disable()
    try:
        hasher = Blake3Hasher(context="c")
        hasher.update(vector_input(3000))
        hasher.digest(100, seek=10)
        twin = hasher.copy()
        refs = [weakref.ref(hasher), weakref.ref(twin)]
        del hasher, twin
        assert [ref() for ref in refs] == [None, None]
    finally:
        if enabled:
            gc.enable()


def test_import_loads_no_blake3_package() -> None:
    # The pure-Python module must never fall back to (or pull in) the PyPI package.
    code = (
        "import sys\n"
        "import refcrypto.primitives.blake3 as b\n"
        "b.blake3(b'x' * 5000, 100); b.keyed_hash(bytes(32), b'x'); b.derive_key('c', b'x')\n"
        "h = b.Blake3Hasher(); h.update(b'y' * 3000); h.digest()\n"
        "print(sorted(m for m in sys.modules if m == 'blake3' or m.startswith('blake3.')))\n"
        "print(b.__file__)\n"
    )
    out = _run([sys.executable, "-c", code], b"").decode().splitlines()
    assert out[0] == "[]"
    assert out[1].endswith("blake3.py")
