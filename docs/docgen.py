"""Generate the pages of the documentation that refcrypto computes: the worked examples
("From password to wire bytes") and one page per method.

Run by ``docs/conf.py`` at every build (``python docs/docgen.py OUT`` does the same by hand)
and by ``tests/test_docs_examples.py``, which then executes every example of the result.

Every value on these pages comes from fixed inputs run through refcrypto when the pages are
made, except the expected answers of the published vectors and the wire vectors' plaintext,
which come from the vector files and the plaintext rule: a method page's example therefore
checks refcrypto against a published answer every time the tests run.

Pages are written only when their text changed, so an incremental Sphinx build re-reads only
what changed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
if str(ROOT) not in sys.path:  # a source checkout without refcrypto installed
    sys.path.insert(0, str(ROOT))

import refcrypto  # noqa: E402
import refcrypto.tools  # noqa: E402
from refcrypto import cli, knownanswers  # noqa: E402
from refcrypto.conformance.wirevectors import load_tcp, load_udp, plaintext  # noqa: E402
from refcrypto.explain import Field, explain, make_wire  # noqa: E402
from refcrypto.methods import Method  # noqa: E402

MATRIX = DOCS / "data" / "check-matrix.json"

# --- the fixed inputs of the worked examples --------------------------------------------------

PASSWORD = "barfoo!"
REQUEST = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
TARGET = ("example.com", 80)
#: A DNS query for example.com (type A), the payload of the UDP examples.
DNS_QUERY = bytes.fromhex("123401000001000000000000076578616d706c6503636f6d0000010001")
#: 2026-01-01 00:00:00 UTC: the clock of the 2022 examples.
CLOCK = 1_767_225_600
PSK_128 = "AAECAwQFBgcICQoLDA0ODw=="  # base64 of bytes 00..0f


# --- pieces of Markdown ------------------------------------------------------------------------


def pycon(statements: Sequence[str], namespace: dict[str, Any]) -> str:
    """Run ``statements`` as the interactive interpreter would, in ``namespace``, and return
    the session as a ``pycon`` block (what ``tests/test_docs_examples.py`` runs again)."""
    lines: list[str] = []
    for source in statements:
        first, *rest = source.rstrip("\n").split("\n")
        lines.append(">>> " + first)
        lines += ["... " + line for line in rest]
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            exec(compile(source + "\n", "<docs>", "single"), namespace)
        lines += [line or "<BLANKLINE>" for line in buffer.getvalue().splitlines()]
    return "```pycon\n" + "\n".join(lines) + "\n```\n"


def console(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    """Run ``refcrypto ARGV`` in this process and return the session as a ``console`` block
    (``$ REFCRYPTO_KEY=... refcrypto ...`` and its standard output)."""
    saved = {name: os.environ.get(name) for name in (env or {})}
    os.environ.update(env or {})
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            cli.main(list(argv))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    command = " ".join(shlex.quote(a) for a in argv)
    return f"```console\n$ {prefix + ' ' if prefix else ''}refcrypto {command}\n" \
           f"{buffer.getvalue().rstrip()}\n```\n"


def hex_lines(data: bytes, width: int = 16) -> str:
    return "\n".join(f"{i:5}  {data[i : i + width].hex(' ')}" for i in range(0, len(data), width))


def field_table(fields: Sequence[Field]) -> str:
    """Every field in full hex, as a Markdown table."""
    rows = ["| offset | length | field | hex on the wire | meaning |", "|---:|---:|---|---|---|"]
    for f in fields:
        rows.append(f"| {f.offset} | {f.length} | {f.name} | `{f.data.hex() or '-'}` | "
                    f"{f.meaning.replace('|', '&#124;')} |")
    return "\n".join(rows) + "\n"


def diagram(fields: Sequence[Field], width: int = 92) -> str:
    """An ASCII picture of the wire: one box per field, its offset above, its size inside."""
    cells = []
    for f in fields:
        label = f.name.replace("tag of ", "tag ").replace("chunk ", "c")
        size = f"{f.length} B"
        cells.append((f.offset, label, size, max(len(label), len(size)) + 2))
    end = fields[-1].end if fields else 0
    rows: list[list[tuple[int, str, str, int]]] = [[]]
    used = 0
    for cell in cells:
        if rows[-1] and used + cell[3] + 1 > width:
            rows.append([])
            used = 0
        rows[-1].append(cell)
        used += cell[3] + 1
    out: list[str] = []
    for index, row in enumerate(rows):
        offsets = ""
        border = "+"
        labels = "|"
        sizes = "|"
        for offset, label, size, cell_width in row:
            offsets += str(offset).ljust(cell_width + 1)
            border += "-" * cell_width + "+"
            labels += " " + label.ljust(cell_width - 1) + "|"
            sizes += " " + size.ljust(cell_width - 1) + "|"
        if index == len(rows) - 1:
            offsets += str(end)
        out += [offsets.rstrip(), border, labels, sizes, border]
        if index != len(rows) - 1:
            out.append("")
    return "```text\n" + "\n".join(out) + "\n```\n"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


# --- "From password to wire bytes" --------------------------------------------------------------


def _namespace() -> dict[str, Any]:
    return {"__name__": "__docs__"}


def page_stream() -> str:
    name = "aes-256-cfb"
    iv = bytes(range(16, 32))
    ns = _namespace()
    wire = make_wire(name, PASSWORD, REQUEST, iv=iv, target=TARGET)
    fields = explain(name, PASSWORD, wire).fields
    parts = [f"""# A stream method over TCP: `{name}`

