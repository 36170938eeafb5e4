"""Third-party Shadowsocks cipher modules against refcrypto on the wire.

For every backend (Python shadowsocks, pproxy's pycryptodome module, pproxy's pure-Python
module) and every method it offers: the same password and IV/salt must give byte-identical
TCP streams (several writes, one of them longer than an AEAD chunk) and UDP packets, and each
side must decode the other's output. Where a third-party module differs, the difference is
asserted precisely: an ``xfail(strict=True)`` on the comparison plus a ``test_finding_*`` that
pins the exact divergent behaviour with the smallest input that shows it.

A backend whose package (or a native library it needs) is missing is skipped; with
``REFCRYPTO_REQUIRE_NATIVE=1`` that is a failure instead.
"""

from __future__ import annotations

import gc
import importlib
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest
from Crypto.Cipher import AES, ARC4

import refcrypto
from refcrypto.conformance.backend import WireBackend
from refcrypto.conformance.thirdparty import (
    PproxyWire,
    PyShadowsocksModules,
    PyShadowsocksWire,
    load_python_shadowsocks,
    pproxy_backend,
    pproxy_py_backend,
    shadowsocks_backend,
    thirdparty_backends,
)
from refcrypto.errors import InvalidTag, RefcryptoError, TruncatedData
from refcrypto.kdf import session_subkey
from refcrypto.methods import Method
from refcrypto.wire.aead import MAX_CHUNK_PAYLOAD
from refcrypto.wire.cryptor import Password, master_key, new_decoder, new_encoder
from refcrypto.wire.udp import decrypt_packet, encrypt_packet

