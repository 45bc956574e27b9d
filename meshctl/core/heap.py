"""The collector's settings for a process that serves or measures calls for long.

A mesh process imports about 100,000 objects that live as long as it does
(grpc, SQLAlchemy, pydantic, protobuf descriptors). CPython's full collections
walk all of them, each time (about 36 ms here), and every call queued behind
a collection waits that long: under load that is the tail of the latency.
:func:`settle` collects once when start-up is done, then moves what survived
out of the collector's sight (``gc.freeze``, as Instagram's servers do).
Reference cycles made later are still collected; only start-up's objects are
no longer scanned. The young generation keeps CPython's threshold: a larger
one (10,000 was tried) makes fewer but longer pauses, 5-30 ms each under
load, which is worse for the tail than many short ones.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect once, then keep everything start-up built out of later collections."""
    gc.collect()
    gc.freeze()