A stream method turns the password into a key, sends a random IV, and then the stream cipher's
output: nothing else. This page follows one client request from the password to the bytes
on the wire. Inputs (fixed, so that every value below can be checked): password
`{PASSWORD}`, IV `{iv.hex()}`, target `{TARGET[0]}:{TARGET[1]}`, request
`{REQUEST!r}`.

## 1. Password to key: `EVP_BytesToKey`

The key is OpenSSL's `EVP_BytesToKey` with MD5, one round and no salt: D1 = MD5(password),
D2 = MD5(D1 ‖ password), ..., and the key is the first 32 bytes of D1 ‖ D2 ‖ ...
(shadowsocks-org whitepaper; `refcrypto.kdf.evp_bytes_to_key`).

""", pycon([
        "import refcrypto",
        "from Crypto.Hash import MD5",
        f"password = {PASSWORD.encode()!r}",
        "d1 = MD5.new(password).digest()",
        "d2 = MD5.new(d1 + password).digest()",
        "d1.hex()",
        "d2.hex()",
        f"key = refcrypto.master_key(password, {name!r})",
        "key == d1 + d2",
    ], ns), """
## 2. The plaintext: target address, then the request

The client's first bytes name the target in SOCKS5 address form (RFC 1928, section 5, without
its first three bytes): ATYP 3 (a domain name), its length, the name, the port in big-endian
order. The request follows directly.

""", pycon([
        "from refcrypto.tools import pack_address",
        f"header = pack_address({TARGET[0]!r}, {TARGET[1]})",
        "header.hex(' ')",
        f"plaintext = header + {REQUEST!r}",
        "len(plaintext)",
    ], ns), """
## 3. Encryption: AES-256-CFB from the IV

CFB with 128-bit segments (SP 800-38A, 6.3): C1 = P1 ⊕ AES(key, IV), and every next block
is Pi ⊕ AES(key, Ci-1). The wire is the IV followed by the ciphertext; the IV goes out once,
with the first write.

""", pycon([
        f"iv = bytes.fromhex({iv.hex()!r})",
        f"wire = refcrypto.Cryptor(password, {name!r}, iv=iv).encrypt(plaintext)",
        "len(wire), wire[:16] == iv",
        "from Crypto.Cipher import AES",
        "aes = AES.new(key, AES.MODE_ECB)",
        "def xor(a, b):\n    return bytes(x ^ y for x, y in zip(a, b))",
        "c1 = xor(plaintext[:16], aes.encrypt(iv))",
        "c2 = xor(plaintext[16:32], aes.encrypt(c1))",
        "wire[16:48] == c1 + c2",
        "print(wire.hex(' ', 16))",
    ], ns), f"""
