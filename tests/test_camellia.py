"""Tests for the pure-Python Camellia block cipher (refcrypto.primitives.camellia).

Known answers from three published sets (see vectors/camellia/README.md): RFC 3713
Appendix A, the designers' NTT test data (as shipped by pyca's cryptography_vectors) and the
NESSIE set (as shipped by Crypto++), each in both directions. ``encrypt_blocks`` is run over
every NTT key's 128 plaintexts at once, so the byte-sliced path meets published data too.
Then: a literal RFC 3713 network built from ``F``, ``FL`` and ``FLINV`` against both fast
paths; a Hypothesis differential test against OpenSSL's Camellia through ``cryptography``;
and the error cases.
"""

from __future__ import annotations

import gc
import struct
from typing import NamedTuple

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import Camellia as CryptographyCamellia
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from refcrypto.errors import InvalidKeySize, RefcryptoError
from refcrypto.primitives import camellia
from refcrypto.primitives.base import BlockCipher
from refcrypto.primitives.camellia import FL, FLINV, SLICED_MIN_BLOCKS, Camellia, F, key_schedule
from refcrypto.vectorfiles import Record, load_cryptopp, load_records, vector_path

# --- vector loading ---------------------------------------------------------------------


class NTTVector(NamedTuple):
    file: str
    key_no: str
    number: str
    key: bytes
    plaintext: bytes
    ciphertext: bytes


def _load_ntt(name: str) -> list[NTTVector]:
    """NTT's t_camelia.txt format: ``K No.001 : 00 11 ..`` sets the key, then pairs of
    ``P No.nnn : ..`` / ``C No.nnn : ..`` lines; ``#`` lines are comments."""
    path = vector_path(f"camellia/{name}")
    vectors: list[NTTVector] = []
    key: bytes | None = None
    key_no = ""
    pending: tuple[str, bytes] | None = None
    for lineno, raw in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        label, sep, value = line.partition(":")
        fields = label.split()
        if not sep or len(fields) != 2 or not fields[1].startswith("No."):
            raise ValueError(f"{name}:{lineno}: unparsable line {line!r}")
        kind, number = fields[0], fields[1][3:]
        data = bytes.fromhex(value)
        if kind == "K":
            key, key_no, pending = data, number, None
        elif kind == "P":
            pending = (number, data)
        elif kind == "C" and key is not None and pending is not None and pending[0] == number:
            vectors.append(NTTVector(name, key_no, number, key, pending[1], data))
            pending = None
        else:
            raise ValueError(f"{name}:{lineno}: unexpected {line!r}")
    return vectors


RFC3713 = load_records("camellia/rfc3713.txt")
NTT = [v for bits in (128, 192, 256) for v in _load_ntt(f"camellia-{bits}-ecb.txt")]
NESSIE = load_cryptopp("camellia/camellia-nessie.txt")


def _ntt_id(v: NTTVector) -> str:
    return f"{v.file.removesuffix('-ecb.txt')}-K{v.key_no}-P{v.number}"


def _nessie_id(r: Record) -> str:
    return f"{len(r['key']) * 4}bit-line{r['line']}"


def _rfc_id(r: Record) -> str:
    return r["section"].replace(" ", "-")


def _ntt_groups() -> list[list[NTTVector]]:
    groups: dict[tuple[str, str], list[NTTVector]] = {}
    for v in NTT:
        groups.setdefault((v.file, v.key_no), []).append(v)
    return list(groups.values())


NTT_GROUPS = _ntt_groups()


def test_vector_counts() -> None:
    # A parser slip must not silently shrink the parametrized sets below.
    assert len(RFC3713) == 3
    assert len(NTT) == 3 * 10 * 128
    assert len(NTT_GROUPS) == 30 and all(len(g) == 128 for g in NTT_GROUPS)
    assert len(NESSIE) == 1728
    assert all(r["test"] == "Encrypt" for r in NESSIE)
    assert {len(r["key"]) for r in NESSIE} == {32, 48, 64}


# --- known answers ----------------------------------------------------------------------


@pytest.mark.parametrize("record", RFC3713, ids=_rfc_id)
def test_rfc3713_appendix_a(record: Record) -> None:
    cipher = Camellia(bytes.fromhex(record["key"]))
    plaintext = bytes.fromhex(record["plaintext"])
    ciphertext = bytes.fromhex(record["ciphertext"])
    assert cipher.encrypt_block(plaintext) == ciphertext
    assert cipher.decrypt_block(ciphertext) == plaintext
    assert cipher.encrypt_blocks(plaintext) == ciphertext


@pytest.mark.parametrize("vector", NTT, ids=_ntt_id)
def test_ntt(vector: NTTVector) -> None:
    cipher = Camellia(vector.key)
    assert cipher.encrypt_block(vector.plaintext) == vector.ciphertext
    assert cipher.decrypt_block(vector.ciphertext) == vector.plaintext


