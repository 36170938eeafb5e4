"""The native backends (refcrypto.native): OpenSSL libcrypto, libsodium, mbed TLS, cryptography.

For every backend and every method it supports: every published known answer passes through
the backend's own factories, and Hypothesis checks it against refcrypto's factories (random
key, IV, data and split points; both directions; AEAD seal/open, tampering). Unsupported
methods must refuse with a reason. Native contexts must die at ``del`` with the cyclic
collector off, and their finalizers must run.

A backend whose library is missing is skipped with the reason -- unless the environment sets
``REFCRYPTO_REQUIRE_NATIVE=1`` (CI images that install the libraries), where a missing
library is a failure.

The parameter lists are built at collection time, which loads the libraries into the pytest
process; ``test_no_cycles.py`` checks the no-native-library rule in a fresh subprocess.
"""

from __future__ import annotations

import gc
import itertools
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refcrypto
from refcrypto.errors import (
    InvalidKeySize,
    InvalidNonceSize,
    InvalidTag,
    MethodNotImplemented,
    RefcryptoError,
    TruncatedData,
)
from refcrypto.knownanswers import known_answers
from refcrypto.methods import Method
from refcrypto.native import (
    BACKEND_NAMES,
    VARIABLE_KEY_PRIMITIVES,
    Backend,
    NativeBackend,
    NativeFailure,
    NativeUnsupported,
    backend,
    backends,
    primitive_name,
    verify_with,
)

ALL = refcrypto.methods(extensions=True)
REQUIRE = os.environ.get("REFCRYPTO_REQUIRE_NATIVE") == "1"