## 4. The wire

{diagram(fields)}
{field_table(fields)}
`refcrypto explain` reads the same bytes back, field by field:

{console(["explain", "-m", name, wire.hex()], {"REFCRYPTO_KEY": PASSWORD})}
Nothing on this wire is authenticated. Change a ciphertext byte and the server decrypts a
different byte without noticing; that is what the redirect attack uses
(see "Why stream methods are legacy").
"""]
    return "".join(parts)


def page_aead_tcp() -> str:
    name = "aes-128-gcm"
    salt = bytes(range(32, 48))
    writes = (b"GET / HTTP/1.1\r\n", b"Host: example.com\r\n\r\n")
    ns = _namespace()
    sender = refcrypto.Cryptor(PASSWORD, name, iv=salt)
    wire = sender.encrypt(refcrypto.tools.pack_address(*TARGET) + writes[0])
    wire += sender.encrypt(writes[1])
    fields = explain(name, PASSWORD, wire).fields
    return "".join([f"""# A 2017 AEAD method over TCP: `{name}`

The AEAD construction of 2017 (SIP004, SIP007) keeps the password-to-key step of the stream
methods, derives a fresh subkey for every connection from a random salt, and cuts the stream
into chunks, each sealed twice: its length, then its payload. Inputs: password `{PASSWORD}`,
salt `{salt.hex()}`, target `{TARGET[0]}:{TARGET[1]}`, and two writes,
`{writes[0]!r}` and `{writes[1]!r}`.

## 1. Master key and session subkey

The master key is `EVP_BytesToKey` as for stream methods (16 bytes here: D1 alone). The
subkey is HKDF-SHA1 (RFC 5869) of the master key, with the salt as HKDF salt and
`ss-subkey` as info: PRK = HMAC-SHA1(salt, master key), then T(1) = HMAC-SHA1(PRK,
`ss-subkey` ‖ 0x01), cut to the key size.

""", pycon([
        "import refcrypto",
        "from Crypto.Hash import HMAC, SHA1",
        f"master = refcrypto.master_key({PASSWORD!r}, {name!r})",
        "master.hex()",
        f"salt = bytes.fromhex({salt.hex()!r})",
        "prk = HMAC.new(salt, master, SHA1).digest()",
        "prk.hex()",
        "subkey = HMAC.new(prk, b'ss-subkey' + b'\\x01', SHA1).digest()[:16]",
        "subkey.hex()",
        "from refcrypto.kdf import session_subkey",
        "session_subkey(master, salt) == subkey",
    ], ns), """
## 2. Chunks and nonces

Every seal uses the next value of a counter that starts at zero and is written as a 12-byte
little-endian nonce; one chunk consumes two: the length (two big-endian bytes, at most
0x3FFF) is sealed with nonce 2k and the payload with nonce 2k + 1. The first payload starts
with the target address.

""", pycon([
        f"aead = refcrypto.method({name!r}).new_aead(subkey)",
        "def nonce(n):\n    return n.to_bytes(12, 'little')",
        "from refcrypto.tools import pack_address",
        f"first = pack_address({TARGET[0]!r}, {TARGET[1]}) + {writes[0]!r}",
        f"second = {writes[1]!r}",
        "len(first), len(second)",
        "nonce(0).hex(), nonce(1).hex()",
        "sealed_length0 = aead.seal(nonce(0), len(first).to_bytes(2, 'big'))",
        "sealed_payload0 = aead.seal(nonce(1), first)",
        "sealed_length1 = aead.seal(nonce(2), len(second).to_bytes(2, 'big'))",
        "sealed_payload1 = aead.seal(nonce(3), second)",
        "sealed_length0.hex(' ', 2)",
        "wire = salt + sealed_length0 + sealed_payload0 + sealed_length1 + sealed_payload1",
        f"encoder = refcrypto.Cryptor({PASSWORD!r}, {name!r}, iv=salt)",
        "encoder.encrypt(first) + encoder.encrypt(second) == wire",
    ], ns), f"""
