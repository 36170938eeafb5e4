"""An exec harness (docs/exec-protocol.md) in Python, on refcrypto's own codecs.

The exec backend's tests use it where Node.js or a C compiler may be missing. With
``HARNESS_MISBEHAVE`` it breaks the protocol on purpose, for the fault handling tests:

``crash``         exits at the first tcp-decode request, after a line on standard error;
``not-json``      answers every request after hello with a line that is not JSON;
``wrong-id``      answers every request after hello with another id;
``silent``        never answers a request after hello;
``bad-at``        rejects every tcp-decode at a read index that does not exist;
``internal``      answers every udp-decrypt with an InternalError.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import refcrypto
from refcrypto.errors import (
    InvalidChunkLength,
    InvalidTag,
    RefcryptoError,
    TruncatedData,
    UnknownMethod,
)
from refcrypto.wire import master_key, new_decoder, new_encoder
from refcrypto.wire.udp import decrypt_packet, encrypt_packet

MISBEHAVE = os.environ.get("HARNESS_MISBEHAVE", "")
METHODS = ["aes-128-gcm", "chacha20-ietf-poly1305", "aes-256-cfb", "rc4-md5", "table"]


def error_name(exc: RefcryptoError) -> str:
    for kind in (InvalidTag, InvalidChunkLength, TruncatedData):
        if isinstance(exc, kind):
            return kind.__name__
    return "DecodeError"


def handle(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "hello":
        return {"ok": True, "protocol": 1, "name": "py-refcrypto",
                "implementation": f"refcrypto {refcrypto.__version__} (Python harness)",
                "methods": METHODS}
    if MISBEHAVE == "silent":
        time.sleep(3600)
    try:
        m = refcrypto.method(request["method"])
    except UnknownMethod:
        return {"ok": False, "error": "UnsupportedMethod", "message": request["method"]}
    key = master_key(bytes.fromhex(request["password"]), m)
    if op == "tcp-encode":
        encoder = new_encoder(m, key, bytes.fromhex(request["iv"]))
        return {"ok": True,
                "outputs": [encoder.update(bytes.fromhex(w)).hex() for w in request["writes"]]}
    if op == "tcp-decode":
        if MISBEHAVE == "crash":
            print("harness: crashing on purpose", file=sys.stderr, flush=True)
            sys.exit(7)
        decoder = new_decoder(m, key)
        outputs: list[str] = []
        reads = request["reads"]
        for at in range(len(reads) + 1):
            try:
                if at < len(reads):
                    outputs.append(decoder.update(bytes.fromhex(reads[at])).hex())
                elif request.get("final"):
                    decoder.finish()
            except RefcryptoError as exc:
                where = len(reads) + 5 if MISBEHAVE == "bad-at" else at
                return {"ok": False, "error": error_name(exc), "message": str(exc), "at": where,
                        "outputs": outputs, "released": exc.plaintext.hex()}
        return {"ok": True, "outputs": outputs}
    if op == "udp-encrypt":
        packet = encrypt_packet(m, key, bytes.fromhex(request["data"]),
                                bytes.fromhex(request["iv"]))
        return {"ok": True, "packet": packet.hex()}
    if op == "udp-decrypt":
        if MISBEHAVE == "internal":
            return {"ok": False, "error": "InternalError", "message": "on purpose"}
        try:
            data = decrypt_packet(m, key, bytes.fromhex(request["packet"]))
        except RefcryptoError as exc:
            return {"ok": False, "error": error_name(exc), "message": str(exc)}
        return {"ok": True, "data": data.hex()}
    return {"ok": False, "error": "BadRequest", "message": f"unknown op {op!r}"}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        answer = {"id": request.get("id"), **handle(request)}
        if request.get("op") != "hello" and MISBEHAVE == "not-json":
            sys.stdout.write("this is not JSON\n")
        elif request.get("op") != "hello" and MISBEHAVE == "wrong-id":
            sys.stdout.write(json.dumps({**answer, "id": -1}) + "\n")
        else:
            sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
