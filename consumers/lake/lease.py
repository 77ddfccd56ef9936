"""One compaction at a time: a lease object in the lake, taken with an S3 conditional write.

Two runs rewriting the same day would race on its manifest (a scheduled run and a manual invoke or
`tickpipe compact`, since the schedule alone never overlaps). Reserved concurrency 1 would also
serialise the Lambda runs, but new accounts cannot reserve any (their quota is 10) and it does not
cover the CLI; a lease covers both.

The lease is ``state/compact/lease.json``. Taking it is a PUT with ``If-None-Match: *`` (fails with
412 when it exists); a lease past its expiry, left by a run that died, is taken over with
``If-Match: <its ETag>``, so two runs cannot both take over the same stale lease. S3 documents both
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

import orjson
from botocore.exceptions import ClientError

from consumers.lake.errors import CompactionBusyError
from tickpipe import names
from tickpipe.aws_errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LEASE_KEY: Final = names.STATE + "compact/lease.json"
DEFAULT_TTL_S: Final = 3600.0  # a CLI run over a big lake; the handler passes its own time limit
# S3's answers to a conditional write that lost (412), or that raced another one (409).
LOST: Final = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})




@contextmanager
def lease(s3: S3Client, bucket: str, *, ttl_s: float = DEFAULT_TTL_S, owner: str = "",
          clock: Callable[[], float] = time.time) -> Iterator[str]:
    """Hold the compaction lease for the block; raises CompactionBusyError if a live one exists."""
    me = owner or uuid.uuid4().hex
    body = orjson.dumps({"owner": me, "taken": round(clock()), "expires": round(clock() + ttl_s)})
    try:
        s3.put_object(Bucket=bucket, Key=LEASE_KEY, Body=body, IfNoneMatch="*", ContentType="application/json")
    except ClientError as exc:
        if error_code(exc) not in LOST:
            raise
        _take_over_if_stale(s3, bucket, body, clock)
    try:
        yield me
    finally:
        _release(s3, bucket, me)


def _take_over_if_stale(s3: S3Client, bucket: str, body: bytes, clock: Callable[[], float]) -> None:
    uri = f"s3://{bucket}/{LEASE_KEY}"
    try:
        got = s3.get_object(Bucket=bucket, Key=LEASE_KEY)
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):  # released in between: the caller may try again
            raise CompactionBusyError(f"the compaction lease {uri} changed hands; try again") from None
        raise
    held = orjson.loads(got["Body"].read())
    if held.get("expires", 0) > clock():
        raise CompactionBusyError(f"another compaction ({held.get('owner')}) holds {uri} until "
                             f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(held['expires']))}")
    try:
        s3.put_object(Bucket=bucket, Key=LEASE_KEY, Body=body, IfMatch=got["ETag"], ContentType="application/json")
    except ClientError as exc:
        if error_code(exc) in LOST:
            raise CompactionBusyError(f"another compaction took over the stale lease {uri} first") from None
        raise


def _release(s3: S3Client, bucket: str, me: str) -> None:
    try:
        got = s3.get_object(Bucket=bucket, Key=LEASE_KEY)
        if orjson.loads(got["Body"].read()).get("owner") == me:
            s3.delete_object(Bucket=bucket, Key=LEASE_KEY)
    except ClientError:
        pass  # not ours any more, or gone: it expires by itself
