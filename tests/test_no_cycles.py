"""The no-cycle rule, and no native crypto library in the process.

Python shadowsocks leaked because its cipher objects stored bound methods of themselves
(``self.encrypt = self.update``) and defined ``__del__`` (fixed by its PR #921). Here, with
the cyclic collector switched off, every object of a full session must die at ``del``, and
``gc.collect()`` must then find nothing.
"""

from __future__ import annotations

import enum
import gc
import re
import subprocess
import sys
import types
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import refcrypto
from refcrypto.methods import Method
from refcrypto.primitives.base import AEAD
from refcrypto.wire.source import OWN

ALL = refcrypto.methods(extensions=True)
OURS = ("refcrypto", "Crypto")


def _attributes(obj: object) -> Iterator[object]:
    for cls in type(obj).__mro__:
        for slot in cls.__dict__.get("__slots__", ()):
            if slot != "__weakref__" and hasattr(obj, slot):
                yield getattr(obj, slot)
    yield from getattr(obj, "__dict__", {}).values()


def object_graph(root: object) -> list[object]:
    """Every refcrypto and pycryptodome object reachable from ``root`` through attributes,
    including the objects behind stored bound methods."""
    seen: dict[int, object] = {}
    todo = [root]
    while todo:
        obj = todo.pop()
        if isinstance(obj, types.MethodType):
            obj = obj.__self__
        if id(obj) in seen or not type(obj).__module__.startswith(OURS):
            continue
        if isinstance(obj, (type, Method, enum.Enum, types.ModuleType)) or obj is OWN:
            continue  # classes, modules, enum members, the method rows and the default
            # primitive source are shared and live for the whole process
        seen[id(obj)] = obj
        todo.extend(a for a in _attributes(obj) if a is not None)
    return list(seen.values())


def assert_freed_without_gc(make_objects: object) -> None:
    gc.collect()
    gc.disable()
    try:
        refs: list[tuple[str, weakref.ref[object]]] = []
        roots = make_objects()  # type: ignore[operator]
        for root in roots:
            for obj in object_graph(root):
                try:
                    refs.append((type(obj).__qualname__, weakref.ref(obj)))
                except TypeError:
                    pytest.fail(f"{type(obj).__qualname__} cannot be weakly referenced: add "
                                "'__weakref__' to its __slots__")
        assert len(refs) >= len(roots)
        del roots, obj, root
        alive = [name for name, ref in refs if ref() is not None]
        assert alive == [], f"still alive after del with gc disabled: {alive}"
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("m", ALL, ids=lambda m: m.name)
def test_tcp_session_objects_die_at_del(m: Method) -> None:
    def session() -> list[object]:
        client, server = refcrypto.Cryptor("pw", m), refcrypto.Cryptor("pw", m)
        assert server.decrypt(client.encrypt(b"request" * 100)) == b"request" * 100
        assert client.decrypt(server.encrypt(b"response")) == b"response"
        key = refcrypto.master_key("pw", m)
        encoder, decoder = refcrypto.new_encoder(m, key), refcrypto.new_decoder(m, key)
        decoder.update(encoder.update(b"x" * 70000))
        return [client, server, encoder, decoder]

    assert_freed_without_gc(session)


@pytest.mark.parametrize("m", ALL, ids=lambda m: m.name)
def test_udp_and_failure_paths_leave_nothing(m: Method) -> None:
    def packets() -> list[object]:
        for _ in range(3):
            packet = refcrypto.encrypt_all("pw", m, b"datagram")
            assert refcrypto.decrypt_all("pw", m, packet) == b"datagram"
        receiver = refcrypto.Cryptor("other", m)
        if m.is_aead:
            with pytest.raises(refcrypto.InvalidTag):
                receiver.decrypt(refcrypto.Cryptor("pw", m).encrypt(b"x"))
            with pytest.raises(refcrypto.DecoderFailed):
                receiver.decrypt(b"y")
        return [receiver]

    assert_freed_without_gc(packets)


@pytest.mark.parametrize("m", [m for m in ALL if m.is_aead], ids=lambda m: m.name)
def test_aead_primitives_die_at_del(m: Method) -> None:
    def aeads() -> list[object]:
        aead: AEAD = m.new_aead(bytes(m.key_size))
        aead.open(bytes(m.nonce_size), aead.seal(bytes(m.nonce_size), b"abc"))
        return [aead]

    assert_freed_without_gc(aeads)


def test_no_del_hashlib_or_ctypes_in_the_package() -> None:
    """No __del__ anywhere; hashlib (which loads libcrypto) nowhere; ctypes and the native
    backends only in refcrypto.native and the conformance engine, which drive native code on
    purpose and which the codecs never import."""
    root = Path(refcrypto.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "def __del__" not in text, path
        assert not re.search(r"^\s*(import hashlib|from hashlib)", text, re.M), path
        if not {"native", "conformance"} & set(path.relative_to(root).parts):
            assert not re.search(r"^\s*(import ctypes|from ctypes)", text, re.M), path
            assert not re.search(r"from \.+native", text), path


NATIVE = ("libcrypto", "libssl", "libsodium", "libmbedcrypto", "libmbedtls")

# The child runs as on a system without OpenSSL: Python's own _hashlib extension (which the
# standard library's hmac and hashlib import, and pycryptodome imports hmac.compare_digest) is
# made unavailable, so whatever is mapped afterwards was loaded by refcrypto's own doing.
CHILD = """
import sys
sys.modules["_hashlib"] = None
import refcrypto
for m in refcrypto.methods(extensions=True):
    a, b = refcrypto.Cryptor("pw", m), refcrypto.Cryptor("pw", m)
    assert b.decrypt(a.encrypt(b"hello" * 50)) == b"hello" * 50
    assert refcrypto.decrypt_all("pw", m, refcrypto.encrypt_all("pw", m, b"udp")) == b"udp"
print(open("/proc/self/maps").read())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps is Linux-only")
def test_no_native_crypto_library_is_loaded() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, check=True
    )
    maps = result.stdout
    assert "_raw_aes" in maps  # the check is looking at the right process
    lines = maps.splitlines()
    loaded = sorted({line.split()[-1] for line in lines if any(n in line for n in NATIVE)})
    assert loaded == []
