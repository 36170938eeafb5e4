"""pyca's ``cryptography`` package as a backend (name ``cryptography``).

``cryptography`` is an optional, test-time dependency: when it cannot be imported the backend
is unavailable with the import error as its reason. It runs on OpenSSL underneath -- in the
PyPI wheels a copy of OpenSSL linked into the wheel, not the system libcrypto --
so it is an independent build of the same code as the ``openssl`` backend rather than an
independent implementation; :meth:`CryptographyBackend.describe` names that OpenSSL.

What it offers and how the methods map onto it:

* AES in CFB (128-bit segments), CFB8, OFB and CTR; Camellia, Blowfish, CAST5, IDEA and SEED
  in CFB and OFB, where ``cryptography``'s CFB is full-block CFB (64-bit segments for the
  8-byte-block ciphers), which is what OpenSSL's ``*-cfb`` names mean;
* ``des-cfb`` as TripleDES-EDE with K1 = K2 = K3, which *is* single DES (E_K D_K E_K = E_K);
* ``rc4`` and ``rc4-md5`` (key = MD5(key || iv)) with ARC4;
* ``chacha20`` and ``chacha20-ietf`` with ChaCha20, whose 16-byte "nonce" is OpenSSL's IV:
  the last four words of the state, a 32-bit counter carrying into the next word. Original
  layout: 8 zero bytes || 8-byte nonce (64-bit counter, exact); IETF layout: 4 zero bytes ||
  12-byte nonce (RFC 8439 for the 2^32 blocks its counter allows);
* AEADs AESGCM, AESOCB3 and ChaCha20Poly1305.

Not offered (reported unsupported): CFB-1; Camellia CFB-8 and CTR; RC2 in CFB; Salsa20,
XChaCha20, XChaCha20-Poly1305 and libsodium's original ChaCha20-Poly1305. What the linked
OpenSSL really supports is asked from ``cryptography`` (``cipher_supported``) the first time
each method is queried, so a build without IDEA or the legacy ciphers reports them unsupported.

The objects own no native memory of their own: ``cryptography``'s contexts are freed by
reference counting with the object that holds them.
"""

from __future__ import annotations

import importlib
from typing import Any

from Crypto.Hash import MD5

from ..errors import InvalidKeySize, InvalidTag
from ..methods import Method
from ..primitives.base import AEAD, Buffer, Stream
from . import AEADSizes, NativeBackend, check_nonce, split_tag

__all__ = ["CryptographyAEAD", "CryptographyBackend", "CryptographyStream"]

#: Stream primitives -> (algorithm class name, mode name or None, IV transform).
#: IV transforms: "iv" as is, "md5" (rc4-md5), "djb"/"ietf" (ChaCha20 nonce layouts),
#: "des" (the 8-byte key repeated three times, same IV).
_STREAMS: dict[str, tuple[str, str | None, str]] = {
    "bf-cfb": ("Blowfish", "CFB", "iv"),
    "cast5-cfb": ("CAST5", "CFB", "iv"),
    "idea-cfb": ("IDEA", "CFB", "iv"),
    "seed-cfb": ("SEED", "CFB", "iv"),
    "des-cfb": ("TripleDES", "CFB", "des"),
    "rc4": ("ARC4", None, "iv"),
    "rc4-md5": ("ARC4", None, "md5"),
    "chacha20": ("ChaCha20", None, "djb"),
    "chacha20-ietf": ("ChaCha20", None, "ietf"),
}
for _bits in (128, 192, 256):
    _STREAMS[f"aes-{_bits}-cfb"] = ("AES", "CFB", "iv")
    _STREAMS[f"aes-{_bits}-cfb8"] = ("AES", "CFB8", "iv")
    _STREAMS[f"aes-{_bits}-ofb"] = ("AES", "OFB", "iv")
    _STREAMS[f"aes-{_bits}-ctr"] = ("AES", "CTR", "iv")
    _STREAMS[f"camellia-{_bits}-cfb"] = ("Camellia", "CFB", "iv")
    _STREAMS[f"camellia-{_bits}-ofb"] = ("Camellia", "OFB", "iv")
#: AEAD primitives -> class name in ``cryptography.hazmat.primitives.ciphers.aead``.
_AEADS: dict[str, str] = {"chacha20-ietf-poly1305": "ChaCha20Poly1305"}
for _bits in (128, 192, 256):
    _AEADS[f"aes-{_bits}-gcm"] = "AESGCM"
    _AEADS[f"aes-{_bits}-ocb"] = "AESOCB3"