#: Hypothesis examples per (backend, method) pair: a third of the profile's (ci: 20), so the
#: ~250 pairs stay within the file's time budget; the "thorough" profile still scales it up.
EXAMPLES = max(5, settings().max_examples // 3)


def require(name: str) -> Backend:
    """The backend, or skip (fail under ``REFCRYPTO_REQUIRE_NATIVE=1``) with the reason."""
    native = backend(name)
    reason = native.available()
    if reason is not None:
        message = f"{name} backend unavailable: {reason}"
        if REQUIRE:
            pytest.fail(f"{message} (REFCRYPTO_REQUIRE_NATIVE=1)")
        pytest.skip(message)
    return native


def _pairs(supported: bool, *, aead: bool | None = None) -> Iterator[object]:
    """(backend name, method name) parameters; one ``(name, None)`` per unavailable backend,
    which the test turns into a skip or a failure through :func:`require`."""
    for name, native in backends().items():
        if native.available() is not None:
            yield pytest.param(name, None, id=f"{name}-unavailable")
            continue
        for m in ALL:
            if aead is not None and m.is_aead != aead:
                continue
            if (native.unsupported(m) is None) == supported:
                yield pytest.param(name, m.name, id=f"{name}-{m.name}")


SUPPORTED = list(_pairs(True))
SUPPORTED_STREAMS = list(_pairs(True, aead=False))
SUPPORTED_AEADS = list(_pairs(True, aead=True))
UNSUPPORTED = list(_pairs(False))


def _resolve(name: str, method_name: str | None) -> tuple[Backend, Method]:
    native = require(name)
    if method_name is None:  # pragma: no cover - require() skipped or failed already
        pytest.fail("unreachable")
    return native, refcrypto.method(method_name)


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# -- the backend table ---------------------------------------------------------------------


def test_backends_are_lazy_and_named() -> None:
    table = backends()
    assert tuple(table) == BACKEND_NAMES
    for name, native in table.items():
        assert native.name == name
        assert isinstance(native, Backend)
        assert backend(name) is native
    with pytest.raises(KeyError):
        backend("gnutls")


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_describe_names_library_and_file(name: str) -> None:
    native = require(name)
    text = native.describe()
    assert text and "unavailable" not in text
    expected = {"openssl": "libcrypto", "sodium": "libsodium", "mbedtls": "libmbedcrypto",
                "cryptography": "OpenSSL"}[name]
    assert expected in text, text


def test_primitive_names() -> None:
    assert primitive_name("mbedtls:aes-256-cfb128") == "aes-256-cfb"
    assert primitive_name("mbedtls:camellia-128-cfb128") == "camellia-128-cfb"
    assert primitive_name("mbedtls:aes-192-ctr") == "aes-192-ctr"
    assert primitive_name("mbedtls:aes-128-gcm") == "aes-128-gcm"
    assert primitive_name("sodium:aes-256-gcm") == "aes-256-gcm"
    assert primitive_name("aes-256-cfb128") == "aes-256-cfb"  # an alias of the OpenSSL row
    assert primitive_name("chacha20-ietf") == "chacha20-ietf"


#: Methods each backend must run whenever its library is available: what every build of
#: the library has had since Python shadowsocks used it (the legacy ciphers, IDEA and
#: libsodium's AES-GCM depend on the build or the CPU and are not in this floor).
FLOOR = {
    "openssl": [f"aes-{b}-{mode}" for b in (128, 192, 256)
                for mode in ("cfb", "ofb", "ctr", "cfb8", "cfb1", "gcm", "ocb")]
    + ["camellia-256-cfb", "chacha20-ietf-poly1305", "mbedtls:aes-256-cfb128",
       "mbedtls:aes-128-gcm", "sodium:aes-256-gcm", "chacha20", "chacha20-ietf"],
    "sodium": ["salsa20", "chacha20", "chacha20-ietf", "xchacha20", "chacha20-poly1305",
               "chacha20-ietf-poly1305", "xchacha20-ietf-poly1305"],
    "mbedtls": [f"mbedtls:aes-{b}-{mode}" for b in (128, 192, 256)
                for mode in ("cfb128", "ctr", "gcm")]
    + ["mbedtls:camellia-256-cfb128", "aes-256-cfb", "aes-256-ofb", "rc4-md5", "bf-cfb"],
    "cryptography": ["aes-256-cfb", "aes-256-cfb8", "aes-256-ofb", "aes-256-ctr",
                     "aes-128-gcm", "aes-256-ocb", "chacha20-ietf-poly1305", "chacha20",
                     "chacha20-ietf"],
}


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_supported_floor(name: str) -> None:
    native = require(name)
    missing = {m: native.unsupported(refcrypto.method(m)) for m in FLOOR[name]}
    assert {m: r for m, r in missing.items() if r is not None} == {}


def test_openssl_idea_is_supported_or_says_why() -> None:
    native = require("openssl")
    reason = native.unsupported(refcrypto.method("idea-cfb"))
    assert reason is None or "idea" in reason.lower()


def test_sodium_aes_gcm_is_supported_or_blames_the_cpu() -> None:
    native = require("sodium")
    reason = native.unsupported(refcrypto.method("sodium:aes-256-gcm"))
    assert reason is None or "AES-NI" in reason
    assert native.unsupported(refcrypto.method("aes-128-gcm")) is not None


# -- known answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method_name"), SUPPORTED)
def test_known_answers(name: str, method_name: str | None) -> None:
    native, m = _resolve(name, method_name)
    answers = known_answers(m)
    if not answers:
        pytest.skip(f"no known answers for {m.name}")
    failed, skipped = [], []
    for answer in answers:
        try:
            ok = verify_with(native, answer)
        except InvalidKeySize as exc:
            # Only a published key of another length than the method's may be refused
            # (e.g. mbed TLS's ARC4-128 takes 16-byte keys only).
            assert len(answer.key) != m.key_size, exc
            skipped.append(f"{answer.source}: {exc}")
            continue
        if not ok:
            failed.append(answer.source)
    assert failed == []
    if skipped and len(skipped) == len(answers):
        pytest.skip("every vector has a key length this backend refuses: " + "; ".join(skipped))


def test_openssl_rc2_effective_bits_vector() -> None:
    # OpenSSL evpciph_rc2.txt: RC2-CFB with an 8-byte key and the default 128 effective bits.
    native = require("openssl")
    m = refcrypto.method("rc2-cfb")
    if native.unsupported(m):
        pytest.skip(str(native.unsupported(m)))
    stream = native.new_stream(m, bytes(8), bytes(8), False)
    assert stream.update(bytes(range(16))).hex() == "81b5cc4d43119e987a2b526ea152f3fe"


# -- differential tests against refcrypto ----------------------------------------------------


@pytest.mark.parametrize(("name", "method_name"), SUPPORTED_STREAMS)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_stream_matches_refcrypto(name: str, method_name: str | None, data: st.DataObject) -> None:
    native, m = _resolve(name, method_name)
    key = data.draw(st.binary(min_size=m.key_size, max_size=m.key_size), label="key")
    iv = data.draw(st.binary(min_size=m.iv_size, max_size=m.iv_size), label="iv")
    plaintext = data.draw(st.binary(max_size=200), label="plaintext")
    cuts = st.lists(st.integers(0, len(plaintext)), max_size=4)
    expected = m.new_stream(key, iv, False).update(plaintext)

    encryptor = native.new_stream(m, key, iv, False)
    pieces = _pieces(plaintext, data.draw(cuts, label="encrypt cuts"))
    assert b"".join(encryptor.update(p) for p in pieces) == expected

    decryptor = native.new_stream(m, key, iv, True)
    pieces = _pieces(expected, data.draw(cuts, label="decrypt cuts"))
    assert b"".join(decryptor.update(p) for p in pieces) == plaintext


@pytest.mark.parametrize(("name", "method_name"), SUPPORTED_AEADS)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_aead_matches_refcrypto(name: str, method_name: str | None, data: st.DataObject) -> None:
    native, m = _resolve(name, method_name)
    key = data.draw(st.binary(min_size=m.key_size, max_size=m.key_size), label="key")
    nonce = data.draw(st.binary(min_size=m.nonce_size, max_size=m.nonce_size), label="nonce")
    plaintext = data.draw(st.binary(max_size=200), label="plaintext")
    aad = data.draw(st.binary(max_size=40), label="aad")
    reference = m.new_aead(key)
    expected = reference.seal(nonce, plaintext, aad)

    aead = native.new_aead(m, key)
    assert (aead.key_size, aead.nonce_size, aead.tag_size) == (m.key_size, m.nonce_size, 16)
    assert aead.seal(nonce, plaintext, aad) == expected
    assert aead.open(nonce, expected, aad) == plaintext
    assert aead.seal(nonce, plaintext, aad) == expected  # direction switched back and forth

    flip = data.draw(st.integers(0, 8 * len(expected) - 1), label="bit to flip")
    tampered = bytearray(expected)
    tampered[flip // 8] ^= 1 << (flip % 8)
    with pytest.raises(InvalidTag):
        aead.open(nonce, bytes(tampered), aad)
    with pytest.raises(InvalidTag):
        aead.open(nonce, expected, aad + b"!")
    assert aead.open(nonce, expected, aad) == plaintext  # a failure leaves no state behind


@pytest.mark.parametrize(("name", "method_name"), SUPPORTED_AEADS)
def test_aead_rejects_bad_sizes(name: str, method_name: str | None) -> None:
    native, m = _resolve(name, method_name)
    aead = native.new_aead(m, bytes(m.key_size))
    with pytest.raises(InvalidNonceSize):
        aead.seal(bytes(m.nonce_size + 1), b"x")
    with pytest.raises(TruncatedData):
        aead.open(bytes(m.nonce_size), bytes(15))
    with pytest.raises(InvalidKeySize):
        native.new_aead(m, bytes(m.key_size + 1))


@pytest.mark.parametrize(("name", "method_name"), SUPPORTED_STREAMS)
def test_stream_rejects_bad_sizes(name: str, method_name: str | None) -> None:
    native, m = _resolve(name, method_name)
    with pytest.raises(RefcryptoError):
        native.new_stream(m, bytes(m.key_size), bytes(m.iv_size + 1), False)
    if primitive_name(m) not in VARIABLE_KEY_PRIMITIVES:
        with pytest.raises(InvalidKeySize):
            native.new_stream(m, bytes(m.key_size + 1), bytes(m.iv_size), False)
    with pytest.raises(TypeError):
        native.new_aead(m, bytes(m.key_size))


@pytest.mark.parametrize("method_name", ["salsa20", "chacha20", "chacha20-ietf", "xchacha20"])
def test_sodium_byte_counter_split_sequence(method_name: str) -> None:
    # docs/methods-and-wire-formats.md: writes of 1, 63, 64, 65, 200, 7 and the rest of 1000 bytes
    # equal one-shot encryption (pad = counter % 64 zero bytes, ic = counter // 64).
    native = require("sodium")
    m = refcrypto.method(method_name)
    key, iv = bytes(range(32)), bytes(range(100, 100 + m.iv_size))
    data = bytes(i * 7 % 256 for i in range(1000))
    stream = native.new_stream(m, key, iv, False)
    sizes = [1, 63, 64, 65, 200, 7]
    cuts = [sum(sizes[: i + 1]) for i in range(len(sizes))]
    out = b"".join(stream.update(p) for p in _pieces(data, cuts))
    assert out == m.new_stream(key, iv, False).update(data)


def test_sodium_ietf_counter_end_is_an_error_not_an_abort() -> None:
    # libsodium calls sodium_misuse() (abort) past block 2^32 - 1 of chacha20-ietf.
    native = require("sodium")
    stream = native.new_stream(refcrypto.method("chacha20-ietf"), bytes(32), bytes(12), False)
    stream._counter = (64 << 32) - 10  # type: ignore[attr-defined]
    assert len(stream.update(bytes(10))) == 10
    with pytest.raises(NativeFailure):
        stream.update(b"x")


def test_mbedtls_ext_aead_path() -> None:
    # mbed TLS 3 only has mbedtls_cipher_auth_{en,de}crypt_ext; 2.28 has both forms.
    require("mbedtls")
    from refcrypto.native.mbedtls import MbedTLSBackend

    ext = MbedTLSBackend(use_ext=True)
    for name in ("mbedtls:aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"):
        m = refcrypto.method(name)
        reason = ext.unsupported(m)
        if reason is not None:
            pytest.skip(reason)
        for answer in known_answers(m)[:20]:
            assert verify_with(ext, answer), answer.source
        with pytest.raises(InvalidTag):
            ext.new_aead(m, bytes(m.key_size)).open(bytes(m.nonce_size), bytes(20))


# -- refusal -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "method_name"), UNSUPPORTED)
def test_unsupported_methods_refuse_with_reason(name: str, method_name: str | None) -> None:
    native, m = _resolve(name, method_name)
    reason = native.unsupported(m)
    assert isinstance(reason, str) and len(reason) > 10
    with pytest.raises(NativeUnsupported) as info:
        if m.is_aead:
            native.new_aead(m, bytes(m.key_size))
        else:
            native.new_stream(m, bytes(m.key_size), bytes(m.iv_size), False)
    assert info.value.reason == reason
    assert info.value.backend == name and info.value.method == m.name
    assert isinstance(info.value, MethodNotImplemented)
    assert reason in str(info.value)


def test_table_is_native_nowhere() -> None:
    table = refcrypto.method("table")
    for native in backends().values():
        assert native.unsupported(table) is not None


# -- library discovery -------------------------------------------------------------------------


def _fresh(name: str) -> NativeBackend:
    if name == "openssl":
        from refcrypto.native.openssl import OpenSSLBackend

        return OpenSSLBackend()
    if name == "sodium":
        from refcrypto.native.sodium import SodiumBackend

        return SodiumBackend()
    from refcrypto.native.mbedtls import MbedTLSBackend

    return MbedTLSBackend()


ENV = {"openssl": "REFCRYPTO_LIBCRYPTO", "sodium": "REFCRYPTO_LIBSODIUM",
       "mbedtls": "REFCRYPTO_LIBMBEDCRYPTO"}


@pytest.mark.parametrize("name", list(ENV))
def test_missing_library_is_a_reason_not_an_error(name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV[name], "libdoes-not-exist.so.0")
    native = _fresh(name)
    reason = native.available()
    assert reason is not None and ENV[name] in reason
    assert "unavailable" in native.describe()
    m = refcrypto.method("chacha20-ietf-poly1305")
    assert native.unsupported(m) is not None
    with pytest.raises(NativeUnsupported):
        native.new_aead(m, bytes(32))


@pytest.mark.parametrize("name", list(ENV))
def test_environment_override_picks_the_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    default = require(name)
    assert isinstance(default, NativeBackend)
    path = default.describe().rsplit("(", 1)[-1].rstrip(")")
    monkeypatch.setenv(ENV[name], path)
    native = _fresh(name)
    assert native.available() is None
    assert path in native.describe()


def test_override_with_the_wrong_library_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    openssl = require("openssl")
    path = openssl.describe().rsplit("(", 1)[-1].rstrip(")")
    monkeypatch.setenv("REFCRYPTO_LIBSODIUM", path)  # libcrypto has no sodium_init
    reason = _fresh("sodium").available()
    assert reason is not None and "sodium_init" in reason


def test_cryptography_missing_is_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    from refcrypto.native.pyca import CryptographyBackend

    monkeypatch.setitem(sys.modules, "cryptography", None)  # makes the import fail
    native = CryptographyBackend()
    reason = native.available()
    assert reason is not None and "cryptography" in reason
    assert native.unsupported(refcrypto.method("aes-256-gcm")) is not None


# pycryptodome imports hmac, and so hashlib, whose _hashlib extension links libcrypto; that
# is not this package's doing, so the child keeps _hashlib out (hashlib then uses its
# built-in hashes) to see only what refcrypto.native maps.
CHILD = """
import sys
sys.modules["_hashlib"] = None
import refcrypto.native
from refcrypto.native import openssl, sodium, mbedtls, pyca  # noqa: F401
tables = refcrypto.native.backends()
assert "cryptography" not in sys.modules, "cryptography imported before it was needed"
print(open("/proc/self/maps").read())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps is Linux-only")
def test_importing_and_listing_backends_loads_no_library() -> None:
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            timeout=120, check=True)
    names = ("libcrypto", "libsodium", "libmbedcrypto")
    mapped = sorted({line.split()[-1] for line in result.stdout.splitlines()
                     if any(n in line for n in names)})
    assert mapped == []


# -- lifetime ----------------------------------------------------------------------------------

#: One stream and one AEAD method per backend, each with a native context where there is one.
LIFETIME = {
    "openssl": ("aes-256-cfb", "aes-256-ocb"),
    "sodium": ("chacha20-ietf", "chacha20-ietf-poly1305"),
    "mbedtls": ("mbedtls:aes-256-cfb128", "mbedtls:aes-256-gcm"),
    "cryptography": ("aes-256-ctr", "aes-256-gcm"),
}


def _make(native: Backend, method_name: str) -> object:
    m = refcrypto.method(method_name)
    if m.is_aead:
        aead = native.new_aead(m, bytes(m.key_size))
        aead.open(bytes(m.nonce_size), aead.seal(bytes(m.nonce_size), b"abc"))
        return aead
    stream = native.new_stream(m, bytes(m.key_size), bytes(m.iv_size), False)
    stream.update(b"hello")
    return stream


@pytest.mark.parametrize("name", BACKEND_NAMES)
@pytest.mark.parametrize("which", [0, 1], ids=["stream", "aead"])
def test_objects_die_at_del_and_free_their_context(name: str, which: int) -> None:
    native = require(name)
    gc.collect()
    gc.disable()
    try:
        obj = _make(native, LIFETIME[name][which])
        ref = weakref.ref(obj)
        finalizer = getattr(obj, "_finalizer", None)
        if finalizer is not None:
            assert isinstance(finalizer, weakref.finalize) and finalizer.alive
            # The finalizer must not keep its object alive through its arguments.
            func, args = finalizer.peek()[1:3]  # type: ignore[index]
            assert obj is not func and all(a is not obj for a in args)
        del obj
        assert ref() is None, "still alive after del with gc disabled"
        if finalizer is not None:
            assert not finalizer.alive, "finalizer did not run"
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("name", ["openssl", "mbedtls"])
def test_close_frees_early_and_blocks_use(name: str) -> None:
    native = require(name)
    stream_method, aead_method = LIFETIME[name]
    for method_name in (stream_method, aead_method):
        obj = _make(native, method_name)
        finalizer = obj._finalizer  # type: ignore[attr-defined]
        obj.close()  # type: ignore[attr-defined]
        assert not finalizer.alive
        obj.close()  # type: ignore[attr-defined]  # idempotent
        with pytest.raises(ValueError):
            if refcrypto.method(method_name).is_aead:
                obj.seal(bytes(12), b"x")  # type: ignore[attr-defined]
            else:
                obj.update(b"x")  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_many_objects_do_not_accumulate(name: str) -> None:
    native = require(name)
    gc.collect()
    gc.disable()
    try:
        refs = [weakref.ref(_make(native, method_name))
                for _ in range(50) for method_name in LIFETIME[name]]
        assert all(r() is None for r in refs)
    finally:
        gc.enable()
