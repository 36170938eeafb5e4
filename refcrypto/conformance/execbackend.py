"""The ``exec`` backend: an implementation in any language, driven through a subprocess.

``refcrypto check -b "exec:node harnesses/node/harness.mjs"`` starts the command (split as a
POSIX shell would, without running a shell) and speaks the line-delimited JSON protocol of
docs/exec-protocol.md with it over its standard input and output: one request per line, one
answer per line, in order. The harness says who it is and which methods it has (``hello``),
encodes a TCP stream from a list of writes and an IV or salt (``tcp-encode``), decodes a list of
reads (``tcp-decode``), and seals or opens one UDP packet (``udp-encrypt``/``udp-decrypt``);
bytes travel as hex, failures as named errors. Each request is a whole case, so a harness keeps
no state between requests.

The engine uses the batch operations (:mod:`.drive`); the streaming ``tcp_encoder``/
``tcp_decoder`` of the wire-backend interface are provided too, by replaying the writes or
reads so far on every call (correct, but quadratic: meant for short streams).

A harness that crashes, stays silent for ``REFCRYPTO_EXEC_TIMEOUT`` seconds (default 60) or
answers outside the protocol raises :class:`~.drive.HarnessFault` (the failing case fails,
with the tail of the harness's standard error), and is restarted for the next request.
POSIX only (the pipes are polled with :mod:`selectors`).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import IO, Any

from ..methods import Method
from ..primitives.base import Buffer
from ..wire.cryptor import Password
from .backend import API_VERSION, Transform
from .drive import HarnessFault, StreamRejected

__all__ = [
    "DEFAULT_TIMEOUT",
    "HARNESS_ERRORS",
    "PROTOCOL_VERSION",
    "REJECTIONS",
    "ExecBackend",
    "ExecSpecError",
    "PacketRejected",
]

#: Version of the protocol of docs/exec-protocol.md (sent in ``hello``).
PROTOCOL_VERSION = 1
#: Seconds to wait for one answer, unless ``REFCRYPTO_EXEC_TIMEOUT`` says otherwise.
DEFAULT_TIMEOUT = 60.0
_TIMEOUT_ENV = "REFCRYPTO_EXEC_TIMEOUT"
#: Error names meaning "the implementation rejected the data" (a verdict on the input).
REJECTIONS = frozenset({"InvalidTag", "InvalidChunkLength", "TruncatedData", "DecodeError"})
#: Error names meaning "the harness could not do what was asked" (never a rejection).
HARNESS_ERRORS = frozenset({"UnsupportedMethod", "BadRequest", "InternalError"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,31}")
#: How much of the harness's standard error a fault report quotes.
_STDERR_TAIL = 600
_READ_SIZE = 1 << 20


class ExecSpecError(ValueError):
    """``-b exec:...`` without a command, or a bad ``REFCRYPTO_EXEC_TIMEOUT``."""


class PacketRejected(ValueError):
    """The harness rejected a UDP packet (``error`` names why, as the harness said)."""

    def __init__(self, error: str, message: str) -> None:
        self.error = error
        super().__init__(f"{error}: {message}" if message else error)


def _timeout_from_env() -> float:
    text = os.environ.get(_TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ExecSpecError(f"{_TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    return value


def _stop(process: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
    """End a harness: close its input (it should exit), then kill it if it does not."""
    try:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=2)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()
    finally:
        if process.stdout is not None:
            process.stdout.close()
        stderr.close()


class _Harness:
    """One running harness process: write a request line, read the answer line."""

    __slots__ = ("__weakref__", "_buffer", "_finalizer", "_process", "_stderr")

    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None) -> None:
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, env=dict(env) if env is not None else None)
        except OSError as exc:
            self._stderr.close()
            raise HarnessFault(f"cannot start {shlex.join(command)}: {exc.strerror or exc}"
                               ) from None
        assert self._process.stdin is not None and self._process.stdout is not None
        os.set_blocking(self._process.stdin.fileno(), False)
        self._buffer = bytearray()
        self._finalizer = weakref.finalize(self, _stop, self._process, self._stderr)

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        self._finalizer()

    def stderr_tail(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return " ".join(text.split())

    def exchange(self, line: bytes, timeout: float) -> bytes:
        """Send one request line, return the answer line (without its newline)."""
        deadline = time.monotonic() + timeout
        waiting = f"after {timeout:g} s ({_TIMEOUT_ENV})"
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        with selectors.DefaultSelector() as selector:
            view = memoryview(line)
            selector.register(stdin, selectors.EVENT_WRITE)
            while view:
                self._wait(selector, deadline, f"reading the request {waiting}")
                try:
                    view = view[os.write(stdin.fileno(), view):]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    raise HarnessFault("the harness closed its input (it exited)") from None
            selector.unregister(stdin)
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                self._wait(selector, deadline, f"answering {waiting}")
                chunk = os.read(stdout.fileno(), _READ_SIZE)
                if not chunk:
                    try:  # its output closed: it is exiting, most likely
                        ended = f"exited with status {self._process.wait(timeout=1)}"
                    except subprocess.TimeoutExpired:
                        ended = "closed its output"
                    raise HarnessFault(f"the harness {ended} without answering")
                self._buffer += chunk
        answer, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return answer

    def _wait(self, selector: selectors.BaseSelector, deadline: float, doing: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not selector.select(remaining):
            raise HarnessFault(f"the harness was not done {doing}")


def _unhex(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise HarnessFault(f"answer field {what} must be a hex string, got "
                           f"{type(value).__name__}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise HarnessFault(f"answer field {what} is not hex: {value[:40]!r}") from None


def _hex_list(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise HarnessFault(f"answer field {what} must be a list of hex strings")
    return [_unhex(v, f"{what}[{i}]") for i, v in enumerate(value)]


class ExecBackend:
    """A wire backend whose implementation runs in a subprocess (docs/exec-protocol.md)."""

    API_VERSION = API_VERSION

    __slots__ = ("__weakref__", "_command", "_env", "_harness", "_hello", "_next_id",
                 "_problem", "_timeout", "name")

    def __init__(self, command: Sequence[str], *, env: Mapping[str, str] | None = None,
                 timeout: float | None = None) -> None:
        if not command:
            raise ExecSpecError("exec backend: no command given (-b 'exec:COMMAND ARGS...')")
        self._command = tuple(command)
        self._env = dict(env) if env is not None else None
        self._timeout = timeout if timeout is not None else _timeout_from_env()
        self._harness: _Harness | None = None
        self._hello: dict[str, Any] = {}
        self._next_id = 0
        self._problem: str | None = None
        self.name = "exec"
        try:
            self._say_hello()
        except HarnessFault as exc:
            self._problem = str(exc)

    @classmethod
    def from_spec(cls, spec: str) -> ExecBackend:
        """From ``exec:COMMAND ARGS...`` (split by POSIX shell rules, no shell run)."""
        text = spec.removeprefix("exec:")
        try:
            command = shlex.split(text)
        except ValueError as exc:
            raise ExecSpecError(f"-b {spec}: cannot split the command: {exc}") from None
        return cls(command)

    # --- the protocol ----------------------------------------------------------------------

    def _say_hello(self) -> None:
        answer = self._request({"op": "hello", "protocol": PROTOCOL_VERSION}, hello=True)
        if not answer["ok"]:
            raise HarnessFault(f"hello refused: {answer.get('error')}: "
                               f"{answer.get('message', '')}")
        if answer.get("protocol") != PROTOCOL_VERSION:
            raise HarnessFault(f"the harness speaks protocol {answer.get('protocol')!r}, "
                               f"refcrypto speaks {PROTOCOL_VERSION}")
        name, methods = answer.get("name"), answer.get("methods")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise HarnessFault(f"hello: name must be 1 to 32 letters, digits, '.', '_', '+' or "
                               f"'-', got {name!r}")
        if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
            raise HarnessFault("hello: methods must be a list of method names")
        self.name = name
        self._hello = answer

    def _request(self, fields: dict[str, Any], *, hello: bool = False) -> dict[str, Any]:
        """Send one request; the answer, or :class:`HarnessFault` (the harness is then
        stopped, and started again by the next request)."""
        if self._harness is None or not self._harness.alive():
            self._harness = _Harness(self._command, self._env)
            if not hello:
                self._say_hello()
        harness = self._harness
        self._next_id += 1
        request = {"id": self._next_id, **fields}
        line = (json.dumps(request, separators=(",", ":")) + "\n").encode("ascii")
        try:
            raw = harness.exchange(line, self._timeout)
            try:
                answer = json.loads(raw)
            except ValueError:
                raise HarnessFault(f"answer is not JSON: {raw[:80]!r}") from None
            if not isinstance(answer, dict):
                raise HarnessFault(f"answer is not a JSON object: {raw[:80]!r}")
            if answer.get("id") != request["id"]:
                raise HarnessFault(f"answer has id {answer.get('id')!r}, expected "
                                   f"{request['id']}")
            if not isinstance(answer.get("ok"), bool):
                raise HarnessFault("answer has no boolean field ok")
        except HarnessFault as exc:
            tail = harness.stderr_tail()
            harness.close()
            self._harness = None
            who = "" if self.name == "exec" else f"{self.name} "
            where = f"exec harness {who}({shlex.join(self._command)}), {fields['op']}"
            raise HarnessFault(f"{where}: {exc}" + (f"; its stderr: {tail}" if tail else "")
                               ) from None
        return answer

    def _fault(self, answer: dict[str, Any], op: str) -> HarnessFault:
        return HarnessFault(f"exec harness {self.name}, {op}: {answer.get('error')}: "
                            f"{answer.get('message', '')}")

    def close(self) -> None:
        """Stop the harness (it is started again if the backend is used again)."""
        if self._harness is not None:
            self._harness.close()
            self._harness = None

    # --- the wire-backend interface --------------------------------------------------------

    def available(self) -> str | None:
        return self._problem

    def describe(self) -> str:
        what = self._hello.get("implementation") or "unknown implementation"
        return (f"{what} (exec protocol {PROTOCOL_VERSION}: {shlex.join(self._command)})")

    def unsupported(self, method: Method) -> str | None:
        if self._problem:
            return self._problem
        if method.name not in self._hello.get("methods", ()):
            return "not among the methods the harness lists in its hello"
        return None

    @staticmethod
    def _password(password: Password) -> str:
        return (password.encode("utf-8") if isinstance(password, str) else bytes(password)).hex()

    def tcp_encode(self, method: Method, password: Password, iv: bytes,
                   writes: Sequence[bytes]) -> list[bytes]:
        """Batch encoding: the harness's output for each write."""
        answer = self._request({"op": "tcp-encode", "method": method.name,
                                "password": self._password(password), "iv": bytes(iv).hex(),
                                "writes": [bytes(w).hex() for w in writes]})
        if not answer["ok"]:
            raise self._fault(answer, "tcp-encode")
        return _hex_list(answer.get("outputs"), "outputs")

    def tcp_decode(self, method: Method, password: Password, reads: Sequence[bytes], *,
                   final: bool = False) -> list[bytes]:
        """Batch decoding: the harness's output for each read; :class:`~.drive.StreamRejected`
        when it rejects the stream."""
        answer = self._request({"op": "tcp-decode", "method": method.name,
                                "password": self._password(password),
                                "reads": [bytes(r).hex() for r in reads], "final": final})
        if answer["ok"]:
            return _hex_list(answer.get("outputs"), "outputs")
        error = answer.get("error")
        if error not in REJECTIONS:
            raise self._fault(answer, "tcp-decode")
        at = answer.get("at")
        if type(at) is not int or not 0 <= at <= len(reads):
            raise HarnessFault(f"exec harness {self.name}, tcp-decode: error {error} with "
                               f"at={at!r}, not a read index (0 to {len(reads)})")
        outputs = _hex_list(answer.get("outputs", []), "outputs")
        released = _unhex(answer.get("released", ""), "released")
        raise StreamRejected(str(error), str(answer.get("message", "")), at=at,
                             outputs=outputs, released=released)

    def udp_encrypt(self, method: Method, password: Password, iv: bytes, data: bytes) -> bytes:
        answer = self._request({"op": "udp-encrypt", "method": method.name,
                                "password": self._password(password), "iv": bytes(iv).hex(),
                                "data": bytes(data).hex()})
        if not answer["ok"]:
            raise self._fault(answer, "udp-encrypt")
        return _unhex(answer.get("packet"), "packet")

    def udp_decrypt(self, method: Method, password: Password, packet: bytes) -> bytes:
        answer = self._request({"op": "udp-decrypt", "method": method.name,
                                "password": self._password(password),
                                "packet": bytes(packet).hex()})
        if answer["ok"]:
            return _unhex(answer.get("data"), "data")
        if answer.get("error") in REJECTIONS:
            raise PacketRejected(str(answer["error"]), str(answer.get("message", "")))
        raise self._fault(answer, "udp-decrypt")

    def tcp_encoder(self, method: Method, password: Password, iv: bytes) -> Transform:
        return _ReplayEncoder(self, method, password, iv)

    def tcp_decoder(self, method: Method, password: Password) -> Transform:
        return _ReplayDecoder(self, method, password)


