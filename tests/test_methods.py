"""The method table: names, sizes and lookups, against Python shadowsocks' table."""

from __future__ import annotations

import json

import pytest

import refcrypto
from refcrypto.errors import RefcryptoError, UnknownMethod

# (name, category, key_size, iv/salt size, nonce size, tag size), transcribed from the table of
# Python shadowsocks master, ``ciphers`` in shadowsocks/crypto/*.py (chacha20-poly1305: the package
# keeps a 12-byte counter but libsodium reads only its first 8 bytes).
PYTHON_SHADOWSOCKS_TABLE = [
    ("aes-128-cfb", "stream", 16, 16, 0, 0),
    ("aes-192-cfb", "stream", 24, 16, 0, 0),
    ("aes-256-cfb", "stream", 32, 16, 0, 0),
    ("aes-128-ofb", "stream", 16, 16, 0, 0),
    ("aes-192-ofb", "stream", 24, 16, 0, 0),
    ("aes-256-ofb", "stream", 32, 16, 0, 0),
    ("aes-128-ctr", "stream", 16, 16, 0, 0),
    ("aes-192-ctr", "stream", 24, 16, 0, 0),
    ("aes-256-ctr", "stream", 32, 16, 0, 0),
    ("aes-128-cfb8", "stream", 16, 16, 0, 0),
    ("aes-192-cfb8", "stream", 24, 16, 0, 0),
    ("aes-256-cfb8", "stream", 32, 16, 0, 0),
    ("aes-128-cfb1", "stream", 16, 16, 0, 0),
    ("aes-192-cfb1", "stream", 24, 16, 0, 0),
    ("aes-256-cfb1", "stream", 32, 16, 0, 0),
    ("bf-cfb", "stream", 16, 8, 0, 0),
    ("camellia-128-cfb", "stream", 16, 16, 0, 0),
    ("camellia-192-cfb", "stream", 24, 16, 0, 0),
    ("camellia-256-cfb", "stream", 32, 16, 0, 0),
    ("cast5-cfb", "stream", 16, 8, 0, 0),
    ("des-cfb", "stream", 8, 8, 0, 0),
    ("idea-cfb", "stream", 16, 8, 0, 0),
    ("rc2-cfb", "stream", 16, 8, 0, 0),
    ("rc4", "stream", 16, 0, 0, 0),
    ("seed-cfb", "stream", 16, 16, 0, 0),
    ("aes-128-gcm", "aead", 16, 16, 12, 16),
    ("aes-192-gcm", "aead", 24, 24, 12, 16),
    ("aes-256-gcm", "aead", 32, 32, 12, 16),
    ("aes-128-ocb", "aead", 16, 16, 12, 16),
    ("aes-192-ocb", "aead", 24, 24, 12, 16),
    ("aes-256-ocb", "aead", 32, 32, 12, 16),
    ("rc4-md5", "stream", 16, 16, 0, 0),
    ("mbedtls:aes-128-cfb128", "stream", 16, 16, 0, 0),
    ("mbedtls:aes-192-cfb128", "stream", 24, 16, 0, 0),
    ("mbedtls:aes-256-cfb128", "stream", 32, 16, 0, 0),
    ("mbedtls:aes-128-ctr", "stream", 16, 16, 0, 0),
    ("mbedtls:aes-192-ctr", "stream", 24, 16, 0, 0),
    ("mbedtls:aes-256-ctr", "stream", 32, 16, 0, 0),
    ("mbedtls:camellia-128-cfb128", "stream", 16, 16, 0, 0),
    ("mbedtls:camellia-192-cfb128", "stream", 24, 16, 0, 0),
    ("mbedtls:camellia-256-cfb128", "stream", 32, 16, 0, 0),
    ("mbedtls:aes-128-gcm", "aead", 16, 16, 12, 16),
    ("mbedtls:aes-192-gcm", "aead", 24, 24, 12, 16),
    ("mbedtls:aes-256-gcm", "aead", 32, 32, 12, 16),
    ("salsa20", "stream", 32, 8, 0, 0),
    ("chacha20", "stream", 32, 8, 0, 0),
    ("xchacha20", "stream", 32, 24, 0, 0),
    ("chacha20-ietf", "stream", 32, 12, 0, 0),
    ("chacha20-poly1305", "aead", 32, 32, 8, 16),
    ("chacha20-ietf-poly1305", "aead", 32, 32, 12, 16),
    ("xchacha20-ietf-poly1305", "aead", 32, 32, 24, 16),
    ("sodium:aes-256-gcm", "aead", 32, 32, 12, 16),
    ("table", "stream", 0, 0, 0, 0),
]


def test_exactly_the_53_python_shadowsocks_names() -> None:
    names = [m.name for m in refcrypto.methods()]
    assert len(names) == 53
    assert sorted(names) == sorted(row[0] for row in PYTHON_SHADOWSOCKS_TABLE)


@pytest.mark.parametrize("row", PYTHON_SHADOWSOCKS_TABLE, ids=lambda row: row[0])
def test_row_sizes_match_the_spec(row: tuple[str, str, int, int, int, int]) -> None:
    name, category, key_size = row[:3]
    m = refcrypto.method(name)
    assert (m.name, m.category.value, m.key_size, m.iv_size, m.nonce_size, m.tag_size) == row
    assert m.spec and m.primitive
    assert not m.extension
    # Every stream method is legacy (no integrity), and says why.
    if category == "stream":
        assert m.legacy and m.legacy_reason
    if category == "aead":
        assert m.salt_size == key_size


def test_lookup_is_case_insensitive_and_accepts_aliases() -> None:
    assert refcrypto.method("AES-256-GCM") is refcrypto.method("aes-256-gcm")
    assert refcrypto.method(" Chacha20-IETF-Poly1305 ").name == "chacha20-ietf-poly1305"
    for bits in (128, 192, 256):
        assert refcrypto.method(f"aes-{bits}-cfb128").name == f"aes-{bits}-cfb"
        assert refcrypto.method(f"camellia-{bits}-cfb128").name == f"camellia-{bits}-cfb"


def test_unknown_method_names_the_closest() -> None:
    with pytest.raises(UnknownMethod) as info:
        refcrypto.method("aes-256-gmc")
    assert "aes-256-gcm" in str(info.value)
    assert "aes-256-gcm" in info.value.suggestions
    assert isinstance(info.value, RefcryptoError) and isinstance(info.value, ValueError)
    with pytest.raises(UnknownMethod):
        refcrypto.Cryptor("pw", "none")


def test_extensions_are_marked_and_separate() -> None:
    extra = [m for m in refcrypto.methods(extensions=True) if m.extension]
    assert {m.name for m in extra} >= {"camellia-256-ctr", "camellia-128-cfb1"}
    assert not any(m.extension for m in refcrypto.methods())


def test_as_dict_is_json_serialisable() -> None:
    rows = [m.as_dict() for m in refcrypto.methods(extensions=True)]
    decoded = json.loads(json.dumps(rows))
    assert decoded[0]["name"] == "aes-128-cfb"
    assert {"name", "key_size", "iv_size", "legacy", "primitive", "spec"} <= set(decoded[0])
