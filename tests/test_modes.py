"""CFB (1, 8, full-block), OFB and CTR over any block cipher, and the pycryptodome adapters.

Published vectors (provenance in vectors/modes/README.md) run through the generic modes of
refcrypto.primitives.modes with the matching refcrypto block cipher; Hypothesis checks
streaming (every split equals one shot), round trips, agreement with pycryptodome's own AES
modes, the CTR wrap, and the speculative CFB-1 encryptor against a bit-by-bit reference.
"""

from __future__ import annotations

import gc
import importlib
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from Crypto.Cipher import AES as PyAES
from Crypto.Cipher import DES as PyDES
from hypothesis import given, settings
from hypothesis import strategies as st

from refcrypto.errors import InvalidIVSize, InvalidKeySize, RefcryptoError
from refcrypto.primitives import blocks
from refcrypto.primitives.base import BlockCipher, Buffer, Stream
from refcrypto.primitives.modes import CFB, CTR, OFB, cfb1_bits
from refcrypto.vectorfiles import Record, load_records

# --------------------------------------------------------------------------------------
# Block ciphers by name
# --------------------------------------------------------------------------------------

PURE = {"camellia": "Camellia", "seed": "SEED", "idea": "IDEA"}


def new_cipher(name: str, key: bytes, effective_bits: int | None = None) -> BlockCipher:
    """A refcrypto block cipher by its short name."""
    if name in PURE:
        module = importlib.import_module(f"refcrypto.primitives.{name}")
        cipher: BlockCipher = getattr(module, PURE[name])(key)
        return cipher
    if name == "rc2":
        return blocks.RC2(key, effective_bits=effective_bits or 128)
    classes: dict[str, Callable[[bytes], BlockCipher]] = {
        "aes": blocks.AES,
        "bf": blocks.Blowfish,
        "cast5": blocks.CAST5,
        "des": blocks.DES,
    }
    return classes[name](key)


def pure_ciphers_available() -> list[str]:
    names = []
    for name in PURE:
        try:
            __import__(f"refcrypto.primitives.{name}")
        except ImportError:
            continue
        names.append(name)
    return names