## 3. The wire

{diagram(fields)}
{field_table(fields)}
{console(["explain", "-m", name, wire.hex()], {"REFCRYPTO_KEY": PASSWORD})}
Every tag covers the bytes just before it. A receiver opens the length chunk first (it must
know how many bytes to wait for), and releases no byte of a payload before its tag verified.
"""])


def page_aead_udp() -> str:
    name = "chacha20-ietf-poly1305"
    salt = bytes(range(64, 96))
    target = ("192.0.2.53", 53)
    ns = _namespace()
    wire = make_wire(name, PASSWORD, DNS_QUERY, iv=salt, udp=True, target=target)
    fields = explain(name, PASSWORD, wire, udp=True).fields
    return "".join([f"""# A 2017 AEAD method over UDP: `{name}`

A UDP packet is sealed on its own: its own salt, so its own subkey, one seal with an all-zero
nonce, no length field, the target address in front of the payload. Inputs: password
`{PASSWORD}`, salt `{salt.hex()}`, target `{target[0]}:{target[1]}` and a DNS query for
`example.com` as payload.

""", pycon([
        "import refcrypto",
        "from refcrypto.kdf import session_subkey",
        "from refcrypto.tools import pack_address",
        f"master = refcrypto.master_key({PASSWORD!r}, {name!r})",
        "master.hex()",
        f"salt = bytes.fromhex({salt.hex()!r})",
        "subkey = session_subkey(master, salt)",
        "subkey.hex()",
        f"query = bytes.fromhex({DNS_QUERY.hex()!r})",
        f"body = pack_address({target[0]!r}, {target[1]}) + query",
        f"aead = refcrypto.method({name!r}).new_aead(subkey)",
        "packet = salt + aead.seal(bytes(12), body)",
        f"packet == refcrypto.encrypt_all({PASSWORD!r}, {name!r}, body, iv=salt)",
        "len(packet)",
        f"refcrypto.decrypt_all({PASSWORD!r}, {name!r}, packet) == body",
    ], ns), f"""
{diagram(fields)}
{field_table(fields)}
{console(["explain", "-m", name, "--udp", wire.hex()], {"REFCRYPTO_KEY": PASSWORD})}
The zero nonce is safe only because every packet has a new salt and so a new subkey: the
(key, nonce) pair never repeats as long as salts do not (32 random bytes).
"""])


def page_2022() -> str:
    name = "2022-blake3-aes-128-gcm"
    salt = bytes(range(0x30, 0x40))
    server_salt = bytes(range(0x50, 0x60))
    payload = REQUEST
    ns = _namespace()
    wire = make_wire(name, PSK_128, payload, iv=salt, target=TARGET, now=CLOCK, padding=4)
    fields = explain(name, PSK_128, wire, now=CLOCK).fields
    reply = make_wire(name, PSK_128, b"HTTP/1.1 200 OK\r\n\r\n", iv=server_salt, response=True,
                      request_salt=salt, now=CLOCK + 1)
    reply_fields = explain(name, PSK_128, reply, response=True, request_salt=salt,
                           now=CLOCK + 1).fields
    udp_session = bytes(range(1, 9))
    packet = make_wire(name, PSK_128, DNS_QUERY, iv=udp_session, udp=True,
                       target=("192.0.2.53", 53), now=CLOCK)
    packet_fields = explain(name, PSK_128, packet, udp=True, now=CLOCK).fields
    return "".join([f"""# The 2022 edition: `{name}`

Shadowsocks 2022 (SIP022) drops the password: the key is a random pre-shared key (PSK),
written in base64, exactly the key size. The session subkey comes from BLAKE3, the first
chunks are headers with a type, a timestamp and (in responses) the request's salt, and
receivers must refuse old timestamps and repeated salts. Inputs: PSK `{PSK_128}`, request salt
`{salt.hex()}`, response salt `{server_salt.hex()}`, clock {CLOCK} (2026-01-01 00:00:00 UTC),
4 bytes of padding, target `{TARGET[0]}:{TARGET[1]}`.