@pytest.mark.parametrize("group", NTT_GROUPS, ids=lambda g: _ntt_id(g[0]).rsplit("-P", 1)[0])
def test_ntt_encrypt_blocks(group: list[NTTVector]) -> None:
    """All 128 plaintexts of one key in one call (byte-sliced path), and in short runs
    that stay on the one-block path."""
    cipher = Camellia(group[0].key)
    plaintext = b"".join(v.plaintext for v in group)
    ciphertext = b"".join(v.ciphertext for v in group)
    assert cipher.encrypt_blocks(plaintext) == ciphertext
    step = 16 * (SLICED_MIN_BLOCKS - 1)
    short = b"".join(
        cipher.encrypt_blocks(plaintext[i : i + step]) for i in range(0, len(plaintext), step)
    )
    assert short == ciphertext


@pytest.mark.parametrize("record", NESSIE, ids=_nessie_id)
def test_nessie(record: Record) -> None:
    cipher = Camellia(bytes.fromhex(record["key"]))
    plaintext = bytes.fromhex(record["plaintext"])
    ciphertext = bytes.fromhex(record["ciphertext"])
    assert cipher.encrypt_block(plaintext) == ciphertext
    assert cipher.decrypt_block(ciphertext) == plaintext


# --- the literal RFC 3713 network against the fast paths ---------------------------------