REQUIRE_NATIVE_ENV = "REFCRYPTO_REQUIRE_NATIVE"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail when ``REFCRYPTO_REQUIRE_NATIVE=1`` asks for every backend to run."""
    if os.environ.get(REQUIRE_NATIVE_ENV) == "1":
        pytest.fail(f"{REQUIRE_NATIVE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------------------------
# What each implementation offers (fixed lists: a change in a package shows as a failure)
# --------------------------------------------------------------------------------------------

SHADOWSOCKS_NAMES = tuple(m.name for m in refcrypto.methods())  # all 53
PPROXY_NAMES = (
    "aes-128-cfb", "aes-192-cfb", "aes-256-cfb", "aes-128-cfb8", "aes-192-cfb8", "aes-256-cfb8",
    "aes-128-ofb", "aes-192-ofb", "aes-256-ofb", "aes-128-ctr", "aes-192-ctr", "aes-256-ctr",
    "aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "bf-cfb", "cast5-cfb", "des-cfb", "rc4",
    "rc4-md5", "salsa20", "chacha20", "chacha20-ietf", "chacha20-ietf-poly1305",
)  # fmt: skip
PPROXY_PY_NAMES = (
    "aes-128-cfb", "aes-192-cfb", "aes-256-cfb", "aes-128-cfb8", "aes-192-cfb8", "aes-256-cfb8",
    "aes-128-cfb1", "aes-192-cfb1", "aes-256-cfb1", "aes-128-ofb", "aes-192-ofb", "aes-256-ofb",
    "aes-128-ctr", "aes-192-ctr", "aes-256-ctr", "aes-128-gcm", "aes-192-gcm", "aes-256-gcm",
    "bf-cfb", "camellia-128-cfb", "camellia-192-cfb", "camellia-256-cfb", "idea-cfb", "rc2-cfb",
    "seed-cfb", "rc4", "rc4-md5", "salsa20", "chacha20", "chacha20-ietf", "xchacha20",
    "chacha20-ietf-poly1305", "xchacha20-ietf-poly1305", "table",
)  # fmt: skip
OFFERED = {"shadowsocks": SHADOWSOCKS_NAMES, "pproxy": PPROXY_NAMES, "pproxy-py": PPROXY_PY_NAMES}

#: Methods Python shadowsocks may legitimately lack on a given machine, and the reason the
#: package gives: Debian builds OpenSSL without IDEA; libsodium's AES-256-GCM needs AES-NI.
ENVIRONMENT_DEPENDENT = {
    "idea-cfb": "not found in libcrypto",
    "sodium:aes-256-gcm": "Unsupported cipher",
}

BACKENDS: dict[str, WireBackend] = {
    "shadowsocks": shadowsocks_backend(),
    "pproxy": pproxy_backend(),
    "pproxy-py": pproxy_py_backend(),
}

# --------------------------------------------------------------------------------------------
# Known divergences: (backend, method, aspect) -> reason. Every one is xfail(strict=True) in
# the comparisons below and pinned exactly by a test_finding_* further down.
# --------------------------------------------------------------------------------------------

MBEDTLS_UDP = (
    "Python shadowsocks: MbedTLSCryptoBase.__init__ sets encrypt_once/decrypt_once = update on "
    "the instance, shadowing MbedTLSAeadCrypto's AEAD methods: UDP payloads are a bare GCM "
    "keystream from counter block J0, with no tag (test_finding_shadowsocks_mbedtls_gcm_udp)"
)
IV_FIRST_READ = (
    "Python shadowsocks: Cryptor.decrypt takes the IV/salt from the first read only "
    "(test_finding_shadowsocks_iv_from_first_read_only)"
)
RC4_REKEY = (
    "pproxy: apply_cipher re-runs setup_iv while cipher.iv is falsy; rc4's IV is b'', so every "
    "write and every read restarts RC4 from the first keystream byte "
    "(test_finding_pproxy_rc4_restarts_keystream_every_write)"
)
PPROXY_UDP = (
    "pproxy: PacketCipher.encrypt/decrypt use the TCP chunk codec for AEAD methods: a UDP "
    "packet is salt || [length chunk][payload chunk] instead of salt || ciphertext || tag "
    "(test_finding_pproxy_udp_aead_is_the_tcp_chunk_format)"
)

KNOWN: dict[tuple[str, str, str], str] = {}
for _bits in (128, 192, 256):
    KNOWN["shadowsocks", f"mbedtls:aes-{_bits}-gcm", "udp"] = MBEDTLS_UDP
for _m in refcrypto.methods():
    if _m.iv_size:
        KNOWN["shadowsocks", _m.name, "tcp-split-iv"] = IV_FIRST_READ
for _backend in ("pproxy", "pproxy-py"):
    for _aspect in ("tcp", "tcp-split-iv"):
        KNOWN[_backend, "rc4", _aspect] = RC4_REKEY
    for _name in OFFERED[_backend]:
        if refcrypto.method(_name).is_aead:
            KNOWN[_backend, _name, "udp"] = PPROXY_UDP


def cases(aspect: str) -> list[object]:
    """Every (backend, method) pair, with the known divergences marked ``xfail(strict=True)``.

    The expected failure is a failed comparison (``AssertionError``), or for Python
    shadowsocks given a split IV/salt also the package's own ``Exception`` (AEAD decoders and
    mbed TLS refuse the short IV); pytest's skip/fail outcomes are not exceptions, so a
    REFCRYPTO_REQUIRE_NATIVE failure still fails.
    """
    out: list[object] = []
    for backend, names in OFFERED.items():
        for name in names:
            reason = KNOWN.get((backend, name, aspect))
            split = (backend, aspect) == ("shadowsocks", "tcp-split-iv")
            raises = Exception if split else AssertionError
            marks = [pytest.mark.xfail(strict=True, reason=reason, raises=raises)] if reason else []
            out.append(pytest.param(backend, name, marks=marks, id=f"{backend}:{name}"))
    return out


def usable(backend_name: str, method: Method) -> WireBackend:
    """The backend, after skipping (or failing) when it cannot run ``method`` here."""
    backend = BACKENDS[backend_name]
    reason = backend.available()
    if reason is not None:
        skip_or_fail(reason)
    assert isinstance(backend, (PyShadowsocksWire, PproxyWire))
    missing = backend.missing_dependency(method)
    if missing is not None:
        skip_or_fail(missing)
    reason = backend.unsupported(method)
    if reason is not None:
        expected = ENVIRONMENT_DEPENDENT.get(method.name)
        assert backend_name == "shadowsocks" and expected and expected in reason, reason
        pytest.skip(reason)
    return backend


def pattern(size: int, seed: int = 0) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(size))


def cut(data: bytes, *points: int) -> list[bytes]:
    edges = [0, *sorted(min(p, len(data)) for p in points), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def writes_for(method: Method) -> list[bytes]:
    """Several writes: an empty one, tiny ones, and for AEAD one longer than a chunk."""
    big = MAX_CHUNK_PAYLOAD + 3000 if method.is_aead else 300
    return [b"", b"a", pattern(100, 1), pattern(big, 2), b"", pattern(17, 3)]


def reference_wire(method: Method, password: Password, iv: bytes, writes: list[bytes]) -> bytes:
    encoder = new_encoder(method, master_key(password, method), iv)
    return b"".join(encoder.update(w) for w in writes)


PASSWORD = "conformance password ✓"


# --------------------------------------------------------------------------------------------
# The backends as such
# --------------------------------------------------------------------------------------------


def test_import_loads_no_package_and_no_library() -> None:
    code = (
        "import sys, refcrypto, refcrypto.conformance.thirdparty as t\n"
        "backends = t.thirdparty_backends()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('shadowsocks', 'pproxy')]\n"
        "assert not bad, bad\n"
        "import os\n"
        "if os.path.exists('/proc/self/maps'):\n"
        "    maps = open('/proc/self/maps').read()\n"
        "    assert 'libsodium' not in maps and 'libmbedcrypto' not in maps\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_backends_follow_the_wire_protocol() -> None:
    names = [backend.name for backend in thirdparty_backends()]
    assert names == ["shadowsocks", "pproxy", "pproxy-py"]
    for backend in thirdparty_backends():
        assert isinstance(backend, WireBackend)


@pytest.mark.parametrize("backend_name", list(OFFERED))
def test_available_and_described(backend_name: str) -> None:
    backend = BACKENDS[backend_name]
    reason = backend.available()
    if reason is not None:
        skip_or_fail(reason)
    text = backend.describe()
    if backend_name == "shadowsocks":
        assert "shadowsocks" in text and "OpenSSL libcrypto: " in text
        assert "libsodium: " in text and "libmbedcrypto: " in text
        for title in ("OpenSSL libcrypto", "libsodium", "mbed TLS libmbedcrypto"):
            if f"{title}: missing" in text:
                skip_or_fail(f"{title} is missing: {text}")
    else:
        assert text.startswith("pproxy ")
        assert ("pure Python" in text) == (backend_name == "pproxy-py")


@pytest.mark.parametrize("backend_name", list(OFFERED))
def test_method_coverage(backend_name: str) -> None:
    """Exactly the expected names are supported; every other method has a reason."""
    backend = BACKENDS[backend_name]
    if backend.available() is not None:
        skip_or_fail(str(backend.available()))
    assert isinstance(backend, (PyShadowsocksWire, PproxyWire))
    supported: set[str] = set()
    for method in refcrypto.methods(extensions=True):
        reason = backend.unsupported(method)
        if reason is None:
            supported.add(method.name)
            continue
        assert method.name in reason
        if method.name in OFFERED[backend_name]:
            missing = backend.missing_dependency(method)
            if missing is not None:
                skip_or_fail(missing)
            assert backend_name == "shadowsocks", reason
            assert ENVIRONMENT_DEPENDENT[method.name] in reason
    expected = set(OFFERED[backend_name]) - {
        name for name in ENVIRONMENT_DEPENDENT if backend_name == "shadowsocks"
    }
    assert expected <= supported <= set(OFFERED[backend_name])


def test_unsupported_reasons_are_specific() -> None:
    pproxy, pure = BACKENDS["pproxy"], BACKENDS["pproxy-py"]
    if pproxy.available() is not None:
        skip_or_fail(str(pproxy.available()))
    assert pproxy.unsupported(refcrypto.method("seed-cfb")) == (
        "seed-cfb: not a method of pproxy.cipher; pproxy has it in pproxy.cipherpy "
        "(backend pproxy-py)"
    )
    assert "splits on ':'" in str(pure.unsupported(refcrypto.method("mbedtls:aes-256-gcm")))
    assert pure.unsupported(refcrypto.method("des-cfb")) == (
        "des-cfb: not a method of pproxy.cipherpy; pproxy has it in pproxy.cipher"
    )


def test_missing_package_is_a_reason_not_a_crash() -> None:
    def broken() -> PyShadowsocksModules:
        raise ImportError("No module named 'shadowsocks'")

    backend = PyShadowsocksWire("shadowsocks", broken)
    reason = backend.available()
    assert reason is not None and "pip install shadowsocks-alexforks" in reason
    method = refcrypto.method("aes-256-cfb")
    assert backend.unsupported(method) == reason == backend.missing_dependency(method)
    assert "not available" in backend.describe()
    with pytest.raises(RuntimeError):
        backend.tcp_encoder(method, "pw", bytes(16))


def test_adapter_takes_any_module_of_the_same_shape() -> None:
    """The adapter is generic: here a package exposing only the ``table`` method."""
    if BACKENDS["shadowsocks"].available() is not None:
        skip_or_fail(str(BACKENDS["shadowsocks"].available()))

    def table_only() -> PyShadowsocksModules:
        real = load_python_shadowsocks()
        table = {"table": real.method_supported["table"]}
        return PyShadowsocksModules(
            real.module, table, real.cryptor, real.gen_key_iv, real.encrypt_all_m,
            real.decrypt_all,
        )  # fmt: skip

    backend = PyShadowsocksWire("table-only", table_only, libraries=())
    table, cfb = refcrypto.method("table"), refcrypto.method("aes-256-cfb")
    assert backend.unsupported(table) is None
    assert "not a method" in str(backend.unsupported(cfb))
    with pytest.raises(ValueError, match="not a method"):
        backend.tcp_decoder(cfb, "pw")
    wire = backend.tcp_encoder(table, "pw", b"").update(b"hello")
    assert wire == reference_wire(table, "pw", b"", [b"hello"])


def test_skip_or_fail_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_NATIVE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception):
        skip_or_fail("libfoo missing")
    monkeypatch.setenv(REQUIRE_NATIVE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="libfoo missing"):
        skip_or_fail("libfoo missing")


# --------------------------------------------------------------------------------------------
# The comparisons
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("backend_name", "name"), cases("tcp"))
def test_tcp_same_stream_both_ways(backend_name: str, name: str) -> None:
    method = refcrypto.method(name)
    backend = usable(backend_name, method)
    iv = pattern(method.iv_size, 9)
    writes = writes_for(method)
    data = b"".join(writes)

    encoder = backend.tcp_encoder(method, PASSWORD, iv)
    wire = b"".join(encoder.update(w) for w in writes)
    expected = reference_wire(method, PASSWORD, iv, writes)
    assert wire == expected

    # refcrypto reads the third-party stream; the third party reads refcrypto's, in reads
    # that each hold the whole IV/salt first (splitting the IV is the next test).
    refdecoder = new_decoder(method, master_key(PASSWORD, method))
    assert b"".join(refdecoder.update(p) for p in cut(wire, 7, 5000)) == data
    decoder = backend.tcp_decoder(method, PASSWORD)
    pieces = cut(expected, method.iv_size + 5, method.iv_size + 40, len(expected) // 2)
    assert b"".join(decoder.update(p) for p in pieces) == data


@pytest.mark.parametrize(("backend_name", "name"), cases("tcp-split-iv"))
def test_tcp_decoder_takes_the_iv_across_reads(backend_name: str, name: str) -> None:
    method = refcrypto.method(name)
    backend = usable(backend_name, method)
    data = pattern(40, 4)
    wire = reference_wire(method, PASSWORD, pattern(method.iv_size, 5), [data])
    decoder = backend.tcp_decoder(method, PASSWORD)
    pieces = cut(wire, 1, method.iv_size // 2, method.iv_size + 3)
    assert b"".join(decoder.update(p) for p in pieces) == data


@pytest.mark.parametrize(("backend_name", "name"), cases("udp"))
def test_udp_same_packet_both_ways(backend_name: str, name: str) -> None:
    method = refcrypto.method(name)
    backend = usable(backend_name, method)
    key = master_key(PASSWORD, method)
    for size in (1, 1200):
        data, iv = pattern(size, size), pattern(method.iv_size, size + 1)
        packet = backend.udp_encrypt(method, PASSWORD, iv, data)
        expected = encrypt_packet(method, key, data, iv)
        assert packet == expected
        assert decrypt_packet(method, key, packet) == data
        assert backend.udp_decrypt(method, PASSWORD, expected) == data


# --------------------------------------------------------------------------------------------
# Findings, pinned exactly
# --------------------------------------------------------------------------------------------


def test_finding_shadowsocks_iv_from_first_read_only() -> None:
    """Smallest input: aes-256-cfb, password ``pw``, IV 00..0f, plaintext ``hello``; the
    receiver's first read holds 1 byte. Python shadowsocks takes that byte as the whole IV
    and decrypts the other 15 IV bytes as data: 20 bytes of garbage, no error (OpenSSL and
    libsodium stream methods). For an AEAD method the stream dies instead, and mbed TLS
    refuses the short IV. pproxy buffers the IV and decodes all of them."""
    cfb, gcm = refcrypto.method("aes-256-cfb"), refcrypto.method("aes-256-gcm")
    backend = usable("shadowsocks", cfb)
    wire = reference_wire(cfb, "pw", bytes(range(16)), [b"hello"])
    decoder = backend.tcp_decoder(cfb, "pw")
    assert decoder.update(wire[:1]) == b""
    garbage = decoder.update(wire[1:])
    assert len(garbage) == 20 and garbage != b"hello"

    wire = reference_wire(gcm, "pw", bytes(range(32)), [b"hello"])
    decoder = backend.tcp_decoder(gcm, "pw")
    with pytest.raises(Exception, match="Finalize cipher failed"):
        b"".join(decoder.update(p) for p in cut(wire, 1))

    mbedtls = refcrypto.method("mbedtls:aes-256-cfb128")
    if backend.unsupported(mbedtls) is None:  # mbed TLS refuses the 1-byte IV outright
        mbedtls_wire = reference_wire(mbedtls, "pw", bytes(range(16)), [b"hello"])
        decoder = backend.tcp_decoder(mbedtls, "pw")
        with pytest.raises(Exception, match="can not set cipher iv"):
            decoder.update(mbedtls_wire[:1])

    pproxy = BACKENDS["pproxy"]
    if pproxy.available() is None:
        decoder = pproxy.tcp_decoder(gcm, "pw")
        assert b"".join(decoder.update(p) for p in cut(wire, 1)) == b"hello"


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_finding_shadowsocks_mbedtls_gcm_udp(bits: int) -> None:
    """``mbedtls:aes-*-gcm`` over UDP: ``encrypt_once`` is the bare ``mbedtls_cipher_update``
    of a GCM context that was never started, i.e. AES-CTR from counter block J0 = 0^96 || 1
    (GCM proper starts the payload at J0 + 1), and no tag. refcrypto cannot open such a
    packet, and Python shadowsocks "decrypts" a standard packet (tag included) without
    checking anything. Smallest input: 1 byte. TCP is unaffected."""
    method = refcrypto.method(f"mbedtls:aes-{bits}-gcm")
    backend = usable("shadowsocks", method)
    key, salt = master_key("pw", method), bytes(range(method.iv_size))
    for data in (b"x", pattern(40)):
        packet = backend.udp_encrypt(method, "pw", salt, data)
        keystream = AES.new(session_subkey(key, salt), AES.MODE_CTR, nonce=bytes(12),
                            initial_value=1)  # fmt: skip
        assert packet == salt + keystream.encrypt(data)
        with pytest.raises((TruncatedData, InvalidTag)):
            decrypt_packet(method, key, packet)
        standard = encrypt_packet(method, key, data, salt)
        opened = backend.udp_decrypt(method, "pw", standard)
        assert len(opened) == len(data) + method.tag_size and opened[: len(data)] != data


@pytest.mark.parametrize("backend_name", ["pproxy", "pproxy-py"])
def test_finding_pproxy_rc4_restarts_keystream_every_write(backend_name: str) -> None:
    """rc4 has a zero-length IV; pproxy's ``apply_cipher`` re-keys while ``cipher.iv`` is
    falsy, so each write is RC4(key) from keystream byte 0: two writes ``ab``, ``ab`` give
    the same two ciphertext bytes twice (keystream reuse). Its reader re-keys on every read
    the same way, so pproxy only understands itself when reads match writes."""
    method = refcrypto.method("rc4")
    backend = usable(backend_name, method)
    key = master_key("pw", method)
    encoder = backend.tcp_encoder(method, "pw", b"")
    wire = encoder.update(b"ab") + encoder.update(b"ab")
    assert wire[:2] == wire[2:] == ARC4.new(key).encrypt(b"ab")
    assert wire != reference_wire(method, "pw", b"", [b"ab", b"ab"])
    decoder = backend.tcp_decoder(method, "pw")
    assert decoder.update(wire[:2]) + decoder.update(wire[2:]) == b"abab"


@pytest.mark.parametrize("backend_name", ["pproxy", "pproxy-py"])
@pytest.mark.parametrize("name", ["aes-128-gcm", "chacha20-ietf-poly1305"])
def test_finding_pproxy_aead_nonce_wraps_after_2048_chunks(backend_name: str, name: str) -> None:
    """pproxy increments the AEAD nonce modulo ``1 << NONCE_LENGTH`` with NONCE_LENGTH = 12:
    a 12-*bit* counter where SIP004 has a 12-byte one. After 2048 chunks (4096 seals) the
    nonces start again from 0 under the same subkey: nonce reuse. With the same one-byte
    payload, chunk 2048 is byte-for-byte chunk 0. Found by the 70,000-seal wire vectors."""
    method = refcrypto.method(name)
    backend = usable(backend_name, method)
    salt = bytes(range(method.iv_size))
    encoder = backend.tcp_encoder(method, "pw", salt)
    chunks = [encoder.update(b"x") for _ in range(2049)]
    assert chunks[0] == salt + chunks[2048]  # nonces 4096, 4097 were sealed as 0, 1
    reference = reference_wire(method, "pw", salt, [b"x"] * 2049)
    assert b"".join(chunks[:2048]) == reference[: sum(map(len, chunks[:2048]))]
    assert chunks[2048] != reference[-len(chunks[2048]) :]


@pytest.mark.parametrize("backend_name", ["pproxy", "pproxy-py"])
@pytest.mark.parametrize("name", ["aes-128-gcm", "chacha20-ietf-poly1305"])
def test_finding_pproxy_udp_aead_is_the_tcp_chunk_format(backend_name: str, name: str) -> None:
    """pproxy's UDP packet for an AEAD method is exactly refcrypto's *TCP* stream for one
    write of the payload (salt, sealed length, sealed payload: 34 bytes more than SIP004's
    salt || ciphertext || tag); it cannot open a standard packet and returns ``b"\\x00"``."""
    method = refcrypto.method(name)
    backend = usable(backend_name, method)
    key, salt = master_key("pw", method), bytes(range(method.iv_size))
    packet = backend.udp_encrypt(method, "pw", salt, b"hello")
    assert packet == new_encoder(method, key, salt).update(b"hello")
    assert len(packet) == len(encrypt_packet(method, key, b"hello", salt)) + 2 + method.tag_size
    with pytest.raises(InvalidTag):
        decrypt_packet(method, key, packet)
    assert backend.udp_decrypt(method, "pw", encrypt_packet(method, key, b"hello", salt)) == b"\0"


@pytest.mark.parametrize("backend_name", ["pproxy", "pproxy-py"])
def test_finding_pproxy_aead_failures_become_a_zero_byte(backend_name: str) -> None:
    """pproxy's AEAD decoder catches every exception and returns ``b"\\x00"`` as plaintext:
    a forged or corrupted chunk, or a length with the reserved bits set, is delivered to the
    application as a NUL byte, on this read and every later one. A zero-length chunk (which
    refcrypto and Python shadowsocks reject) is accepted and skipped."""
    method = refcrypto.method("aes-256-gcm")
    backend = usable(backend_name, method)
    key, salt = master_key("pw", method), bytes(range(32))
    aead = method.new_aead(session_subkey(key, salt))

    def chunk(counter: int, length: bytes, payload: bytes) -> bytes:
        nonce = counter.to_bytes(method.nonce_size, "little")
        after = (counter + 1).to_bytes(method.nonce_size, "little")
        return aead.seal(nonce, length) + aead.seal(after, payload)

    tampered = bytearray(reference_wire(method, "pw", salt, [b"hello"]))
    tampered[40] ^= 1
    decoder = backend.tcp_decoder(method, "pw")
    assert decoder.update(bytes(tampered)) == b"\x00"
    assert decoder.update(b"more") == b"\x00"
    with pytest.raises(RefcryptoError):
        new_decoder(method, key).update(bytes(tampered))

    reserved = salt + chunk(0, b"\x40\x02", b"ok")
    assert backend.tcp_decoder(method, "pw").update(reserved) == b"\x00"

    zero_then_ok = salt + chunk(0, b"\x00\x00", b"") + chunk(2, b"\x00\x02", b"ok")
    assert backend.tcp_decoder(method, "pw").update(zero_then_ok) == b"ok"
    with pytest.raises(RefcryptoError):
        new_decoder(method, key).update(zero_then_ok)


@pytest.mark.parametrize("backend_name", ["pproxy", "pproxy-py"])
def test_finding_pproxy_sends_the_iv_on_an_empty_first_write(backend_name: str) -> None:
    """pproxy's ``write`` sends the IV/salt on the first call even when it has no data
    (refcrypto and Python shadowsocks wait for data); the byte stream is otherwise the same."""
    method = refcrypto.method("aes-256-cfb")
    backend = usable(backend_name, method)
    iv = bytes(range(16))
    assert backend.tcp_encoder(method, "pw", iv).update(b"") == iv
    assert new_encoder(method, master_key("pw", method), iv).update(b"") == b""


def test_finding_pproxy_password_must_be_utf8_text_without_colon() -> None:
    """``get_cipher`` splits ``cipher:key`` with ``split(':')`` and encodes the key as UTF-8:
    a password holding ``:`` or bytes that are not UTF-8 cannot be configured at all. The
    adapter still compares such passwords (it puts the bytes where get_cipher would)."""
    method = refcrypto.method("aes-256-cfb")
    backend = usable("pproxy", method)
    get_cipher = importlib.import_module("pproxy.cipher").get_cipher
    with pytest.raises(ValueError, match="too many values to unpack"):
        get_cipher("aes-256-cfb:a:b")
    with pytest.raises(UnicodeEncodeError):
        get_cipher("aes-256-cfb:" + b"\xff".decode("utf-8", "surrogateescape"))
    iv = bytes(range(16))
    for password in ("a:b", b"\xff:\x00"):
        wire = backend.tcp_encoder(method, password, iv).update(b"hello")
        assert wire == reference_wire(method, password, iv, [b"hello"])
        assert backend.tcp_decoder(method, password).update(wire) == b"hello"
        packet = backend.udp_encrypt(method, password, iv, b"hello")
        assert packet == encrypt_packet(method, master_key(password, method), b"hello", iv)


@pytest.fixture
def shared_cache_password(request: pytest.FixtureRequest) -> Iterator[str]:
    """A password no other test uses, and pproxy's caches cleaned of it afterwards."""
    password = f"shared-cache {request.node.name}"
    yield password
    try:
        cipher = importlib.import_module("pproxy.cipher")
        cipherpy = importlib.import_module("pproxy.cipherpy")
    except ImportError:
        return
    cipher.BaseCipher.CACHE.pop(b"key" + password.encode(), None)
    for name in ("aes-128-cfb", "aes-128-gcm"):
        cipherpy.RAW.CACHE.pop(master_key(password, name), None)


