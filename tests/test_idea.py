"""Tests for the pure-Python IDEA block cipher (refcrypto.primitives.idea).

Known answers from three independent published sets (see vectors/idea/README.md):
Crypto++'s ideaval.dat (Lai's original example first), the NESSIE set as reformatted by pyca
(including its 100- and 1000-fold iterated encryptions) and Botan's idea.vec (some vectors
span several blocks). Then a Hypothesis differential test against OpenSSL's IDEA through
``cryptography``'s decrepit ECB, with keys and blocks chosen to hit the "0 stands for 2^16"
rule, and the error cases.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import IDEA as CryptographyIDEA
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from refcrypto.errors import InvalidKeySize, RefcryptoError
from refcrypto.primitives import idea
from refcrypto.primitives.base import BlockCipher
from refcrypto.primitives.idea import IDEA, decryption_subkeys, encryption_subkeys
from refcrypto.vectorfiles import Record, load_records, vector_path

# --- vector loading ---------------------------------------------------------------------


def _load_ideaval(path: Path) -> list[tuple[int, str, str, str]]:
    """ideaval.dat: one vector per line, "KEY  PLAINTEXT  CIPHERTEXT" in hex (CRLF ends)."""
    vectors = []
    for number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3:
            raise ValueError(f"{path.name}:{number}: expected 3 fields, got {line!r}")
        key, plaintext, ciphertext = fields
        vectors.append((number, key, plaintext, ciphertext))
    return vectors


IDEAVAL = _load_ideaval(vector_path("idea/ideaval.dat"))
NESSIE = load_records("idea/idea-ecb.txt")
NESSIE_ITERATED = [r for r in NESSIE if "ciphertext1000" in r]
BOTAN = load_records("idea/idea.vec")


def _nessie_id(record: Record) -> str:
    return f"count{record['count']}"


def _botan_id(record: Record) -> str:
    return f"line{record['line']}"


def test_vector_counts() -> None:
    # A parser slip must not silently shrink the parametrized sets below.
    assert len(IDEAVAL) == 11
    assert len(NESSIE) == 900
    assert len(NESSIE_ITERATED) == 450
    assert all(r["section"] == "encrypt" for r in NESSIE)
    assert len(BOTAN) == 542
    assert all(r["section"] == "idea" for r in BOTAN)
    assert sum(len(r["in"]) > 16 for r in BOTAN) == 4  # the multi-block vectors


# --- known answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "key", "plaintext", "ciphertext"), IDEAVAL, ids=[f"line{v[0]}" for v in IDEAVAL]
)
def test_ideaval(number: int, key: str, plaintext: str, ciphertext: str) -> None:
    cipher = IDEA(bytes.fromhex(key))
    assert cipher.encrypt_block(bytes.fromhex(plaintext)) == bytes.fromhex(ciphertext)
    assert cipher.decrypt_block(bytes.fromhex(ciphertext)) == bytes.fromhex(plaintext)
    assert cipher.encrypt_blocks(bytes.fromhex(plaintext)) == bytes.fromhex(ciphertext)


def test_lai_original_example() -> None:
    # The first line of ideaval.dat is the worked example of Lai's thesis (key words 1..8).
    key = b"".join(i.to_bytes(2, "big") for i in range(1, 9))
    cipher = IDEA(key)
    assert cipher.encrypt_block(bytes.fromhex("0000000100020003")).hex() == "11fbed2b01986de5"


@pytest.mark.parametrize("record", NESSIE, ids=_nessie_id)
def test_nessie(record: Record) -> None:
    cipher = IDEA(bytes.fromhex(record["key"]))
    plaintext = bytes.fromhex(record["plaintext"])
    ciphertext = bytes.fromhex(record["ciphertext"])
    assert cipher.encrypt_block(plaintext) == ciphertext
    assert cipher.decrypt_block(ciphertext) == plaintext


@pytest.mark.parametrize("record", NESSIE_ITERATED, ids=_nessie_id)
def test_nessie_iterated(record: Record) -> None:
    # NESSIE "Iterated 100 / 1000 times": encrypt the block again and again.
    cipher = IDEA(bytes.fromhex(record["key"]))
    block = bytes.fromhex(record["plaintext"])
    for _ in range(100):
        block = cipher.encrypt_block(block)
    assert block == bytes.fromhex(record["ciphertext100"])
    for _ in range(900):
        block = cipher.encrypt_block(block)
    assert block == bytes.fromhex(record["ciphertext1000"])
    for _ in range(1000):
        block = cipher.decrypt_block(block)
    assert block == bytes.fromhex(record["plaintext"])


@pytest.mark.parametrize("record", BOTAN, ids=_botan_id)
def test_botan(record: Record) -> None:
    cipher = IDEA(bytes.fromhex(record["key"]))
    plaintext = bytes.fromhex(record["in"])
    ciphertext = bytes.fromhex(record["out"])
    assert len(plaintext) % 8 == 0 and len(plaintext) == len(ciphertext)
    assert cipher.encrypt_blocks(plaintext) == ciphertext
    for i in range(0, len(plaintext), 8):
        assert cipher.encrypt_block(plaintext[i : i + 8]) == ciphertext[i : i + 8]
        assert cipher.decrypt_block(ciphertext[i : i + 8]) == plaintext[i : i + 8]


# --- key schedule -----------------------------------------------------------------------


def _subkey_by_bit_position(key: bytes, index: int) -> int:
    """Subkey ``index`` read straight from the key: the schedule is a fixed table of which
    16 consecutive key bits (cyclically, from the most significant) form each subkey; the
    start is 16 * (index % 8) bits into the key rotated left 25 * (index // 8) times."""
    start = (25 * (index // 8) + 16 * (index % 8)) % 128
    bits = bin(int.from_bytes(key, "big"))[2:].zfill(128) * 2
    return int(bits[start : start + 16], 2)


@given(st.binary(min_size=16, max_size=16))
@settings(max_examples=50, deadline=None)
def test_encryption_subkeys_bit_table(key: bytes) -> None:
    z = encryption_subkeys(key)
    assert len(z) == 52
    assert z == [_subkey_by_bit_position(key, i) for i in range(52)]


def test_encryption_subkeys_lai_example() -> None:
    key = b"".join(i.to_bytes(2, "big") for i in range(1, 9))
    z = encryption_subkeys(key)
    assert z[:8] == list(range(1, 9))
    # After one 25-bit rotation: the words of 0x0400 0600 0800 0a00 0c00 0e00 1000 0200.
    assert z[8:16] == [0x0400, 0x0600, 0x0800, 0x0A00, 0x0C00, 0x0E00, 0x1000, 0x0200]


@given(st.binary(min_size=16, max_size=16))
@settings(max_examples=50, deadline=None)
def test_decryption_subkeys_is_an_involution(key: bytes) -> None:
    # Reversing, inverting and re-crossing twice gives the encryption subkeys back.
    z = encryption_subkeys(key)
    u = decryption_subkeys(z)
    assert len(u) == 52
    assert decryption_subkeys(u) == z


def test_mul_inverse_all_words() -> None:
    # 0 stands for 2^16 on both sides of the product.
    for z in range(0x10000):
        inverse = idea._mul_inverse(z)
        assert 0 <= inverse <= 0xFFFF
        assert (z or 0x10000) * (inverse or 0x10000) % 0x10001 == 1, z
    assert idea._mul_inverse(0) == 0
    assert idea._mul_inverse(1) == 1


def test_decryption_subkeys_zero_key() -> None:
    # All-zero key: every Z is 0 (= 2^16, its own (.)-inverse) and -0 = 0, so U == Z.
    z = encryption_subkeys(bytes(16))
    assert z == [0] * 52
    assert decryption_subkeys(z) == z


# --- differential against cryptography (OpenSSL) ----------------------------------------


def _reference_ecb(key: bytes, data: bytes) -> bytes:
    encryptor = Cipher(CryptographyIDEA(key), modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


# Keys whose subkeys are 0 (= 2^16) or 1 (its own inverse), or 0xFFFF (= -2 mod 65537).
SPECIAL_KEYS = [
    bytes(16),
    b"\xff" * 16,
    bytes(15) + b"\x01",
    b"\x80" + bytes(15),
    bytes.fromhex("0000ffff0000ffff0000ffff0000ffff"),
    bytes.fromhex("00010001000100010001000100010001"),
    bytes.fromhex("00000000000000000000000000000001"),
]
SPECIAL_BLOCKS = [
    bytes(8),
    b"\xff" * 8,
    bytes.fromhex("0000ffff0000ffff"),
    bytes.fromhex("0001000100010001"),
]

keys = st.one_of(st.sampled_from(SPECIAL_KEYS), st.binary(min_size=16, max_size=16))
blocks = st.one_of(st.sampled_from(SPECIAL_BLOCKS), st.binary(min_size=8, max_size=8))
multi_block = st.lists(blocks, min_size=0, max_size=24).map(b"".join)


@given(keys, multi_block)
@settings(max_examples=300, deadline=None)
def test_matches_cryptography_ecb(key: bytes, data: bytes) -> None:
    cipher = IDEA(key)
    expected = _reference_ecb(key, data)
    assert cipher.encrypt_blocks(data) == expected
    for i in range(0, len(data), 8):
        block = data[i : i + 8]
        encrypted = cipher.encrypt_block(block)
        assert encrypted == expected[i : i + 8]
        assert cipher.decrypt_block(encrypted) == block


@given(keys, blocks)
@settings(max_examples=300, deadline=None)
def test_decrypt_inverts_encrypt(key: bytes, block: bytes) -> None:
    cipher = IDEA(key)
    assert cipher.decrypt_block(cipher.encrypt_block(block)) == block
    assert cipher.encrypt_block(cipher.decrypt_block(block)) == block


@pytest.mark.parametrize("key", SPECIAL_KEYS, ids=lambda k: k.hex())
@pytest.mark.parametrize("block", SPECIAL_BLOCKS, ids=lambda b: b.hex())
def test_special_keys_and_blocks(key: bytes, block: bytes) -> None:
    # Always run (not left to Hypothesis's sampling): every special key with every special
    # block, against OpenSSL.
    cipher = IDEA(key)
    expected = _reference_ecb(key, block)
    assert cipher.encrypt_block(block) == expected
    assert cipher.decrypt_block(expected) == block


# --- interface and errors ---------------------------------------------------------------


def test_interface() -> None:
    cipher = IDEA(bytes(range(16)))
    assert isinstance(cipher, BlockCipher)
    assert cipher.block_size == 8 == idea.BLOCK_SIZE
    assert not hasattr(cipher, "__dict__")
    assert cipher.encrypt_blocks(b"") == b""


def test_accepts_buffers() -> None:
    key = bytes(range(16))
    block = bytes(range(8))
    expected = IDEA(key).encrypt_block(block)
    for make in (bytes, bytearray, memoryview):
        cipher = IDEA(make(key))
        assert cipher.encrypt_block(make(block)) == expected
        assert cipher.encrypt_blocks(make(block * 2)) == expected * 2
        assert cipher.decrypt_block(make(expected)) == block


def test_no_reference_cycles() -> None:
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        cipher = IDEA(bytes(range(16)))
        cipher.decrypt_block(cipher.encrypt_block(bytes(8)))
        del cipher
        assert gc.collect() == 0
    finally:
        if enabled:
            gc.enable()


@pytest.mark.parametrize("size", [0, 1, 5, 8, 15, 17, 24, 32])
def test_bad_key_size(size: int) -> None:
    with pytest.raises(InvalidKeySize, match=rf"^idea: key must be 16 bytes, got {size}$"):
        IDEA(bytes(size))


@pytest.mark.parametrize("size", [0, 1, 7, 9, 16])
def test_bad_block_size(size: int) -> None:
    cipher = IDEA(bytes(16))
    message = rf"^idea: block must be 8 bytes, got {size}$"
    with pytest.raises(RefcryptoError, match=message):
        cipher.encrypt_block(bytes(size))
    with pytest.raises(RefcryptoError, match=message):
        cipher.decrypt_block(bytes(size))


@pytest.mark.parametrize("size", [1, 7, 9, 15, 4095])
def test_bad_blocks_length(size: int) -> None:
    cipher = IDEA(bytes(16))
    with pytest.raises(
        RefcryptoError, match=rf"^idea: data length must be a multiple of 8 bytes, got {size}$"
    ):
        cipher.encrypt_blocks(bytes(size))


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        IDEA(b"short")
    with pytest.raises(ValueError):
        IDEA(bytes(16)).encrypt_block(b"short")
