"""refcrypto.compat without libev: the Python shadowsocks package's own ``Cryptor`` and UDP
helpers, running on refcrypto after ``install()``, against refcrypto's ``Cryptor``; the
native backends of the package against refcrypto where they load; the no-cycle rule."""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import refcrypto
from refcrypto import compat
from refcrypto.compat import CIPHERS, AeadCipher, StreamCipher

from .support import payload, python_env, require_shadowsocks_package, uneven_pieces

NAMES = list(CIPHERS)
PASSWORD = b"compat-password"


@pytest.fixture
def package() -> Iterator[ModuleType]:
    """``shadowsocks.cryptor`` with refcrypto installed; uninstalled afterwards."""
    require_shadowsocks_package()
    compat.install()
    try:
        yield sys.modules["shadowsocks.cryptor"]
    finally:
        compat.uninstall()


def test_table_shape() -> None:
    assert len(CIPHERS) == 53
    for name, (key_len, iv_len, cls) in CIPHERS.items():
        row = refcrypto.method(name)
        assert (key_len, iv_len) == (row.key_size, row.iv_size)
        assert cls is (AeadCipher if row.is_aead else StreamCipher)


def test_install_patches_every_table_and_uninstall_restores(package: ModuleType) -> None:
    openssl = importlib.import_module("shadowsocks.crypto.openssl")
    util = importlib.import_module("shadowsocks.crypto.util")
    assert compat.installed()
    assert set(package.method_supported) == set(CIPHERS)
    assert all(entry == CIPHERS[name] for name, entry in package.method_supported.items())
    assert all(entry[2] is StreamCipher or entry[2] is AeadCipher
               for entry in openssl.ciphers.values())
    with pytest.raises(RuntimeError, match="must not load a native crypto library"):
        util.find_library("crypto", "EVP_get_cipherbyname", "libcrypto")
    compat.install()  # idempotent
    compat.uninstall()
    assert not compat.installed()
    assert package.method_supported["aes-256-cfb"][2] is openssl.OpenSSLStreamCrypto
    assert util.find_library.__module__ == "shadowsocks.crypto.util"
    assert package.EVP_BytesToKey.__module__ == "shadowsocks.cryptor"
    compat.install()  # for the fixture's uninstall


@pytest.mark.parametrize("name", NAMES)
def test_package_cryptor_talks_to_refcrypto(package: ModuleType, name: str) -> None:
    size = 3000 if name.endswith("-cfb1") else 40000
    request, response = payload(size), payload(size, seed=1)
    theirs = package.Cryptor(PASSWORD, name)  # the package's Cryptor on compat classes
    ours = refcrypto.Cryptor(PASSWORD, name)

    wire = b"".join(theirs.encrypt(piece) for piece in uneven_pieces(request))
    # The package side receives ours in pieces as small as one byte: the IV/salt arrives
    # split, which install() makes the package's Cryptor buffer.
    back = ours.encrypt(response)
    got = b"".join(theirs.decrypt(back[i : i + 7]) for i in range(0, len(back), 7))
    assert ours.decrypt(wire) == request
    assert got == response


@pytest.mark.parametrize("name", NAMES)
def test_package_udp_talks_to_refcrypto(package: ModuleType, name: str) -> None:
    data = payload(1400)
    assert refcrypto.decrypt_all(PASSWORD, name, package.encrypt_all(PASSWORD, name, data)) == data
    ours = refcrypto.encrypt_all(PASSWORD, name, data)
    plain, key, iv = package.decrypt_all(PASSWORD, name, ours)
    assert plain == data
    assert key == refcrypto.master_key(PASSWORD, name)
    key, iv, cls = package.gen_key_iv(PASSWORD, name)
    packet = package.encrypt_all_m(key, iv, cls, name, data)
    assert refcrypto.decrypt_all(PASSWORD, name, packet) == data


def test_evp_bytes_to_key_matches_the_package(package: ModuleType) -> None:
    original = compat._original(package, "EVP_BytesToKey")
    for key_len, iv_len in ((16, 16), (24, 16), (32, 32), (8, 8), (32, 0)):
        assert package.EVP_BytesToKey(PASSWORD, key_len, iv_len) == original(
            PASSWORD, key_len, iv_len
        )


def test_the_packages_own_self_tests_pass(package: ModuleType) -> None:
    with pytest.warns(DeprecationWarning):  # they log with logging.warn
        package.test_encryptor()
        package.test_encrypt_all()
        package.test_encrypt_all_m()


