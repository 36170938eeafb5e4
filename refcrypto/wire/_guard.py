"""The one-thread-at-a-time rule of the codecs (see :class:`~refcrypto.errors.ConcurrentUse`).

Each encoder and decoder owns a ``threading.Lock`` that its ``update`` takes without waiting:
if another thread holds it, the call raises instead of running. Waiting would make each call
atomic but not the program right: two threads writing one stream still interleave their
writes on the socket in an order the peer cannot decode. A stream cipher's state (and an
AEAD's nonce counter) advanced by two threads at once can reuse keystream or a nonce, so the
mistake must not pass silently.
"""

from __future__ import annotations

from ..errors import ConcurrentUse
from ..methods import Method

__all__ = ["busy_error"]


def busy_error(method: Method, what: str) -> ConcurrentUse:
    """The error for a second thread entering a codec's ``update``."""
    return ConcurrentUse(
        f"{method.name}: {what} entered from two threads at once (one object per thread, "
        "or a lock around each call and the write that follows it)"
    )
