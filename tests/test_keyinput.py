"""Where the key comes from: --key-file (a file or stdin), REFCRYPTO_KEY, or -k; exactly one.
For refcrypto.keyinput itself, `refcrypto encrypt`/`decrypt`, and the argument parsing of
refcrypto.tools.server and refcrypto.tools.client."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import refcrypto
import refcrypto.tools.client as client_module
import refcrypto.tools.server as server_module
from refcrypto.cli import main
from refcrypto.keyinput import ENV_VAR, KeyInputError, add_key_arguments, key_from_args


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_key_arguments(parser)
    return parser.parse_args(list(argv))


def key_file(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "key"
    path.write_bytes(content)
    return str(path)


# --- refcrypto.keyinput ----------------------------------------------------------------------


def test_key_from_argument() -> None:
    assert key_from_args(parse("-k", "sesame"), environ={}) == "sesame"
    assert key_from_args(parse("--password", "sesame"), environ={}) == "sesame"


def test_key_from_environment() -> None:
    assert key_from_args(parse(), environ={ENV_VAR: "from env"}) == "from env"


def test_key_from_file_strips_one_newline_only(tmp_path: Path) -> None:
    assert key_from_args(parse("--key-file", key_file(tmp_path, b"sesame\n")), environ={}) == \
        b"sesame"
    assert key_from_args(parse("--key-file", key_file(tmp_path, b"sesame")), environ={}) == \
        b"sesame"
    assert key_from_args(parse("--key-file", key_file(tmp_path, b"two\n\n")), environ={}) == \
        b"two\n"
    assert key_from_args(parse("--key-file", key_file(tmp_path, b" pad \r\n")), environ={}) == \
        b" pad \r"
    raw = bytes(range(1, 256))  # any bytes, not only UTF-8
    assert key_from_args(parse("--key-file", key_file(tmp_path, raw)), environ={}) == raw


def test_key_from_stdin() -> None:
    stdin = io.BytesIO(b"piped\n")
    assert key_from_args(parse("--key-file", "-"), environ={}, stdin=stdin) == b"piped"


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ((), {}, "no key given: use --key-file PATH, the environment variable REFCRYPTO_KEY"),
        (("-k", "a", "--key-file", "f"), {}, "not -k and --key-file together"),
        (("-k", "a"), {ENV_VAR: "b"}, "not -k and REFCRYPTO_KEY together (unset REFCRYPTO_KEY"),
        (("--key-file", "f"), {ENV_VAR: "b"}, "not --key-file and REFCRYPTO_KEY together"),
        (("-k", "a", "--key-file", "f"), {ENV_VAR: "b"},
         "not -k, --key-file and REFCRYPTO_KEY together"),
        (("-k", ""), {}, "the key from -k is empty"),
        ((), {ENV_VAR: ""}, "the key from REFCRYPTO_KEY is empty"),
    ],
)
def test_conflicts_and_missing_keys(argv: tuple[str, ...], environ: dict[str, str],
                                    message: str) -> None:
    with pytest.raises(KeyInputError) as info:
        key_from_args(parse(*argv), environ=environ)
    assert message in str(info.value)


def test_unreadable_or_empty_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyInputError, match=r"cannot read --key-file .*nope: No such file"):
        key_from_args(parse("--key-file", str(tmp_path / "nope")), environ={})
    with pytest.raises(KeyInputError, match="is empty"):
        key_from_args(parse("--key-file", key_file(tmp_path, b"\n")), environ={})
    with pytest.raises(KeyInputError, match=r"standard input .* is empty"):
        key_from_args(parse("--key-file", "-"), environ={}, stdin=io.BytesIO(b""))


def test_non_utf8_environment_key_comes_back_as_bytes() -> None:
    value = os.fsdecode(b"caf\xe9")  # a Latin-1 byte, as the environment may hold
    assert key_from_args(parse(), environ={ENV_VAR: value}) == b"caf\xe9"


def test_ps_warning_in_help() -> None:
    parser = argparse.ArgumentParser()
    add_key_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert "visible to every user in ps" in text and "--key-file" in text and ENV_VAR in text


# --- refcrypto encrypt / decrypt -------------------------------------------------------------


IV = "00" * 16


def encrypt_hex(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                *args: str, stdin: bytes = b"hello") -> str:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    assert main(["encrypt", "-m", "aes-128-gcm", "--iv", IV, "--hex-out", *args]) == 0
    return capsys.readouterr().out.strip()


def expected_hex(password: str | bytes) -> str:
    return refcrypto.Cryptor(password, "aes-128-gcm", iv=bytes(16)).encrypt(b"hello").hex()


def test_cli_every_source_gives_the_same_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"hello")
    want = expected_hex("sesame")
    assert encrypt_hex(capsys, monkeypatch, "-k", "sesame") == want
    assert encrypt_hex(capsys, monkeypatch, "--key-file", key_file(tmp_path, b"sesame\n")) == want
    monkeypatch.setenv(ENV_VAR, "sesame")
    assert encrypt_hex(capsys, monkeypatch) == want
    monkeypatch.delenv(ENV_VAR)
    # --key-file - reads the key from stdin; the data then comes from -i.
    assert encrypt_hex(capsys, monkeypatch, "--key-file", "-", "-i", str(plain),
                       stdin=b"sesame\n") == want


def test_cli_key_conflicts_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = key_file(tmp_path, b"sesame")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello")))
    assert main(["encrypt", "-m", "aes-128-gcm", "-k", "a", "--key-file", path]) == 2
    assert "not -k and --key-file together" in capsys.readouterr().err
    monkeypatch.setenv(ENV_VAR, "b")
    assert main(["decrypt", "-m", "aes-128-gcm", "--key-file", path]) == 2
    assert "not --key-file and REFCRYPTO_KEY together" in capsys.readouterr().err
    monkeypatch.delenv(ENV_VAR)
    assert main(["decrypt", "-m", "aes-128-gcm", "--key-file", "-"]) == 2
    assert "both read standard input" in capsys.readouterr().err


def test_cli_decrypt_with_key_file_in_a_subprocess(tmp_path: Path) -> None:
    wire = tmp_path / "wire.bin"
    wire.write_bytes(refcrypto.Cryptor("sesame", "chacha20-ietf-poly1305").encrypt(b"hi there"))
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-m", "refcrypto", "decrypt", "-m", "chacha20-ietf-poly1305",
         "--key-file", "-", "-i", str(wire)],
        input=b"sesame\n", capture_output=True, timeout=120, env=env, check=True,
    )
    assert result.stdout == b"hi there"
    result = subprocess.run(
        [sys.executable, "-m", "refcrypto", "decrypt", "-m", "chacha20-ietf-poly1305",
         "-i", str(wire)],
        capture_output=True, timeout=120, env={**env, ENV_VAR: "sesame"}, check=True,
    )
    assert result.stdout == b"hi there"


# --- refcrypto.tools.server and refcrypto.tools.client ---------------------------------------


@pytest.fixture
def server_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Stands in for the server's event loop; records the key main() handed over."""
    seen: list[object] = []

    async def fake_serve(args: argparse.Namespace) -> None:
        seen.append(args.password)

    monkeypatch.setattr(server_module, "_serve", fake_serve)
    yield seen


