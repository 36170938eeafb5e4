"""Launcher: Python shadowsocks' ``ssserver`` with refcrypto as its whole crypto layer.

Usage: ``python ssserver_on_refcrypto.py [ssserver options]`` with this checkout (or an
installed refcrypto) importable. The first statement keeps OpenSSL's libcrypto out of the
process: with ``_hashlib`` unavailable, ``hashlib`` (imported by pycryptodome's ``hmac`` use
and by the package) falls back to CPython's built-in MD5/SHA-1. It must run before anything
imports ``hashlib``, which is why it is here and not inside refcrypto.
"""

import sys

sys.modules["_hashlib"] = None  # type: ignore[assignment]

from refcrypto.compat import run_ssserver  # noqa: E402

run_ssserver()