class _ReplayEncoder:
    """A streaming encoder over the batch protocol: every call sends all writes so far."""

    __slots__ = ("__weakref__", "_backend", "_iv", "_method", "_password", "_writes")

    def __init__(self, backend: ExecBackend, method: Method, password: Password,
                 iv: bytes) -> None:
        self._backend, self._method, self._password, self._iv = backend, method, password, iv
        self._writes: list[bytes] = []

    def update(self, data: Buffer) -> bytes:
        self._writes.append(bytes(data))
        return self._backend.tcp_encode(self._method, self._password, self._iv,
                                        self._writes)[-1]


class _ReplayDecoder:
    """A streaming decoder over the batch protocol: every call sends all reads so far;
    ``finish()`` asks the harness to check the end of the stream."""

    __slots__ = ("__weakref__", "_backend", "_method", "_password", "_reads")

    def __init__(self, backend: ExecBackend, method: Method, password: Password) -> None:
        self._backend, self._method, self._password = backend, method, password
        self._reads: list[bytes] = []

    def update(self, data: Buffer) -> bytes:
        self._reads.append(bytes(data))
        return self._backend.tcp_decode(self._method, self._password, self._reads)[-1]

    def finish(self) -> None:
        self._backend.tcp_decode(self._method, self._password, self._reads, final=True)
