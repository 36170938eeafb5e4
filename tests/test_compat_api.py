"""``refcrypto.compat`` as ``shadowsocks.cryptor``: ``from refcrypto import compat as cryptor``.

The installed Python shadowsocks package (``shadowsocks-alexforks``) is the reference: every
public name of its ``cryptor`` module must exist in ``refcrypto.compat`` with the same
signature, and the same calls must interoperate both ways, the package running on its own
native backends (OpenSSL, libsodium, mbed TLS) and ``compat`` on refcrypto.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import refcrypto
from refcrypto import compat

pytestmark = pytest.mark.peers  # the shadowsocks package and its native libraries

PASSWORD = b"compat-api-password"
#: What the package's shell.py passes when no library path is configured.
CRYPTO_PATH: dict[str, str | None] = {"openssl": None, "sodium": None, "mbedtls": None}

#: Module-level names of ``shadowsocks.cryptor`` that ``compat`` deliberately lacks: the
#: never-emptied key cache and the package's own self-tests.
NOT_OFFERED = {"cached_keys", "CIPHERS_TO_TEST", "test_encryptor", "test_encrypt_all",
               "test_encrypt_all_m"}

FUNCTIONS = ["encrypt_all", "decrypt_all", "encrypt_all_m", "gen_key_iv", "EVP_BytesToKey",
             "try_cipher", "random_string"]
CRYPTOR_METHODS = ["__init__", "encrypt", "decrypt", "iv_len", "get_cipher", "get_method_info"]

#: Methods the package reaches through OpenSSL's ``legacy`` provider, which it does not load
#: itself (tests/test_thirdparty.py covers them with the provider loaded).
OPENSSL_LEGACY = {"bf-cfb", "cast5-cfb", "des-cfb", "idea-cfb", "rc2-cfb", "rc4", "seed-cfb",
                  "rc4-md5"}
NATIVE = [name for name in compat.method_supported if name not in OPENSSL_LEGACY]
#: The package's UDP is broken for ``mbedtls:aes-*-gcm`` (its mbed TLS AEAD class binds the
#: ``_once`` calls to a bare update, no tag; tests/test_thirdparty.py pins that finding).
UDP_NATIVE = [name for name in NATIVE if not (name.startswith("mbedtls:") and "gcm" in name)]


def unavailable(reason: str) -> None:
    if os.environ.get("REFCRYPTO_REQUIRE_NATIVE") == "1":
        pytest.fail(f"REFCRYPTO_REQUIRE_NATIVE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def package() -> ModuleType:
    """The installed ``shadowsocks.cryptor`` on its own backends (compat not installed)."""
    try:
        module = importlib.import_module("shadowsocks.cryptor")
    except ImportError as exc:
        unavailable(f"the shadowsocks package is not importable ({exc}); "
                    "pip install shadowsocks-alexforks")
    assert not compat.installed()
    return module


def native_cryptor(package: ModuleType, name: str) -> Any:
    """The package's own ``Cryptor`` for ``name``, called as tcprelay.py calls it."""
    try:
        return package.Cryptor(PASSWORD, name, CRYPTO_PATH)
    except Exception as exc:  # the package raises bare Exception when a library lacks it
        unavailable(f"the package's native backend for {name} does not load here: {exc}")