del _bits

_NOT_OFFERED = {
    "cfb1": "cryptography has no CFB-1 mode",
    "camellia-cfb8": "cryptography offers Camellia in ECB, CBC, CFB and OFB only (no CFB-8)",
    "camellia-ctr": "cryptography offers Camellia in ECB, CBC, CFB and OFB only (no CTR)",
    "rc2-cfb": "cryptography's RC2 is CBC-only",
    "salsa20": "cryptography has no Salsa20",
    "xchacha20": "cryptography has no XChaCha20",
    "chacha20-poly1305": "cryptography has only the RFC 8439 ChaCha20-Poly1305, not "
    "libsodium's original 8-byte-nonce construction",
    "xchacha20-ietf-poly1305": "cryptography has no XChaCha20-Poly1305",
    "table": "the table method is a byte substitution, not a cipher of any library",
}


def _not_offered(primitive: str) -> str | None:
    if primitive in _NOT_OFFERED:
        return _NOT_OFFERED[primitive]
    family, _, mode = primitive.rpartition("-")
    if mode == "cfb1":
        return _NOT_OFFERED["cfb1"]
    if family.startswith("camellia-") and mode in ("cfb8", "ctr"):
        return _NOT_OFFERED[f"camellia-{mode}"]
    return None


class _Modules:
    """The parts of ``cryptography`` this backend uses, imported on first use.

    Legacy algorithms and modes moved to ``cryptography.hazmat.decrepit`` (algorithms in 43,
    CFB/CFB8/OFB later); the decrepit location is preferred, so no deprecation warnings.
    """

    def __init__(self) -> None:
        self.version: str = importlib.import_module("cryptography").__version__
        ciphers = importlib.import_module("cryptography.hazmat.primitives.ciphers")
        self.Cipher: Any = ciphers.Cipher
        self.aead: Any = importlib.import_module("cryptography.hazmat.primitives.ciphers.aead")
        self.InvalidTag: type[Exception] = importlib.import_module(
            "cryptography.exceptions").InvalidTag
        self._algorithms = [
            self._optional("cryptography.hazmat.decrepit.ciphers.algorithms"),
            importlib.import_module("cryptography.hazmat.primitives.ciphers.algorithms"),
        ]
        self._modes = [
            self._optional("cryptography.hazmat.decrepit.ciphers.modes"),
            importlib.import_module("cryptography.hazmat.primitives.ciphers.modes"),
        ]
        try:
            backend = importlib.import_module("cryptography.hazmat.backends.openssl.backend")
            self.backend: Any = backend.backend
            self.openssl: str = str(self.backend.openssl_version_text())
        except (ImportError, AttributeError):  # pragma: no cover - very old or future layouts
            self.backend = None
            self.openssl = "an unknown OpenSSL"

    @staticmethod
    def _optional(name: str) -> Any:
        try:
            return importlib.import_module(name)
        except ImportError:
            return None

    def algorithm(self, name: str) -> Any:
        for module in self._algorithms:
            if module is not None and hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"cryptography has no algorithm {name}")

    def mode(self, name: str) -> Any:
        for module in self._modes:
            if module is not None and hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"cryptography has no mode {name}")


class CryptographyStream:
    """One direction of a ``cryptography`` cipher context."""

    __slots__ = ("__weakref__", "_context")

    def __init__(self, context: Any) -> None:
        self._context = context

    def update(self, data: Buffer) -> bytes:
        """Encrypt or decrypt ``data``; returns exactly ``len(data)`` bytes."""
        if not data:
            return b""
        result: bytes = self._context.update(bytes(data))
        return result


class CryptographyAEAD(AEADSizes):
    """A ``cryptography`` AEAD object keyed once."""

    __slots__ = ("__weakref__", "_aead", "_invalid_tag", "_key_size", "_nonce_size", "_what")

    def __init__(self, aead: Any, invalid_tag: type[Exception], what: str, key_size: int,
                 nonce_size: int) -> None:
        self._aead = aead
        self._invalid_tag = invalid_tag
        self._what = what
        self._key_size = key_size
        self._nonce_size = nonce_size

    def seal(self, nonce: Buffer, plaintext: Buffer, aad: Buffer = b"") -> bytes:
        """Return ``ciphertext || tag``."""
        iv = check_nonce(self._what, nonce, self._nonce_size)
        result: bytes = self._aead.encrypt(iv, bytes(plaintext), bytes(aad))
        return result

    def open(self, nonce: Buffer, data: Buffer, aad: Buffer = b"") -> bytes:
        """Verify and decrypt ``ciphertext || tag``; :class:`InvalidTag` on any mismatch."""
        iv = check_nonce(self._what, nonce, self._nonce_size)
        split_tag(self._what, data)  # size check only
        try:
            result: bytes = self._aead.decrypt(iv, bytes(data), bytes(aad))
        except self._invalid_tag:
            raise InvalidTag(f"{self._what}: authentication failed") from None
        return result