def test_cipher_classes_directly() -> None:
    # The package's self-tests pass longer keys and IVs; only the needed prefix is used.
    enc = StreamCipher("aes-128-cfb", b"k" * 32, b"i" * 16, compat.OP_ENCRYPT)
    dec = StreamCipher(b"aes-128-cfb", b"k" * 32, b"i" * 16, compat.OP_DECRYPT)
    assert dec.decrypt(enc.encrypt(b"hello ") + enc.encrypt_once(b"world")) == b"hello world"
    assert enc.encrypt(b"") == b""

    sealer = AeadCipher("aes-256-gcm", b"k" * 32, b"s" * 32, compat.OP_ENCRYPT)
    opener = AeadCipher("aes-256-gcm", b"k" * 32, b"s" * 32, compat.OP_DECRYPT)
    first, second = sealer.encrypt_once(b"one"), sealer.encrypt_once(b"one")
    assert first != second  # nonce 0, then nonce 1
    assert opener.decrypt_once(first) == b"one"
    assert opener.decrypt_once(second) == b"one"
    with pytest.raises(refcrypto.InvalidTag):
        opener.decrypt_once(first)  # nonce 2 now

    tcp_out = AeadCipher("aes-256-gcm", b"k" * 32, b"s" * 32, compat.OP_ENCRYPT)
    tcp_in = AeadCipher("aes-256-gcm", b"k" * 32, b"s" * 32, compat.OP_DECRYPT)
    chunks = tcp_out.encrypt(b"x" * 40000)
    assert len(chunks) == 40000 + 3 * (2 + 16 + 16)  # three SIP004 chunks, no salt
    assert tcp_in.decrypt(chunks[:100]) == b""
    assert tcp_in.decrypt(chunks[100:]) == b"x" * 40000
    assert tcp_out.encrypt(b"") == b""

    tcp_out.clean()
    tcp_out.clean()
    with pytest.raises(ValueError, match="after clean"):
        tcp_out.encrypt(b"more")
    with pytest.raises(TypeError):
        StreamCipher("aes-256-gcm", b"k" * 32, b"s" * 32, 1)
    with pytest.raises(TypeError):
        AeadCipher("aes-256-cfb", b"k" * 32, b"i" * 16, 1)
    with pytest.raises(refcrypto.UnknownMethod):
        StreamCipher("aes-256-cfx", b"k" * 32, b"i" * 16, 1)


@pytest.mark.parametrize("name", NAMES)
def test_compat_objects_die_at_del(name: str) -> None:
    key_len, iv_len, cls = CIPHERS[name]
    key = b"k" * key_len if key_len else b"table-password"
    gc.collect()
    gc.disable()
    try:
        objects: list[Any] = []
        for op in (compat.OP_ENCRYPT, compat.OP_DECRYPT):
            obj = cls(name, key, b"i" * iv_len, op)
            assert not hasattr(obj, "__dict__")
            objects.append(obj)
        enc, dec = objects
        assert dec.decrypt(enc.encrypt(b"data" * 5000)) == b"data" * 5000
        once = cls(name, key, b"i" * iv_len, compat.OP_ENCRYPT)
        opener = cls(name, key, b"i" * iv_len, compat.OP_DECRYPT)
        assert opener.decrypt_once(once.encrypt_once(b"packet")) == b"packet"
        objects += [once, opener]
        refs = [weakref.ref(obj) for obj in objects]
        del objects, enc, dec, once, opener, obj
        assert [ref() for ref in refs] == [None] * len(refs)
        assert gc.collect() == 0
    finally:
        gc.enable()


NATIVE_CROSS_CHECK = ["aes-256-cfb", "aes-128-ctr", "aes-192-gcm", "chacha20-ietf-poly1305",
                      "xchacha20-ietf-poly1305", "salsa20", "chacha20-ietf"]


@pytest.mark.parametrize("name", NATIVE_CROSS_CHECK)
def test_native_package_against_refcrypto(name: str) -> None:
    """The package on its own backends (OpenSSL, libsodium), where they load, against
    refcrypto: an independent check that compat and refcrypto speak the package's wire."""
    require_shadowsocks_package()
    cryptor = importlib.import_module("shadowsocks.cryptor")

    assert not compat.installed()
    try:
        theirs = cryptor.Cryptor(PASSWORD, name)
    except Exception as exc:
        reason = f"the package's native backend for {name} does not load here: {exc}"
        if os.environ.get("REFCRYPTO_REQUIRE_NATIVE") == "1":
            pytest.fail(f"REFCRYPTO_REQUIRE_NATIVE=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    ours = refcrypto.Cryptor(PASSWORD, name)
    data = payload(20000)
    assert ours.decrypt(theirs.encrypt(data)) == data
    assert theirs.decrypt(ours.encrypt(data)) == data
    udp = cryptor.encrypt_all(PASSWORD, name, data[:1000])
    assert refcrypto.decrypt_all(PASSWORD, name, udp) == data[:1000]


CHILD = """
import sys
sys.modules["_hashlib"] = None
from refcrypto import compat
compat.install()
import shadowsocks.cryptor as cryptor
for name in compat.CIPHERS:
    a, b = cryptor.Cryptor(b"pw", name), cryptor.Cryptor(b"pw", name)
    assert b.decrypt(a.encrypt(b"x" * 3000)) == b"x" * 3000
    packet = cryptor.encrypt_all(b"pw", name, b"udp")
    assert cryptor.decrypt_all(b"pw", name, packet)[0] == b"udp"
import shadowsocks.server, shadowsocks.tcprelay, shadowsocks.udprelay
print(compat.native_crypto_libraries())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps")
def test_installed_package_loads_no_native_library() -> None:
    require_shadowsocks_package()
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            timeout=300, env=python_env(), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
