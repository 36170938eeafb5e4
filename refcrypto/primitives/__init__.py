"""Primitives: block ciphers, modes over any block cipher, stream ciphers and AEADs.

Primitives never import the wire layer (:mod:`refcrypto.wire`).
"""
