"""Key derivation: EVP_BytesToKey(MD5) and HKDF-SHA1 against published and derived vectors."""

from __future__ import annotations

import json

import pytest

import refcrypto
from refcrypto.kdf import SUBKEY_INFO, evp_bytes_to_key, hkdf_sha1, session_subkey
from refcrypto.vectorfiles import load_records, vector_path

EVP = load_records("kdf/evp_bytes_to_key.txt")
RFC5869 = load_records("kdf/rfc-5869-HKDF-SHA1.txt", start="count")
WYCHEPROOF = [
    t
    for group in json.loads(vector_path("kdf/hkdf_sha1_test.json").read_text())["testGroups"]
    for t in group["tests"]
]


def test_vector_counts() -> None:
    assert len(EVP) == 20
    assert len(RFC5869) == 4
    assert len(WYCHEPROOF) == 87


@pytest.mark.parametrize("v", EVP, ids=lambda v: f"{v['password'][:12] or 'empty'}-{v['keylen']}")
def test_evp_bytes_to_key(v: dict[str, str]) -> None:
    password = bytes.fromhex(v["password"])
    assert evp_bytes_to_key(password, int(v["keylen"])).hex() == v["key"]


def test_master_key_uses_evp_bytes_to_key_and_utf8() -> None:
    # MD5("password") is its first 16 bytes, and str passwords are UTF-8 encoded.
    assert refcrypto.master_key("password", "aes-128-cfb").hex() == (
        "5f4dcc3b5aa765d61d8327deb882cf99"
    )
    assert refcrypto.master_key("ü", "aes-256-gcm") == evp_bytes_to_key("ü".encode(), 32)
    # table has key size 0: the key is the raw password.
    assert refcrypto.master_key(b"foobar!", "table") == b"foobar!"


@pytest.mark.parametrize("v", RFC5869, ids=lambda v: f"rfc5869-{v['count']}")
def test_hkdf_sha1_rfc5869(v: dict[str, str]) -> None:
    okm = hkdf_sha1(
        bytes.fromhex(v["ikm"]), bytes.fromhex(v["salt"]), bytes.fromhex(v["info"]), int(v["l"])
    )
    assert okm.hex() == v["okm"]


@pytest.mark.parametrize("t", WYCHEPROOF, ids=lambda t: f"wycheproof-{t['tcId']}")
def test_hkdf_sha1_wycheproof(t: dict[str, object]) -> None:
    args = tuple(bytes.fromhex(str(t[name])) for name in ("ikm", "salt", "info"))
    if t["result"] == "invalid":
        # The only invalid cases ask for more than 255 * 20 bytes of output.
        with pytest.raises(ValueError):
            hkdf_sha1(args[0], args[1], args[2], int(str(t["size"])))
        return
    assert hkdf_sha1(args[0], args[1], args[2], int(str(t["size"]))).hex() == t["okm"]


def test_ss_subkey_derived_example() -> None:
    # docs/vector-notes.md, "Derived examples": checked with `openssl kdf ... HKDF`.
    key = refcrypto.master_key("foobar", "aes-256-gcm")
    assert key.hex() == "3858f62230ac3c915f300c664312c63f568378529614d22ddb49237d2f60bfdf"
    assert SUBKEY_INFO == b"ss-subkey"
    assert session_subkey(key, bytes(range(32))).hex() == (
        "c4f0e9818348b2f30188d82b37a4cddc9f5ea531070ec67225160209faff573c"
    )
