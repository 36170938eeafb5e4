"""The public-API path's two-byte shortcut (:mod:`refcrypto.primitives._short`) against
pycryptodome's own AEADs: every key size, both ChaCha nonce sizes, any two bytes, and a
flipped bit anywhere is refused."""

from __future__ import annotations

import pytest
from Crypto.Cipher import AES, ChaCha20_Poly1305
from hypothesis import given
from hypothesis import strategies as st

import refcrypto
from refcrypto.primitives import _fast
from refcrypto.primitives import aead as aead_module
from refcrypto.primitives._short import ChaChaPolyLength, GcmLength


@given(key=st.binary(min_size=16, max_size=16) | st.binary(min_size=24, max_size=24)
       | st.binary(min_size=32, max_size=32),
       iv=st.binary(min_size=12, max_size=12), plaintext=st.binary(min_size=2, max_size=2),
       flip=st.integers(0, 18 * 8 - 1))
def test_gcm_two_byte_messages_match_pycryptodome(key: bytes, iv: bytes, plaintext: bytes,
                                                   flip: int) -> None:
    ciphertext, tag = AES.new(key, AES.MODE_GCM, nonce=iv).encrypt_and_digest(plaintext)
    short = GcmLength(key)
    assert short.seal(iv, plaintext) == ciphertext + tag
    assert short.open(iv, ciphertext + tag) == plaintext
    bad = bytearray(ciphertext + tag)
    bad[flip // 8] ^= 1 << (flip % 8)
    assert short.open(iv, bytes(bad)) is None


@given(key=st.binary(min_size=32, max_size=32),
       nonce=st.binary(min_size=12, max_size=12) | st.binary(min_size=24, max_size=24),
       plaintext=st.binary(min_size=2, max_size=2), flip=st.integers(0, 18 * 8 - 1))
def test_chacha_two_byte_messages_match_pycryptodome(key: bytes, nonce: bytes,
                                                     plaintext: bytes, flip: int) -> None:
    ciphertext, tag = ChaCha20_Poly1305.new(key=key, nonce=nonce).encrypt_and_digest(plaintext)
    short = ChaChaPolyLength(key)
    assert short.seal(nonce, plaintext) == ciphertext + tag
    assert short.open(nonce, memoryview(ciphertext + tag)) == plaintext
    bad = bytearray(ciphertext + tag)
    bad[flip // 8] ^= 1 << (flip % 8)
    assert short.open(nonce, bytes(bad)) is None


@pytest.mark.parametrize("cls, key_size", [(aead_module.AESGCM, 16), (aead_module.AESGCM, 32),
                                           (aead_module.ChaCha20Poly1305IETF, 32),
                                           (aead_module.XChaCha20Poly1305, 32)])
def test_the_public_path_takes_the_shortcut_for_two_bytes_only(
    cls: type, key_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fast, "ENABLED", False)
    aead = cls(bytes(range(key_size)))
    nonce = bytes(aead.nonce_size)
    sealed = aead.seal(nonce, b"\x12\x34")
    assert aead._short is not None  # the two-byte message went through the shortcut
    assert aead.open(nonce, sealed) == b"\x12\x34"
    with pytest.raises(refcrypto.InvalidTag):
        aead.open(nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]))
    other = cls(bytes(range(key_size)))
    other.seal(nonce, b"abc")
    assert other._short is None  # three bytes: pycryptodome's object


@pytest.mark.parametrize("name", ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
                                  "xchacha20-ietf-poly1305"])
def test_a_public_path_stream_is_byte_identical(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    salt = bytes(range(refcrypto.method(name).iv_size))
    data = bytes(range(256)) * 70  # two chunks
    monkeypatch.setattr(_fast, "ENABLED", False)
    wire = refcrypto.Cryptor("pw", name, iv=salt).encrypt(data)
    # the same stream built without refcrypto's codecs: pycryptodome's AEAD per seal
    row = refcrypto.method(name)
    subkey = refcrypto.wire.aead.session_subkey(refcrypto.master_key("pw", row), salt)
    expected = [salt]
    for n, start in enumerate(range(0, len(data), 0x3FFF)):
        chunk = data[start : start + 0x3FFF]
        for i, part in ((2 * n, len(chunk).to_bytes(2, "big")), (2 * n + 1, chunk)):
            nonce = i.to_bytes(row.nonce_size, "little")
            cipher = (AES.new(subkey, AES.MODE_GCM, nonce=nonce) if "gcm" in name
                      else ChaCha20_Poly1305.new(key=subkey, nonce=nonce))
            expected += cipher.encrypt_and_digest(part)
    assert wire == b"".join(expected)
    assert refcrypto.Cryptor("pw", name).decrypt(wire) == data