## 1. PSK and session subkey

subkey = BLAKE3 `derive_key`(context `"shadowsocks 2022 session subkey"`, PSK ‖ salt), as
many bytes as the key (SIP022 2.2). No `EVP_BytesToKey`, no HKDF.

""", pycon([
        "import base64, refcrypto",
        "from refcrypto.wire.ss2022.keys import session_subkey",
        f"psk = base64.b64decode({PSK_128!r})",
        "psk.hex()",
        f"salt = bytes.fromhex({salt.hex()!r})",
        "subkey = session_subkey(psk, salt)",
        "subkey.hex()",
    ], ns), """
## 2. The request's headers

The fixed-length header (type 0, timestamp as u64 big-endian, length of the next chunk) is
sealed with nonce 0; the variable-length header (target address, padding length, padding,
initial payload) with nonce 1. Later writes are length/payload chunk pairs, as in 2017 but
with payloads up to 0xFFFF bytes.

""", pycon([
        f"aead = refcrypto.method({name!r}).new_aead(subkey)",
        "def nonce(n):\n    return n.to_bytes(12, 'little')",
        "from refcrypto.tools import pack_address",
        f"variable = pack_address({TARGET[0]!r}, {TARGET[1]}) + (4).to_bytes(2, 'big')"
        f" + bytes(4) + {payload!r}",
        f"fixed = bytes([0]) + ({CLOCK}).to_bytes(8, 'big') + len(variable).to_bytes(2, 'big')",
        "fixed.hex(' ')",
        "wire = salt + aead.seal(nonce(0), fixed) + aead.seal(nonce(1), variable)",
        f"client = refcrypto.Cryptor2022({PSK_128!r}, {name!r}, role='client',\n"
        f"    target={TARGET!r}, salt=salt, clock=lambda: {CLOCK}, padding=4)",
        f"client.encrypt({payload!r}) == wire",
        "len(wire)",
    ], ns), f"""
{diagram(fields)}
{field_table(fields)}
{console(["explain", "-m", name, "--now", str(CLOCK), wire.hex()], {"REFCRYPTO_KEY": PSK_128})}
## 3. The response

The server's stream has its own salt and subkey. Its fixed-length header carries type 1, its
timestamp, the *request's* salt (so a response cannot be replayed to another connection) and
the length of the first payload chunk, which follows at once.

{diagram(reply_fields)}
{field_table(reply_fields)}
## 4. A UDP packet

On UDP, each client session has an 8-byte session ID and numbers its packets; with the AES
methods the 16-byte separate header (session ID ‖ packet ID) is encrypted with AES-ECB under
the PSK, the subkey is derived from the PSK and the session ID, and the body's nonce is the
last 12 bytes of the plain separate header (SIP022 3.2.2). Session ID here:
`{udp_session.hex()}`.

{diagram(packet_fields)}
{field_table(packet_fields)}
{console(["explain", "-m", name, "--udp", packet.hex()], {"REFCRYPTO_KEY": PSK_128})}"""])


WORKED = {
    "stream-tcp": page_stream,
    "aead-tcp": page_aead_tcp,
    "aead-udp": page_aead_udp,
    "edition-2022": page_2022,
}


def worked_index() -> str:
    return """# From password to wire bytes

Four worked examples, one per family, each from fixed inputs: every intermediate value
(keys, subkeys, nonces, each chunk) is printed in hex, computed by refcrypto when these pages
are built, and every `>>>` line is run again by the test suite
(`tests/test_docs_examples.py`), so the bytes shown are the bytes refcrypto makes.