# --------------------------------------------------------------------------------------
# Vector cases
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One known answer: ``mode`` is "cfb" (``segment_bits`` None = full block), "ofb" or
    "ctr"; ``error`` is the exception a negative entry must raise."""

    id: str
    cipher: str
    key: bytes
    iv: bytes
    mode: str
    plaintext: bytes
    ciphertext: bytes
    segment_bits: int | None = None
    effective_bits: int | None = None
    next_iv: bytes | None = None
    error: type[Exception] | None = None


def _hex(value: str) -> bytes:
    if value.startswith('"'):
        return value.strip('"').encode("ascii")
    return bytes.fromhex(value)


def _id(file: str, rec: Record, tag: str) -> str:
    return f"{file}:L{rec['line']}:{tag}"


# NIST CAVP AESAVS (CFB8, CFB128, OFB) and single-key TDES (= DES) files ------------------

NIST_AES = {
    f"{mode}{kind}{bits}.rsp": mode
    for mode in ("CFB8", "CFB128", "OFB")
    for kind in ("GFSbox", "VarTxt", "MMT")
    for bits in (128, 192, 256)
}


def nist_aes_cases(file: str) -> list[Case]:
    mode = NIST_AES[file]
    cases = []
    for rec in load_records(f"modes/{file}"):
        segment = {"CFB8": 8, "CFB128": None}.get(mode)
        cases.append(
            Case(
                id=_id(file, rec, rec["section"]),
                cipher="aes",
                key=_hex(rec["key"]),
                iv=_hex(rec["iv"]),
                mode="ofb" if mode == "OFB" else "cfb",
                segment_bits=segment,
                plaintext=_hex(rec["plaintext"]),
                ciphertext=_hex(rec["ciphertext"]),
            )
        )
    return cases


def nist_tdes_cases(file: str) -> list[Case]:
    """TCFB64MMT1 / TCFB8MMT1: keying option 1 with KEY1 = KEY2 = KEY3, i.e. single DES."""
    cases = []
    for rec in load_records(f"modes/{file}"):
        assert rec["key1"] == rec["key2"] == rec["key3"], rec["line"]
        cases.append(
            Case(
                id=_id(file, rec, rec["section"]),
                cipher="des",
                key=_hex(rec["key1"]),
                iv=_hex(rec["iv"]),
                mode="cfb",
                segment_bits=8 if file.startswith("TCFB8") else None,
                plaintext=_hex(rec["plaintext"]),
                ciphertext=_hex(rec["ciphertext"]),
            )
        )
    return cases


# pyca text files (NIST-like layout) ------------------------------------------------------

PYCA = {
    "aes-128-ctr.txt": ("aes", "ctr"),
    "aes-192-ctr.txt": ("aes", "ctr"),
    "aes-256-ctr.txt": ("aes", "ctr"),
    "bf-cfb.txt": ("bf", "cfb"),
    "bf-ofb.txt": ("bf", "ofb"),
    "cast5-cfb.txt": ("cast5", "cfb"),
    "cast5-ofb.txt": ("cast5", "ofb"),
    "cast5-ctr.txt": ("cast5", "ctr"),
    "idea-cfb.txt": ("idea", "cfb"),
    "idea-ofb.txt": ("idea", "ofb"),
    "seed-cfb.txt": ("seed", "cfb"),
    "seed-ofb.txt": ("seed", "ofb"),
    "camellia-cfb.txt": ("camellia", "cfb"),
    "camellia-ofb.txt": ("camellia", "ofb"),
}


def pyca_cases(file: str) -> list[Case]:
    cipher, mode = PYCA[file]
    return [
        Case(
            id=_id(file, rec, rec["section"] or "encrypt"),
            cipher=cipher,
            key=_hex(rec["key"]),
            iv=_hex(rec["iv"]),
            mode=mode,
            plaintext=_hex(rec["plaintext"]),
            ciphertext=_hex(rec["ciphertext"]),
        )
        for rec in load_records(f"modes/{file}")
    ]


# OpenSSL evpciph files --------------------------------------------------------------------

EVP = [
    "evpciph_aes_common.txt",
    "evpciph_bf.txt",
    "evpciph_cast5.txt",
    "evpciph_des.txt",
    "evpciph_rc2.txt",
    "evpciph_camellia.txt",
    "evpciph_seed.txt",
    "evpciph_idea.txt",
]
_EVP_NAME = re.compile(
    r"(?:(?P<wide>aes|camellia)-(?P<bits>128|192|256)|(?P<narrow>bf|cast5|des|rc2|seed|idea))"
    r"-(?P<mode>cfb8|cfb1|cfb|ofb|ctr)"
)


def evp_cases(file: str) -> list[Case]:
    """The CFB/OFB/CTR entries; ECB, CBC, AEADs, XTS, 3DES, DESX, RC2-40/64 are skipped."""
    cases = []
    for rec in load_records(f"modes/{file}"):
        match = _EVP_NAME.fullmatch(rec.get("cipher", "").lower())
        if match is None:
            continue
        mode = match["mode"]
        result = rec.get("result")
        if result is not None and result != "INVALID_IV_LENGTH":
            continue  # no such negative entries for these modes; keep the door shut
        key = _hex(rec["key"])
        if match["bits"]:
            assert len(key) * 8 == int(match["bits"]), rec["line"]
        cases.append(
            Case(
                id=_id(file, rec, rec["cipher"].lower()),
                cipher=match["wide"] or match["narrow"],
                key=key,
                iv=_hex(rec["iv"]),
                mode="cfb" if mode.startswith("cfb") else mode,
                segment_bits={"cfb8": 8, "cfb1": 1}.get(mode),
                effective_bits=int(rec["keybits"]) if "keybits" in rec else None,
                plaintext=_hex(rec["plaintext"]),
                ciphertext=_hex(rec.get("ciphertext", "")),
                next_iv=_hex(rec["nextiv"]) if "nextiv" in rec else None,
                error=InvalidIVSize if result else None,
            )
        )
    return cases


# Botan .vec files -------------------------------------------------------------------------

BOTAN = ["cfb.vec", "ctr.vec", "ofb.vec"]
_BOTAN_SECTION = re.compile(
    r"(?:(?P<cipher>des|aes-128|aes-192|aes-256|tripledes)/cfb(?:\((?P<bits>\d+)\))?)"
    r"|(?:ctr-be\((?P<ctr>des|aes-128)\))|(?:ofb\((?P<ofb>des|aes-128|aes-192|aes-256)\))"
)


def botan_cases(file: str) -> list[Case]:
    """[DES/CFB(32)] and [DES/CFB(16)] become negative cases: those segment sizes are not
    supported and must be refused. TripleDES sections are skipped (no 3DES here)."""
    cases = []
    for rec in load_records(f"modes/{file}"):
        section = rec["section"]
        match = _BOTAN_SECTION.fullmatch(section)
        assert match is not None, f"{file}: unexpected section [{section}]"
        name = match["cipher"] or match["ctr"] or match["ofb"]
        if name == "tripledes":
            continue
        mode = "cfb" if match["cipher"] else "ctr" if match["ctr"] else "ofb"
        segment = int(match["bits"]) if match["bits"] else None
        block = 8 if name == "des" else 16
        error = RefcryptoError if segment not in (None, 1, 8, 8 * block) else None
        cases.append(
            Case(
                id=_id(file, rec, section),
                cipher="des" if name == "des" else "aes",
                key=_hex(rec["key"]),
                iv=_hex(rec["nonce"]),
                mode=mode,
                segment_bits=segment,
                plaintext=_hex(rec["in"]),
                ciphertext=_hex(rec["out"]),
                error=error,
            )
        )
    return cases


# Byte-level CFB-1 and Camellia CFB-1/CFB-8 (derived files, see the README) ---------------------

_DERIVED_NAME = re.compile(r"(aes|camellia)-(128|192|256)-cfb(1|8)")


def derived_cases(file: str) -> list[Case]:
    cases = []
    for rec in load_records(f"modes/{file}"):
        if "cipher" in rec:
            match = _DERIVED_NAME.fullmatch(rec["cipher"])
            assert match is not None, rec["line"]
            cipher, segment = match[1], int(match[3])
        else:  # sp800-38a-cfb1.txt: AES, bytes read most significant bit first
            cipher, segment = "aes", 1
        cases.append(
            Case(
                id=_id(file, rec, rec.get("cipher", "aes-cfb1")),
                cipher=cipher,
                key=_hex(rec["key"]),
                iv=_hex(rec["iv"]),
                mode="cfb",
                segment_bits=segment,
                plaintext=_hex(rec["plaintext"]),
                ciphertext=_hex(rec["ciphertext"]),
            )
        )
    return cases


DERIVED = ["sp800-38a-cfb1.txt", "openssl-cli-derived.txt"]

LOADERS: dict[str, Callable[[str], list[Case]]] = {
    **{file: nist_aes_cases for file in NIST_AES},
    "TCFB64MMT1.rsp": nist_tdes_cases,
    "TCFB8MMT1.rsp": nist_tdes_cases,
    **{file: pyca_cases for file in PYCA},
    **{file: evp_cases for file in EVP},
    **{file: botan_cases for file in BOTAN},
    **{file: derived_cases for file in DERIVED},
}

CASES = {file: loader(file) for file, loader in LOADERS.items()}

# Minimum number of usable entries per file, so a parser change cannot silently drop vectors.
MIN_CASES = {
    **{f"{m}GFSbox128.rsp": 14 for m in ("CFB8", "CFB128", "OFB")},
    **{f"{m}GFSbox192.rsp": 12 for m in ("CFB8", "CFB128", "OFB")},
    **{f"{m}GFSbox256.rsp": 10 for m in ("CFB8", "CFB128", "OFB")},
    **{f"{m}VarTxt{b}.rsp": 256 for m in ("CFB8", "CFB128", "OFB") for b in (128, 192, 256)},
    **{f"{m}MMT{b}.rsp": 20 for m in ("CFB8", "CFB128", "OFB") for b in (128, 192, 256)},
    "TCFB64MMT1.rsp": 20,
    "TCFB8MMT1.rsp": 20,
    "aes-128-ctr.txt": 3,
    "aes-192-ctr.txt": 3,
    "aes-256-ctr.txt": 3,
    "bf-cfb.txt": 1,
    "bf-ofb.txt": 1,
    "cast5-cfb.txt": 20,
    "cast5-ofb.txt": 20,
    "cast5-ctr.txt": 3,
    "idea-cfb.txt": 20,
    "idea-ofb.txt": 20,
    "seed-cfb.txt": 20,
    "seed-ofb.txt": 20,
    "camellia-cfb.txt": 12,
    "camellia-ofb.txt": 12,
    "evpciph_aes_common.txt": 47,  # CFB 24, OFB 12, CTR 10 + 1 (case-insensitive section)
    "evpciph_bf.txt": 4,
    "evpciph_cast5.txt": 40,
    "evpciph_des.txt": 2,
    "evpciph_rc2.txt": 6,  # CFB 2, OFB 4 incl. one INVALID_IV_LENGTH
    "evpciph_camellia.txt": 57,  # CFB 24, OFB 24, CTR (RFC 5528) 9
    "evpciph_seed.txt": 40,
    "evpciph_idea.txt": 40,
    "cfb.vec": 68,  # 79 records minus 11 TripleDES; 13 CFB(32)/CFB(16) must be refused
    "ctr.vec": 2,
    "ofb.vec": 17,
    "sp800-38a-cfb1.txt": 3,
    "openssl-cli-derived.txt": 9,
}

ALL_CASES = [case for cases in CASES.values() for case in cases]


def test_every_vector_file_is_checked() -> None:
    assert set(MIN_CASES) == set(CASES)


@pytest.mark.parametrize("file", sorted(MIN_CASES))
def test_vector_counts(file: str) -> None:
    assert len(CASES[file]) >= MIN_CASES[file], f"{file}: only {len(CASES[file])} entries"


# --------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------


def make_stream(
    case: Case, cipher: BlockCipher, iv: bytes, decrypt: bool, speculate: bool | None = None
) -> Stream:
    if case.mode == "ofb":
        return OFB(cipher, iv)
    if case.mode == "ctr":
        return CTR(cipher, iv)
    bits = case.segment_bits or 8 * cipher.block_size
    return CFB(cipher, iv, segment_bits=bits, decrypt=decrypt, speculate=speculate)


def split_points(n: int) -> list[int]:
    return sorted({0, 1 if n else 0, n // 2, max(n - 1, 0), n})


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_vector(case: Case) -> None:
    cipher = new_cipher(case.cipher, case.key, case.effective_bits)
    if case.error is not None:
        with pytest.raises(case.error):
            make_stream(case, cipher, case.iv, decrypt=False)
        return
    pt, ct = case.plaintext, case.ciphertext
    assert len(pt) == len(ct)
    speculations: tuple[bool | None, ...] = (None,)
    if case.mode == "cfb" and case.segment_bits == 1:
        speculations = (True, False)
    for k in split_points(len(pt)):
        for speculate in speculations:
            enc = make_stream(case, cipher, case.iv, decrypt=False, speculate=speculate)
            assert enc.update(pt[:k]) + enc.update(pt[k:]) == ct, f"encrypt, split {k}"
        dec = make_stream(case, cipher, case.iv, decrypt=True)
        assert dec.update(ct[:k]) + dec.update(ct[k:]) == pt, f"decrypt, split {k}"
    if case.next_iv is not None and len(pt) % cipher.block_size == 0:
        # NextIV is the chaining value after the call: a new object started from it must
        # continue exactly where the first one is.
        probe = bytes(range(2 * cipher.block_size + 3))
        first = make_stream(case, cipher, case.iv, decrypt=False)
        first.update(pt)
        resumed = make_stream(case, cipher, case.next_iv, decrypt=False)
        assert first.update(probe) == resumed.update(probe)


# NIST CFB1 files: bit strings, tested at the bit level --------------------------------------

NIST_CFB1 = [
    f"CFB1{kind}{bits}.rsp" for kind in ("GFSbox", "VarTxt", "MMT") for bits in (128, 192, 256)
]
CFB1_RECORDS = {file: load_records(f"modes/{file}") for file in NIST_CFB1}
MIN_CFB1 = {"GFSbox128": 14, "GFSbox192": 12, "GFSbox256": 10, "VarTxt": 256, "MMT": 20}


@pytest.mark.parametrize("file", NIST_CFB1)
def test_cfb1_vector_counts(file: str) -> None:
    key = next(k for k in MIN_CFB1 if k in file)
    records = CFB1_RECORDS[file]
    assert len(records) >= MIN_CFB1[key]
    assert all(set(r["plaintext"]) <= {"0", "1"} for r in records)


@pytest.mark.parametrize(
    "rec",
    [rec for file in NIST_CFB1 for rec in CFB1_RECORDS[file]],
    ids=[_id(file, rec, rec["section"]) for file in NIST_CFB1 for rec in CFB1_RECORDS[file]],
)
def test_cfb1_bits_nist(rec: Record) -> None:
    cipher = blocks.AES(bytes.fromhex(rec["key"]))
    iv = bytes.fromhex(rec["iv"])
    pt, ct = rec["plaintext"], rec["ciphertext"]
    assert cfb1_bits(cipher, iv, pt, decrypt=False) == ct
    assert cfb1_bits(cipher, iv, ct, decrypt=True) == pt
    # The byte API must agree on every whole byte of the message (MSB first).
    whole = len(pt) // 8 * 8
    if whole:
        pt_bytes = int(pt[:whole], 2).to_bytes(whole // 8, "big")
        ct_bytes = int(ct[:whole], 2).to_bytes(whole // 8, "big")
        assert CFB(cipher, iv, segment_bits=1, decrypt=False).update(pt_bytes) == ct_bytes
        assert CFB(cipher, iv, segment_bits=1, decrypt=True).update(ct_bytes) == pt_bytes


def test_cfb1_openssl_byte_order() -> None:
    """docs/vector-notes.md, CFB-1: `openssl enc -aes-128-cfb1` on SP 800-38A bytes."""
    cipher = blocks.AES(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    iv = bytes(range(16))
    pt = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d")
    ct = bytes.fromhex("68b3a264f838f5f8c3101070d1ab4c2e22e7")
    assert CFB(cipher, iv, segment_bits=1, decrypt=False).update(pt) == ct
    assert CFB(cipher, iv, segment_bits=1, decrypt=True).update(ct) == pt
    bits = "".join(f"{b:08b}" for b in pt)
    assert cfb1_bits(cipher, iv, bits, decrypt=False) == "".join(f"{b:08b}" for b in ct)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            lambda c, iv: CFB(c, iv, segment_bits=128, decrypt=False),
            "cfb: iv must be 16 bytes, got 12",
        ),
        (
            lambda c, iv: CFB(c, iv, segment_bits=1, decrypt=True),
            "cfb: iv must be 16 bytes, got 12",
        ),
        (lambda c, iv: OFB(c, iv), "ofb: iv must be 16 bytes, got 12"),
        (lambda c, iv: CTR(c, iv), "ctr: iv must be 16 bytes, got 12"),
        (lambda c, iv: cfb1_bits(c, iv, "01", decrypt=False), "cfb1: iv must be 16 bytes, got 12"),
    ],
    ids=["cfb128", "cfb1", "ofb", "ctr", "cfb1_bits"],
)
def test_wrong_iv_size(factory: Callable[[BlockCipher, bytes], object], message: str) -> None:
    with pytest.raises(InvalidIVSize) as info:
        factory(blocks.AES(bytes(16)), bytes(12))
    assert str(info.value) == message


@pytest.mark.parametrize("bits", [0, 2, 4, 16, 32, 64, 127, 129, 256])
def test_unsupported_segment_size(bits: int) -> None:
    with pytest.raises(RefcryptoError, match=r"cfb: segment_bits must be 1, 8 or 128, got"):
        CFB(blocks.AES(bytes(16)), bytes(16), segment_bits=bits, decrypt=False)


def test_cfb64_is_full_block_for_8_byte_ciphers() -> None:
    CFB(blocks.DES(bytes(8)), bytes(8), segment_bits=64, decrypt=False)
    with pytest.raises(RefcryptoError, match="got 128"):
        CFB(blocks.DES(bytes(8)), bytes(8), segment_bits=128, decrypt=False)


def test_cfb1_bits_rejects_other_characters() -> None:
    with pytest.raises(RefcryptoError, match="cfb1_bits"):
        cfb1_bits(blocks.AES(bytes(16)), bytes(16), "0102", decrypt=False)


@pytest.mark.parametrize(
    ("cls", "good", "bad", "message"),
    [
        (blocks.AES, (16, 24, 32), (0, 15, 17, 31, 33), "aes: key must be 16, 24 or 32 bytes"),
        (blocks.Blowfish, (4, 16, 56), (0, 3, 57), "blowfish: key must be 4..56 bytes"),
        (blocks.CAST5, (5, 16), (4, 17), "cast5: key must be 5..16 bytes"),
        (blocks.DES, (8,), (7, 9, 16), "des: key must be 8 bytes"),
        (blocks.RC2, (5, 16, 128), (4, 129), "rc2: key must be 5..128 bytes"),
    ],
)
def test_adapter_key_sizes(
    cls: Callable[[bytes], BlockCipher], good: tuple[int, ...], bad: tuple[int, ...], message: str
) -> None:
    for size in good:
        assert cls(bytes(size)).block_size in (8, 16)
    for size in bad:
        with pytest.raises(InvalidKeySize) as info:
            cls(bytes(size))
        assert str(info.value) == f"{message}, got {size}"


@pytest.mark.parametrize("cls", [blocks.AES, blocks.Blowfish, blocks.CAST5, blocks.DES, blocks.RC2])
def test_adapter_block_lengths(cls: Callable[[bytes], Any]) -> None:
    cipher = cls(bytes(8 if cls is blocks.DES else 16))
    bs = cipher.block_size
    block = bytes(range(bs))
    assert cipher.decrypt_block(cipher.encrypt_block(block)) == block
    assert cipher.encrypt_blocks(block * 3) == cipher.encrypt_block(block) * 3
    assert cipher.encrypt_blocks(b"") == b""
    for wrong in (0, bs - 1, bs + 1):
        with pytest.raises(RefcryptoError, match=f"block must be {bs} bytes, got {wrong}"):
            cipher.encrypt_block(bytes(wrong))
        with pytest.raises(RefcryptoError, match=f"block must be {bs} bytes, got {wrong}"):
            cipher.decrypt_block(bytes(wrong))
    with pytest.raises(RefcryptoError, match=f"multiple of {bs} bytes, got {bs + 1}"):
        cipher.encrypt_blocks(bytes(bs + 1))


def test_adapters_match_pycryptodome_ecb() -> None:
    key = bytes(range(16))
    assert blocks.AES(key).encrypt_block(key) == PyAES.new(key, PyAES.MODE_ECB).encrypt(key)
    assert blocks.DES(key[:8]).encrypt_block(key[:8]) == PyDES.new(key[:8], PyDES.MODE_ECB).encrypt(
        key[:8]
    )


def test_rc2_effective_bits() -> None:
    # RFC 2268 section 5: key 88bca90e90875a7f0f79c384627bafb2, effective 128 bits (and 64).
    key = bytes.fromhex("88bca90e90875a7f0f79c384627bafb2")
    assert blocks.RC2(key).encrypt_block(bytes(8)).hex() == "2269552ab0f85ca6"
    assert blocks.RC2(key, effective_bits=64).encrypt_block(bytes(8)).hex() == "1a807d272bbe5db1"
    assert blocks.RC2(key).effective_bits == 128
    for bits in (39, 1025):
        with pytest.raises(
            RefcryptoError, match=f"rc2: effective_bits must be 40..1024, got {bits}"
        ):
            blocks.RC2(key, effective_bits=bits)


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

MODES = ["cfb1", "cfb8", "cfb", "ofb", "ctr"]


def new_stream(mode: str, cipher: BlockCipher, iv: Buffer, decrypt: bool, **kw: Any) -> Stream:
    if mode == "ofb":
        return OFB(cipher, iv)
    if mode == "ctr":
        return CTR(cipher, iv)
    bits = {"cfb1": 1, "cfb8": 8, "cfb": 8 * cipher.block_size}[mode]
    return CFB(cipher, iv, segment_bits=bits, decrypt=decrypt, **kw)


def chunked(stream: Stream, data: bytes, cuts: list[int]) -> bytes:
    points = sorted({min(c, len(data)) for c in cuts})
    out, prev = [], 0
    for p in [*points, len(data)]:
        out.append(stream.update(data[prev:p]))
        out.append(stream.update(b""))  # empty updates change nothing
        prev = p
    return b"".join(out)


CIPHERS_FOR_PROPERTIES = ["aes", "des", "bf", *pure_ciphers_available()]
KEY_SIZE = {"aes": 16, "des": 8, "bf": 16, "camellia": 32, "seed": 16, "idea": 16}


@settings(max_examples=25, deadline=None)
@given(
    key_seed=st.binary(min_size=32, max_size=32),
    iv_seed=st.binary(min_size=16, max_size=16),
    data=st.binary(max_size=100),
    cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=6),
)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", CIPHERS_FOR_PROPERTIES)
def test_chunked_equals_one_shot_and_round_trip(
    name: str, mode: str, key_seed: bytes, iv_seed: bytes, data: bytes, cuts: list[int]
) -> None:
    cipher = new_cipher(name, key_seed[: KEY_SIZE[name]])
    iv = iv_seed[: cipher.block_size]
    one_shot = new_stream(mode, cipher, iv, decrypt=False).update(data)
    assert len(one_shot) == len(data)
    assert chunked(new_stream(mode, cipher, iv, decrypt=False), data, cuts) == one_shot
    assert chunked(new_stream(mode, cipher, iv, decrypt=True), one_shot, cuts) == data
    assert new_stream(mode, cipher, iv, decrypt=True).update(one_shot) == data


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    iv=st.binary(min_size=16, max_size=16),
    data=st.binary(max_size=300),
    cut=st.integers(min_value=0, max_value=300),
)
def test_aes_modes_match_pycryptodome(key: bytes, iv: bytes, data: bytes, cut: int) -> None:
    cipher = blocks.AES(key)
    for segment in (8, 128):
        expected = PyAES.new(key, PyAES.MODE_CFB, iv=iv, segment_size=segment).encrypt(data)
        enc = CFB(cipher, iv, segment_bits=segment, decrypt=False)
        assert enc.update(data[:cut]) + enc.update(data[cut:]) == expected
        dec = CFB(cipher, iv, segment_bits=segment, decrypt=True)
        assert dec.update(expected[:cut]) + dec.update(expected[cut:]) == data
    expected = PyAES.new(key, PyAES.MODE_OFB, iv=iv).encrypt(data)
    ofb = OFB(cipher, iv)
    assert ofb.update(data[:cut]) + ofb.update(data[cut:]) == expected
    expected = PyAES.new(key, PyAES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(data)
    ctr = CTR(cipher, iv)
    assert ctr.update(data[:cut]) + ctr.update(data[cut:]) == expected


def ctr_reference(ecb: Callable[[bytes], bytes], iv: bytes, data: bytes) -> bytes:
    """Counter blocks written out one by one, incremented modulo 2^(8 * block size)."""
    size = len(iv)
    counter = int.from_bytes(iv, "big")
    stream = b""
    while len(stream) < len(data):
        stream += ecb(counter.to_bytes(size, "big"))
        counter = (counter + 1) % (1 << (8 * size))
    return bytes(a ^ b for a, b in zip(data, stream[: len(data)], strict=True))


@settings(max_examples=40, deadline=None)
@given(
    below_top=st.integers(min_value=0, max_value=5),
    data=st.binary(min_size=1, max_size=120),
    cut=st.integers(min_value=0, max_value=120),
)
@pytest.mark.parametrize("name", ["aes", "des"])
def test_ctr_wraps_around(name: str, below_top: int, data: bytes, cut: int) -> None:
    key = bytes(range(16)) if name == "aes" else bytes(range(8))
    py = PyAES.new(key, PyAES.MODE_ECB) if name == "aes" else PyDES.new(key, PyDES.MODE_ECB)
    size = 16 if name == "aes" else 8
    iv = ((1 << (8 * size)) - 1 - below_top).to_bytes(size, "big")
    ctr = CTR(new_cipher(name, key), iv)
    assert ctr.update(data[:cut]) + ctr.update(data[cut:]) == ctr_reference(py.encrypt, iv, data)


def test_ctr_all_ones_then_zero() -> None:
    key = bytes(16)
    ecb = PyAES.new(key, PyAES.MODE_ECB).encrypt
    keystream = CTR(blocks.AES(key), b"\xff" * 16).update(bytes(48))
    assert keystream == ecb(b"\xff" * 16) + ecb(bytes(16)) + ecb(bytes(15) + b"\x01")


def cfb1_reference(ecb: Callable[[bytes], bytes], iv: bytes, data: bytes) -> bytes:
    """CFB-1 encryption written out bit by bit (SP 800-38A 6.3, s = 1), MSB first."""
    size = len(iv)
    register = int.from_bytes(iv, "big")
    out = bytearray()
    for byte in data:
        value = 0
        for shift in range(7, -1, -1):
            top = ecb(register.to_bytes(size, "big"))[0] >> 7
            bit = (byte >> shift & 1) ^ top
            value = value << 1 | bit
            register = (register << 1 | bit) % (1 << (8 * size))
        out.append(value)
    return bytes(out)


@settings(max_examples=40, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    iv=st.binary(min_size=16, max_size=16),
    data=st.binary(max_size=60),
    cut=st.integers(min_value=0, max_value=60),
)
@pytest.mark.parametrize("name", ["aes", "des"])
def test_cfb1_encryptors_equal_bit_by_bit_reference(
    name: str, key: bytes, iv: bytes, data: bytes, cut: int
) -> None:
    if name != "aes":
        key, iv = key[:8], iv[:8]
    py = PyAES.new(key, PyAES.MODE_ECB) if name == "aes" else PyDES.new(key, PyDES.MODE_ECB)
    expected = cfb1_reference(py.encrypt, iv, data)
    cipher = new_cipher(name, key)
    for speculate in (True, False, None):
        enc = CFB(cipher, iv, segment_bits=1, decrypt=False, speculate=speculate)
        assert enc.update(data[:cut]) + enc.update(data[cut:]) == expected, speculate
    assert CFB(cipher, iv, segment_bits=1, decrypt=True).update(expected) == data


def test_long_writes_cross_internal_pieces() -> None:
    """CFB-1 decryption works in 8 KiB pieces and CFB-8 decryption in 64 KiB pieces."""
    key, iv = bytes(range(16)), bytes(range(16, 32))
    cipher = blocks.AES(key)
    data = bytes(range(256)) * 280  # 71680 bytes
    cfb8 = PyAES.new(key, PyAES.MODE_CFB, iv=iv, segment_size=8).encrypt(data)
    assert CFB(cipher, iv, segment_bits=8, decrypt=True).update(cfb8) == data
    short = data[:8300]
    cfb1 = CFB(cipher, iv, segment_bits=1, decrypt=False).update(short)
    assert cfb1[:300] == cfb1_reference(PyAES.new(key, PyAES.MODE_ECB).encrypt, iv, short[:300])
    assert CFB(cipher, iv, segment_bits=1, decrypt=True).update(cfb1) == short


@pytest.mark.parametrize("mode", MODES)
def test_accepts_bytearray_and_memoryview(mode: str) -> None:
    cipher = blocks.AES(bytes(16))
    data = bytes(range(50))
    expected = new_stream(mode, cipher, bytes(16), decrypt=False).update(data)
    for kind in (bytearray, memoryview):
        out = new_stream(mode, cipher, bytearray(16), decrypt=False).update(kind(data))
        assert type(out) is bytes and out == expected


@pytest.mark.parametrize("mode", MODES)
def test_mode_objects_die_without_gc(mode: str) -> None:
    gc.collect()
    gc.disable()
    try:
        cipher = blocks.AES(bytes(16))
        refs: list[weakref.ref[Any]] = [weakref.ref(cipher)]
        for decrypt in (False, True):
            stream = new_stream(mode, cipher, bytes(16), decrypt=decrypt)
            stream.update(b"abc")
            refs.append(weakref.ref(stream))
            del stream
        del cipher
        assert [r() for r in refs] == [None] * len(refs)
    finally:
        gc.enable()
