"""Published known answers for every method, read from the vector files in ``vectors/``.

Each method maps to the vectors of the primitive behind it (SP 800-38A for the AES modes,
FIPS 81 for DES, RFC 8439 for ChaCha20, ...), run through the method's *own* stream or AEAD
factory, so a check exercises exactly what the wire layer uses. Where no published vector
exists (rc4-md5, Camellia CFB-1/CFB-8, whole-byte CFB-1) the derived vectors of
``vectors/modes/openssl-cli-derived.txt`` and docs/vector-notes.md are used and marked
``derived``. :func:`known_answers` lists them; :func:`verify` runs one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from .errors import InvalidTag
from .methods import Method
from .methods import method as lookup_method
from .primitives.base import AEAD, Stream
from .vectorfiles import Record, load_records, vector_path
from .wire.source import Primitives

__all__ = ["KnownAnswer", "known_answers", "ocb_iterated_tag", "verify"]


@dataclass(frozen=True)
class KnownAnswer:
    """One vector for one method, at the primitive level (raw key and IV/nonce).

    ``kind`` is ``stream`` (keystream or CFB from ``offset``), ``aead`` (``ciphertext`` is
    ct || tag), ``table`` (the substitution table itself) or ``ocb-iterated`` (RFC 7253's
    iterated test, whose answer is a tag).
    """

    method: str
    source: str
    key: bytes
    iv: bytes
    plaintext: bytes
    ciphertext: bytes
    kind: str = "stream"
    aad: bytes = b""
    offset: int = 0
    derived: bool = False


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.replace(" ", ""))


def _evp(name: str, cipher: str, method: str, source: str) -> Iterator[KnownAnswer]:
    """Encryption entries of an OpenSSL ``evpciph_*.txt`` file for one ``Cipher =`` name."""
    for r in _records(f"modes/evpciph_{name}.txt"):
        if r.get("cipher", "").lower() != cipher or r.get("operation", "ENCRYPT") != "ENCRYPT":
            continue
        if "keybits" in r:  # RC2 with non-default effective bits: not what rc2-cfb uses
            continue
        yield KnownAnswer(
            method, f"{source} (OpenSSL evpciph_{name}.txt line {r['line']})",
            _hex(r["key"]), _hex(r["iv"]), _hex(r["plaintext"]), _hex(r["ciphertext"]),
        )


def _nist(path: str, method: str, source: str) -> Iterator[KnownAnswer]:
    for r in _records(path):
        if r["section"] == "encrypt":
            yield KnownAnswer(
                method, f"{source} ({path.split('/')[-1]} COUNT {r['count']})",
                _hex(r["key"]), _hex(r["iv"]), _hex(r["plaintext"]), _hex(r["ciphertext"]),
            )


def _derived(cipher: str, method: str) -> Iterator[KnownAnswer]:
    for r in _records("modes/openssl-cli-derived.txt"):
        if r["cipher"] == cipher:
            yield KnownAnswer(
                method, "derived with the OpenSSL 3.0.19 CLI (openssl-cli-derived.txt)",
                _hex(r["key"]), _hex(r["iv"]), _hex(r["plaintext"]), _hex(r["ciphertext"]),
                derived=True,
            )


@cache
def _records_cached(path: str, start: str | None) -> tuple[Record, ...]:
    return tuple(load_records(path, start=start))


def _records(path: str, start: str | None = None) -> tuple[Record, ...]:
    return _records_cached(path, start)


@cache
def _wycheproof(name: str, nonce_bits: int) -> tuple[dict[str, object], ...]:
    data = json.loads(vector_path(f"aead/{name}").read_text())
    return tuple(
        t
        for group in data["testGroups"]
        if group["ivSize"] == nonce_bits and group["tagSize"] == 128
        for t in group["tests"]
        if t["result"] == "valid"
    )


def _wycheproof_answers(name: str, method: Method) -> Iterator[KnownAnswer]:
    for t in _wycheproof(name, method.nonce_size * 8):
        key = _hex(str(t["key"]))
        if len(key) != method.key_size:
            continue
        yield KnownAnswer(
            method.name, f"Wycheproof {name} tcId {t['tcId']}", key, _hex(str(t["iv"])),
            _hex(str(t["msg"])), _hex(str(t["ct"]) + str(t["tag"])), kind="aead",
            aad=_hex(str(t["aad"])),
        )


# libsodium test/default/chacha20.c inputs for the first five lines of chacha20.exp
# (draft-agl-tls-chacha20poly1305-04 section 7, TC1-TC5; vectors/stream/README.md).
_LIBSODIUM_CHACHA = (
    ("00" * 32, "00" * 8),
    ("00" * 31 + "01", "00" * 8),
    ("00" * 32, "0000000000000001"),
    ("00" * 32, "0100000000000000"),
    (bytes(range(32)).hex(), "0001020304050607"),
)

# RFC 7253 appendix A: the iterated test's expected tags (128-bit tag), by key size.
OCB_ITERATED = {
    16: "67e944d23256c5e0b6c61fa22fdf1ea2",
    24: "f673f2c3e7174aae7bae986ca9f29e17",
    32: "d90eb8e9c977c88b79dd793d7ffa161c",
}


def _stream_answers(m: Method) -> Iterator[KnownAnswer]:
    name = m.name
    base = name
    if name.startswith("mbedtls:"):  # mbedtls:aes-256-cfb128 is aes-256-cfb on the wire
        base = name.removeprefix("mbedtls:").removesuffix("128")
    family, _, mode = base.rpartition("-")
    bits = family.rsplit("-", 1)[-1]
    if family.startswith("aes-"):
        if mode == "cfb":
            yield from _evp("aes_common", f"aes-{bits}-cfb", name, "SP 800-38A F.3.13-18")
        elif mode == "ofb":
            yield from _evp("aes_common", f"aes-{bits}-ofb", name, "SP 800-38A F.4")
        elif mode == "ctr":
            yield from _evp("aes_common", f"aes-{bits}-ctr", name, "RFC 3686 / SP 800-38A F.5")
        elif mode == "cfb8":
            yield from _nist(f"modes/CFB8MMT{bits}.rsp", name, "NIST CAVP AESAVS MMT")
        elif mode == "cfb1":
            count = str(("128", "192", "256").index(bits))
            for answer in _nist("modes/sp800-38a-cfb1.txt", name, "SP 800-38A F.3.1/3/5"):
                if answer.source.endswith(f"COUNT {count})"):
                    yield answer
            yield from _derived(f"aes-{bits}-cfb1", name)
    elif family.startswith("camellia-"):
        if mode == "cfb":
            yield from _evp("camellia", f"camellia-{bits}-cfb", name, "SP 800-38A inputs")
        elif mode == "ofb":
            yield from _evp("camellia", f"camellia-{bits}-ofb", name, "SP 800-38A inputs")
        elif mode == "ctr":
            yield from _evp("camellia", f"camellia-{bits}-ctr", name, "RFC 5528")
        else:
            yield from _derived(f"camellia-{bits}-{mode}", name)
    elif name == "bf-cfb":
        yield from _nist("modes/bf-cfb.txt", name, "Eric Young's Blowfish CFB64 example")
    elif name == "cast5-cfb":
        yield from _evp("cast5", "cast5-cfb", name, "pyca-generated CAST5-CFB")
    elif name == "des-cfb":
        yield from _evp("des", "des-cfb", name, "FIPS 81")
    elif name == "rc2-cfb":
        yield from _evp("rc2", "rc2-cfb", name, "OpenSSL-generated RC2-CFB")
    elif name == "idea-cfb":
        yield from _evp("idea", "idea-cfb", name, "pyca-generated IDEA-CFB")
    elif name == "seed-cfb":
        yield from _evp("seed", "seed-cfb", name, "pyca-generated SEED-CFB")
    elif name == "rc4":
        for r in _records("stream/rfc-6229-128.txt"):
            yield KnownAnswer(name, f"RFC 6229 section 2, offset {r['offset']}", _hex(r["key"]),
                              b"", bytes(16), _hex(r["ciphertext"]), offset=int(r["offset"]))
    elif name == "rc4-md5":
        # docs/vector-notes.md, "Derived examples": checked with the OpenSSL CLI.
        yield KnownAnswer(name, "derived: RC4(MD5(key || iv)), checked with the OpenSSL CLI",
                          _hex("3858f62230ac3c915f300c664312c63f"), bytes(range(16)), bytes(16),
                          _hex("e8e9b529497a3f49a6c07da525f10668"), derived=True)
    elif name == "salsa20":
        for r in _records("stream/salsa20.vec"):
            if len(r.get("nonce", "")) == 16 and len(r["key"]) == 64 and "seek" not in r:
                out = _hex(r["out"])
                data = _hex(r["in"]) if "in" in r else bytes(len(out))
                yield KnownAnswer(name, f"Botan salsa20.vec line {r['line']}", _hex(r["key"]),
                                  _hex(r["nonce"]), data, out)
    elif name == "chacha20":
        lines = vector_path("stream/chacha20.exp").read_text().splitlines()
        for index, (key, nonce) in enumerate(_LIBSODIUM_CHACHA):
            yield KnownAnswer(name, f"draft-agl-tls-chacha20poly1305-04 TC{index + 1} (libsodium)",
                              _hex(key), _hex(nonce), bytes(160), _hex(lines[index].strip("[]")))
    elif name == "chacha20-ietf":
        for r in _records("stream/rfc7539.txt"):
            yield KnownAnswer(name, f"RFC 8439 A.2 #{r['count']}", _hex(r["key"]), _hex(r["nonce"]),
                              _hex(r["plaintext"]), _hex(r["ciphertext"]),
                              offset=64 * int(r["initial_block_counter"]))
    elif name == "xchacha20":
        for r in _records("stream/xchacha-draft-03.txt"):
            if r["section"] == "xchacha20":
                yield KnownAnswer(name, f"draft-irtf-cfrg-xchacha-03 A.3.2 counter {r['counter']}",
                                  _hex(r["key"]), _hex(r["iv"]), _hex(r["plaintext"]),
                                  _hex(r["ciphertext"]), offset=64 * int(r["counter"]))
    elif name == "table":
        for r in _records("table/shadowsocks-table.txt"):
            yield KnownAnswer(name, "Python shadowsocks table.py test_table_result",
                              _hex(r["password"]), b"", bytes(range(256)),
                              _hex(r["encrypt_table"]), kind="table")


def _aead_answers(m: Method) -> Iterator[KnownAnswer]:
    name = m.name
    if name.endswith("-gcm"):
        yield from _wycheproof_answers("aes_gcm_test.json", m)
    elif name.endswith("-ocb"):
        if m.key_size == 16:
            for r in _records("aead/rfc7253.txt"):
                yield KnownAnswer(name, f"RFC 7253 appendix A #{r['count']}", _hex(r["key"]),
                                  _hex(r["nonce"]), _hex(r["plaintext"]), _hex(r["ciphertext"]),
                                  kind="aead", aad=_hex(r["aad"]))
        yield KnownAnswer(name, "RFC 7253 appendix A, iterated test (TAGLEN 128)", b"", b"", b"",
                          _hex(OCB_ITERATED[m.key_size]), kind="ocb-iterated")
    elif name == "chacha20-ietf-poly1305":
        yield from _wycheproof_answers("chacha20_poly1305_test.json", m)
    elif name == "xchacha20-ietf-poly1305":
        yield from _wycheproof_answers("xchacha20_poly1305_test.json", m)
        for r in _records("stream/xchacha-draft-03.txt"):
            if r["section"] == "aead":
                yield KnownAnswer(name, "draft-irtf-cfrg-xchacha-03 A.3.1", _hex(r["key"]),
                                  _hex(r["iv"]), _hex(r["plaintext"]),
                                  _hex(r["ciphertext"] + r["tag"]), kind="aead", aad=_hex(r["aad"]))
    elif name == "chacha20-poly1305":
        key = _hex("4290bcb154173531f314af57f3be3b5006da371ece272afa1b5dbdd1100a1007")
        nonce, message = _hex("cd7cf67be39c794a"), _hex("86d09974840bded2a5ca")
        sealed = _libsodium_aead_blocks()
        yield KnownAnswer(name, "draft-agl-tls-chacha20poly1305-04 section 7 (libsodium)", key,
                          nonce, message, sealed[0], kind="aead", aad=_hex("87e229d4500845a079c0"))
        yield KnownAnswer(name, "libsodium aead_chacha20poly1305.exp, empty AD", key, nonce,
                          message, sealed[1], kind="aead")


def _libsodium_aead_blocks() -> list[bytes]:
    """ct || tag blocks printed by libsodium's aead_chacha20poly1305 test: lines of eight
    comma-prefixed bytes, each block ending with a shorter line."""
    blocks: list[bytes] = []
    current = bytearray()
    for line in vector_path("aead/aead_chacha20poly1305.exp").read_text().splitlines():
        values = [int(x, 16) for x in line.split(",") if x.strip()]
        current += bytes(values)
        if len(values) < 8:
            blocks.append(bytes(current))
            current = bytearray()
    return blocks


def known_answers(method: Method | str) -> list[KnownAnswer]:
    """Every known answer that applies to ``method`` (possibly none)."""
    m = lookup_method(method)
    return list(_aead_answers(m) if m.is_aead else _stream_answers(m))


def ocb_iterated_tag(new_aead: Callable[[bytes], AEAD], key_size: int) -> bytes:
    """RFC 7253 appendix A's iterated test for a 128-bit tag: K = zeros || TAGLEN, 128 rounds
    of three encryptions with nonces 3i+1, 3i+2, 3i+3, then one over the concatenation."""
    key = bytes(key_size - 1) + bytes([128])
    seal = new_aead(key).seal

    def nonce(n: int) -> bytes:
        return n.to_bytes(12, "big")

    collected = []
    for i in range(128):
        s = bytes(i)
        collected.append(seal(nonce(3 * i + 1), s, s))
        collected.append(seal(nonce(3 * i + 2), s, b""))
        collected.append(seal(nonce(3 * i + 3), b"", s))
    result: bytes = seal(nonce(385), b"", b"".join(collected))
    return result[-16:]


def verify(answer: KnownAnswer, source: Primitives | None = None) -> bool:
    """Run one known answer; True when it matches.

    ``source`` is where the primitives come from: by default refcrypto's own factories,
    called directly (some published keys are not the method's size, such as RC2's 8-byte
    key); or any backend with ``new_stream(method, ...)`` / ``new_aead(method, key)``.
    AEAD answers are sealed and opened; stream answers are encrypted from ``offset`` through
    the streaming interface and, at offset 0, decrypted in two pieces, so state carried
    across calls is part of every check.
    """
    m = lookup_method(answer.method)
    new_stream: Callable[[bytes, bytes, bool], Stream]
    new_aead: Callable[[bytes], AEAD]
    if source is None:
        assert m.stream_factory is not None or m.aead_factory is not None
        new_stream = m.stream_factory or _no_stream
        new_aead = m.aead_factory or _no_aead
    else:
        backend = source

        def new_stream(key: bytes, iv: bytes, decrypt: bool) -> Stream:
            return backend.new_stream(m, key, iv, decrypt)

        def new_aead(key: bytes) -> AEAD:
            return backend.new_aead(m, key)

    if answer.kind == "ocb-iterated":
        return ocb_iterated_tag(new_aead, m.key_size) == answer.ciphertext
    if answer.kind == "aead":
        aead = new_aead(answer.key)
        if aead.seal(answer.iv, answer.plaintext, answer.aad) != answer.ciphertext:
            return False
        try:
            return aead.open(answer.iv, answer.ciphertext, answer.aad) == answer.plaintext
        except InvalidTag:
            return False
    encryptor = new_stream(answer.key, answer.iv, False)
    if answer.offset:
        encryptor.update(bytes(answer.offset))
    if encryptor.update(answer.plaintext) != answer.ciphertext:
        return False
    if answer.offset:
        return True  # a keystream position: decryption is the same operation
    decryptor = new_stream(answer.key, answer.iv, True)
    half = len(answer.ciphertext) // 2
    plain = decryptor.update(answer.ciphertext[:half]) + decryptor.update(answer.ciphertext[half:])
    return plain == answer.plaintext


def _no_stream(key: bytes, iv: bytes, decrypt: bool) -> Stream:
    raise TypeError("an AEAD method has no stream primitive")


def _no_aead(key: bytes) -> AEAD:
    raise TypeError("a stream method has no AEAD primitive")