def test_finding_pproxy_key_cache_ignores_key_length(shared_cache_password: str) -> None:
    """``BaseCipher.CACHE`` memoises the derived key under ``b'key' + password`` whatever the
    key length: in one process, after aes-128-cfb with password P, aes-256-cfb with P runs
    with the 16-byte key, i.e. it *is* aes-128-cfb on the wire. The default backend
    (``isolate_caches=True``) evicts the entry, as one pproxy process per method would be."""
    aes128, aes256 = refcrypto.method("aes-128-cfb"), refcrypto.method("aes-256-cfb")
    usable("pproxy", aes256)
    shared = pproxy_backend(isolate_caches=False)
    password, iv = shared_cache_password, bytes(range(16))
    shared.tcp_encoder(aes128, password, iv).update(b"x")
    wire = shared.tcp_encoder(aes256, password, iv).update(b"hello")
    assert wire == reference_wire(aes128, password, iv, [b"hello"])
    assert wire != reference_wire(aes256, password, iv, [b"hello"])
    isolated = BACKENDS["pproxy"].tcp_encoder(aes256, password, iv).update(b"hello")
    assert isolated == reference_wire(aes256, password, iv, [b"hello"])


def test_finding_pproxy_py_block_cipher_cache_shared_across_ciphers(
    shared_cache_password: str,
) -> None:
    """``cipherpy.RAW.CACHE`` memoises key schedules by key bytes only, one dict for AES,
    Blowfish, Camellia, IDEA, SEED and RC2: after aes-128-cfb with password P,
    camellia-128-cfb (and seed-cfb, bf-cfb...) with P encrypts with AES-128."""
    aes, camellia = refcrypto.method("aes-128-cfb"), refcrypto.method("camellia-128-cfb")
    usable("pproxy-py", camellia)
    shared = pproxy_py_backend(isolate_caches=False)
    password, iv = shared_cache_password, bytes(range(16))
    shared.tcp_encoder(aes, password, iv).update(b"x")
    wire = shared.tcp_encoder(camellia, password, iv).update(b"hello")
    assert wire == reference_wire(aes, password, iv, [b"hello"])
    assert wire != reference_wire(camellia, password, iv, [b"hello"])