def rfc_encrypt(key: bytes, block: bytes) -> bytes:
    """RFC 3713, 2.3.1 / 2.3.2 written out with the literal F, FL and FLINV."""
    sub = key_schedule(key)
    kw1, kw2, kw3, kw4 = sub.kw
    M = int.from_bytes(block, "big")
    D1, D2 = M >> 64, M & camellia.MASK64
    D1 ^= kw1
    D2 ^= kw2
    for i, k in enumerate(sub.k):  # round i+1
        if i and i % 6 == 0:
            D1 = FL(D1, sub.ke[i // 3 - 2])
            D2 = FLINV(D2, sub.ke[i // 3 - 1])
        if i % 2 == 0:
            D2 ^= F(D1, k)
        else:
            D1 ^= F(D2, k)
    D2 ^= kw3
    D1 ^= kw4
    return ((D2 << 64) | D1).to_bytes(16, "big")


key_sizes = st.sampled_from([16, 24, 32])
keys = key_sizes.flatmap(lambda n: st.binary(min_size=n, max_size=n))
blocks = st.binary(min_size=16, max_size=16)
multi_block = st.integers(0, 3 * SLICED_MIN_BLOCKS).flatmap(
    lambda n: st.binary(min_size=16 * n, max_size=16 * n)
)
short_runs = st.integers(1, 2 * SLICED_MIN_BLOCKS).flatmap(
    lambda n: st.binary(min_size=16 * n, max_size=16 * n)
)


@given(keys, blocks)
@settings(max_examples=100, deadline=None)
def test_fast_paths_match_literal_rfc(key: bytes, block: bytes) -> None:
    expected = rfc_encrypt(key, block)
    cipher = Camellia(key)
    assert cipher.encrypt_block(block) == expected
    assert cipher.decrypt_block(expected) == block
    # The byte-sliced path, with the block at a different position in each lane.
    data = bytes(16 * 3) + block + bytes(16 * (SLICED_MIN_BLOCKS - 1))
    assert cipher.encrypt_blocks(data)[48:64] == expected


@given(st.integers(0, camellia.MASK64), st.integers(0, camellia.MASK64))
@settings(max_examples=200, deadline=None)
def test_fl_flinv_inverse(x: int, ke: int) -> None:
    assert FLINV(FL(x, ke), ke) == x
    assert FL(FLINV(x, ke), ke) == x


@given(st.integers(0, camellia.MASK64), st.integers(0, camellia.MASK64))
@settings(max_examples=200, deadline=None)
def test_sp_tables_compute_f(x: int, k: int) -> None:
    sp = camellia._SP
    b = (x ^ k).to_bytes(8, "big")
    combined = 0
    for i in range(8):
        combined ^= sp[i][b[i]]
    assert combined == F(x, k)


def test_sbox_derivations() -> None:
    """RFC 3713, 2.4.3: SBOX2..4 from SBOX1, and all four are permutations."""
    for sbox in (camellia.SBOX1, camellia.SBOX2, camellia.SBOX3, camellia.SBOX4):
        assert sorted(sbox) == list(range(256))
    assert camellia.SBOX1[0x00] == 112 and camellia.SBOX1[0xFF] == 158
    assert camellia.SBOX2[0x01] == 5  # 130 <<< 1 = 0x05
    assert camellia.SBOX3[0x01] == 65  # 130 <<< 7 = 0x41
    assert camellia.SBOX4[0x01] == 44  # SBOX1[0x02]


# --- differential test against OpenSSL (through cryptography) -----------------------------


def _openssl_ecb(key: bytes, data: bytes, decrypt: bool = False) -> bytes:
    cipher = Cipher(CryptographyCamellia(key), modes.ECB())
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


@given(keys, multi_block)
@settings(max_examples=150, deadline=None)
def test_matches_cryptography_ecb(key: bytes, data: bytes) -> None:
    cipher = Camellia(key)
    expected = _openssl_ecb(key, data)
    assert cipher.encrypt_blocks(data) == expected
    per_block = b"".join(cipher.encrypt_block(data[i : i + 16]) for i in range(0, len(data), 16))
    assert per_block == expected


@given(keys, blocks)
@settings(max_examples=150, deadline=None)
def test_decrypt_matches_cryptography_and_inverts(key: bytes, block: bytes) -> None:
    cipher = Camellia(key)
    assert cipher.decrypt_block(cipher.encrypt_block(block)) == block
    assert cipher.decrypt_block(block) == _openssl_ecb(key, block, decrypt=True)


@pytest.mark.parametrize("key_size", [16, 24, 32])
@pytest.mark.parametrize(
    "count", [1, SLICED_MIN_BLOCKS - 1, SLICED_MIN_BLOCKS, SLICED_MIN_BLOCKS + 1, 256, 1000]
)
def test_encrypt_blocks_around_threshold(key_size: int, count: int) -> None:
    key = bytes(range(7, 7 + key_size))
    data = bytes((i * 131 + 17) & 0xFF for i in range(16 * count))
    cipher = Camellia(key)
    assert cipher.encrypt_blocks(data) == _openssl_ecb(key, data)
    # White-box: the batches from SLICED_MIN_BLOCKS on really took the byte-sliced path.
    assert (cipher._sliced is not None) == (count >= SLICED_MIN_BLOCKS)
    assert cipher.encrypt_blocks(data) == _openssl_ecb(key, data)  # cached sliced schedule


@given(keys, short_runs)
@settings(max_examples=100, deadline=None)
def test_both_paths_agree_at_every_length(key: bytes, data: bytes) -> None:
    """The one-block and byte-sliced networks, called directly, on 1..20 blocks."""
    cipher = Camellia(key)
    words = struct.unpack(f">{len(data) // 8}Q", data)
    scalar = struct.pack(f">{len(data) // 8}Q", *camellia._crypt_words(words, cipher._enc))
    sliced = camellia._encrypt_sliced(data, camellia._SlicedSchedule(key_schedule(key)))
    assert scalar == sliced


# --- interface and errors -----------------------------------------------------------------


def test_interface() -> None:
    cipher: BlockCipher = Camellia(bytes(16))  # mypy checks the protocol here
    assert isinstance(cipher, BlockCipher)
    assert cipher.block_size == 16
    assert not hasattr(cipher, "__dict__")
    assert cipher.encrypt_blocks(b"") == b""


def test_accepts_buffers() -> None:
    record = RFC3713[2]
    key = bytes.fromhex(record["key"])
    plaintext = bytes.fromhex(record["plaintext"])
    ciphertext = bytes.fromhex(record["ciphertext"])
    for wrap in (bytearray, memoryview):
        cipher = Camellia(wrap(key))
        assert cipher.encrypt_block(wrap(plaintext)) == ciphertext
        assert cipher.decrypt_block(wrap(ciphertext)) == plaintext
        assert cipher.encrypt_blocks(wrap(plaintext * 20)) == ciphertext * 20
        assert cipher.encrypt_blocks(wrap(plaintext * 2)) == ciphertext * 2


def test_no_reference_cycles() -> None:
    gc.collect()
    gc.disable()
    try:
        for size in (16, 24, 32):
            cipher = Camellia(bytes(size))
            cipher.encrypt_blocks(bytes(16 * 64))  # builds the sliced schedule too
            cipher.decrypt_block(bytes(16))
            del cipher
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("size", [0, 1, 5, 8, 15, 17, 20, 23, 25, 31, 33, 64])
def test_bad_key_size(size: int) -> None:
    message = rf"^camellia: key must be 16 or 24 or 32 bytes, got {size}$"
    with pytest.raises(InvalidKeySize, match=message):
        Camellia(bytes(size))


@pytest.mark.parametrize("size", [0, 1, 8, 15, 17, 32])
def test_bad_block_size(size: int) -> None:
    cipher = Camellia(bytes(16))
    message = rf"^camellia: block must be 16 bytes, got {size}$"
    with pytest.raises(RefcryptoError, match=message):
        cipher.encrypt_block(bytes(size))
    with pytest.raises(RefcryptoError, match=message):
        cipher.decrypt_block(bytes(size))


@pytest.mark.parametrize("size", [1, 8, 15, 17, 33, 16 * SLICED_MIN_BLOCKS + 1, 4095])
def test_bad_blocks_length(size: int) -> None:
    cipher = Camellia(bytes(32))
    message = rf"^camellia: data length must be a multiple of 16 bytes, got {size}$"
    with pytest.raises(RefcryptoError, match=message):
        cipher.encrypt_blocks(bytes(size))


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        Camellia(b"short")
    with pytest.raises(ValueError):
        Camellia(bytes(16)).encrypt_block(b"short")
