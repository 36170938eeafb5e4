"""Published known answers for the primitives behind the stream and AEAD methods that
pycryptodome carries (and the original ChaCha20-Poly1305 built from its parts).

Block-cipher modes (AES CFB/OFB/CTR, Blowfish, CAST5, DES, RC2) are in test_modes.py and
test_method_vectors.py; provenance of every file is in vectors/*/README.md.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from refcrypto.errors import InvalidNonceSize, InvalidTag
from refcrypto.primitives import aead as aeads
from refcrypto.primitives import streams
from refcrypto.primitives.table import build_tables
from refcrypto.vectorfiles import load_records, vector_path


def keystream_at(factory: Any, key: bytes, nonce: bytes, offset: int, length: int) -> bytes:
    """``length`` keystream bytes from byte ``offset``, through the streaming interface only
    (so a vector with a non-zero counter also checks that state carries across calls)."""
    stream = factory(key, nonce, False)
    stream.update(bytes(offset))
    return bytes(stream.update(bytes(length)))


# --- ChaCha20, original layout (8-byte nonce): draft-agl TC1-TC5 as printed by libsodium --------

LIBSODIUM_CHACHA_INPUTS = [  # vectors/stream/README.md: inputs of chacha20.c, lines 1-5
    ("00" * 32, "00" * 8),
    ("00" * 31 + "01", "00" * 8),
    ("00" * 32, "0000000000000001"),
    ("00" * 32, "0100000000000000"),
    (bytes(range(32)).hex(), "0001020304050607"),
]


def _libsodium_chacha_lines() -> list[str]:
    lines = vector_path("stream/chacha20.exp").read_text().splitlines()
    return [line.strip("[]") for line in lines[:5]]


@pytest.mark.parametrize("index", range(5), ids=lambda i: f"tc{i + 1}")
def test_chacha20_original_draft_agl(index: int) -> None:
    key, nonce = LIBSODIUM_CHACHA_INPUTS[index]
    expected = _libsodium_chacha_lines()[index]
    assert len(expected) == 320
    got = keystream_at(streams.chacha20, bytes.fromhex(key), bytes.fromhex(nonce), 0, 160)
    assert got.hex() == expected


# --- ChaCha20, RFC 8439 layout (12-byte nonce) -------------------------------------------------

RFC7539 = load_records("stream/rfc7539.txt")


def test_rfc7539_count() -> None:
    assert len(RFC7539) == 3


@pytest.mark.parametrize("v", RFC7539, ids=lambda v: f"rfc7539-A.2-{v['count']}")
def test_chacha20_ietf_rfc7539(v: dict[str, str]) -> None:
    plaintext = bytes.fromhex(v["plaintext"])
    stream = streams.chacha20(bytes.fromhex(v["key"]), bytes.fromhex(v["nonce"]), False)
    stream.update(bytes(64 * int(v["initial_block_counter"])))
    assert stream.update(plaintext).hex() == v["ciphertext"]


# --- XChaCha20 (draft-irtf-cfrg-xchacha-03 A.3.2) ---------------------------------------------

XCHACHA = load_records("stream/xchacha-draft-03.txt")


@pytest.mark.parametrize(
    "v", [v for v in XCHACHA if v["section"] == "xchacha20"], ids=lambda v: f"counter{v['counter']}"
)
def test_xchacha20_draft(v: dict[str, str]) -> None:
    key, iv = bytes.fromhex(v["key"]), bytes.fromhex(v["iv"])
    offset = 64 * int(v["counter"])
    plaintext = bytes.fromhex(v["plaintext"])
    assert keystream_at(streams.xchacha20, key, iv, offset, len(plaintext)).hex() == v["keystream"]
    stream = streams.xchacha20(key, iv, False)
    stream.update(bytes(offset))
    assert stream.update(plaintext).hex() == v["ciphertext"]


# --- Salsa20 (Botan stream/salsa20.vec, 8-byte nonces, 256-bit keys as Shadowsocks uses) ----------

SALSA = [
    v
    for v in load_records("stream/salsa20.vec")
    # 8-byte nonce, 256-bit key; seeks past 1 MiB are left to the seekable native backends.
    if len(v.get("nonce", "")) == 16 and len(v["key"]) == 64 and int(v.get("seek", "0")) < 1 << 20
]


def test_salsa_count() -> None:
    assert len(SALSA) >= 5


@pytest.mark.parametrize("v", SALSA, ids=lambda v: f"line{v['line']}")
def test_salsa20_botan(v: dict[str, str]) -> None:
    out = bytes.fromhex(v["out"])
    data = bytes.fromhex(v["in"]) if "in" in v else bytes(len(out))
    stream = streams.salsa20(bytes.fromhex(v["key"]), bytes.fromhex(v["nonce"]), False)
    stream.update(bytes(int(v.get("seek", "0"))))
    assert stream.update(data) == out


# --- RC4 (RFC 6229 section 2, keystream at offsets) -------------------------------------------

RC4 = [
    v
    for name in ("rfc-6229-40.txt", "rfc-6229-128.txt", "rfc-6229-256.txt")
    for v in load_records(f"stream/{name}")
]


def test_rc4_count() -> None:
    assert len(RC4) == 3 * 36


@pytest.mark.parametrize("v", RC4, ids=lambda v: f"{len(v['key']) * 4}bit-offset{v['offset']}")
def test_rc4_rfc6229(v: dict[str, str]) -> None:
    key = bytes.fromhex(v["key"])
    got = keystream_at(streams.rc4, key, b"", int(v["offset"]), 16)
    assert got.hex() == v["ciphertext"]


def test_rc4_md5_derived() -> None:
    # docs/vector-notes.md, "Derived examples" (OpenSSL CLI): RC4 key MD5(key || iv).
    key, iv = bytes.fromhex("3858f62230ac3c915f300c664312c63f"), bytes(range(16))
    assert keystream_at(streams.rc4_md5, key, iv, 0, 16).hex() == "e8e9b529497a3f49a6c07da525f10668"


# --- AEADs: Wycheproof ----------------------------------------------------------------------------


def _wycheproof(name: str, nonce_size: int) -> list[dict[str, Any]]:
    data = json.loads(vector_path(f"aead/{name}").read_text())
    return [
        t
        for group in data["testGroups"]
        if group["ivSize"] == nonce_size * 8 and group["tagSize"] == 128
        for t in group["tests"]
    ]


WYCHEPROOF = [
    (aeads.AESGCM, t) for t in _wycheproof("aes_gcm_test.json", 12) if len(t["key"]) in (32, 48, 64)
] + [(aeads.ChaCha20Poly1305IETF, t) for t in _wycheproof("chacha20_poly1305_test.json", 12)] + [
    (aeads.XChaCha20Poly1305, t) for t in _wycheproof("xchacha20_poly1305_test.json", 24)
]


def test_wycheproof_counts() -> None:
    by_class = {cls: sum(1 for c, _ in WYCHEPROOF if c is cls) for cls, _ in WYCHEPROOF}
    assert by_class[aeads.AESGCM] >= 150
    assert by_class[aeads.ChaCha20Poly1305IETF] >= 300
    assert by_class[aeads.XChaCha20Poly1305] >= 290


@pytest.mark.parametrize(
    "cls,t", WYCHEPROOF, ids=lambda x: x.name if isinstance(x, type) else f"tc{x['tcId']}"
)
def test_aead_wycheproof(cls: Any, t: dict[str, Any]) -> None:
    aead = cls(bytes.fromhex(t["key"]))
    nonce, aad = bytes.fromhex(t["iv"]), bytes.fromhex(t["aad"])
    sealed = bytes.fromhex(t["ct"] + t["tag"])
    if t["result"] == "invalid":
        with pytest.raises(InvalidTag):
            aead.open(nonce, sealed, aad)
        return
    assert aead.seal(nonce, bytes.fromhex(t["msg"]), aad) == sealed
    assert aead.open(nonce, sealed, aad).hex() == t["msg"]


# --- AES-OCB3 (RFC 7253 appendix A) --------------------------------------------------------------

OCB = load_records("aead/rfc7253.txt")


def test_ocb_count() -> None:
    assert len(OCB) == 16


@pytest.mark.parametrize("v", OCB, ids=lambda v: f"rfc7253-{v['count']}")
def test_aes_ocb_rfc7253(v: dict[str, str]) -> None:
    aead = aeads.AESOCB(bytes.fromhex(v["key"]))
    nonce, aad = bytes.fromhex(v["nonce"]), bytes.fromhex(v["aad"])
    sealed = aead.seal(nonce, bytes.fromhex(v["plaintext"]), aad)
    assert sealed.hex() == v["ciphertext"].lower()
    assert aead.open(nonce, sealed, aad).hex() == v["plaintext"].lower()


# --- The original ChaCha20-Poly1305 (draft-agl / libsodium) ------------------------------------


def _libsodium_aead_records() -> list[bytes]:
    """Split libsodium's aead_chacha20poly1305.exp into its printed ct||tag blocks: each block
    is lines of 8 comma-prefixed bytes ending with a shorter line."""
    records: list[bytes] = []
    current = bytearray()
    for line in vector_path("aead/aead_chacha20poly1305.exp").read_text().splitlines():
        values = [int(x, 16) for x in line.split(",") if x.strip()]
        current += bytes(values)
        if len(values) < 8:
            records.append(bytes(current))
            current = bytearray()
    return records


def test_chacha20_poly1305_original_libsodium() -> None:
    key = bytes.fromhex("4290bcb154173531f314af57f3be3b5006da371ece272afa1b5dbdd1100a1007")
    nonce = bytes.fromhex("cd7cf67be39c794a")
    ad = bytes.fromhex("87e229d4500845a079c0")
    message = bytes.fromhex("86d09974840bded2a5ca")
    with_ad, without_ad = _libsodium_aead_records()[:2]
    aead = aeads.ChaCha20Poly1305Original(key)
    assert aead.seal(nonce, message, ad) == with_ad
    assert aead.seal(nonce, message) == without_ad
    # docs/vector-notes.md: the draft-agl tag, not pycryptodome's 8-byte-nonce mode.
    assert with_ad[-16:].hex() == "677dabf4e3d24b876bb284753896e1d6"
    assert aead.open(nonce, with_ad, ad) == message
    with pytest.raises(InvalidTag):
        aead.open(nonce, with_ad)  # AD missing
    with pytest.raises(InvalidNonceSize):
        aead.seal(bytes(12), message)


def test_xchacha20_poly1305_draft() -> None:
    (v,) = [v for v in XCHACHA if v["section"] == "aead"]
    aead = aeads.XChaCha20Poly1305(bytes.fromhex(v["key"]))
    iv, aad = bytes.fromhex(v["iv"]), bytes.fromhex(v["aad"])
    sealed = aead.seal(iv, bytes.fromhex(v["plaintext"]), aad)
    assert sealed.hex() == v["ciphertext"] + v["tag"]


# --- table (Python shadowsocks' own known-answer tables) ---------------------------------------

TABLE = load_records("table/shadowsocks-table.txt")


@pytest.mark.parametrize("v", TABLE, ids=lambda v: bytes.fromhex(v["password"]).decode())
def test_table_known_answers(v: dict[str, str]) -> None:
    encrypt_table, decrypt_table = build_tables(bytes.fromhex(v["password"]))
    assert encrypt_table.hex() == v["encrypt_table"]
    assert decrypt_table.hex() == v["decrypt_table"]


def test_table_count() -> None:
    assert len(TABLE) == 2
