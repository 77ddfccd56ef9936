"""Malformed frames from the data socket, kept in the lake for a person to look at.

Each is stored as ``quarantine/frames/dt=<UTC date>/<pid>-<epoch ms>-<n>.json``:
``{"reason", "pid", "at" (epoch s), "size", "data" (base64 of the frame, at most MAX_FRAME_BYTES),
"v": 1}``. Bounded: the first ``per_hour`` frames of each clock hour are kept, the rest only
counted (the ``MalformedFrames`` metric counts them all) with one log line per hour. The socket
thread hands frames over (:meth:`FrameQuarantine.keep`, never blocks); the producer's main loop
stores them (:meth:`FrameQuarantine.flush`) and retries a failed write at its next round.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import orjson

from tickpipe import names

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

FRAMES: Final = names.QUARANTINE + "frames/"
MAX_FRAME_BYTES: Final = 1 << 20


def frame_key(pid: str, at: float, n: int) -> str:
    day = dt.datetime.fromtimestamp(at, dt.UTC).date().isoformat()
    return f"{names.partition(FRAMES, day)}{pid}-{int(at * 1000)}-{n}.json"


class FrameQuarantine:
    def __init__(self, s3: S3Client, bucket: str, producer_id: str, *, clock: Callable[[], float],
                 per_hour: int = 20) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.pid = producer_id
        self.clock = clock
        self.per_hour = per_hour
        self._lock = threading.Lock()
        self._pending: list[tuple[str, bytes]] = []
        self._hour = -1
        self._in_hour = 0
        self._skipped = 0
        self._n = itertools.count()
        self.kept = 0

    def keep(self, frame: bytes, reason: str) -> bool:
        """Queue a malformed frame for the lake; False if this hour's quota is used up."""
        at = self.clock()
        hour = int(at // 3600)
        with self._lock:
            if hour != self._hour:
                if self._skipped:
                    log.warning("%d more malformed frames in the last hour were counted, not kept", self._skipped)
                self._hour, self._in_hour, self._skipped = hour, 0, 0
            if self._in_hour >= self.per_hour:
                self._skipped += 1
                return False
            self._in_hour += 1
            doc = {"reason": reason, "pid": self.pid, "at": at, "size": len(frame),
                   "data": base64.b64encode(frame[:MAX_FRAME_BYTES]).decode(), "v": 1}
            self._pending.append((frame_key(self.pid, at, next(self._n)), orjson.dumps(doc)))
            return True

    def flush(self) -> int:
        """Store queued frames; returns how many are still waiting (a failed write is retried)."""
        with self._lock:
            pending, self._pending = self._pending, []
        failed = []
        for key, body in pending:
            try:
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
                self.kept += 1
                log.warning("malformed frame kept at s3://%s/%s", self.bucket, key)
            except Exception as exc:  # noqa: BLE001 - retried at the next round; the producer goes on
                log.error("cannot store malformed frame %s (%s); will retry", key, exc)
                failed.append((key, body))
        with self._lock:
            self._pending[:0] = failed[-self.per_hour:]  # bounded, even if S3 stays away
            return len(self._pending)