```{toctree}
:maxdepth: 1

stream-tcp
aead-tcp
aead-udp
edition-2022
```
"""


# --- the method pages ----------------------------------------------------------------------------


def slug(name: str) -> str:
    return name.replace(":", "-")


def _vector_files(row: Method) -> dict[str, int]:
    """Vector files that ``refcrypto.knownanswers`` reads for ``row`` -> answers it takes."""
    opened: list[str] = []
    real_load, real_path = knownanswers.load_records, knownanswers.vector_path

    def load(relative: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(relative)
        return real_load(relative, *args, **kwargs)

    def path(relative: str) -> Path:
        opened.append(relative)
        return real_path(relative)

    knownanswers._records_cached.cache_clear()
    knownanswers._wycheproof.cache_clear()
    knownanswers.load_records = load  # type: ignore[assignment]
    knownanswers.vector_path = path  # type: ignore[assignment]
    try:
        answers = knownanswers.known_answers(row)
    finally:
        knownanswers.load_records, knownanswers.vector_path = real_load, real_path
        knownanswers._records_cached.cache_clear()
        knownanswers._wycheproof.cache_clear()
    counts = dict.fromkeys(dict.fromkeys(opened), 0)
    counts["_answers"] = len(answers)
    return counts


def _pick_answer(row: Method) -> knownanswers.KnownAnswer | None:
    answers = [a for a in knownanswers.known_answers(row) if a.kind != "ocb-iterated"]
    if not answers:
        return None
    return min(answers, key=lambda a: (a.derived, a.offset > 0,
                                       len(a.plaintext) + len(a.ciphertext) + len(a.aad)))


def _answer_example(row: Method, ns: dict[str, Any]) -> str:
    """A pycon block whose expected output is the published answer (not refcrypto's)."""
    answer = _pick_answer(row)
    lines = ["import refcrypto", f"m = refcrypto.method({row.name!r})"]
    if answer is None:
        if row.name.endswith("-ocb"):
            iterated = knownanswers.OCB_ITERATED[row.key_size]
            run = pycon([*lines, "from refcrypto.knownanswers import ocb_iterated_tag",
                         f"ocb_iterated_tag(m.new_aead, {row.key_size}).hex()"], ns)
            expected = f"'{iterated}'"
            assert expected in run, f"{row.name}: iterated tag differs"
            return ("RFC 7253 appendix A has no plain vectors for this key size; its iterated "
                    "test (128 rounds of three seals, then one over everything) gives a "
                    f"published tag, `{iterated}`:\n\n" + run)
        return ""
    plain_hex, cipher_hex = answer.plaintext.hex(), answer.ciphertext.hex()
    lines += [f"key = bytes.fromhex({answer.key.hex()!r})"]
    if answer.kind == "aead":
        lines += [f"nonce = bytes.fromhex({answer.iv.hex()!r})",
                  f"aad = bytes.fromhex({answer.aad.hex()!r})",
                  f"m.new_aead(key).seal(nonce, bytes.fromhex({plain_hex!r}), aad).hex()"]
    else:
        fits = (not row.key_size or len(answer.key) == row.key_size) and \
            len(answer.iv) == row.iv_size
        make = "m.new_stream" if fits else "m.stream_factory"
        lines += [f"iv = bytes.fromhex({answer.iv.hex()!r})",
                  f"stream = {make}(key, iv, False)"]
        if answer.offset:
            lines.append(f"skipped = stream.update(bytes({answer.offset}))")
        lines.append(f"stream.update(bytes.fromhex({plain_hex!r})).hex()")
    run = pycon(lines, ns)
    if f"'{cipher_hex}'" not in run:
        raise AssertionError(f"{row.name}: refcrypto does not give the answer of {answer.source}")
    note = " (derived: no published vector exists for this mode)" if answer.derived else ""
    offset = f", from keystream byte {answer.offset}" if answer.offset else ""
    raw = "" if answer.kind == "aead" or "new_stream" in "".join(lines) else (
        " The published key or IV is not the method's size, so the primitive's factory is "
        "called directly.")
    return (f"From {answer.source}{note}{offset}: the method's own primitive, fed the "
            f"vector's input, must print the vector's answer.{raw}\n\n" + run)


def _wire_example(row: Method, ns: dict[str, Any], tcp: dict[str, list[Any]],
                  udp: dict[str, list[Any]]) -> str:
    vectors = [v for v in tcp.get(row.name, []) if v.wire is not None]
    if not vectors:
        return ""
    v = min(vectors, key=lambda v: v.wire_length)
    total = sum(v.all_writes())
    expected = plaintext(0, total).hex()
    run = pycon([
        f"wire = bytes.fromhex({v.wire.hex()!r})",
        f"receiver = refcrypto.Cryptor(bytes.fromhex({v.password.hex()!r}), {row.name!r})",
        "receiver.decrypt(wire).hex()",
    ], ns)
    if f"'{expected}'" not in run:
        raise AssertionError(f"{row.name}: wire vector does not decrypt to the plaintext rule")
    who = ", ".join(v.verified_by) or "nobody else"
    return (f"A TCP record of `vectors/wire/tcp.txt` (writes {', '.join(map(str, v.writes))}; "
            f"re-made by {who}). Its plaintext follows the rule byte k = (131·k + 7) mod 256, "
            "so the expected output does not come from refcrypto:\n\n" + run)


def _family(row: Method) -> str:
    if row.is_2022:
        return "Shadowsocks 2022 AEAD (SIP022)"
    if row.is_aead:
        return "AEAD (SIP004 chunks, SIP007 subkey)"
    return "stream (IV, then cipher output; no integrity)"


def method_page(row: Method, matrix: dict[str, Any], tcp: dict[str, list[Any]],
                udp: dict[str, list[Any]]) -> str:
    ns = _namespace()
    origin = ("Shadowsocks 2022" if row.is_2022 else
              "shadowsocks-rust extension" if row.extension else "Python shadowsocks table")
    nonce = (f"{row.nonce_size} bytes, little-endian counter" if row.nonce_size else "-")
    legacy = f"**yes**: {row.legacy_reason}" if row.legacy else "no"
    size_name = "salt" if (row.is_aead or row.is_2022) else "IV"
    key_note = ("the PSK (base64), exactly this size" if row.is_2022 else
                "EVP_BytesToKey(MD5) of the password" if row.key_size else
                "none: the password seeds the table")
    props = [
        ("family", _family(row)), ("origin", origin),
        ("key", f"{row.key_size} bytes ({key_note})"),
        (size_name, f"{row.iv_size} bytes"), ("nonce", nonce),
        ("tag", f"{row.tag_size} bytes" if row.tag_size else "-"),
        ("primitive", row.primitive), ("specification", row.spec), ("legacy", legacy),
        ("aliases", ", ".join(f"`{a}`" for a in row.aliases) or "-"),
    ]
    table = ("| property | value |\n|---|---|\n" +
             "\n".join(f"| {k} | {v} |" for k, v in props) + "\n")
    files = _vector_files(row)
    answers = files.pop("_answers")
    wire_files = [f"`vectors/wire/{n}` ({len(d[row.name])} records)"
                  for n, d in (("tcp.txt", tcp), ("udp.txt", udp)) if row.name in d]
    if files:
        vector_text = (f"`refcrypto.knownanswers` runs {answers} known answers for this method "
                       "through its own factories, from: " +
                       ", ".join(f"`vectors/{f}`" for f in files) + ".")
    elif row.is_2022:
        same = (f"aes-{row.key_size * 8}-gcm" if "aes" in row.name
                else "chacha20-ietf-poly1305")
        vector_text = ("No known answers are mapped to this row (its AEAD is the one of "
                       f"`{same}`, "
                       "whose vectors apply to it); the 2022 framing is tested by "
                       "`tests/test_ss2022_tcp.py` and `tests/test_ss2022_udp.py`.")
    else:
        vector_text = "Only the RFC 7253 iterated test (below)."
    if wire_files:
        vector_text += " Method-level wire vectors: " + ", ".join(wire_files) + "."
    results = matrix["results"].get(row.name)
    if results is None:
        backend_text = (f"Not in the stored matrix (`docs/data/check-matrix.json`, "
                        f"{matrix['date']}): `refcrypto check` did not cover the 2022 edition "
                        "when it was made.")
    else:
        passing = [b for b, s in results.items() if s == "pass"]
        failing = [b for b, s in results.items() if s == "fail"]
        backend_text = (f"From the stored matrix of {matrix['date']} (`{matrix['command']}`; "
                        "`docs/data/check-matrix.json`): passes on " +
                        ", ".join(f"`{b}`" for b in passing) + "." +
                        (" Fails on " + ", ".join(f"`{b}`" for b in failing) +
                         " (see [the findings](../../chapters/findings.md))." if failing
                         else "") +
                        "\n\n| backend | result |\n|---|---|\n" +
                        "\n".join(f"| {b} | {s} |" for b, s in results.items()) + "\n")
    example = _answer_example(row, ns)
    wire_example = "" if row.is_2022 else _wire_example(row, ns, tcp, udp)
    if row.is_2022:
        key = PSK_128 if row.key_size == 16 else "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        dissect = console(["explain", "-m", row.name, "--encrypt", "--iv",
                           bytes(range(row.salt_size)).hex(), "--target", "example.com:80",
                           "--now", str(CLOCK), "--text", "hello"], {"REFCRYPTO_KEY": key})
    else:
        dissect = console(["explain", "-m", row.name, "--encrypt", "--iv",
                           bytes(range(row.iv_size)).hex(), "--target", "example.com:80",
                           "--text", "hello"], {"REFCRYPTO_KEY": PASSWORD})
    fixed = bytes(range(row.iv_size)).hex() or "none"
    return f"""# `{row.name}`

{table}
## Vectors

{vector_text}

## Backends

{backend_text}
## A worked vector

{example or "No published vector; the dissection below is computed by refcrypto."}
{wire_example}
## On the wire

`refcrypto explain --encrypt` with a fixed {size_name} (`{fixed}`):

{dissect}"""


