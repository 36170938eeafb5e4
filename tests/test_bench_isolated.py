"""The benchmark measures what a user installs (``refcrypto bench --isolated``), and the peer
"pycryptodome, same seals" does the same work as a Shadowsocks AEAD stream.

Smoke and plumbing only, no figure or time is looked at (CONTRIBUTING.md). Most tests here
need only refcrypto and pycryptodome (the core suite, every supported Python); the one that
makes a fresh virtual environment and runs the benchmark in it carries the ``peers`` mark
(main Python only: it installs the peers and uses the native libraries).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

import pytest

from refcrypto import Cryptor, decrypt_all, method
from refcrypto.benchmarks.command import add_parser
from refcrypto.benchmarks.environment import configuration, path_facts, pip_freeze, scrub
from refcrypto.benchmarks.isolated import (
    CONFIGURATIONS,
    MARKER,
    IsolatedError,
    child_argv,
    configurations,
    find_checkout,
    work_directory,
)
from refcrypto.benchmarks.peers import (
    PASSWORD,
    SealsPeer,
    _hkdf,
    _seal_new,
    _seal_packet,
    _SealReader,
    _SealWriter,
)
from refcrypto.cli import main
from refcrypto.wire.cryptor import master_key

ROOT = Path(__file__).resolve().parents[1]
AEADS = ("aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305", "xchacha20-ietf-poly1305",
         "aes-256-ocb")


def bench_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["bench", *argv])


# ------------------------------------------------------------------------------------------
# pycryptodome, same seals
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", AEADS)
def test_same_seals_writes_the_shadowsocks_stream(name: str) -> None:
    """What the peer writes, after the salt, is a stream refcrypto reads (two chunks for a
    write over 0x3FFF bytes), and it reads back refcrypto's stream fed in odd pieces."""
    m = method(name)
    salt = os.urandom(m.salt_size)
    subkey = _hkdf(master_key(PASSWORD, m), salt, m.key_size)
    writer = _SealWriter(_seal_new(m), subkey, m.nonce_size)
    data = [os.urandom(n) for n in (1, 100, 0x3FFF, 0x3FFF + 1, 40000)]
    wire = salt + b"".join(writer.write(d) for d in data)
    assert Cryptor(PASSWORD, m).decrypt(wire) == b"".join(data)

    source = Cryptor(PASSWORD, m)
    stream = b"".join(source.encrypt(d) for d in data)
    reader = _SealReader(_seal_new(m), _hkdf(master_key(PASSWORD, m),
                                             stream[: m.salt_size], m.key_size), m.nonce_size)
    rng = random.Random(7)
    got, at = [], m.salt_size
    while at < len(stream):
        step = rng.randint(1, 3000)
        got.append(reader.read(stream[at : at + step]))
        at += step
    assert b"".join(got) == b"".join(data)


@pytest.mark.parametrize("name", AEADS)
def test_same_seals_udp_packets_open_in_refcrypto(name: str) -> None:
    m = method(name)
    peer = SealsPeer()
    data = os.urandom(512)
    packet = _seal_packet(_seal_new(m), master_key(PASSWORD, m), m, data)
    assert decrypt_all(PASSWORD, m, packet) == data
    assert peer.udp_decrypt(m)(packet) == data


def test_same_seals_has_only_the_aeads_it_can_do() -> None:
    peer = SealsPeer()
    assert all(peer.unsupported(method(n)) is None for n in AEADS)
    assert "stream method" in str(peer.unsupported(method("aes-256-cfb")))
    # The original ChaCha20-Poly1305 has another tag layout than pycryptodome's 8-byte nonce.
    assert peer.unsupported(method("chacha20-poly1305")) is not None
    assert peer.creator(method("aes-128-gcm")) is None


# ------------------------------------------------------------------------------------------
# Which path ran, and the environment's contents
# ------------------------------------------------------------------------------------------


def test_scrub_leaves_no_local_path() -> None:
    assert scrub("refcrypto @ file:///home/someone/src/refcrypto") == "refcrypto @ file:<local>"
    assert scrub("x-y.z[extra] @ file:///a/b.whl") == "x-y.z[extra] @ file:<local>"
    assert scrub("-e /home/someone/src/refcrypto") == "-e <local>"
    assert scrub("# Editable Git install with no remote (refcrypto==0.1.0)") is None
    assert scrub("cffi==2.1.1") == "cffi==2.1.1"
    assert scrub("pkg @ https://example.org/pkg-1.0.tar.gz") == \
        "pkg @ https://example.org/pkg-1.0.tar.gz"


def test_pip_freeze_of_this_environment_has_no_checkout_path() -> None:
    frozen = pip_freeze()
    if frozen is None:
        pytest.skip("no pip in this environment")
    assert any(line.startswith("pycryptodome==") for line in frozen), frozen
    assert not [line for line in frozen if str(ROOT) in line or line.startswith("#")]


def test_path_facts_name_the_configuration() -> None:
    from Crypto.Util import _raw_api

    from refcrypto.primitives import _fast

    facts = path_facts()
    assert facts["refcrypto_fast"] is _fast.ENABLED
    assert facts["pycryptodome_backend"] == _raw_api.backend
    assert configuration(facts) == ("fast/" if _fast.ENABLED else "public/") + _raw_api.backend
    assert configuration({"refcrypto_fast": False, "pycryptodome_backend": "ctypes"}) == \
        "public/ctypes"