def test_finding_pproxy_py_gcm_cache_grows_with_every_salt(shared_cache_password: str) -> None:
    """Pure-Python AES-GCM keys AES with the per-session subkey through ``RAW.new``, whose
    cache is never evicted: every connection and every UDP packet leaves one AES key
    schedule behind for the life of the process."""
    method = refcrypto.method("aes-128-gcm")
    usable("pproxy-py", method)
    cipherpy = importlib.import_module("pproxy.cipherpy")
    cache = cipherpy.RAW.CACHE
    shared = pproxy_py_backend(isolate_caches=False)
    key = master_key(shared_cache_password, method)
    subkeys = [session_subkey(key, bytes([i]) * 16) for i in range(5)]
    before = len(cache)
    try:
        for i in range(5):
            shared.udp_encrypt(method, shared_cache_password, bytes([i]) * 16, b"x")
        assert len(cache) == before + 5 and all(s in cache for s in subkeys)
    finally:
        for subkey in subkeys:
            cache.pop(subkey, None)
    BACKENDS["pproxy-py"].udp_encrypt(method, shared_cache_password, bytes(16), b"x")
    assert len(cache) == before


def unreachable_after(make: Callable[[], object]) -> int:
    """How many objects only the cyclic collector can free after ``make()``'s result is
    dropped (``make`` runs once before, so lazy imports and caches do not count)."""
    make()
    gc.collect()
    gc.disable()
    try:
        made = make()
        del made
        return gc.collect()
    finally:
        gc.enable()