def methods_index(rows: Sequence[Method]) -> str:
    groups = (
        ("The 53 methods of Python shadowsocks", [r for r in rows if not r.extension
                                                  and not r.is_2022]),
        ("Extensions (shadowsocks-rust)", [r for r in rows if r.extension]),
        ("Shadowsocks 2022", [r for r in rows if r.is_2022]),
    )
    text = ["# The methods\n",
            "One page per method, generated from the method table (`refcrypto.methods`) when "
            "the site is built: sizes, primitive, specification, legacy status, the vector "
            "files that cover it, the backends that pass it in the stored `refcrypto check` "
            "matrix, a worked vector and a dissected wire.\n"]
    for title, group in groups:
        text.append(f"\n## {title}\n\n| method | family | key | IV/salt | legacy |\n"
                    "|---|---|---:|---:|---|")
        for r in group:
            text.append(f"| [`{r.name}`]({slug(r.name)}.md) | {r.category.value} | "
                        f"{r.key_size} | {r.iv_size} | {'legacy' if r.legacy else ''} |")
    text.append("\n```{toctree}\n:hidden:\n\n" + "\n".join(slug(r.name) for r in rows) +
                "\n```\n")
    return "\n".join(text)


def _by_method(vectors: Sequence[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for v in vectors:
        out.setdefault(v.method, []).append(v)
    return out


def all_rows() -> list[Method]:
    return [*refcrypto.methods(extensions=True), *refcrypto.methods(edition2022=True)]


def pages() -> Iterator[tuple[str, Callable[[], str]]]:
    """``(relative path, maker)`` of every generated page."""
    yield "wire/index.md", worked_index
    for stem, maker in WORKED.items():
        yield f"wire/{stem}.md", maker
    matrix = json.loads(MATRIX.read_text(encoding="utf-8"))
    tcp, udp = _by_method(load_tcp()), _by_method(load_udp())
    rows = all_rows()
    yield "methods/index.md", lambda: methods_index(rows)
    for row in rows:
        yield f"methods/{slug(row.name)}.md", (
            lambda row=row: method_page(row, matrix, tcp, udp))  # type: ignore[misc]


def generate(out: Path) -> list[Path]:
    """Write every generated page under ``out``; return their paths."""
    written = []
    for relative, maker in pages():
        path = out / relative
        write(path, maker())
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS / "generated"
    print(f"{len(generate(target))} pages in {target}")