# ------------------------------------------------------------------------------------------
# The isolated run's plumbing
# ------------------------------------------------------------------------------------------


def test_configurations_are_chosen_in_order() -> None:
    assert [c.label for c in configurations(None)] == ["fast/cffi", "public/cffi",
                                                      "public/ctypes"]
    assert [c.name for c in configurations(["public-ctypes", "fast/cffi"])] == [
        "fast-cffi", "public-ctypes"]
    with pytest.raises(ValueError, match="unknown configuration"):
        configurations(["fast-ctypes"])
    fast, public, ctypes = CONFIGURATIONS
    assert (fast.fast_off, fast.cffi) == (False, True)
    assert (public.fast_off, public.cffi) == (True, True)
    assert (ctypes.fast_off, ctypes.cffi) == (False, False)  # what a user without cffi gets


def test_child_argv_carries_the_options() -> None:
    args = bench_args(["--isolated", "--quick", "-m", "aes-128-gcm", "--size", "100",
                       "--peer", "pproxy", "--no-udp", "--no-create", "--rounds", "3",
                       "--time", "0.05", "--memory", "50", "--json", "x.json"])
    first = child_argv(args, first=True)
    assert first == ["bench", "--rounds", "3", "--time", "0.05", "--stat", "best",
                     "--method", "aes-128-gcm", "--size", "100", "--peer", "pproxy",
                     "--quick", "--no-udp", "--no-create", "--memory", "50"]
    assert "--memory" not in child_argv(args, first=False)
    assert args.isolated == "" and args.config is None


def test_checkout_is_found() -> None:
    """The checkout when refcrypto is imported from it; none when it is installed (as in the
    nox sessions, which install the project without -e)."""
    import refcrypto

    from_checkout = Path(refcrypto.__file__).resolve().parent == ROOT / "refcrypto"
    assert find_checkout() == (ROOT if from_checkout else None)


def test_work_directory_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("not ours")
    with pytest.raises(IsolatedError, match="not empty"), work_directory(str(tmp_path)):
        pass
    assert (tmp_path / "keep.txt").is_file()


def test_work_directory_empties_its_own_folder(tmp_path: Path) -> None:
    home = tmp_path / "bench"
    home.mkdir()
    (home / MARKER).write_text("ours")
    (home / "venv").mkdir()
    (home / "venv" / "old").write_text("from the last run")
    with work_directory(str(home)) as path:
        assert path == home.resolve() and list(path.iterdir()) == []
    with work_directory(None) as path:
        temporary = path
        assert path.is_dir()
    assert not temporary.exists()


# ------------------------------------------------------------------------------------------
# The real thing: a fresh virtual environment, three configurations
# ------------------------------------------------------------------------------------------


@pytest.mark.peers
@pytest.mark.xdist_group("bench-venv")
def test_isolated_run_measures_a_fresh_install(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out, png = tmp_path / "iso.json", tmp_path / "iso.png"
    home = tmp_path / "venv-home"
    code = main(["bench", "--isolated", str(home), "--quick", "-m", "aes-128-gcm", "--size",
                 "100", "--no-udp", "--no-create", "--json", str(out), "--chart", str(png)])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    text = captured.out
    for label, state in (("fast/cffi", "fast paths ON"), ("public/cffi", "fast paths OFF"),
                         ("public/ctypes", "fast paths OFF")):
        assert f"=== Configuration {label} ===" in text
        assert f"Ran: [{label}] refcrypto " in text and state in text
    assert "refcrypto per configuration" in text

    raw = out.read_text()
    assert str(ROOT) not in raw and str(home) not in raw and str(tmp_path) not in raw
    document = json.loads(raw)
    assert document["isolated"]["peers_installed_without_dependencies"] == [
        "shadowsocks-alexforks==3.0.11", "pproxy==2.7.9"]
    runs = document["configurations"]
    assert [r["name"] for r in runs] == ["fast/cffi", "public/cffi", "public/ctypes"]
    for run in runs:
        env = run["report"]["environment"]
        assert env["configuration"] == run["name"]
        assert env["refcrypto_origin"] == "installed" and env["virtual_environment"]
        assert env["python"] == sys.version.split()[0]
        names = {line.split("==")[0].split(" @ ")[0].lower() for line in env["pip_freeze"]}
        # The environment holds refcrypto, what it declares, the peers, and venv's own.
        assert names - {"pip", "setuptools", "wheel"} == (
            {"refcrypto", "pycryptodome", "cffi", "pycparser", "pproxy",
             "shadowsocks-alexforks"} - ({"cffi"} if run["name"] == "public/ctypes" else set()))
        assert "refcrypto @ file:<local>" in env["pip_freeze"]
        peers = run["report"]["peers"]
        assert not [p for p, v in peers.items() if v.startswith("unavailable")], peers
        (case, *_) = run["report"]["cases"]
        assert case["peers"]["pycryptodome-seals"]["runs"], case
    assert runs[1]["report"]["environment"]["REFCRYPTO_FAST"] == "0"
    assert runs[2]["report"]["environment"]["REFCRYPTO_FAST"] is None
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