def session(backend: WireBackend, method: Method) -> Callable[[], object]:
    def make() -> object:
        encoder = backend.tcp_encoder(method, "pw", bytes(method.iv_size))
        decoder = backend.tcp_decoder(method, "pw")
        decoder.update(encoder.update(b"x"))
        packet = backend.udp_encrypt(method, "pw", bytes(method.iv_size), b"x")
        backend.udp_decrypt(method, "pw", packet)
        return (encoder, decoder)

    return make


@pytest.mark.parametrize("backend_name", list(OFFERED))
def test_adapters_add_no_reference_cycle(backend_name: str) -> None:
    """Where the third-party objects are free of cycles (aes-256-cfb), a whole session through
    the adapter leaves nothing for the cyclic collector: the adapter adds no cycle."""
    method = refcrypto.method("aes-256-cfb")
    backend = usable(backend_name, method)
    assert unreachable_after(session(backend, method)) == 0


@pytest.mark.parametrize(
    ("backend_name", "name"),
    [
        ("shadowsocks", "aes-256-gcm"),
        ("shadowsocks", "table"),
        ("shadowsocks", "mbedtls:aes-256-cfb128"),
        ("pproxy", "aes-256-gcm"),
        ("pproxy-py", "chacha20-ietf-poly1305"),
    ],
)
def test_finding_cipher_objects_in_reference_cycles(backend_name: str, name: str) -> None:
    """The third-party cipher objects themselves are cyclic, so they are freed only by the
    cyclic collector (never, if a server disables it). Python shadowsocks: bound methods stored
    on the instance (``self.encrypt = self.update`` in ``mbedtls.py``, ``table.py``). pproxy: the
    AEAD classes store a lambda over ``self`` (``self.cipher_new = lambda nonce: ...self.key``
    in ``pproxy.cipher``, ``self.cipher_encrypt`` in ``pproxy.cipherpy``)."""
    method = refcrypto.method(name)
    backend = usable(backend_name, method)
    assert unreachable_after(session(backend, method)) > 0
