"""Which refcrypto methods shadowsocks-libev's ss-server accepts at start-up, and why not.

Every refcrypto name is tried. A name outside libev's tables must be refused as an invalid
cipher name; a name in them must start, or fail for a reason libev states (mbed TLS lacks the
cipher; ``table`` is deprecated). The summary at the end of the run lists the matrix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import refcrypto

from .peers import LIBEV_AEAD, LIBEV_METHODS, REFUSED_AT_STARTUP, libev_rejection, ss_server
from .support import StartupFailed


def probe(binary: str, method: str, log_dir: Path) -> tuple[bool, str]:
    try:
        with ss_server(binary, method, log_dir):
            return True, "listening"
    except StartupFailed as failure:
        reason = libev_rejection(failure)
        if reason is None:
            raise
        return False, reason


@pytest.mark.parametrize("name", [m.name for m in refcrypto.methods(extensions=True)])
def test_ss_server_start_up(
    name: str, ss_server_bin: str, log_dir: Path, libev_matrix: dict[str, tuple[bool, str]]
) -> None:
    accepted, reason = probe(ss_server_bin, name, log_dir)
    libev_matrix[name] = (accepted, reason)
    if name not in LIBEV_METHODS:
        assert not accepted and "invalid cipher name" in reason, (name, reason)
    else:
        assert accepted == (name not in REFUSED_AT_STARTUP), (name, reason)
        if not accepted:
            assert "invalid cipher name" not in reason, (name, reason)


def test_every_libev_aead_method_starts(ss_server_bin: str, log_dir: Path) -> None:
    """The AEAD methods are libev's recommended ones: none may be missing."""
    for name in LIBEV_AEAD:
        assert probe(ss_server_bin, name, log_dir) == (True, "listening"), name
