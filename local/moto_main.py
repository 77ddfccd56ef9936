"""``python -m local.moto_main``: moto's server, with the one fix the local pipeline needs to behave like AWS.

moto's Kinesis shard hands out a record's sequence number as "the largest so far + 1" and stores the
record under it, without a lock ("this function is not safe for concurrency", moto/kinesis/models.py),
while its server answers each request on a thread of its own. Two producers writing the same shard at
once can then get the same sequence number, and one record silently replaces the other: the demo
with two producer slices lost ~0.4 % of its ticks that way. Kinesis gives every record its own
sequence number (strictly increasing within a shard). Here one lock serialises the shards' puts and
reads, which also keeps a read from iterating a shard's records while a put adds to them.
tests/test_moto_server.py proves concurrent puts lose nothing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.kinesis import models
from moto.server import main

_LOCK = threading.RLock()


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


def patch() -> None:
    """Serialise moto's Kinesis shard puts and reads (idempotent)."""
    shard = models.Shard
    if not getattr(shard.put_record, "_tickpipe_locked", False):
        for name in ("put_record", "get_records"):
            wrapped = _locked(getattr(shard, name))
            wrapped._tickpipe_locked = True  # type: ignore[attr-defined]
            setattr(shard, name, wrapped)


if __name__ == "__main__":
    patch()
    main()
