"""Interoperability tests: refcrypto against shadowsocks-libev (ss-server, ss-local) and the
Python shadowsocks package running on refcrypto. See docs/interop.md."""