@pytest.fixture
def client_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Stands in for the client's event loop; records the key main() handed over."""
    seen: list[object] = []

    async def fake_serve(listen: object, server: object, method: str, password: object) -> None:
        seen.append(password)

    monkeypatch.setattr(client_module, "serve", fake_serve)
    yield seen


SERVER = ["--listen", "127.0.0.1:0", "-m", "aes-256-gcm"]
CLIENT = ["--server", "127.0.0.1:8388", "--listen", "127.0.0.1:0", "-m", "aes-256-gcm"]


@pytest.mark.parametrize("tool", ["server", "client"])
def test_tools_take_every_key_source(tool: str, server_key: list[object],
                                     client_key: list[object], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run, base, seen = ((server_module.main, SERVER, server_key) if tool == "server"
                       else (client_module.main, CLIENT, client_key))
    assert run([*base, "-k", "sesame"]) == 0
    assert run([*base, "--key-file", key_file(tmp_path, b"from file\n")]) == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\n")))
    assert run([*base, "--key-file", "-"]) == 0
    monkeypatch.setenv(ENV_VAR, "from env")
    assert run(base) == 0
    assert seen == ["sesame", b"from file", b"from stdin", "from env"]


@pytest.mark.parametrize("tool", ["server", "client"])
@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["-k", "a", "--key-file", "KEYFILE"], {}, "not -k and --key-file together"),
        (["-k", "a"], {ENV_VAR: "b"}, "not -k and REFCRYPTO_KEY together"),
        (["--key-file", "KEYFILE"], {ENV_VAR: "b"}, "not --key-file and REFCRYPTO_KEY together"),
        ([], {}, "no key given"),
    ],
)
def test_tools_refuse_conflicting_or_missing_keys(
        tool: str, argv: list[str], environ: dict[str, str], message: str,
        server_key: list[object], client_key: list[object], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run, base = (server_module.main, SERVER) if tool == "server" else (client_module.main, CLIENT)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    path = key_file(tmp_path, b"k")
    with pytest.raises(SystemExit) as info:
        run([*base, *[path if a == "KEYFILE" else a for a in argv]])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert server_key == [] and client_key == []  # nothing was started


@pytest.mark.parametrize("module", ["refcrypto.tools.server", "refcrypto.tools.client"])
def test_tools_help_warns_about_ps(module: str) -> None:
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                            text=True, timeout=120, check=True)
    text = " ".join(result.stdout.split())
    assert "--key-file PATH" in text and "visible to every user in ps" in text