def shape(function: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """A signature without annotations: names, kinds and defaults."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def data_for(name: str) -> bytes:
    size = 3000 if name.endswith("-cfb1") else 20000  # CFB-1 is bit by bit in pure Python
    return bytes((i * 131 + 7) % 256 for i in range(size))


# --- the same API -----------------------------------------------------------------------------


def test_every_public_name_of_the_package_is_offered(package: ModuleType) -> None:
    public = {
        name for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)  # os, sys, hashlib, logging, the backends
        and type(value).__module__ != "__future__"  # from __future__ import ...
    }
    assert NOT_OFFERED <= public  # the exceptions are still real names of the package
    missing = sorted(name for name in public - NOT_OFFERED if not hasattr(compat, name))
    assert missing == []
    assert set(FUNCTIONS) | {"Cryptor"} <= set(compat.__all__)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_signatures_match(package: ModuleType, name: str) -> None:
    assert shape(getattr(compat, name)) == shape(getattr(package, name))


@pytest.mark.parametrize("name", CRYPTOR_METHODS)
def test_cryptor_signatures_match(package: ModuleType, name: str) -> None:
    ours = inspect.getattr_static(compat.Cryptor, name)
    theirs = inspect.getattr_static(package.Cryptor, name)
    assert isinstance(ours, staticmethod) == isinstance(theirs, staticmethod)
    assert shape(getattr(compat.Cryptor, name)) == shape(getattr(package.Cryptor, name))


def test_constants_and_table_match(package: ModuleType) -> None:
    for name in ("CIPHER_ENC_ENCRYPTION", "CIPHER_ENC_DECRYPTION", "METHOD_INFO_KEY_LEN",
                 "METHOD_INFO_IV_LEN", "METHOD_INFO_CRYPTO"):
        assert getattr(compat, name) == getattr(package, name), name
    assert set(compat.method_supported) == set(package.method_supported)
    for name, (key_len, iv_len, _) in package.method_supported.items():
        assert compat.method_supported[name][:2] == (key_len, iv_len), name
        assert compat.Cryptor.get_method_info(name.upper()) == compat.method_supported[name]
    assert compat.Cryptor.get_method_info("aes-256-cfx") is None
    assert package.Cryptor.get_method_info("aes-256-cfx") is None


@pytest.mark.parametrize("key_len, iv_len", [(16, 16), (24, 16), (32, 32), (8, 8), (32, 0),
                                             (0, 0), (64, 16)])
def test_evp_bytes_to_key_matches(package: ModuleType, key_len: int, iv_len: int) -> None:
    assert compat.EVP_BytesToKey(PASSWORD, key_len, iv_len) == package.EVP_BytesToKey(
        PASSWORD, key_len, iv_len)
    assert compat.EVP_BytesToKey("pässword", key_len, iv_len) == package.EVP_BytesToKey(
        "pässword".encode(), key_len, iv_len)


def test_random_string() -> None:
    assert len(compat.random_string(32)) == 32
    assert compat.random_string(16) != compat.random_string(16)


# --- the same results -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NATIVE)
def test_cryptor_interoperates_both_ways(package: ModuleType, name: str) -> None:
    theirs = native_cryptor(package, name)
    ours = compat.Cryptor(PASSWORD, name, CRYPTO_PATH)
    request, response = data_for(name), data_for(name)[::-1]

    assert ours.encrypt(b"") == b"" and not ours.iv_sent
    wire = theirs.encrypt(request[:1000]) + theirs.encrypt(request[1000:])
    assert ours.decrypt(wire) == request
    back = ours.encrypt(response[:1]) + ours.encrypt(response[1:])
    assert theirs.decrypt(back) == response

    # The package's attributes, with the package's values.
    assert ours.iv_len() == theirs.iv_len() == len(ours.cipher_iv)
    assert ours.decipher_iv == theirs.cipher_iv and theirs.decipher_iv == ours.cipher_iv
    assert ours.key == theirs.key
    assert (ours.password, ours.method, ours.crypto_path) == (PASSWORD, name, CRYPTO_PATH)
    assert ours.iv_sent and ours.decipher is not None and ours.cipher is not None


@pytest.mark.parametrize("name", UDP_NATIVE)
def test_udp_interoperates_and_returns_the_packages_tuple(package: ModuleType, name: str) -> None:
    native_cryptor(package, name)  # skips where the package's backend does not load
    data = data_for(name)[:1400]

    theirs = package.encrypt_all(PASSWORD, name, data, CRYPTO_PATH)
    result = compat.decrypt_all(PASSWORD, name, theirs, CRYPTO_PATH)
    assert type(result) is tuple and len(result) == 3
    assert result == package.decrypt_all(PASSWORD, name, theirs, CRYPTO_PATH)
    plaintext, key, iv = result
    assert plaintext == data
    assert key == refcrypto.master_key(PASSWORD, name)
    assert theirs.startswith(iv) and len(iv) == compat.method_supported[name][1]

    ours = compat.encrypt_all(PASSWORD, name, data, CRYPTO_PATH)
    assert package.decrypt_all(PASSWORD, name, ours, CRYPTO_PATH)[0] == data
    assert len(ours) == len(theirs)

    key, iv, cls = compat.gen_key_iv(PASSWORD, name)
    assert cls is compat.method_supported[name][2]
    packet = compat.encrypt_all_m(key, iv, cls, name, data, CRYPTO_PATH)
    assert packet.startswith(iv)
    assert package.decrypt_all(PASSWORD, name, packet, CRYPTO_PATH) == (data, key, iv)


# --- the documented differences ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["aes-256-cfb", "chacha20-ietf-poly1305"])
def test_a_split_iv_is_buffered(package: ModuleType, name: str) -> None:
    data = data_for(name)
    wire = native_cryptor(package, name).encrypt(data)
    ours = compat.Cryptor(PASSWORD, name)
    assert b"".join(ours.decrypt(wire[i : i + 5]) for i in range(0, len(wire), 5)) == data
    # The package itself takes the IV from the first read only.
    theirs = native_cryptor(package, name)
    try:
        garbled: bytes | None = theirs.decrypt(wire[:5]) + theirs.decrypt(wire[5:])
    except Exception:  # AEAD: the truncated salt fails authentication
        garbled = None
    assert garbled != data


def test_unknown_method_raises_instead_of_exiting(package: ModuleType) -> None:
    with pytest.raises(SystemExit):
        package.Cryptor(PASSWORD, "aes-256-cfx", CRYPTO_PATH)
    with pytest.raises(refcrypto.UnknownMethod, match="aes-256-cfb"):
        compat.Cryptor(PASSWORD, "aes-256-cfx", CRYPTO_PATH)
    with pytest.raises(LookupError):
        compat.try_cipher(PASSWORD, "aes-256-cfx", CRYPTO_PATH)
    with pytest.raises(LookupError):
        compat.encrypt_all(PASSWORD, "aes-128-cfb128", b"x")  # refcrypto alias, not a package name
    compat.try_cipher(PASSWORD, "AES-256-CFB", CRYPTO_PATH)  # names are case-insensitive


@pytest.mark.parametrize("name", ["aes-256-cfb", "aes-256-gcm", "table"])
def test_short_udp_packet_raises(name: str) -> None:
    packet = compat.encrypt_all(PASSWORD, name, b"")
    assert compat.decrypt_all(PASSWORD, name, packet) == (b"", refcrypto.master_key(
        PASSWORD, name), packet[: compat.method_supported[name][1]])
    if not packet:
        return  # table: no IV, an empty packet is an empty datagram
    with pytest.raises(refcrypto.TruncatedData):
        compat.decrypt_all(PASSWORD, name, packet[:-1])


def test_str_passwords_work_where_the_package_needs_bytes(package: ModuleType) -> None:
    packet = compat.encrypt_all("pässword", "table", b"datagram")
    assert package.decrypt_all("pässword".encode(), "table", packet)[0] == b"datagram"
    with pytest.raises(TypeError):
        package.encrypt_all("pässword", "aes-256-cfb", b"datagram")  # hashlib wants bytes
    assert compat.decrypt_all("pässword", "aes-256-cfb", compat.encrypt_all(
        "pässword", "aes-256-cfb", b"datagram"))[0] == b"datagram"
