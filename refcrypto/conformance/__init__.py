"""Conformance: hold any implementation of the Shadowsocks methods against published vectors,
method-level wire vectors and refcrypto itself, and say what passes, fails or is unsupported.

Backends come in two kinds (:mod:`.backend`): *primitive* backends (OpenSSL, libsodium,
mbed TLS, ``cryptography``, refcrypto itself) give stream objects and AEADs, and are run on the
wire through refcrypto's own codecs; *wire* backends (third-party Shadowsocks cipher modules)
encode and decode whole TCP streams and UDP packets from a password.
"""
