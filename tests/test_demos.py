"""The demonstrations of docs/demos/, run as a reader runs them.

``redirect.py``, ``nonce_reuse.py`` and ``replay.py`` print nothing that varies between runs
(no port numbers, fixed IVs and salts, an injected clock), so their whole output is compared
with the run shown in the chapter. ``leak.py`` measures memory, whose figures vary: its test
runs a reduced count and checks what does not vary, the objects left for the collector.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Every documented run of a demonstration: script -> the chapter that shows its output.
DOCUMENTED = {
    "docs/demos/redirect.py": "chapters/stream-legacy.md",
    "docs/demos/nonce_reuse.py": "chapters/nonces.md",
    "docs/demos/replay.py": "chapters/replays.md",
}


def documented_output(script: str) -> str:
    text = (DOCS / DOCUMENTED[script]).read_text(encoding="utf-8")
    match = re.search(rf"^```console\n\$ python {re.escape(script)}\n(.*?)^```$", text,
                      re.S | re.M)
    assert match is not None, f"{DOCUMENTED[script]} shows no run of {script}"
    return match.group(1)


def run(*argv: str, timeout: float = 120) -> str:
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False,
                          env={k: v for k, v in os.environ.items() if k != "REFCRYPTO_KEY"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("script", sorted(DOCUMENTED))
def test_demo_prints_what_the_chapter_shows(script: str) -> None:
    assert run(script) == documented_output(script)


def test_redirect_reads_the_stream_method_and_not_the_aead_one() -> None:
    # What the comparison above implies, said directly (and for two more methods).
    out = run("docs/demos/redirect.py", "-m", "chacha20-ietf", "-m", "chacha20-ietf-poly1305")
    stream, aead = out.split("\n\n")
    assert "the victim's session cookie is readable: yes" in stream
    assert "session=7f3a9c51d2" in stream.split("attacker's listener", 1)[1]
    assert "no connection; the server refused the modified stream" in aead
    assert "payload chunk with nonce 1 failed authentication" in aead


def test_nonce_reuse_recovers_h_and_forges() -> None:
    out = documented_output("docs/demos/nonce_reuse.py")
    recovered = re.search(r"H recovered\s+= ([0-9a-f]{32})", out)
    true_h = re.search(r"H = AES\(subkey, 0\^128\) = ([0-9a-f]{32})", out)
    assert recovered and true_h and recovered.group(1) == true_h.group(1)
    assert "the receiver opens it with nonce 1: b'user=alice;role=admin\\n'" in out


def leak_rows(only: str) -> dict[tuple[str, str], dict[str, object]]:
    out = run("docs/demos/leak.py", "--pairs", "2000", "--json", "--only", only, timeout=300)
    return {(r["peer"], r["what"]): r for r in json.loads(out)}


def test_leak_toy_and_refcrypto() -> None:
    rows = leak_rows("toy,refcrypto")
    leaky = rows[("toy", "self.encrypt = self.update + __del__")]
    assert int(str(leaky["collected"])) >= 2000  # every object of every pair waited for gc
    assert rows[("toy", "the same class, no self-reference")]["collected"] == 0
    for method in ("table", "mbedtls:aes-256-gcm", "aes-256-gcm"):
        assert rows[("refcrypto", method)]["collected"] == 0, method


@pytest.mark.peers
def test_leak_published_package() -> None:
    rows = leak_rows("shadowsocks")
    skipped = [r for r in rows.values() if "skipped" in r]
    if skipped:
        reason = f"shadowsocks-alexforks cannot run here: {skipped[0]['skipped']}"
        if os.environ.get("REFCRYPTO_REQUIRE_NATIVE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    for method in ("table", "mbedtls:aes-256-gcm"):
        assert int(str(rows[("shadowsocks", method)]["collected"])) >= 2 * 2000, method
    assert int(str(rows[("shadowsocks", "aes-256-gcm")]["collected"])) < 2000