class CryptographyBackend(NativeBackend):
    """pyca ``cryptography``; see the module docstring."""

    name = "cryptography"

    def __init__(self) -> None:
        super().__init__()
        self._modules: _Modules | None = None
        #: primitive -> reason or None, asked from cryptography once per primitive.
        self._checked: dict[str, str | None] = {}

    def _load(self) -> str | None:
        try:
            self._modules = _Modules()
        except ImportError as exc:
            return f"the cryptography package is not importable ({exc})"
        return None

    def _describe(self) -> str:
        assert self._modules is not None
        return (f"cryptography {self._modules.version} on {self._modules.openssl} "
                "(the OpenSSL cryptography was built with; in PyPI wheels linked into the wheel)")

    def _unsupported(self, m: Method, primitive: str) -> str | None:
        reason = _not_offered(primitive)
        if reason is not None:
            return reason
        if m.is_aead:
            if primitive not in _AEADS:
                return f"no cryptography AEAD is mapped to {primitive}"
            return None
        if primitive not in _STREAMS:
            return f"no cryptography cipher is mapped to {primitive}"
        if primitive not in self._checked:
            self._checked[primitive] = self._check_stream(m, primitive)
        return self._checked[primitive]

    def _check_stream(self, m: Method, primitive: str) -> str | None:
        """Ask cryptography whether its OpenSSL runs this algorithm and mode."""
        modules = self._modules
        assert modules is not None
        algorithm_name, mode_name, _ = _STREAMS[primitive]
        try:
            context = self._context(m, primitive, bytes(m.key_size), bytes(m.iv_size), False)
        except Exception as exc:  # UnsupportedAlgorithm and friends: the reason is the message
            return f"{algorithm_name}/{mode_name or 'stream'} is not supported by " \
                   f"{modules.openssl} under cryptography ({type(exc).__name__}: {exc})"
        del context
        return None

    def _context(self, m: Method, primitive: str, key: bytes, iv: bytes, decrypt: bool) -> Any:
        modules = self._modules
        assert modules is not None
        algorithm_name, mode_name, transform = _STREAMS[primitive]
        nonce = iv
        if transform == "md5":
            key = MD5.new(key + iv).digest()
        elif transform == "djb":
            nonce = bytes(8) + iv  # 64-bit block counter 0, then the 8-byte nonce
        elif transform == "ietf":
            nonce = bytes(4) + iv  # 32-bit block counter 0, then the 12-byte nonce
        elif transform == "des":
            if len(key) != 8:
                raise InvalidKeySize(f"cryptography {m.name}: key must be 8 bytes")
            key = key * 3  # EDE with K1 = K2 = K3 is single DES
        algorithm_class = modules.algorithm(algorithm_name)
        try:
            if algorithm_name == "ChaCha20":
                algorithm = algorithm_class(key, nonce)
            else:
                algorithm = algorithm_class(key)
        except ValueError as exc:
            raise InvalidKeySize(f"cryptography {m.name}: {exc}") from None
        mode = modules.mode(mode_name)(iv) if mode_name is not None else None
        cipher = modules.Cipher(algorithm, mode)
        return cipher.decryptor() if decrypt else cipher.encryptor()

    def _new_stream(self, m: Method, primitive: str, key: bytes, iv: bytes,
                    decrypt: bool) -> Stream:
        return CryptographyStream(self._context(m, primitive, key, iv, decrypt))

    def _new_aead(self, m: Method, primitive: str, key: bytes) -> AEAD:
        modules = self._modules
        assert modules is not None
        aead = getattr(modules.aead, _AEADS[primitive])(key)
        return CryptographyAEAD(aead, modules.InvalidTag, f"cryptography {m.name}", len(key),
                                m.nonce_size)
